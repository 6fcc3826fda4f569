// The producer service behind `speedlayer produce` (and the demo's generator): reads records,
// encodes them like the founding document's Python producer (json.dumps), routes them by
// content, sends them with delivery confirmation, and accounts for every one: delivered, or
// counted and written to the dead-letter file with the reason.
//
//   ProduceOptions options = ...;              // see produce_command.cc for the flags
//   ProduceSummary summary;
//   ExitCode code = run_produce(options, stop_flag(), summary);
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "core/error.h"
#include "kafka/properties.h"
#include "routing/routes.h"

namespace speedlayer::produce {

enum class InputFormat { text, json };

struct ProduceOptions {
  kafka::Properties kafka;  // connection settings and overrides, complete
  std::string bootstrap;    // for messages
  routing::RouteTable routes;
  bool strict = false;  // unmatched records go to the dead-letter file, not the default topic

  InputFormat format = InputFormat::text;
  std::string key_field;    // json: field used as message key
  std::string route_field;  // json: field whose text is routed on (default: whole line)

  std::optional<std::string> input_path;  // nullopt: standard input
  bool generate = false;
  double rate = 0;                     // generator messages per second, 0 = unlimited
  std::optional<std::uint64_t> count;  // generator: stop after N

  bool sync = false;                          // wait for each message's confirmation and print it
  std::chrono::milliseconds timeout{10'000};  // --sync per-message timeout
  std::chrono::milliseconds flush_timeout{10'000};    // at shutdown
  std::chrono::milliseconds connect_timeout{30'000};  // cluster unreachable bound
  std::string dead_letter_path = "speedlayer-dead-letter.jsonl";
  // Dead letters go to this topic first (same records, one per message); the file keeps what the
  // topic refuses or does not confirm. Empty: the file only.
  std::string dead_letter_topic;
  bool progress = false;
  std::uint64_t max_message_bytes = 1'000'000;

  std::FILE* out = stdout;  // --sync confirmations
  std::FILE* err = stderr;  // progress, summary, errors
};

struct ProduceSummary {
  std::uint64_t read = 0;                   // input records taken from the source
  std::uint64_t delivered = 0;              // confirmed by the cluster
  std::uint64_t failed = 0;                 // sent but not confirmed (dead-lettered)
  std::uint64_t invalid = 0;                // rejected before sending (dead-lettered)
  std::uint64_t dead_lettered = 0;          // failed + invalid + unmatched under --strict
  std::uint64_t dead_letters_in_topic = 0;  // of those, confirmed in --dead-letter-topic
  std::map<std::string, std::uint64_t, std::less<>> per_topic;  // delivered per topic
  double seconds = 0;
  bool unreachable = false;
  std::string unreachable_reason;
};

ExitCode run_produce(const ProduceOptions& options, const std::atomic<bool>& stop,
                     ProduceSummary& summary);

// "produce: read 10, delivered 9, failed 0, invalid 1, dead-lettered 1 in 0.52 s (19 msg/s)"
std::string format_summary(const ProduceSummary& summary);

}  // namespace speedlayer::produce
