#include "kafka/advertised.h"

#include <algorithm>

namespace speedlayer::kafka {
namespace {

std::string broker_list(const std::vector<AdvertisedBroker>& brokers) {
  std::string out;
  for (std::size_t i = 0; i < brokers.size(); ++i) {
    if (i > 0) out += i + 1 == brokers.size() ? " and " : ", ";
    out += std::to_string(brokers[i].id);
  }
  return out;
}

}  // namespace

std::optional<std::string> advertised_scope_problem(AddressScope advertised,
                                                    AddressScope bootstrap) {
  if (advertised == AddressScope::unspecified) {
    return "it advertises an unspecified address (0.0.0.0 or ::), which is where a broker "
           "listens, not an address a client can connect to";
  }
  if (advertised == AddressScope::loopback && bootstrap != AddressScope::loopback &&
      bootstrap != AddressScope::not_an_ip) {
    return "it advertises a loopback address, which on any other machine means that machine "
           "itself: only clients on the broker's own host can use it";
  }
  if (is_internal(advertised) && advertised != AddressScope::loopback &&
      bootstrap == AddressScope::public_internet) {
    return "it advertises a " + std::string(to_string(advertised)) +
           " address while the bootstrap servers were reached over a public one: clients "
           "outside the broker's network usually cannot reach it";
  }
  return std::nullopt;
}

std::vector<AdvertisedBroker> advertised_brokers(const rd_kafka_metadata_t& md) {
  std::vector<AdvertisedBroker> out;
  out.reserve(static_cast<std::size_t>(md.broker_cnt));
  for (int i = 0; i < md.broker_cnt; ++i) {
    const auto& b = md.brokers[i];
    out.push_back(AdvertisedBroker{b.id, Endpoint{b.host ? b.host : "", b.port}});
  }
  std::sort(out.begin(), out.end(),
            [](const AdvertisedBroker& a, const AdvertisedBroker& b) { return a.id < b.id; });
  return out;
}

std::string advertised_listeners_explanation(const std::vector<AdvertisedBroker>& unreachable,
                                             std::string_view bootstrap) {
  std::string out =
      "a client uses the bootstrap servers (" + std::string(bootstrap) +
      ") only for its first metadata request; it then connects to every broker at the "
      "address that broker advertises (its listener's advertised.listeners), so each "
      "advertised address must be reachable from the client, not only the bootstrap one.";
  for (const auto& b : unreachable) {
    out += " Broker " + std::to_string(b.id) + " advertises " + b.endpoint.text() + ".";
  }
  return out;
}

std::string advertised_listeners_fix(const std::vector<AdvertisedBroker>& unreachable,
                                     std::string_view bootstrap_host) {
  std::string ids = broker_list(unreachable);
  bool plural = unreachable.size() > 1;
  std::string first_id = unreachable.empty() ? "<id>" : std::to_string(unreachable.front().id);
  return "make broker" + std::string(plural ? "s " : " ") + ids +
         " advertise an address this host can reach. With Strimzi, in the Kafka resource's "
         "external listener: `configuration.brokers: [{broker: " +
         first_id + ", advertisedHost: <address reachable from here>}]` (" +
         "`broker` is the KRaft node id shown here, not a list index; add advertisedPort when "
         "the port differs); put the bootstrap host (" +
         std::string(bootstrap_host) +
         ") in `configuration.bootstrap.alternativeNames` so that TLS hostname verification "
         "accepts it; and open the firewall for every broker's nodePort (`kubectl get svc -n "
         "<namespace>` lists them), not only the bootstrap's. Without Strimzi: fix "
         "advertised.listeners of broker" +
         std::string(plural ? "s " : " ") + ids + ".";
}

std::expected<ClusterMetadata, ErrorCode> request_metadata(rd_kafka_t* rk, bool all_topics,
                                                           int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  const ErrorCode err = rd_kafka_metadata(rk, all_topics ? 1 : 0, nullptr, &md, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return std::unexpected(err);
  MetadataPtr owned(md);
  ClusterMetadata out;
  out.brokers = advertised_brokers(*owned);
  if (owned->orig_broker_name) out.answered_by = owned->orig_broker_name;
  out.topic_count = owned->topic_cnt;
  return out;
}

}  // namespace speedlayer::kafka
