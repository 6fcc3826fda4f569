// A client's start-up (Producer/Consumer::wait_for_cluster): the fail-fast wait that turns
// "librdkafka retries forever" into one error naming the cause, and the errors it ends with
// (authentication, TLS, unreachable), each with what to check.
//
//   // Wait until a broker answers AND every advertised broker accepts TCP; authentication
//   // and TLS failures end the wait at once (exit 2), unreachable brokers at the deadline
//   // (exit 3).
//   auto up = kafka::wait_until_usable(rk, 30'000, bootstrap, errors,
//                                      [&] { rd_kafka_poll(rk, 0); });
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "kafka/client_errors.h"
#include "kafka/handles.h"
#include "kafka/properties.h"  // SecuritySummary

namespace speedlayer::kafka {

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
