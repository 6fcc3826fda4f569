// Connectivity diagnosis shared by `speedlayer doctor` and every client's start-up
// (Producer/Consumer::wait_for_cluster): bootstrap parsing, address classification, bounded TCP
// probes, librdkafka client-error bookkeeping, the advertised-listeners explanation, and the
// fail-fast wait that turns "librdkafka retries forever" into one error naming the cause.
//
//   auto endpoints = kafka::parse_bootstrap("broker-0.example:9094,10.0.0.7:9094");
//   auto probes = kafka::probe_tcp_all(*endpoints, std::chrono::seconds(2));
//   for (const auto& p : probes) std::puts(kafka::describe(p).c_str());
//   // "broker-0.example:9094: resolves to 203.0.113.9 (public), TCP connected in 12.1 ms"
//
//   // Inside a client: wait until a broker answers AND every advertised broker accepts TCP;
//   // authentication and TLS failures end the wait at once (exit 2), unreachable brokers at
//   // the deadline (exit 3).
//   auto up = kafka::wait_until_usable(rk, 30'000, bootstrap, errors, [&] { rd_kafka_poll(rk, 0);
//   });
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "kafka/handles.h"

namespace speedlayer::kafka {

// One host:port, as written in bootstrap.servers or advertised by a broker.
struct Endpoint {
  std::string host;  // name or IP literal, without IPv6 brackets
  int port = 0;
  std::string text() const;  // "host:port", "[v6]:port"
  bool operator==(const Endpoint&) const = default;
};

// Parses a bootstrap list: "host:port,host:port", entries may carry a "proto://" prefix
// (librdkafka accepts it), IPv6 as "[::1]:9092"; a missing port means 9092. Blank entries are
// skipped; an empty list or a bad port is a usage error naming `origin`.
Result<std::vector<Endpoint>> parse_bootstrap(std::string_view list,
                                              std::string_view origin = "bootstrap.servers");

// Where an IP address lives, as far as "can a client elsewhere reach it" goes.
enum class AddressScope {
  loopback,         // 127.0.0.0/8, ::1: only the machine itself
  private_network,  // RFC 1918 (10/8, 172.16/12, 192.168/16), IPv6 ULA fc00::/7
  shared,           // 100.64.0.0/10 (carrier-grade NAT; also many Kubernetes pod networks)
  link_local,       // 169.254.0.0/16, fe80::/10
  unspecified,      // 0.0.0.0, ::  (a listener address, never a place to connect to)
  public_internet,  // anything else
  not_an_ip,        // a host name, or text that is no address
};
AddressScope classify_ip(std::string_view ip);
std::string_view to_string(AddressScope scope);  // "loopback", "private (RFC 1918)", ...
// Reachable only from the same machine or the same private network.
inline bool is_internal(AddressScope s) {
  return s == AddressScope::loopback || s == AddressScope::private_network ||
         s == AddressScope::shared || s == AddressScope::link_local ||
         s == AddressScope::unspecified;
}

// Why an advertised address is suspect for a client that reached the bootstrap servers at an
// address of scope `bootstrap`: a loopback address advertised to a client that is not on the
// broker's machine points the client at itself; a private one, to a client that came over a
// public address, is usually unreachable. Empty when nothing is suspect.
std::optional<std::string> advertised_scope_problem(AddressScope advertised,
                                                    AddressScope bootstrap);

// A bounded TCP connection attempt: name resolution (getaddrinfo) then a non-blocking connect
// to each resolved address until one accepts.
struct TcpProbe {
  Endpoint endpoint;
  bool resolved = false;
  std::vector<std::string> addresses;  // resolved IPs, in getaddrinfo order
  double resolve_ms = 0;
  bool connected = false;
  std::string connected_ip;  // the address that accepted
  double connect_ms = 0;
  std::string error;  // why not: "does not resolve (...)", "connection refused (...)", ...
  // Scope of the address that accepted, else of the first resolved one, else not_an_ip.
  AddressScope scope() const;
};
TcpProbe probe_tcp(const Endpoint& endpoint, std::chrono::milliseconds timeout);
// All endpoints at once (one thread each); returns within `timeout` plus a few ms even when a
// resolver hangs (such a probe reports that it got no answer in time). Same order as input.
std::vector<TcpProbe> probe_tcp_all(const std::vector<Endpoint>& endpoints,
                                    std::chrono::milliseconds timeout);
// "host:port: resolves to 1.2.3.4 (public), TCP connected in 0.3 ms" or "host:port: <error>".
std::string describe(const TcpProbe& probe);

// A connected blocking-mode TCP socket to one IP (no resolution), or an error text. The
// caller owns the fd.
Result<int> connect_ip(const std::string& ip, int port, std::chrono::milliseconds timeout);

// Every broker of a metadata response, with its advertised address.
struct AdvertisedBroker {
  std::int32_t id = -1;
  Endpoint endpoint;
};
std::vector<AdvertisedBroker> advertised_brokers(const rd_kafka_metadata_t& md);

// The broker a librdkafka error line is about when it is one learned from metadata: such
// lines start with the broker's name, "[proto://]host:port/<node id>: ..." (bootstrap
// brokers are named ".../bootstrap" instead). nullopt for any other line.
//   learned_broker_in_error("127.0.0.2:42163/1: Connect to ipv4#127.0.0.2:42163 failed")
//     -> {id 1, 127.0.0.2:42163}
std::optional<AdvertisedBroker> learned_broker_in_error(std::string_view text);

// What to tell a user whose client reached the bootstrap servers but cannot use some
// advertised broker addresses: how advertised listeners work and the fix (Strimzi
// `advertisedHost` for that broker's node id, `bootstrap.alternativeNames`, the firewall for
// the nodePorts). `unreachable` are the brokers in question.
std::string advertised_listeners_explanation(const std::vector<AdvertisedBroker>& unreachable,
                                             std::string_view bootstrap);
std::string advertised_listeners_fix(const std::vector<AdvertisedBroker>& unreachable,
                                     std::string_view bootstrap_host);

// ---------------------------------------------------------------------------------------
// librdkafka client errors

// Errors a client's error callback reported, kept for diagnosis. Authentication and TLS
// errors are remembered separately: librdkafka follows each with "all brokers are down",
// which must not hide the cause.
class ClientErrorLog {
 public:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
    std::string text;
    Clock::time_point at{};
    explicit operator bool() const { return code != RD_KAFKA_RESP_ERR_NO_ERROR; }
  };
  void record(rd_kafka_resp_err_t code, std::string_view text) noexcept;
  const Entry& last() const { return last_; }
  const Entry& authentication() const { return auth_; }
  const Entry& tls() const { return tls_; }
  // The last error that was neither "all brokers down" nor authentication/TLS.
  const Entry& transport() const { return transport_; }
  // Brokers learned from metadata that transport errors were about ("host:port/<id>: Connect
  // ... failed"), one per node id, in the order first seen. The client got that metadata
  // even when no metadata request of ours was answered: since librdkafka 2.10 the bootstrap
  // connection is dropped once the brokers are known, and a request made after that waits
  // on the advertised brokers.
  const std::vector<AdvertisedBroker>& learned_brokers() const { return learned_; }

