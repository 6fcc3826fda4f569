// speedlayer: the speed layer of a Lambda architecture on Apache Kafka.
// main only wires the subcommands together; each lives in its own module.
#include <CLI/CLI.hpp>

#include "consume/consume_command.h"
#include "demo/demo_command.h"
#include "doctor/doctor_command.h"
#include "produce/produce_command.h"
#include "serve/serve_command.h"

int main(int argc, char** argv) {
  CLI::App app{"speedlayer: the speed layer of a Lambda architecture on Apache Kafka"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "speedlayer 0.1.0");
  speedlayer::produce::ProduceCommand produce(app);
  speedlayer::consume::ConsumeCommand consume(app);
  speedlayer::serve::ServeCommand serve(app);
  speedlayer::demo::DemoCommand demo(app);
  speedlayer::doctor::DoctorCommand doctor(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // bad usage is exit 2 (DESIGN.md)
  }
  if (produce.selected()) return produce.run();
  if (consume.selected()) return consume.run();
  if (serve.selected()) return serve.run();
  if (demo.selected()) return demo.run();
  if (doctor.selected()) return doctor.run();
  return 2;
}
