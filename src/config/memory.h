// The container's memory limit, and librdkafka buffer sizes that fit under it.
//
// A pod's memory limit reaches the process through its cgroup: v2 `memory.max`, or v1
// `memory.limit_in_bytes` under the memory controller's path in /proc/self/cgroup. The
// smallest limit on the path from the process's cgroup up to the root applies.
//
//   auto limit = container_memory_limit();            // optional<uint64_t>, nullopt = none
//   auto budget = producer_budget(limit.value_or(0), 1'000'000);
//   props.set_default("queue.buffering.max.kbytes", std::to_string(budget.queue_kbytes));
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace speedlayer::config {

// `root` is "/" in production; tests pass a fake tree with proc/self/cgroup and sys/fs/cgroup.
std::optional<std::uint64_t> container_memory_limit(const std::string& root = "/");

struct ProducerBudget {
  std::uint64_t memory_limit = 0;       // bytes the budget was sized for
  std::uint64_t queue_kbytes = 0;       // queue.buffering.max.kbytes
  std::uint64_t queue_messages = 0;     // queue.buffering.max.messages
  std::uint64_t max_message_bytes = 0;  // largest message we accept (<= message.max.bytes)
};

// Sizes the producer's local queue so that queued payloads plus librdkafka's per-message
// overhead plus the process's own baseline stay under `memory_limit` (0 = no limit known: a
// 256 MiB budget, plenty for full speed). `message_max_bytes` is the configured
// message.max.bytes (librdkafka default 1,000,000).
ProducerBudget producer_budget(std::uint64_t memory_limit, std::uint64_t message_max_bytes);

}  // namespace speedlayer::config
