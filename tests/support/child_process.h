// Runs the speedlayer binary (or any program) as a child process the way a pod or a shell
// would: stdin from a file (or /dev/null), stdout and stderr captured to files, environment
// chosen, signals delivered on demand, bounded waits. Header-only, for tests.
//
//   ChildProcess p({bin, "produce", "--brokers", b}, {.stdin_path = "in.txt"});
//   p.signal(SIGTERM);
//   int code = p.wait_for(std::chrono::seconds(30));   // exit status, -1 on timeout
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace speedlayer::testing {

struct ChildOptions {
  std::string stdin_path = "/dev/null";
  // Extra or replaced environment variables; `clear_env` starts from an empty environment
  // (PATH kept), as a pod configured only by its manifest.
  std::map<std::string, std::string> env;
  bool clear_env = false;
  std::string work_dir;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("speedlayer-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, ChildOptions options = {}) {
    static int counter = 0;
    auto base =
        std::filesystem::temp_directory_path() /
        ("speedlayer-child-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    stdout_path_ = base.string() + ".out";
    stderr_path_ = base.string() + ".err";
    std::vector<std::string> env_strings;
    if (!options.clear_env) {
      for (char** e = environ; *e; ++e) {
        std::string kv = *e;
        auto name = kv.substr(0, kv.find('='));
        if (!options.env.count(name)) env_strings.push_back(kv);
      }
    } else if (const char* path = std::getenv("PATH")) {
      env_strings.push_back(std::string("PATH=") + path);
    }
    for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);

    std::vector<char*> args, envp;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, options.stdin_path.c_str(), O_RDONLY,
                                     0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!options.work_dir.empty()) {
      // posix_spawn has no chdir before glibc 2.29's _np variant; Debian 12 has it.
      posix_spawn_file_actions_addchdir_np(&actions, options.work_dir.c_str());
    }
    int rc = ::posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
    started_ = std::chrono::steady_clock::now();
  }

  ~ChildProcess() {
    if (!exited_) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, 0);
    }
    std::filesystem::remove(stdout_path_);
    std::filesystem::remove(stderr_path_);
  }

  void signal(int sig) { ::kill(pid_, sig); }
  pid_t pid() const { return pid_; }

  // Exit status (128+N if killed by signal N), or nullopt if still running after `timeout`.
  std::optional<int> wait_for(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited_) {
      int status = 0;
      struct rusage usage{};
      pid_t r = ::wait4(pid_, &status, WNOHANG, &usage);
      if (r == pid_) {
        max_rss_bytes_ = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
        exited_ = true;
        elapsed_ = std::chrono::steady_clock::now() - started_;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return code_;
  }

  std::chrono::duration<double> elapsed() const { return elapsed_; }
  // Peak resident memory of the exited child (getrusage ru_maxrss).
  std::uint64_t max_rss_bytes() const { return max_rss_bytes_; }
  std::string out() const { return read_file(stdout_path_); }
  std::string err() const { return read_file(stderr_path_); }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
  std::uint64_t max_rss_bytes_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::chrono::duration<double> elapsed_{};
  std::string stdout_path_, stderr_path_;
};

inline std::string speedlayer_bin() {
  const char* bin = std::getenv("SPEEDLAYER_BIN");
  if (!bin || !*bin) throw std::runtime_error("SPEEDLAYER_BIN is not set (run through ctest)");
  return bin;
}

}  // namespace speedlayer::testing
