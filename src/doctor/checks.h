// The checks of `speedlayer doctor`, run in order against a real cluster from wherever this
// process runs. Each is bounded by `timeout`; a failed step skips the ones that depend on it.
//
//   1. bootstrap  every bootstrap address resolves (getaddrinfo) and accepts TCP
//   2. tls        (ssl, sasl_ssl) an OpenSSL handshake: the chain against the configured CA,
//                 the certificate's names against the host used
//   3. sasl       (sasl_*) a librdkafka client with the user's settings logs in
//   4. metadata   every broker's advertised address, resolved and TCP-connected from here
//                 (and TLS-checked against its advertised name); unreachable, loopback or
//                 private advertised addresses get the advertised-listeners explanation and fix
//   5. probe      (--topic T) one message produced (acks=all) and read back, with latencies
//
//   doctor::DoctorOptions o{.kafka = props, .bootstrap = "203.0.113.9:31092"};
//   auto report = doctor::run_doctor(o);   // Result<Report>: bad -X properties are errors
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/error.h"
#include "doctor/report.h"
#include "kafka/properties.h"

namespace speedlayer::doctor {

struct DoctorOptions {
  kafka::Properties kafka;  // connection properties (config::connection_properties)
  std::string bootstrap;    // bootstrap.servers, for messages
  std::chrono::milliseconds timeout{10'000};  // per step
  std::optional<std::string> topic;           // step 5 when set
  std::string password_source;                // origin of sasl.password, for the header
};

// Runs the checks. Errors only for settings librdkafka rejects (ErrorKind::usage).
Result<Report> run_doctor(const DoctorOptions& options);

}  // namespace speedlayer::doctor