 private:
  Entry last_, auth_, tls_, transport_;
  std::vector<AdvertisedBroker> learned_;
};

// How a client error should end a connection attempt.
enum class FailureClass {
  none,            // not an error that says anything about connectivity
  authentication,  // SASL: wrong user, password or mechanism (configuration: exit 2)
  tls,             // TLS: untrusted chain, wrong names, TLS against a plaintext port (exit 2)
  transport,       // refused, timed out, resolution failed, disconnected (retry; exit 3)
};
FailureClass classify(rd_kafka_resp_err_t code, std::string_view text);

// The security settings a client runs with, read back from its configuration (never the
// password).
struct SecuritySummary {
  std::string protocol = "plaintext";  // lower case
  std::string mechanism;               // sasl.mechanisms, when SASL
  std::string username;
  bool tls() const { return protocol == "ssl" || protocol == "sasl_ssl"; }
  bool sasl() const { return protocol == "sasl_plaintext" || protocol == "sasl_ssl"; }
};
SecuritySummary security_of(rd_kafka_t* rk);
// A librdkafka property of a live client ("" when unset).
std::string conf_value(rd_kafka_t* rk, const char* name);

// librdkafka before 2.6.1 repeats the client nonce in the SCRAM client-final message; Apache
// Kafka 4.x brokers reject that as invalid credentials (confluentinc/librdkafka#4895). True
// when this process runs such a librdkafka.
bool librdkafka_has_scram_nonce_bug();

// The hint for an authentication failure: what to check, and the librdkafka SCRAM bug when
// it applies: named as the cause when `broker_is_kafka4` (see tls_probe.h) says the broker is
// Kafka 4.0 or later, as a possibility when that is unknown (nullopt), not at all otherwise.
std::string authentication_hint(const SecuritySummary& security,
                                std::optional<bool> broker_is_kafka4 = std::nullopt);

// The error for an authentication failure, for TLS failures (with a fresh TLS check of the
// first reachable bootstrap address so that it says whether the chain or the names failed),
// and for a cluster that did not answer in time (with a TCP probe of each bootstrap address).
Error authentication_error(rd_kafka_t* rk, const ClientErrorLog::Entry& e,
                           std::string_view bootstrap);
Error tls_error(rd_kafka_t* rk, const ClientErrorLog::Entry& e, std::string_view bootstrap);
Error unreachable_error(rd_kafka_t* rk, int timeout_ms, const ClientErrorLog& errors,
                        rd_kafka_resp_err_t last_request_error, std::string_view bootstrap);

// Waits until a broker answers a metadata request and every broker that metadata advertises
// accepts a TCP connection from here, at most `timeout_ms`. `serve_callbacks` serves the
// client's error callbacks (which fill `errors`). Ends early, as ErrorKind::usage (exit 2),
// on an authentication or TLS error reported after the wait began; on the deadline, as
// ErrorKind::unreachable (exit 3), naming the bootstrap servers, what was seen and, when only
// advertised addresses failed, the advertised-listeners fix.
Status wait_until_usable(rd_kafka_t* rk, int timeout_ms, std::string_view bootstrap,
                         const ClientErrorLog& errors,
                         const std::function<void()>& serve_callbacks);

}  // namespace speedlayer::kafka
