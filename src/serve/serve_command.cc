#include "serve/serve_command.h"

#include "config/values.h"
#include "core/signals.h"
#include "serve/serve_service.h"
#include "text/filters.h"

namespace speedlayer::serve {

ServeCommand::ServeCommand(CLI::App& parent)
    : app_(parent.add_subcommand(
          "serve",
          "The speed layer: windowed real-time views of topics, exact across crashes "
          "and replicas, served over HTTP")),
      flags_(*app_) {
  config::add_connection_flags(flags_);
  app_->add_option("--topic", topics_, "input topic (repeatable; env KAFKA_TOPIC)");
  flags_.add("pattern", "input topics matching this regular expression");
  flags_.add("group", "consumer group (default speedlayer-serve)");
  flags_.add("text-field", "JSON object values: the field holding the text (default text)");
  flags_.add("time-field",
             "event time from this JSON field (ms or ISO-8601) instead of the "
             "message timestamp");
  flags_.add("window", "tumbling window size (default 60s)");
  flags_.add("grace", "how long out-of-order records still count (default 10s)");
  flags_.add("retention", "how long windows are kept (default 2h)");
  flags_.add("top-k", "terms per window in views (default 10)");
  flags_.add("max-terms",
             "distinct terms kept per window and partition; beyond it counts are "
             "Space-Saving estimates with error bounds (default 10000)");
  flags_.add("max-term-bytes", "longer terms are dropped and counted as long_terms (default 64)");
  flags_.add("stop-words",
             "term filter: stop words not counted, comma-separated built-in lists "
             "(en, es, pt, fr, de, it, ru) and files (one word a line); a leading + "
             "adds to the built-in lists instead of replacing them (default: every "
             "built-in list)");
  flags_.add_flag("no-stop-words", "count stop words too");
  flags_.add("min-term-chars",
             "term filter: shorter terms (in characters) are not counted "
             "(default 2; letters of Chinese, Japanese, Thai... always count)");
  flags_.add_flag("drop-numbers",
                  "term filter: terms of digits only are not counted (the "
                  "default; --drop-numbers=false counts them)");
  flags_.add("max-future",
             "event times further ahead of the wall clock are malformed "
             "(future_time; default 1h)");
  flags_.add("instance-id",
             "static group membership (group.instance.id): a replica restarted "
             "with the same id gets its partitions back at once; unique per "
             "replica, e.g. the pod name");
  flags_.add("memory-limit",
             "memory to size serve's state for, e.g. 256Mi (default: the "
             "container's limit): fewer terms per open window when it binds");
  flags_.add("late-topic",
             "also write late records here, in the same transactions "
             "(original key, value, timestamp; headers: origin, window, stream "
             "time, reason)");
  flags_.add("output-terms",
             "closed windows' output records carry the top terms (top, default) "
             "or every kept term (all)");
  flags_.add("listen",
             "HTTP address of the API, live page and stream (default 127.0.0.1:8080, "
             "this machine only; 0.0.0.0:8080 for every interface, as in a pod)");
  flags_.add("probe-listen",
             "also serve /healthz, /readyz and /metrics here, on a thread and "
             "connection budget no API client can exhaust (e.g. 0.0.0.0:8081; "
             "default: off)");
  flags_.add("admin-token-file",
             "turns on the admin endpoints (POST /v1/expire): they then need "
             "Authorization: Bearer <the file's token> (default: off)");
  flags_.add("stream-rate",
             "GET /v1/stream: at most this many view events per second per "
             "topic, changes coalesced (default 4)");
  flags_.add("output-topic", "closed windows are written here (default <group>.views)");
  flags_.add("changelog-topic", "compacted topic of serve's state (default <group>.changelog)");
  flags_.add("transactional-id",
             "unique per live replica (default "
             "speedlayer-serve-<group>-<host>-<pid>)");
  flags_.add("commit-interval", "transaction commit interval (default 100ms)");
  flags_.add("connect-timeout", "give up with exit 3 when no broker answers (default 30s)");
  flags_.add("max-value-bytes", "larger values are counted as malformed (default 1Mi)");
  // Config file only: per-topic term filters, e.g.
  //   topics:
  //     Sport: {stop-words: "+sport-words.txt", min-term-chars: 3}
  flags_.add_section("topics", {"stop-words", "no-stop-words", "min-term-chars", "drop-numbers"});
}

namespace {

// One topic's filter (or the default one) from its settings: `get(key)` reads --key or the
// topic's own key in the config file. Unset keys take `base`'s values.
template <class Get>
Result<std::shared_ptr<const text::TermFilter>> term_filter(Get&& get, const text::FilterSpec& base,
                                                            const std::string& where) {
  text::FilterSpec spec = base;
  if (auto words = get("stop-words")) spec.stop_words = words->value;
  if (auto no = get("no-stop-words");
      no && (no->value == "true" || no->value == "1" || no->value == "yes"))
    spec.stop_words = "none";
  SL_ASSIGN_OR_RETURN(auto min_chars, config::to_uint(get("min-term-chars")));
  if (min_chars) {
    if (*min_chars == 0 || *min_chars > 64)
      return fail(ErrorKind::usage, "must be 1..64", where + "min-term-chars");
    spec.min_term_chars = *min_chars;
  }
  SL_ASSIGN_OR_RETURN(auto numbers, config::to_choice(get("drop-numbers"), {"true", "false"}));
  if (numbers) spec.drop_numbers = *numbers == "true";
  return text::TermFilter::build(spec, where + "stop-words");
}

// The default term filter (flags, environment, config file) and the config file's per-topic
// ones.
Result<std::shared_ptr<const text::TermFilters>> build_term_filters(
    const config::Settings& settings) {
  auto filters = std::make_shared<text::TermFilters>();
  SL_ASSIGN_OR_RETURN(filters->default_filter,
                      term_filter([&](std::string_view key) { return settings.get(key); },
                                  text::FilterSpec{}, "--"));
  // Per topic, from the config file's `topics:` map: the default's settings, overridden.
  if (settings.file()) {
    for (const auto& [topic, keys] : settings.file()->sections("topics")) {
      auto get = [&](std::string_view key) -> std::optional<config::Setting> {
        auto it = keys.find(std::string(key));
        if (it == keys.end()) return std::nullopt;
        return it->second;
      };
      SL_ASSIGN_OR_RETURN(auto filter, term_filter(get, filters->default_filter->spec(),
                                                   "topics: " + topic + ": "));
      filters->per_topic.emplace(topic, std::move(filter));
    }
  }
  return std::shared_ptr<const text::TermFilters>(std::move(filters));
}

}  // namespace

Result<ServeOptions> build_serve_options(const config::Settings& settings,
                                         const std::vector<std::string>& topics) {
  ServeOptions o;
  SL_ASSIGN_OR_RETURN(auto connection, config::client_connection(settings));
  o.kafka = std::move(connection.kafka);
  o.bootstrap = std::move(connection.bootstrap);
  o.topics = topics;
  if (o.topics.empty()) {
    if (auto t = settings.get("topic", {"KAFKA_TOPIC"})) o.topics.push_back(t->value);
  }
  if (auto pattern = settings.get("pattern")) {
    o.topics.push_back(pattern->value.starts_with("^") ? pattern->value : "^" + pattern->value);
  }
  if (o.topics.empty()) {
    return fail(ErrorKind::usage, "no input topics", "--topic",
                "pass --topic T (repeatable), --pattern REGEX or set KAFKA_TOPIC");
  }
  o.group = settings.get_or("group", {}, o.group);
  o.text_field = settings.get_or("text-field", {}, o.text_field);
  o.time_field = settings.get_or("time-field", {}, "");
  o.listen = settings.get_or("listen", {}, o.listen);
  o.probe_listen = settings.get_or("probe-listen", {}, "");
  o.admin_token_file = settings.get_or("admin-token-file", {}, "");
  SL_ASSIGN_OR_RETURN(auto stream_rate, config::to_uint(settings.get("stream-rate")));
  if (stream_rate) {
    if (*stream_rate == 0 || *stream_rate > 50)
      return fail(ErrorKind::usage, "must be 1..50", "--stream-rate");
    o.stream_rate = static_cast<int>(*stream_rate);
  }
  o.output_topic = settings.get_or("output-topic", {}, o.output_topic);
  o.changelog_topic = settings.get_or("changelog-topic", {}, o.changelog_topic);
  o.late_topic = settings.get_or("late-topic", {}, "");
  o.instance_id = settings.get_or("instance-id", {}, "");
  SL_ASSIGN_OR_RETURN(auto memory_limit, config::to_bytes(settings.get("memory-limit")));
  if (memory_limit) o.memory_limit = *memory_limit;
  o.transactional_id = settings.get_or("transactional-id", {}, "");
  SL_ASSIGN_OR_RETURN(auto window, config::to_duration(settings.get("window")));
  if (window) {
    if (window->count() <= 0) return fail(ErrorKind::usage, "must be > 0", "--window");
    o.window.size_ms = window->count();
  }
  SL_ASSIGN_OR_RETURN(auto grace, config::to_duration(settings.get("grace")));
  if (grace) o.window.grace_ms = grace->count();
  o.window.idle_ms = std::max<views::Millis>(o.window.grace_ms, 1000);
  SL_ASSIGN_OR_RETURN(auto retention, config::to_duration(settings.get("retention")));
  if (retention) o.window.retention_ms = retention->count();
  SL_ASSIGN_OR_RETURN(auto top_k, config::to_uint(settings.get("top-k")));
  if (top_k) {
    if (*top_k == 0 || *top_k > 1000) return fail(ErrorKind::usage, "must be 1..1000", "--top-k");
    o.window.top_k = *top_k;
  }
  SL_ASSIGN_OR_RETURN(auto max_terms, config::to_uint(settings.get("max-terms")));
  if (max_terms) {
    if (*max_terms < o.window.top_k || *max_terms > 1'000'000)
      return fail(ErrorKind::usage, "must be between --top-k and 1000000", "--max-terms");
    o.window.max_terms = *max_terms;
  }
  SL_ASSIGN_OR_RETURN(auto max_term_bytes, config::to_uint(settings.get("max-term-bytes")));
  if (max_term_bytes) {
    if (*max_term_bytes == 0 || *max_term_bytes > 4096)
      return fail(ErrorKind::usage, "must be 1..4096", "--max-term-bytes");
    o.window.max_term_bytes = *max_term_bytes;
  }
  SL_ASSIGN_OR_RETURN(auto filters, build_term_filters(settings));
  o.window.filters = std::move(filters);
  SL_ASSIGN_OR_RETURN(auto max_future, config::to_duration(settings.get("max-future")));
  if (max_future) o.max_future_ms = max_future->count();
  SL_ASSIGN_OR_RETURN(auto output_terms,
                      config::to_choice(settings.get("output-terms"), {"top", "all"}));
  if (output_terms) o.output_all_terms = *output_terms == "all";
  SL_ASSIGN_OR_RETURN(auto interval, config::to_duration(settings.get("commit-interval")));
  if (interval) o.commit_interval = *interval;
  SL_ASSIGN_OR_RETURN(auto connect, config::to_duration(settings.get("connect-timeout")));
  if (connect) o.connect_timeout = *connect;
  SL_ASSIGN_OR_RETURN(auto max_value, config::to_bytes(settings.get("max-value-bytes")));
  if (max_value) o.max_value_bytes = *max_value;
  return o;
}

int ServeCommand::run() {
  install_stop_signals();
  auto loaded = config::load_options("serve", flags_, [this](const config::Settings& settings) {
    return build_serve_options(settings, topics_);
  });
  if (!loaded) return loaded.error();
  return run_serve(loaded->second, stop_flag(), system_wall_clock, nullptr);
}

}  // namespace speedlayer::serve
