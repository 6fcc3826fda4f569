// A TLS handshake done with OpenSSL directly (not through librdkafka), so a diagnosis can say
// which part failed: the connection, the handshake itself, the certificate chain against the
// configured CA, or the certificate's names against the host the client used.
//
//   kafka::TlsSettings tls = kafka::tls_settings_of(props);   // ssl.ca.location / ssl.ca.pem
//   kafka::TlsCheck c = kafka::check_tls("127.0.0.1", 9093, "localhost", tls, 5s);
//   if (!c.chain_ok) puts(c.chain_result.c_str());   // "unable to get local issuer certificate"
//   if (!c.name_ok) ...                              // c.names: {"IP:127.0.0.1", "DNS:localhost"}
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "kafka/properties.h"

namespace speedlayer::kafka {

// The TLS part of a client configuration (librdkafka property names in comments).
struct TlsSettings {
  std::string ca_location;   // ssl.ca.location: a PEM file, a directory, or "probe"
  std::string ca_pem;        // ssl.ca.pem: the CA certificate(s) themselves
  bool verify_chain = true;  // enable.ssl.certificate.verification
  bool verify_hostname =
      true;  // ssl.endpoint.identification.algorithm=https (librdkafka 2.x default)
  std::string certificate_location;  // ssl.certificate.location (client certificate, mTLS)
  std::string key_location;          // ssl.key.location
  std::string key_password;          // ssl.key.password (never printed)
  // Where the CA came from, for messages: "ssl.ca.location=/etc/ca.pem",
  // "ssl.ca.pem (from env KAFKA_SSL_CA_PEM)", "the system's default CA store".
  std::string ca_source() const;
};
TlsSettings tls_settings_of(const Properties& props);
TlsSettings tls_settings_of(rd_kafka_t* rk);

struct TlsCheck {
  bool connected = false;  // TCP
  bool handshake = false;  // TLS handshake completed
  std::string error;       // TCP or handshake failure, or CA loading failure
  std::string hint;        // what to change when the handshake failed
  std::string protocol;    // "TLSv1.3"
  std::string cipher;
  std::string subject;  // "CN=localhost"
  std::string issuer;
  std::string not_after;           // "Dec 27 22:49:52 2026 GMT"
  long days_left = 0;              // until not_after (negative: expired)
  std::vector<std::string> names;  // subjectAltName entries: "DNS:localhost", "IP:127.0.0.1"
  bool chain_ok = false;
  std::string chain_result;  // OpenSSL's verdict: "ok", "self-signed certificate in chain", ...
  bool name_ok = false;      // the certificate is valid for the host the client used
  double ms = 0;             // connect + handshake
};

// Connects to `ip`:`port` and does a TLS handshake as a client of `host` (SNI when `host` is
// a name). The handshake never fails on verification: the chain and the names are checked and
// reported separately. Bounded by `timeout`.
TlsCheck check_tls(const std::string& ip, int port, const std::string& host,
                   const TlsSettings& settings, std::chrono::milliseconds timeout);

// One line: "chain verified against <ca>; names IP:127.0.0.1, DNS:localhost match 127.0.0.1",
// or what failed.
std::string describe(const TlsCheck& check, const std::string& host, const TlsSettings& settings);

// Whether the broker at `ip`:`port` is Apache Kafka 4.0 or later, asked with an ApiVersions
// request (allowed before SASL authentication; over TLS when `tls`, without verifying the
// certificate): Kafka 4.0 dropped Fetch v0-v3 (KIP-896) and says so, older brokers do not.
// nullopt when the broker could not be asked.
std::optional<bool> broker_is_kafka4(const std::string& ip, int port, const std::string& host,
                                     bool tls, const TlsSettings& settings,
                                     std::chrono::milliseconds timeout);

}  // namespace speedlayer::kafka
