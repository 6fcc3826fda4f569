// `speedlayer serve`: flags and settings around the serve service (processor, changelog
// follower, HTTP API).
//
//   serve::ServeCommand serve(app);
//   ... app.parse(argc, argv) ...
//   if (serve.selected()) return serve.run();
#pragma once

#include <CLI/CLI.hpp>

#include "config/settings.h"
#include "serve/processor.h"

namespace speedlayer::serve {

class ServeCommand {
 public:
  explicit ServeCommand(CLI::App& parent);
  bool selected() const { return app_->parsed(); }
  int run();

 private:
  CLI::App* app_;
  config::FlagSet flags_;
  std::vector<std::string> topics_;
};

Result<ServeOptions> build_serve_options(const config::Settings& settings,
                                         const std::vector<std::string>& topics);

}  // namespace speedlayer::serve
