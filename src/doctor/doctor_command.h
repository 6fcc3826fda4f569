// `speedlayer doctor`: diagnoses connectivity to a Kafka cluster as seen from where it runs,
// with the same connection settings as every other subcommand (flags, environment, config
// file, -X). Human-readable by default, --json for scripts.
//
//   CLI::App app;
//   doctor::DoctorCommand doctor(app);   // registers the subcommand and its flags
//   CLI11_PARSE(app, argc, argv);
//   if (doctor.selected()) return doctor.run();
//
//   speedlayer doctor --brokers 203.0.113.9:31092 --security-protocol sasl_ssl
//       --sasl-username alice --sasl-password-file /run/secrets/alice --ssl-ca ca.crt
//
// Exit codes: 0 healthy (warnings allowed), 1 problems found, 2 bad settings, 3 nothing
// reachable at the bootstrap address.
#pragma once

#include <CLI/CLI.hpp>

#include "config/settings.h"
#include "core/error.h"
#include "doctor/checks.h"

namespace speedlayer::doctor {

class DoctorCommand {
 public:
  explicit DoctorCommand(CLI::App& parent);
  bool selected() const { return app_->parsed(); }
  int run();

 private:
  CLI::App* app_;
  config::FlagSet flags_;
};

// Settings -> options (exposed for tests): connection properties, --timeout (default 10s
// per step), --topic (only from the flag or config file: KAFKA_TOPIC alone never makes
// doctor write a probe message).
Result<DoctorOptions> build_doctor_options(const config::Settings& settings);

}  // namespace speedlayer::doctor
