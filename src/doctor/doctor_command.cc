#include "doctor/doctor_command.h"

#include <cstdio>

#include "config/values.h"

namespace speedlayer::doctor {

DoctorCommand::DoctorCommand(CLI::App& parent)
    : app_(parent.add_subcommand(
          "doctor",
          "Diagnose connectivity to a Kafka cluster from here: bootstrap, TLS, SASL, every "
          "broker's advertised address, optionally a probe message")),
      flags_(*app_) {
  config::add_connection_flags(flags_);
  flags_.add("timeout", "time limit of each check (default 10s)");
  flags_.add("topic",
             "also produce one probe message to this topic and read it back, with "
             "latencies (writes a small JSON message)");
  flags_.add_flag("json", "print the report as JSON (for scripts)");
  app_->footer(
      "Checks, in order: 1 bootstrap addresses resolve and accept TCP; 2 TLS handshake, chain "
      "and certificate names (ssl, sasl_ssl); 3 SASL login (sasl_*); 4 every broker's "
      "advertised address is reachable from here; 5 probe message (--topic).\n"
      "Exit codes: 0 healthy, 1 problems found, 2 bad settings, 3 nothing reachable at the "
      "bootstrap address.");
}

Result<DoctorOptions> build_doctor_options(const config::Settings& settings) {
  DoctorOptions o;
  SL_ASSIGN_OR_RETURN(auto connection, config::client_connection(settings));
  o.kafka = std::move(connection.kafka);
  o.bootstrap = std::move(connection.bootstrap);
  SL_ASSIGN_OR_RETURN(auto timeout, config::to_duration(settings.get("timeout")));
  if (timeout) {
    if (timeout->count() <= 0) return fail(ErrorKind::usage, "must be > 0", "--timeout");
    o.timeout = *timeout;
  }
  if (auto topic = settings.get("topic"); topic && !topic->value.empty()) o.topic = topic->value;
  if (const kafka::Property* pw = o.kafka.find("sasl.password")) o.password_source = pw->origin;
  return o;
}

int DoctorCommand::run() {
  auto loaded = config::load_options("doctor", flags_, build_doctor_options);
  if (!loaded) return loaded.error();
  const auto& [settings, options] = *loaded;
  auto report = run_doctor(options);
  if (!report) return config::report_error("doctor", report.error());
  std::string out = settings.flag("json") ? format_json(*report) : format_text(*report);
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  return exit_code(*report);
}

}  // namespace speedlayer::doctor
