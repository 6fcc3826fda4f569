// speedlayer: the speed layer of a Lambda architecture on Apache Kafka.
// main only wires the subcommands together; each lives in its own module.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "consume/consume_command.h"
#include "core/last_resort.h"
#include "demo/demo_command.h"
#include "doctor/doctor_command.h"
#include "produce/produce_command.h"
#include "serve/serve_command.h"

namespace {

// The leading characters of a command-line word that can name a flag or property
// ("-Xsasl.password:hunter2" -> "-Xsasl.password").
std::string name_part(std::string_view word) {
  auto end =
      word.find_first_not_of("-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._");
  return std::string(word.substr(0, end));
}

// CLI11 lists unexpected words as they are: "--sasl-pasword hunter2" (a misspelt flag) would
// print the password. Flags are named; a value is only placed after the word before it.
int report_unexpected(const char* command, const std::vector<std::string>& extras, int argc,
                      char** argv) {
  std::string text;
  std::size_t from = 1;
  for (const auto& extra : extras) {
    if (!text.empty()) text += ", ";
    std::size_t at = from;
    while (at < static_cast<std::size_t>(argc) && argv[at] != extra) ++at;
    if (at < static_cast<std::size_t>(argc)) from = at + 1;
    if (extra.starts_with("-")) {
      text += "'" + name_part(extra) + (name_part(extra).size() < extra.size() ? "...'" : "'");
    } else if (at < static_cast<std::size_t>(argc) && at > 1) {
      text += "a value after '" + name_part(argv[at - 1]) + "' (not shown)";
    } else {
      text += "a value (not shown)";
    }
  }
  std::fprintf(stderr,
               "%s: unexpected argument(s): %s (each flag takes one value: --name VALUE or "
               "--name=VALUE, -X key=value; see --help)\n",
               command, text.c_str());
  return 2;
}

int run(int argc, char** argv) {
  CLI::App app{"speedlayer: the speed layer of a Lambda architecture on Apache Kafka"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "speedlayer 0.1.0");
  speedlayer::produce::ProduceCommand produce(app);
  speedlayer::consume::ConsumeCommand consume(app);
  speedlayer::serve::ServeCommand serve(app);
  speedlayer::demo::DemoCommand demo(app);
  speedlayer::doctor::DoctorCommand doctor(app);
  // Names the command in messages, the last-resort handler's included.
  auto name_selected = [&] {
    const char* command = produce.selected()   ? "speedlayer produce"
                          : consume.selected() ? "speedlayer consume"
                          : serve.selected()   ? "speedlayer serve"
                          : demo.selected()    ? "speedlayer demo"
                          : doctor.selected()  ? "speedlayer doctor"
                                               : "speedlayer";
    speedlayer::set_last_resort_command(command);
    return command;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ExtrasError&) {
    return report_unexpected(name_selected(), app.remaining(true), argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // bad usage is exit 2 (DESIGN.md)
  }
  name_selected();
  if (produce.selected()) return produce.run();
  if (consume.selected()) return consume.run();
  if (serve.selected()) return serve.run();
  if (demo.selected()) return demo.run();
  if (doctor.selected()) return doctor.run();
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  speedlayer::install_last_resort_handler();
  try {
    return run(argc, argv);
  } catch (...) {
    speedlayer::exit_for_exception(std::current_exception());
  }
}
