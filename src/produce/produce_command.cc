#include "produce/produce_command.h"

#include <unistd.h>

#include "config/memory.h"
#include "config/values.h"
#include "core/signals.h"
#include "core/units.h"
#include "routing/routes.h"

namespace speedlayer::produce {

ProduceCommand::ProduceCommand(CLI::App& parent)
    : app_(parent.add_subcommand(
          "produce",
          "Send messages to Kafka, routed to topics by content, with delivery confirmation")),
      flags_(*app_) {
  config::add_connection_flags(flags_);
  flags_.add("topic", "default topic for unrouted messages (env KAFKA_TOPIC; default my-topic)");
  flags_.add("routes",
             "routing rules YAML file (env SPEEDLAYER_ROUTES; default: built-in "
             "Sport/AI rules, as config/routes.yaml)");
  flags_.add("input", "read messages from FILE, one per line (default: standard input)");
  flags_.add("format",
             "text: each line sent as a JSON string (Python json.dumps); json: each "
             "line is a JSON value, sent compact (default text)");
  flags_.add("key-field", "json format: field used as the message key");
  flags_.add("route-field", "json format: field whose text is routed on (default: whole line)");
  flags_.add_flag("generate", "send a synthetic stream of sport and AI sentences");
  flags_.add("rate", "with --generate: messages per second (default unlimited)");
  flags_.add("count", "with --generate: stop after N messages (default: forever)");
  flags_.add_flag("strict", "unmatched messages go to the dead-letter file, not the default topic");
  flags_.add_flag("sync",
                  "wait for each message's confirmation and print topic, partition, offset");
  flags_.add("timeout-ms", "with --sync: confirmation timeout per message (default 10000)");
  flags_.add("dead-letter",
             "file for undeliverable or invalid messages, JSON lines "
             "(default speedlayer-dead-letter.jsonl)");
  flags_.add("dead-letter-topic",
             "send dead letters to this topic (the same JSON records, one per "
             "message); the --dead-letter file keeps only those the topic "
             "refuses or does not confirm");
  flags_.add("memory-limit",
             "memory to size buffers for, e.g. 128Mi (default: the container's "
             "cgroup limit, else 256Mi)");
  flags_.add("flush-timeout", "how long to wait for deliveries at shutdown (default 10s)");
  flags_.add("connect-timeout",
             "give up with exit 3 when no broker answers for this long "
             "(default 30s)");
  flags_.add_flag("progress",
                  "print a progress line every second on stderr (default: when "
                  "stderr is a terminal)");
}

Result<ProduceOptions> build_produce_options(const config::Settings& settings) {
  ProduceOptions o;
  SL_ASSIGN_OR_RETURN(auto connection, config::client_connection(settings));
  o.kafka = std::move(connection.kafka);
  o.bootstrap = std::move(connection.bootstrap);

  if (auto routes = settings.get("routes", {"SPEEDLAYER_ROUTES"})) {
    SL_ASSIGN_OR_RETURN(o.routes, routing::load_routes_file(routes->value));
  } else {
    o.routes = routing::default_route_table();
  }
  if (auto topic = settings.get("topic", {"KAFKA_TOPIC"})) o.routes.default_topic = topic->value;
  if (o.routes.default_topic.empty()) o.routes.default_topic = "my-topic";

  SL_ASSIGN_OR_RETURN(auto format, config::to_choice(settings.get("format"), {"text", "json"}));
  o.format = format.value_or("text") == "json" ? InputFormat::json : InputFormat::text;
  o.key_field = settings.get_or("key-field", {}, "");
  o.route_field = settings.get_or("route-field", {}, "");
  if (o.format == InputFormat::text && (!o.key_field.empty() || !o.route_field.empty())) {
    return fail(ErrorKind::usage, "--key-field and --route-field need --format json",
                o.key_field.empty() ? "--route-field" : "--key-field");
  }

  if (auto input = settings.get("input")) o.input_path = input->value;
  o.generate = settings.flag("generate");
  if (o.generate && o.input_path) {
    return fail(ErrorKind::usage, "--generate and --input exclude each other", "--generate");
  }
  SL_ASSIGN_OR_RETURN(auto rate, config::to_double(settings.get("rate")));
  o.rate = rate.value_or(0);
  SL_ASSIGN_OR_RETURN(o.count, config::to_uint(settings.get("count")));
  if (!o.generate && (rate || o.count)) {
    return fail(ErrorKind::usage, "--rate and --count apply to --generate",
                rate ? "--rate" : "--count");
  }

  o.strict = settings.flag("strict");
  o.sync = settings.flag("sync");
  SL_ASSIGN_OR_RETURN(auto timeout_ms, config::to_uint(settings.get("timeout-ms")));
  if (timeout_ms) {
    if (*timeout_ms == 0) return fail(ErrorKind::usage, "must be > 0", "--timeout-ms");
    o.timeout = std::chrono::milliseconds(*timeout_ms);
  }
  SL_ASSIGN_OR_RETURN(auto flush, config::to_duration(settings.get("flush-timeout")));
  if (flush) o.flush_timeout = *flush;
  SL_ASSIGN_OR_RETURN(auto connect, config::to_duration(settings.get("connect-timeout")));
  if (connect) o.connect_timeout = *connect;
  o.dead_letter_path = settings.get_or("dead-letter", {}, o.dead_letter_path);
  o.dead_letter_topic = settings.get_or("dead-letter-topic", {}, "");
  o.progress = settings.flag("progress") || ::isatty(STDERR_FILENO);

  // Memory: size librdkafka's queue from the container limit so the process stays under it
  // even when the broker stalls (librdkafka's default queue is 1 GiB).
  SL_ASSIGN_OR_RETURN(auto limit, config::to_bytes(settings.get("memory-limit")));
  if (!limit) limit = config::container_memory_limit();
  std::uint64_t message_max = 1'000'000;
  if (auto configured = o.kafka.get("message.max.bytes")) {
    try {
      message_max = std::stoull(*configured);
    } catch (...) {
      return fail(ErrorKind::usage, "message.max.bytes must be a number",
                  o.kafka.find("message.max.bytes")->origin);
    }
  }
  auto budget = config::producer_budget(limit.value_or(0), message_max);
  o.kafka.set_default("queue.buffering.max.kbytes", std::to_string(budget.queue_kbytes),
                      "memory budget for " + format_bytes(budget.memory_limit));
  o.kafka.set_default("queue.buffering.max.messages", std::to_string(budget.queue_messages),
                      "memory budget for " + format_bytes(budget.memory_limit));
  o.max_message_bytes = budget.max_message_bytes;
  return o;
}

int ProduceCommand::run() {
  install_stop_signals();
  auto loaded = config::load_options("produce", flags_, build_produce_options);
  if (!loaded) return loaded.error();
  ProduceSummary summary;
  return static_cast<int>(run_produce(loaded->second, stop_flag(), summary));
}

}  // namespace speedlayer::produce
