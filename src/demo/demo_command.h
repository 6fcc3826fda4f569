// `speedlayer demo`: the whole pipeline on librdkafka's in-process mock cluster, nothing to
// install: the generator and content router (`produce --generate`), the topics, and `serve`
// with its HTTP API, plus a live terminal summary of the views. It ends after --duration (or
// Ctrl-C) and exits 0 when the views counted exactly what was delivered to each topic.
//
//   speedlayer demo --duration 30s --listen 127.0.0.1:8080
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace speedlayer::demo {

class DemoCommand {
 public:
  explicit DemoCommand(CLI::App& parent);
  bool selected() const { return app_->parsed(); }
  int run();

 private:
  CLI::App* app_;
  std::string duration_ = "10s";
  double rate_ = 2000;
  int brokers_ = 3;
  std::string routes_;
  std::string listen_ = "127.0.0.1:8080";
  std::string window_ = "5s";
};

}  // namespace speedlayer::demo
