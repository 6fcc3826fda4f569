// A child of the test process's own memory cgroup (v1 or v2) with a byte limit, for running
// a binary under a real container-like limit.
//
//   MemoryCgroup cgroup(256ull << 20);
//   if (!cgroup.why.empty()) ...;  // not possible here
//   ChildProcess p({"sh", "-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"", cgroup.dir, bin,
//   ...});
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace speedlayer::testing {

// A child of this process's own memory cgroup with `limit` bytes, or "" if not possible here.
struct MemoryCgroup {
  explicit MemoryCgroup(std::uint64_t limit) {
    std::ifstream in("/proc/self/cgroup");
    std::string line, v1_path, v2_path;
    while (std::getline(in, line)) {
      auto a = line.find(':'), b = line.find(':', a + 1);
      std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (controllers == "memory" || controllers.find("memory,") == 0 ||
          controllers.find(",memory") != std::string::npos)
        v1_path = path;
      if (controllers.empty()) v2_path = path;
    }
    std::string name = "speedlayer-memtest-" + std::to_string(::getpid());
    if (!v1_path.empty() && std::filesystem::exists("/sys/fs/cgroup/memory")) {
      dir = "/sys/fs/cgroup/memory" + v1_path + "/" + name;
      limit_file = "memory.limit_in_bytes";
      peak_file = "memory.max_usage_in_bytes";
    } else if (std::filesystem::exists("/sys/fs/cgroup" + v2_path + "/cgroup.controllers")) {
      dir = "/sys/fs/cgroup" + v2_path + "/" + name;
      limit_file = "memory.max";
      peak_file = "memory.peak";
    }
    std::error_code ec;
    if (dir.empty() || !std::filesystem::create_directories(dir, ec)) {
      why = "cannot create a memory cgroup here (" +
            (dir.empty() ? "no memory controller" : ec.message()) + ")";
      dir.clear();
      return;
    }
    std::ofstream(dir + "/" + limit_file) << limit;
    std::ifstream check(dir + "/" + limit_file);
    std::uint64_t got = 0;
    check >> got;
    if (got != limit) why = "the cgroup did not take the limit";
  }
  ~MemoryCgroup() {
    if (!dir.empty()) ::rmdir(dir.c_str());
  }
  std::string dir, limit_file, peak_file, why;
};

}  // namespace speedlayer::testing
