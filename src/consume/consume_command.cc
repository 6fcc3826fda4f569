#include "consume/consume_command.h"

#include <regex.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "config/values.h"
#include "core/signals.h"

namespace speedlayer::consume {
namespace {

std::vector<std::string> split(std::string_view text, char delimiter) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto end = text.find(delimiter, start);
    out.emplace_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

bool is_flag(const config::Setting& s) {
  return s.origin.rfind("--", 0) == 0;
}

Status validate_topic(const std::string& topic, const std::string& origin) {
  if (topic.empty()) {
    return fail(ErrorKind::usage, "empty topic name", origin, "for example --topic Sport");
  }
  if (topic[0] == '^') {
    return fail(ErrorKind::usage, "'" + topic + "' is a regular expression, not a topic name",
                origin, "use --pattern for regular expressions");
  }
  if (topic.size() > 249) {
    return fail(ErrorKind::usage, "topic name longer than 249 characters", origin);
  }
  for (char c : topic) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return fail(ErrorKind::usage, "invalid topic name '" + topic + "'", origin,
                  "Kafka topic names use only letters, digits, '.', '_' and '-'");
    }
  }
  return {};
}

Status validate_pattern(const std::string& pattern, const std::string& origin) {
  if (pattern.empty()) {
    return fail(ErrorKind::usage, "empty pattern", origin, "for example --pattern 'Sport|AI'");
  }
  regex_t re;
  std::string full = librdkafka_pattern(pattern);
  int rc = ::regcomp(&re, full.c_str(), REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char why[256];
    ::regerror(rc, &re, why, sizeof why);
    return fail(ErrorKind::usage, "invalid regular expression '" + pattern + "': " + why, origin,
                "POSIX extended regex, e.g. 'Sport|AI' or 'sensor-.*'");
  }
  ::regfree(&re);
  return {};
}

std::string throwaway_group_id() {
  char host[64] = "host";
  ::gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
  return std::string("speedlayer-consume-") + host + "-" + std::to_string(::getpid()) + "-" +
         suffix;
}

}  // namespace

std::string librdkafka_pattern(std::string_view pattern) {
  if (!pattern.empty() && pattern[0] == '^') return std::string(pattern);
  return "^(" + std::string(pattern) + ")$";
}

ConsumeCommand::ConsumeCommand(CLI::App& parent)
    : app_(parent.add_subcommand(
          "consume",
          "Print the messages on Kafka topics, decoded (the founding document's "
          "consumer); values on stdout, status on stderr")),
      flags_(*app_) {
  config::add_connection_flags(flags_);
  flags_.add("topic", "topic to read; repeatable or comma-separated (default: env KAFKA_TOPIC)")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::Join);
  flags_
      .add("pattern",
           "read every topic whose whole name matches this POSIX extended regex, "
           "including topics created later; repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::Join);
  flags_.add("from",
             "where to start in each partition: beginning, end or stored (the group's "
             "committed offset, else the beginning); default stored with --group, else "
             "beginning");
  flags_.add("group",
             "consumer group id: offsets are committed and members share the "
             "partitions (env KAFKA_GROUP_ID; default: a throwaway group, no commits)");
  flags_.add_flag("exit-at-end", "exit 0 once every assigned partition was read to its end");
  flags_.add("count", "exit 0 after N messages");
  flags_.add("format",
             "text: each value decoded (a JSON string prints as its text), one per "
             "line, control characters escaped (\\n, \\x1b); json: one kcat -J "
             "style JSON object per message (default text)");
  flags_.add_flag("raw",
                  "with the text format: print each decoded value byte for byte, "
                  "control characters and newlines included");
  flags_.add("connect-timeout",
             "give up with exit 3 when no broker answers for this long "
             "(default 30s)");
  flags_.add_flag("quiet", "no status lines or summary on stderr (errors still print)");
}

