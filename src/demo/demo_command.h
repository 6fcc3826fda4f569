// `speedlayer demo`: the whole pipeline on librdkafka's in-process mock cluster, nothing to
// install: the generator, the content router, the topics, and a consumer, with a live summary
// of what reached each topic. It ends after --duration (or Ctrl-C) and exits 0 when every
// delivered message was consumed back.
//
//   speedlayer demo --duration 10s --rate 2000
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
};

}  // namespace speedlayer::demo
