#include "serve/serve_command.h"

#include "config/values.h"
#include "core/signals.h"
#include "serve/serve_service.h"

namespace speedlayer::serve {

ServeCommand::ServeCommand(CLI::App& parent)
    : app_(parent.add_subcommand(
          "serve", "The speed layer: windowed real-time views of topics, exact across crashes "
                   "and replicas, served over HTTP")),
      flags_(*app_) {
  config::add_connection_flags(flags_);
  app_->add_option("--topic", topics_, "input topic (repeatable; env KAFKA_TOPIC)");
  flags_.add("pattern", "input topics matching this regular expression");
  flags_.add("group", "consumer group (default speedlayer-serve)");
  flags_.add("text-field", "JSON object values: the field holding the text (default text)");
  flags_.add("time-field", "event time from this JSON field (ms or ISO-8601) instead of the "
                           "message timestamp");
  flags_.add("window", "tumbling window size (default 60s)");
  flags_.add("grace", "how long out-of-order records still count (default 10s)");
  flags_.add("retention", "how long windows are kept (default 2h)");
  flags_.add("top-k", "terms per window in views (default 10)");
  flags_.add("listen", "HTTP address (default 0.0.0.0:8080)");
  flags_.add("output-topic", "closed windows are written here (default speedlayer.views)");
  flags_.add("changelog-topic", "compacted topic of partial aggregates (default "
                                "speedlayer.changelog)");
  flags_.add("transactional-id", "stable per replica (default speedlayer-serve-<group>-<host>)");
  flags_.add("commit-interval", "transaction commit interval (default 100ms)");
  flags_.add("connect-timeout", "give up with exit 3 when no broker answers (default 30s)");
  flags_.add("max-value-bytes", "larger values are counted as malformed (default 1Mi)");
}

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
  o.output_topic = settings.get_or("output-topic", {}, o.output_topic);
  o.changelog_topic = settings.get_or("changelog-topic", {}, o.changelog_topic);
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