Result<ConsumeOptions> build_consume_options(const config::Settings& settings) {
  ConsumeOptions o;
  SL_ASSIGN_OR_RETURN(auto connection, config::client_connection(settings));
  o.kafka = std::move(connection.kafka);
  o.bootstrap = std::move(connection.bootstrap);

  // What to read: the command line's topics and patterns, else KAFKA_TOPIC, else the file's.
  auto topic = settings.get("topic");
  auto pattern = settings.get("pattern");
  bool from_cli = (topic && is_flag(*topic)) || (pattern && is_flag(*pattern));
  if (!from_cli) {
    if (auto env_topic = settings.env()("KAFKA_TOPIC")) {
      topic = config::Setting{*env_topic, "env KAFKA_TOPIC"};
      pattern.reset();
    }
  }
  if (topic) {
    for (auto& t : split(topic->value, ',')) {
      if (auto ok = validate_topic(t, topic->origin); !ok) return std::unexpected(ok.error());
      if (std::find(o.topics.begin(), o.topics.end(), t) == o.topics.end()) o.topics.push_back(t);
    }
  }
  if (pattern) {
    for (auto& p : split(pattern->value, '\n')) {
      if (auto ok = validate_pattern(p, pattern->origin); !ok) return std::unexpected(ok.error());
      o.patterns.push_back(librdkafka_pattern(p));
    }
  }
  if (o.topics.empty() && o.patterns.empty()) {
    return fail(ErrorKind::usage, "no topic to read", "--topic",
                "pass --topic NAME (repeatable), --pattern REGEX, or set KAFKA_TOPIC");
  }

  // Group: --group / KAFKA_GROUP_ID / config file, or group.id given as a Kafka property.
  if (auto group = settings.get("group", {"KAFKA_GROUP_ID"})) {
    if (group->value.empty()) return fail(ErrorKind::usage, "empty group id", group->origin);
    o.kafka.set("group.id", group->value, group->origin);
  }
  if (auto id = o.kafka.get("group.id")) {
    o.group = *id;
    o.commit = true;
    o.kafka.set_default("enable.auto.commit", "true");
    // Offsets are stored only after the messages were written to stdout (at-least-once).
    o.kafka.set("enable.auto.offset.store", "false", "speedlayer consume");
  } else {
    o.group = throwaway_group_id();
    o.kafka.set("group.id", o.group, "throwaway group (no --group)");
    o.kafka.set("enable.auto.commit", "false", "throwaway group (no --group)");
  }

  SL_ASSIGN_OR_RETURN(auto from,
                      config::to_choice(settings.get("from"), {"beginning", "end", "stored"}));
  std::string start = from.value_or(o.commit ? "stored" : "beginning");
  o.from = start == "end"         ? kafka::StartFrom::end
           : start == "beginning" ? kafka::StartFrom::beginning
                                  : kafka::StartFrom::stored;

  o.exit_at_end = settings.flag("exit-at-end");
  if (o.exit_at_end) {
    // The end of a partition is only known from an empty fetch, which the broker holds for
    // fetch.wait.max.ms (default 500): a shorter wait makes short reads end sooner.
    o.kafka.set_default("fetch.wait.max.ms", "100", "--exit-at-end");
  }
  auto count_setting = settings.get("count");
  SL_ASSIGN_OR_RETURN(o.count, config::to_uint(count_setting));
  if (o.count && *o.count == 0) {
    return fail(ErrorKind::usage, "must be at least 1", count_setting->origin,
                "leave --count out to read without a limit");
  }
  SL_ASSIGN_OR_RETURN(auto format, config::to_choice(settings.get("format"), {"text", "json"}));
  o.format = format.value_or("text") == "json" ? OutputFormat::json : OutputFormat::text;
  if (settings.flag("raw")) {
    if (o.format == OutputFormat::json) {
      return fail(ErrorKind::usage, "--raw is for the text format", settings.get("format")->origin,
                  "--format json already keeps every byte (payload_base64 when not UTF-8)");
    }
    o.format = OutputFormat::raw;
  }
  auto connect_setting = settings.get("connect-timeout");
  SL_ASSIGN_OR_RETURN(auto connect, config::to_duration(connect_setting));
  if (connect) {
    if (connect->count() <= 0) {
      return fail(ErrorKind::usage, "must be greater than 0", connect_setting->origin,
                  "for example --connect-timeout 30s");
    }
    o.connect_timeout = *connect;
  }
  o.quiet = settings.flag("quiet");

  o.kafka.set_default("client.id", "speedlayer-consume");
  // A topic that does not exist yet, or a new topic matching --pattern, is only noticed at the
  // next metadata refresh: every 5 s instead of librdkafka's 5 min.
  o.kafka.set_default("topic.metadata.refresh.interval.ms", "5000");
  // Our own messages explain failures; librdkafka's log lines (reconnects...) stay off unless
  // asked for with -X log_level=7 or -X debug=....
  o.kafka.set_default("log_level", "2");
  return o;
}

int ConsumeCommand::run() {
  install_stop_signals();
  auto loaded = config::load_options("consume", flags_, build_consume_options);
  if (!loaded) return loaded.error();
  ConsumeSummary summary;
  return static_cast<int>(run_consume(loaded->second, stop_flag(), summary));
}

}  // namespace speedlayer::consume
