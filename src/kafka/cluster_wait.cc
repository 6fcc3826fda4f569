#include "kafka/cluster_wait.h"

#include <algorithm>
#include <cctype>
#include <thread>

#include "core/ascii.h"
#include "kafka/tls_probe.h"

namespace speedlayer::kafka {
namespace {

using Clock = std::chrono::steady_clock;

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string seconds_text(int ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return fixed(ms / 1000.0, 1) + " s";
}

}  // namespace

bool librdkafka_has_scram_nonce_bug() {
  return rd_kafka_version() < 0x02060100;
}

std::string authentication_hint(const SecuritySummary& s, std::optional<bool> kafka4) {
  bool scram_bug =
      librdkafka_has_scram_nonce_bug() && ascii_lower(s.mechanism).rfind("scram", 0) == 0;
  std::string version = rd_kafka_version_str();
  std::string hint;
  if (scram_bug && kafka4.value_or(false)) {
    hint = "this broker is Apache Kafka 4.0 or later and this program runs librdkafka " + version +
           ", whose SCRAM login Kafka 4 rejects as invalid credentials even with the right "
           "password (fixed in librdkafka 2.6.1, confluentinc/librdkafka#4895): use a speedlayer "
           "built with librdkafka 2.6.1 or later. Otherwise ";
  }
  hint += std::string("check") +
          " the user name (--sasl-username, KAFKA_SASL_USERNAME) and its password "
          "(--sasl-password-file, KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD); that the user "
          "exists on the cluster (Strimzi: a KafkaUser with authentication type scram-sha-512, "
          "whose password is in the Secret of the same name, key `password`); and that "
          "--sasl-mechanism (" +
          (s.mechanism.empty() ? std::string("unset") : s.mechanism) +
          ") is one the listener enables";
  if (scram_bug && !kafka4) {
    hint +=
        ". If all of that is right and the broker runs Apache Kafka 4.0 or later: this "
        "program's librdkafka " +
        version +
        " has a SCRAM bug Kafka 4 rejects as invalid credentials (fixed in librdkafka "
        "2.6.1, confluentinc/librdkafka#4895)";
  }
  return hint;
}

Error authentication_error(rd_kafka_t* rk, const ClientErrorLog::Entry& e,
                           std::string_view bootstrap) {
  SecuritySummary s = security_of(rk);
  std::optional<bool> kafka4;
  if (librdkafka_has_scram_nonce_bug() && ascii_lower(s.mechanism).rfind("scram", 0) == 0) {
    // Which broker generation refused us decides whether the librdkafka bug is the cause.
    std::optional<Endpoint> target = endpoint_in_error(e.text);
    if (!target) {
      if (auto eps = parse_bootstrap(bootstrap); eps && !eps->empty()) target = eps->front();
    }
    if (target) {
      TcpProbe tcp = probe_tcp(*target, std::chrono::milliseconds(2000));
      if (tcp.connected) {
        kafka4 = broker_is_kafka4(tcp.connected_ip, target->port, target->host, s.tls(),
                                  tls_settings_of(rk), std::chrono::milliseconds(2000));
      }
    }
  }
  std::string who = s.username.empty() ? std::string("(no --sasl-username given)")
                                       : "for user '" + s.username + "'";
  return Error{ErrorKind::usage,
               "SASL authentication failed " + who +
                   (s.mechanism.empty() ? "" : " (" + s.mechanism + ")") + ": " + e.text,
               "bootstrap servers " + std::string(bootstrap), authentication_hint(s, kafka4)};
}

Error tls_error(rd_kafka_t* rk, const ClientErrorLog::Entry& e, std::string_view bootstrap) {
  std::string what = "TLS with the broker failed: " + e.text;
  std::string hint =
      "check that the port is the listener's TLS port and that --ssl-ca names the cluster's CA";
  std::optional<Endpoint> target = endpoint_in_error(e.text);
  if (!target) {
    auto eps = parse_bootstrap(bootstrap);
    if (eps && !eps->empty()) target = eps->front();
  }
  if (target) {
    TlsSettings settings = tls_settings_of(rk);
    TcpProbe tcp = probe_tcp(*target, std::chrono::milliseconds(2000));
    if (tcp.connected) {
      TlsCheck c = check_tls(tcp.connected_ip, target->port, target->host, settings,
                             std::chrono::milliseconds(2000));
      what += ". Own check of " + target->text() + ": " + describe(c, target->host, settings);
      if (!c.handshake) {
        if (!c.hint.empty()) hint = c.hint;
      } else if (!c.chain_ok) {
        hint = "the broker's certificate (issued by " + c.issuer + ") is not signed by " +
               settings.ca_source() +
               ": pass the cluster's CA certificate with --ssl-ca FILE, KAFKA_SSL_CA_LOCATION "
               "or KAFKA_SSL_CA_PEM (Strimzi: Secret <cluster>-cluster-ca-cert, key ca.crt)";
      } else if (!c.name_ok) {
        hint = "the certificate is not valid for " + target->host +
               ": connect with a name it lists, or add this address to it (Strimzi: "
               "`bootstrap.alternativeNames` for the bootstrap address, `advertisedHost` of "
               "each broker in the listener's `configuration.brokers`; both become "
               "certificate names). -X ssl.endpoint.identification.algorithm=none turns the "
               "check off (then anyone on the path can pose as the broker)";
      }
    }
  }
  return Error{ErrorKind::usage, what, "bootstrap servers " + std::string(bootstrap), hint};
}

Error unreachable_error(rd_kafka_t* rk, int timeout_ms, const ClientErrorLog& errors,
                        rd_kafka_resp_err_t last_request_error, std::string_view bootstrap) {
  std::string why = errors.transport() ? errors.transport().text
                    : errors.last()    ? errors.last().text
                                       : rd_kafka_err2str(last_request_error);
  std::string what = "no Kafka broker answered within " + seconds_text(timeout_ms) + ": " + why;
  std::string hint =
      "check --brokers/KAFKA_BROKERS, that the brokers run and that this host can reach them; "
      "`speedlayer doctor` tells which step fails";
  auto endpoints = parse_bootstrap(bootstrap);
  if (endpoints && !endpoints->empty()) {
    auto probes =
        probe_tcp_all(*endpoints, std::chrono::milliseconds(std::clamp(timeout_ms / 4, 200, 2000)));
    std::string seen;
    bool all_connected = true;
    for (const auto& p : probes) {
      seen += (seen.empty() ? "" : "; ") + describe(p);
      all_connected = all_connected && p.connected;
    }
    what += ". Bootstrap check: " + seen;
    if (all_connected) {
      auto sec = rk ? security_of(rk) : SecuritySummary{};
      hint =
          "the bootstrap address accepts TCP but gave no Kafka answer: check that "
          "--security-protocol (" +
          sec.protocol +
          ") matches the listener (a TLS listener needs ssl or sasl_ssl, a plaintext one "
          "plaintext or sasl_plaintext) and that this is a Kafka port; `speedlayer doctor` "
          "tells which step fails";
    }
  }
  return Error{ErrorKind::unreachable, what, "bootstrap servers " + std::string(bootstrap), hint};
}

Status wait_until_usable(rd_kafka_t* rk, int timeout_ms, std::string_view bootstrap,
                         const ClientErrorLog& errors,
                         const std::function<void()>& serve_callbacks) {
  auto started = Clock::now();
  auto deadline = started + std::chrono::milliseconds(timeout_ms);
  auto fresh = [&](const ClientErrorLog::Entry& e) { return e && e.at >= started; };
  rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR__TRANSPORT;
  std::vector<AdvertisedBroker> bad;
  std::vector<TcpProbe> bad_probes;
  bool fatal = false;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    const rd_kafka_metadata_t* md = nullptr;
    int step = static_cast<int>(std::min<std::int64_t>(left.count(), 1000));
    last = rd_kafka_metadata(rk, 0, nullptr, &md, step);
    MetadataPtr owned(last == RD_KAFKA_RESP_ERR_NO_ERROR ? md : nullptr);
    if (serve_callbacks) serve_callbacks();
    if (fresh(errors.authentication())) {
      return std::unexpected(authentication_error(rk, errors.authentication(), bootstrap));
    }
    if (fresh(errors.tls())) return std::unexpected(tls_error(rk, errors.tls(), bootstrap));
    if (rd_kafka_fatal_error(rk, nullptr, 0)) {
      fatal = true;
      break;
    }
    if (!owned || owned->broker_cnt <= 0) continue;
    // A broker answered. Every broker it advertises must accept TCP from here, or producing
    // to (or reading from) its partitions hangs until librdkafka's own timeouts.
    auto brokers = advertised_brokers(*owned);
    std::vector<Endpoint> endpoints;
    endpoints.reserve(brokers.size());
    for (const auto& b : brokers) endpoints.push_back(b.endpoint);
    left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto probe_timeout = std::clamp<std::chrono::milliseconds>(left, std::chrono::milliseconds(100),
                                                               std::chrono::milliseconds(2000));
    auto probes = probe_tcp_all(endpoints, probe_timeout);
    bad.clear();
    bad_probes.clear();
    for (std::size_t i = 0; i < probes.size(); ++i) {
      if (probes[i].connected) continue;
      bad.push_back(brokers[i]);
      bad_probes.push_back(probes[i]);
    }
    if (bad.empty()) return {};
    // Brokers that just died stay in the metadata until their session times out; ask again.
    auto pause = std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(250),
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
  if (bad.empty() && fresh(errors.transport())) {
    // librdkafka (2.10 and later) leaves the bootstrap connection once metadata named the
    // brokers, so when every named broker is unreachable no later metadata request is answered
    // and the loop above never saw one. The connection errors still name the learned broker.
    auto learned = learned_broker_in_error(errors.transport().text);
    auto bootstrap_endpoints = parse_bootstrap(bootstrap);
    const bool is_bootstrap = learned && bootstrap_endpoints &&
                              std::find(bootstrap_endpoints->begin(), bootstrap_endpoints->end(),
                                        learned->endpoint) != bootstrap_endpoints->end();
    if (learned && !is_bootstrap) {
      TcpProbe probe = probe_tcp(learned->endpoint, std::chrono::milliseconds(1000));
      if (!probe.connected) {
        bad.push_back(*learned);
        bad_probes.push_back(std::move(probe));
      }
    }
  }
  if (!bad.empty()) {
    std::string what = "the bootstrap servers answered, but ";
    for (std::size_t i = 0; i < bad.size(); ++i) {
      if (i > 0) what += "; ";
      what += "broker " + std::to_string(bad[i].id) + " advertises " + bad[i].endpoint.text() +
              ", which this host cannot reach: " + bad_probes[i].error;
    }
    std::string why = advertised_listeners_explanation({}, bootstrap);
    if (!why.empty()) why[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(why[0])));
    what += " (for " + seconds_text(timeout_ms) + "). " + why;
    std::string host;
    if (auto eps = parse_bootstrap(bootstrap); eps && !eps->empty()) host = eps->front().host;
    return fail(ErrorKind::unreachable, what, "bootstrap servers " + std::string(bootstrap),
                advertised_listeners_fix(bad, host) + " `speedlayer doctor` checks every broker");
  }
  if (fatal) {
    char buf[512] = {};
    rd_kafka_fatal_error(rk, buf, sizeof buf);
    return fail(ErrorKind::kafka, std::string("fatal Kafka client error: ") + buf,
                "bootstrap servers " + std::string(bootstrap));
  }
  return std::unexpected(unreachable_error(rk, timeout_ms, errors, last, bootstrap));
}

}  // namespace speedlayer::kafka
