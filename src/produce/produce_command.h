// `speedlayer produce`: flags, settings precedence and memory sizing around run_produce().
//
//   CLI::App app;
//   produce::ProduceCommand produce(app);   // registers the subcommand and its flags
//   CLI11_PARSE(app, argc, argv);
//   if (produce.selected()) return produce.run();
#pragma once

#include <CLI/CLI.hpp>

#include "config/settings.h"
#include "core/error.h"
#include "produce/produce_service.h"

namespace speedlayer::produce {

class ProduceCommand {
 public:
  explicit ProduceCommand(CLI::App& parent);
  bool selected() const { return app_->parsed(); }
  int run();

 private:
  CLI::App* app_;
  config::FlagSet flags_;
};

// Settings -> options (exposed for tests). `env` provides the environment.
Result<ProduceOptions> build_produce_options(const config::Settings& settings);

}  // namespace speedlayer::produce
