// The consumer behind `speedlayer consume`: reads topics (and regex patterns) and prints every
// message, decoded (text) or as kcat -J JSON lines, on stdout; status and the summary go to
// stderr, so `speedlayer consume ... | wc -l` counts messages.
//
//   ConsumeOptions options = ...;          // see consume_command.cc for the flags
//   ConsumeSummary summary;
//   ExitCode code = run_consume(options, stop_flag(), summary);
//
// Exit codes (DESIGN.md): 0 stopped as asked (--exit-at-end, --count, SIGINT/SIGTERM, or the
// reader of stdout went away); 1 a Kafka error ended the run (unknown topic with
// --exit-at-end, authorization, fatal client error, failed final commit, stdout write error);
// 3 no broker answered within --connect-timeout (at start, or for that long during the run).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "consume/formatter.h"
#include "core/error.h"
#include "kafka/consumer.h"
#include "kafka/properties.h"

namespace speedlayer::consume {

struct ConsumeOptions {
  kafka::Properties kafka;            // connection settings, group.id and overrides, complete
  std::string bootstrap;              // for messages
  std::vector<std::string> topics;    // literal topic names
  std::vector<std::string> patterns;  // librdkafka regex subscriptions ('^...')
  kafka::StartFrom from = kafka::StartFrom::beginning;
  std::string group;         // group.id in use (given or throwaway)
  bool commit = false;       // a real group was given: store offsets after printing, commit
  bool exit_at_end = false;  // stop once every assigned partition reached its end
  std::optional<std::uint64_t> count;  // stop after N messages
  OutputFormat format = OutputFormat::text;
  std::chrono::milliseconds connect_timeout{30'000};
  bool quiet = false;  // no status lines or summary on stderr (errors still print)

  std::FILE* out = stdout;  // messages
  std::FILE* err = stderr;  // status, summary, errors
};

struct ConsumeSummary {
  std::uint64_t messages = 0;  // printed
  std::uint64_t errors = 0;    // consumer errors reported (not partition EOF)
  double seconds = 0;
  std::string stop_reason;  // "all partitions at end", "--count reached", "signal", ...
};

ExitCode run_consume(const ConsumeOptions& options, const std::atomic<bool>& stop,
                     ConsumeSummary& summary);

// "consume: 12 messages in 0.41 s (29 msg/s), stopped: all partitions at end"
std::string format_summary(const ConsumeSummary& summary);

}  // namespace speedlayer::consume
