#include "config/memory.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

namespace speedlayer::config {
namespace {

std::optional<std::uint64_t> read_limit_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string text;
  in >> text;
  if (text.empty() || text == "max") return std::nullopt;
  try {
    std::uint64_t v = std::stoull(text);
    // cgroup v1 reports "no limit" as a page-rounded value near 2^63.
    if (v >= (1ull << 62)) return std::nullopt;
    return v;
  } catch (...) {
    return std::nullopt;
  }
}

// Smallest limit found in `file` from `dir` up to `base`.
std::optional<std::uint64_t> smallest_on_path(const std::string& base, std::string dir,
                                              const std::string& file) {
  std::optional<std::uint64_t> best;
  while (true) {
    std::string path = base;
    path += dir;
    if (!dir.ends_with('/')) path += '/';
    path += file;
    if (auto v = read_limit_file(path)) {
      best = best ? std::min(*best, *v) : *v;
    }
    if (dir.empty() || dir == "/") break;
    auto slash = dir.find_last_of('/');
    dir = slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
  }
  return best;
}

}  // namespace

std::optional<std::uint64_t> container_memory_limit(const std::string& root) {
  std::string base = root.ends_with('/') ? root.substr(0, root.size() - 1) : root;
  std::ifstream cgroups(base + "/proc/self/cgroup");
  std::string line;
  std::optional<std::uint64_t> v1, v2;
  while (std::getline(cgroups, line)) {
    // hierarchy-id:controllers:path
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (controllers.empty()) {
      v2 = smallest_on_path(base + "/sys/fs/cgroup", path, "memory.max");
    } else {
      std::stringstream list(controllers);
      std::string c;
      while (std::getline(list, c, ',')) {
        if (c == "memory") {
          v1 = smallest_on_path(base + "/sys/fs/cgroup/memory", path, "memory.limit_in_bytes");
        }
      }
    }
  }
  if (v1) return v1;  // a v1 memory controller is authoritative when mounted
  return v2;
}

ProducerBudget producer_budget(std::uint64_t memory_limit, std::uint64_t message_max_bytes) {
  constexpr std::uint64_t kMiB = 1 << 20;
  ProducerBudget b;
  b.memory_limit = memory_limit ? memory_limit : 256 * kMiB;
  // Baseline: binary, libraries, librdkafka threads and buffers, Hyperscan scratch, our
  // read buffer. Measured around 12-20 MiB RSS; keep 24 MiB for it, and half of what is left
  // for queued messages (the other half is headroom for socket buffers, batches being built
  // and compressed copies).
  constexpr std::uint64_t kBaseline = 24 * kMiB;
  std::uint64_t usable =
      b.memory_limit > 2 * kBaseline ? b.memory_limit - kBaseline : b.memory_limit / 2;
  std::uint64_t queue_bytes = usable / 2;
  // Payload bytes are what queue.buffering.max.kbytes counts; per-message overhead (about 300
  // bytes of librdkafka's message struct) is bounded by queue.buffering.max.messages.
  constexpr std::uint64_t kPerMessageOverhead = 320;
  std::uint64_t payload_bytes = queue_bytes * 3 / 4;
  std::uint64_t overhead_bytes = queue_bytes - payload_bytes;
  b.queue_kbytes = std::max<std::uint64_t>(payload_bytes / 1024, 1024);
  b.queue_messages = std::clamp<std::uint64_t>(overhead_bytes / kPerMessageOverhead, 1000, 100000);
  // One message must fit in the queue, with room for a second batch.
  b.max_message_bytes = std::min<std::uint64_t>(message_max_bytes, payload_bytes / 4);
  return b;
}

}  // namespace speedlayer::config
