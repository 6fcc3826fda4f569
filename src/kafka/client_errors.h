// librdkafka client errors kept for diagnosis: what a client's error callback reported,
// classified (authentication, TLS, transport), and the brokers those errors are about.
//
//   kafka::ClientErrorLog errors;                     // in the client's error callback:
//   errors.record(code, reason);
//   if (errors.authentication()) ...;                 // kept even after "all brokers down"
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/advertised.h"
#include "kafka/endpoint.h"
#include "kafka/handles.h"

namespace speedlayer::kafka {

// The broker a librdkafka error line is about when it is one learned from metadata: such
// lines start with the broker's name, "[proto://]host:port/<node id>: ..." (bootstrap
// brokers are named ".../bootstrap" instead). nullopt for any other line.
//   learned_broker_in_error("127.0.0.2:42163/1: Connect to ipv4#127.0.0.2:42163 failed")
//     -> {id 1, 127.0.0.2:42163}
std::optional<AdvertisedBroker> learned_broker_in_error(std::string_view text);

// The broker address a librdkafka error line names after its protocol:
//   endpoint_in_error("sasl_ssl://127.0.0.1:9093/1: SSL handshake failed") -> 127.0.0.1:9093
// nullopt when the line names none.
std::optional<Endpoint> endpoint_in_error(std::string_view text);

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

}  // namespace speedlayer::kafka
