// Helpers for tests against the secure broker fixture (kafka_secure; see tests/CMakeLists.txt
// and `scripts/kafka-broker.sh start --secure --advertise`). Header-only, like test_broker.h.
//
//   auto b = speedlayer::testing::secure_broker();     // fails the test if it is not running
//   {"--brokers", b.sasl_ssl, "--security-protocol", "sasl_ssl", "--ssl-ca", b.ca,
//    "--sasl-username", b.username, "--sasl-password-file", b.password_file}
#pragma once

#include <fstream>
#include <source_location>
#include <string>

#include "broker/test_broker.h"

namespace speedlayer::testing {

struct SecureBroker {
  std::string dir;
  std::string plaintext;      // PLAINTEXT listener host:port (healthy, no security)
  std::string sasl_ssl;       // SASL_SSL listener host:port
  std::string external;       // EXTERNAL listener host:port: reachable, advertises `advertised`
  std::string advertised;     // what EXTERNAL advertises: 127.0.0.2:<nothing listens>
  std::string ca;             // CA file that signed the broker certificate
  std::string untrusted_ca;   // a CA that did not
  std::string username;       // SCRAM-SHA-512 user
  std::string password_file;  // holds its password (like a mounted Secret)
  std::string password;       // the password itself (to check it is never printed)
};

inline std::string first_line_of(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The running kafka_secure fixture. Fails the test (and throws) when it is not running.
inline SecureBroker secure_broker(std::source_location where = std::source_location::current()) {
  SecureBroker b;
  b.dir = fixture_dir("secure");
  b.plaintext = bootstrap("secure", where);
  b.sasl_ssl = first_line_of(b.dir + "/bootstrap-secure");
  b.external = first_line_of(b.dir + "/bootstrap-external");
  b.advertised = first_line_of(b.dir + "/advertised-external");
  b.ca = b.dir + "/ca.pem";
  b.untrusted_ca = b.dir + "/untrusted-ca.pem";
  b.username = first_line_of(b.dir + "/sasl-username");
  b.password_file = b.dir + "/sasl-password";
  b.password = first_line_of(b.password_file);
  if (b.sasl_ssl.empty() || b.external.empty() || b.username.empty()) {
    const std::string msg = "the broker in " + b.dir +
                            " was not started with --secure --advertise: run the test through "
                            "ctest (fixture kafka_secure) or: SPEEDLAYER_KAFKA_VERSION=3.9.1 "
                            "scripts/kafka-broker.sh start --dir " +
                            b.dir + " --secure --advertise 127.0.0.2";
    ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line())) << msg;
    throw std::runtime_error(msg);
  }
  return b;
}

}  // namespace speedlayer::testing
