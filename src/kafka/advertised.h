// The brokers a cluster advertises (its metadata) and what to tell a user who reached the
// bootstrap servers but cannot use some advertised addresses: how advertised listeners work
// and the fix (Strimzi `advertisedHost`, `bootstrap.alternativeNames`, nodePorts).
//
//   auto md = kafka::request_metadata(rk, /*all_topics=*/false, 5000);
//   if (md) for (const auto& b : md->brokers) probe(b.endpoint);
//   std::puts(kafka::advertised_listeners_fix({{1, {"10.0.0.7", 9094}}}, "kafka.example").c_str());
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/endpoint.h"
#include "kafka/error.h"
#include "kafka/handles.h"

namespace speedlayer::kafka {

// Why an advertised address is suspect for a client that reached the bootstrap servers at an
// address of scope `bootstrap`: a loopback address advertised to a client that is not on the
// broker's machine points the client at itself; a private one, to a client that came over a
// public address, is usually unreachable. Empty when nothing is suspect.
std::optional<std::string> advertised_scope_problem(AddressScope advertised,
                                                    AddressScope bootstrap);

// Every broker of a metadata response, with its advertised address.
struct AdvertisedBroker {
  std::int32_t id = -1;
  Endpoint endpoint;
};
std::vector<AdvertisedBroker> advertised_brokers(const rd_kafka_metadata_t& md);

// What one metadata request answered: the advertised brokers (by id), the broker that
// answered ("" when unknown) and how many topics the answer holds.
struct ClusterMetadata {
  std::vector<AdvertisedBroker> brokers;
  std::string answered_by;
  int topic_count = 0;
};
// One metadata request through client `rk`: with `all_topics` every topic this client may
// see, else only the brokers and the topics the client knows already. Blocks at most
// `timeout_ms`; librdkafka's error code when no answer came.
std::expected<ClusterMetadata, ErrorCode> request_metadata(rd_kafka_t* rk, bool all_topics,
                                                           int timeout_ms);

// What to tell a user whose client reached the bootstrap servers but cannot use some
// advertised broker addresses: how advertised listeners work and the fix (Strimzi
// `advertisedHost` for that broker's node id, `bootstrap.alternativeNames`, the firewall for
// the nodePorts). `unreachable` are the brokers in question.
std::string advertised_listeners_explanation(const std::vector<AdvertisedBroker>& unreachable,
                                             std::string_view bootstrap);
std::string advertised_listeners_fix(const std::vector<AdvertisedBroker>& unreachable,
                                     std::string_view bootstrap_host);

}  // namespace speedlayer::kafka
