// `speedlayer consume`: flags, settings precedence and validation around run_consume().
//
//   CLI::App app;
//   consume::ConsumeCommand consume(app);   // registers the subcommand and its flags
//   CLI11_PARSE(app, argc, argv);
//   if (consume.selected()) return consume.run();
//
//   speedlayer consume --brokers 127.0.0.1:9092 --topic Sport --topic AI --exit-at-end
//   speedlayer consume --pattern 'Sport|AI' --group dashboard --format json
#pragma once

#include <CLI/CLI.hpp>

#include "config/settings.h"
#include "consume/consume_service.h"
#include "core/error.h"

namespace speedlayer::consume {

class ConsumeCommand {
 public:
  explicit ConsumeCommand(CLI::App& parent);
  bool selected() const { return app_->parsed(); }
  int run();

 private:
  CLI::App* app_;
  config::FlagSet flags_;
};

// Settings -> options (exposed for tests). Topics: the command line's --topic (repeatable,
// or comma-separated) and --pattern (repeatable) if any is given, else KAFKA_TOPIC, else the
// config file's `topic` / `pattern`. A pattern matches whole topic names (as Kafka's Java
// consumer): "Sport|AI" is subscribed as the librdkafka regex "^(Sport|AI)$"; a pattern that
// already starts with '^' is passed unchanged (librdkafka semantics: anchored at the start
// only).
Result<ConsumeOptions> build_consume_options(const config::Settings& settings);

// The librdkafka subscription string for a --pattern value (see above).
std::string librdkafka_pattern(std::string_view pattern);

}  // namespace speedlayer::consume
