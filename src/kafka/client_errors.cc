#include "kafka/client_errors.h"

#include <algorithm>
#include <charconv>

namespace speedlayer::kafka {

// "sasl_ssl://127.0.0.1:9093/1: SSL handshake failed..." -> 127.0.0.1:9093
std::optional<Endpoint> endpoint_in_error(std::string_view text) {
  auto scheme = text.find("://");
  if (scheme == std::string_view::npos) return std::nullopt;
  auto rest = text.substr(scheme + 3);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto parsed = parse_bootstrap(rest.substr(0, slash));
  if (!parsed || parsed->size() != 1) return std::nullopt;
  return parsed->front();
}

std::optional<AdvertisedBroker> learned_broker_in_error(std::string_view text) {
  const auto colon_space = text.find(": ");
  if (colon_space == std::string_view::npos) return std::nullopt;
  std::string_view name = text.substr(0, colon_space);
  if (auto scheme = name.find("://"); scheme != std::string_view::npos)
    name.remove_prefix(scheme + 3);
  const auto slash = name.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == name.size()) return std::nullopt;
  const std::string_view id_text = name.substr(slash + 1);
  std::int32_t id = -1;
  auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size() || id < 0) return std::nullopt;
  auto endpoints = parse_bootstrap(name.substr(0, slash));
  if (!endpoints || endpoints->size() != 1) return std::nullopt;
  return AdvertisedBroker{id, endpoints->front()};
}

void ClientErrorLog::record(rd_kafka_resp_err_t code, std::string_view text) noexcept {
  try {
    Entry e{code, std::string(text), Clock::now()};
    switch (classify(code, text)) {
      case FailureClass::authentication:
        auth_ = e;
        break;
      case FailureClass::tls:
        tls_ = e;
        break;
      case FailureClass::transport:
        if (code != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) transport_ = e;
        if (auto b = learned_broker_in_error(text);
            b && learned_.size() < 1024 &&
            std::none_of(learned_.begin(), learned_.end(),
                         [&](const AdvertisedBroker& k) { return k.id == b->id; })) {
          learned_.push_back(std::move(*b));
        }
        break;
      case FailureClass::none:
        break;
    }
    last_ = std::move(e);
  } catch (...) {
    // swallowed: out of memory keeps the previous last error; the count above is already recorded
  }
}

FailureClass classify(rd_kafka_resp_err_t code, std::string_view text) {
  switch (code) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
      return FailureClass::authentication;
    case RD_KAFKA_RESP_ERR__SSL:
      return FailureClass::tls;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
      // librdkafka reports a TLS handshake that the peer dropped as a transport error.
      if (text.find("SSL handshake failed") != std::string_view::npos) return FailureClass::tls;
      return FailureClass::transport;
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__FAIL:
      return FailureClass::transport;
    default:
      return FailureClass::none;
  }
}

}  // namespace speedlayer::kafka
