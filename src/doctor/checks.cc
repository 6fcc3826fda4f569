#include "doctor/checks.h"

#include <unistd.h>

#include <algorithm>
#include <memory>

#include "core/ascii.h"
#include "kafka/advertised.h"
#include "kafka/client.h"
#include "kafka/cluster_wait.h"
#include "kafka/consumer.h"
#include "kafka/endpoint.h"
#include "kafka/error.h"
#include "kafka/message.h"
#include "kafka/producer.h"
#include "kafka/tls_probe.h"

namespace speedlayer::doctor {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000);
  return buf;
}

std::chrono::milliseconds left_until(Clock::time_point deadline) {
  return std::max(0ms,
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
}

// Where the doctor's producer reports its one probe message (quiet: no librdkafka log lines,
// the report says what matters; its client errors are in the producer's client_errors()).
struct Deliveries : kafka::ProducerEvents {
  bool delivered = false;
  kafka::ErrorCode delivery_error = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  Clock::time_point acknowledged{};

  void on_delivery(const kafka::DeliveryReport& report) noexcept override {
    delivered = true;
    delivery_error = report.error;
    partition = report.partition;
    offset = report.offset;
    acknowledged = Clock::now();
  }
  void on_client_error(kafka::ErrorCode, std::string_view, bool) noexcept override {}
};

constexpr std::string_view kCreateFailure = "cannot create a Kafka client";

Step make_step(int number, std::string name) {
  Step s;
  s.number = number;
  s.name = std::move(name);
  return s;
}

std::string tcp_fix(const kafka::TcpProbe& p) {
  const std::string ep = p.endpoint.text();
  if (!p.resolved) {
    return p.endpoint.host +
           " does not resolve from here: check the name. A Kubernetes Service "
           "name (my-cluster-kafka-bootstrap, *.svc) resolves only inside the cluster; from "
           "outside use the external listener's address (Strimzi nodeport: a node's address "
           "and the nodePort of the <cluster>-kafka-external-bootstrap Service)";
  }
  if (p.error.find("refused") != std::string::npos) {
    return "nothing accepts connections at " + ep +
           ": check the host and the port (a Strimzi "
           "nodeport listener's port is the nodePort of <cluster>-kafka-external-bootstrap: "
           "`kubectl get svc -n <namespace>`) and that the brokers run";
  }
  if (p.error.find("no answer") != std::string::npos) {
    return "connections to " + ep +
           " get no answer: a firewall drops them or the address is "
           "not routable from here; open that port to this host's address (not to 0.0.0.0/0)";
  }
  return "check that " + ep + " is reachable from here (routing, firewall, VPN)";
}

struct Run {
  const DoctorOptions& o;
  Report& r;
  kafka::SecuritySummary sec;
  kafka::TlsSettings tls;
  std::vector<kafka::Endpoint> endpoints;
  std::vector<kafka::TcpProbe> bootstrap_probes;
  kafka::AddressScope bootstrap_scope = kafka::AddressScope::not_an_ip;
  Deliveries deliveries;                    // outlives client
  std::unique_ptr<kafka::Producer> client;  // made by sasl_step
  std::optional<kafka::ClusterMetadata> metadata;
  // When no metadata request of the doctor's was answered but the client learned brokers
  // from the bootstrap's metadata and cannot reach them: those brokers (see sasl_step).
  std::vector<kafka::AdvertisedBroker> learned_unreachable;
  std::string blocked;  // why later steps do not run ("" while they may)
  bool brokers_usable = false;

  Run(const DoctorOptions& options, Report& report) : o(options), r(report) {}

  // The learned brokers of the client's connection errors that are not bootstrap addresses.
  std::vector<kafka::AdvertisedBroker> learned_advertised() const {
    std::vector<kafka::AdvertisedBroker> out;
    for (const auto& b : client->client_errors().learned_brokers()) {
      if (std::find(endpoints.begin(), endpoints.end(), b.endpoint) == endpoints.end())
        out.push_back(b);
    }
    return out;
  }

  void skip_rest(Step s) {
    s.status = Status::skip;
    s.summary = "not run: " + blocked;
    r.steps.push_back(std::move(s));
  }

  void bootstrap_step() {
    Step s = make_step(1, "bootstrap");
    auto t0 = Clock::now();
    bootstrap_probes = kafka::probe_tcp_all(endpoints, o.timeout);
    s.ms = ms_since(t0);
    std::size_t connected = 0;
    for (const auto& p : bootstrap_probes) {
      s.details.push_back(kafka::describe(p));
      if (p.connected) {
        if (connected == 0) bootstrap_scope = p.scope();
        ++connected;
      } else {
        s.fixes.push_back(tcp_fix(p));
      }
    }
    const std::size_t n = bootstrap_probes.size();
    if (connected == n) {
      s.status = Status::ok;
      s.summary = n == 1 ? endpoints[0].text() + " accepts TCP"
                         : "all " + std::to_string(n) + " bootstrap addresses accept TCP";
    } else if (connected > 0) {
      s.status = Status::warn;
      s.summary = std::to_string(connected) + " of " + std::to_string(n) +
                  " bootstrap addresses accept TCP (clients try the others first and lose time)";
    } else {
      s.status = Status::fail;
      s.summary = "nothing at the bootstrap address accepts TCP";
      r.nothing_reachable = true;
      blocked = "nothing reachable at the bootstrap address (step 1)";
    }
    r.steps.push_back(std::move(s));
  }

  void tls_step() {
    Step s = make_step(2, "tls");
    if (!blocked.empty()) return skip_rest(std::move(s));
    if (!sec.tls()) {
      s.status = Status::skip;
      s.summary = "no TLS (security.protocol=" + sec.protocol + ")";
      if (bootstrap_scope == kafka::AddressScope::public_internet) {
        s.status = Status::warn;
        s.summary += ", over a public address";
        s.fixes.emplace_back(
            "everything (messages, and with sasl_plaintext the SASL exchange) crosses the "
            "network unencrypted: use a TLS listener (Strimzi: `tls: true` on the external "
            "listener) with --security-protocol sasl_ssl and --ssl-ca");
      }
      r.steps.push_back(std::move(s));
      return;
    }
    auto t0 = Clock::now();
    auto deadline = t0 + o.timeout;
    bool failed = false, warned = false;
    std::string first_problem;
    auto problem = [&](bool fatal, const std::string& what, std::string fix) {
      if (fatal && !failed)
        first_problem = what;  // the first failure outranks warnings
      else if (first_problem.empty())
        first_problem = what;
      (fatal ? failed : warned) = true;
      if (!fix.empty() && std::find(s.fixes.begin(), s.fixes.end(), fix) == s.fixes.end()) {
        s.fixes.push_back(std::move(fix));
      }
    };
    for (const auto& p : bootstrap_probes) {
      if (!p.connected) continue;
      auto left = left_until(deadline);
      if (left.count() == 0) {
        problem(true, "TLS checks ran out of time (--timeout " + seconds_text(o.timeout) + ")", "");
        break;
      }
      const std::string& host = p.endpoint.host;
      kafka::TlsCheck c = kafka::check_tls(p.connected_ip, p.endpoint.port, host, tls, left);
      s.details.push_back(p.endpoint.text() + ": " + kafka::describe(c, host, tls));
      if (!c.handshake) {
        problem(true, c.error, c.hint);
        continue;
      }
      s.details.push_back(p.endpoint.text() + ": " + c.protocol + " " + c.cipher +
                          ", certificate " + c.subject + ", issued by " + c.issuer +
                          ", valid until " + c.not_after + " (" + std::to_string(c.days_left) +
                          " days)");
      if (!c.chain_ok) {
        problem(tls.verify_chain, "certificate chain not trusted: " + c.chain_result,
                "the broker's certificate (issued by " + c.issuer + ") is not signed by " +
                    tls.ca_source() +
                    ": pass the cluster's CA with --ssl-ca FILE, KAFKA_SSL_CA_LOCATION or "
                    "KAFKA_SSL_CA_PEM (Strimzi: Secret <cluster>-cluster-ca-cert, key ca.crt)");
      }
      if (!c.name_ok) {
        problem(tls.verify_hostname, "the certificate is not valid for " + host,
                "the broker's certificate does not name " + host +
                    ": connect with a name it lists, or add this address to the certificate "
                    "(Strimzi: `configuration.bootstrap.alternativeNames` for the bootstrap "
                    "address; each broker's `advertisedHost` also becomes a certificate name)");
      }
      if (c.days_left < 0) {
        problem(true, "the certificate expired on " + c.not_after,
                "renew the broker certificate (Strimzi renews its CAs itself: check the "
                "cluster operator's logs)");
      } else if (c.days_left < 14) {
        problem(false, "the certificate expires in " + std::to_string(c.days_left) + " days", "");
      }
    }
    if (!tls.verify_chain) {
      problem(false, "certificate verification is off (enable.ssl.certificate.verification=false)",
              "turn verification on and pass the cluster's CA: without it anyone on the path "
              "can pose as the broker and read the password exchange");
    }
    if (!tls.verify_hostname) {
      problem(false, "hostname verification is off (ssl.endpoint.identification.algorithm=none)",
              "turn it on (the default) once the certificate names the addresses clients use");
    }
    s.ms = ms_since(t0);
    if (failed) {
      s.status = Status::fail;
      s.summary = first_problem;
      blocked = "the TLS handshake check failed (step 2); the Kafka client would fail the same way";
    } else {
      s.status = warned ? Status::warn : Status::ok;
      s.summary = warned ? first_problem
                         : "handshake ok, chain verified against " + tls.ca_source() +
                               ", certificate names match";
    }
    r.steps.push_back(std::move(s));
  }

  // Creates the client and waits for its first metadata answer (which needs the login).
  void sasl_step(const kafka::Properties& client_props) {
    Step s = make_step(3, "sasl");
    if (!blocked.empty()) return skip_rest(std::move(s));
    auto t0 = Clock::now();
    auto deadline = t0 + o.timeout;
    auto made = kafka::Producer::create(client_props, &deliveries,
                                        {.quiet = true, .create_failure = kCreateFailure});
    if (!made) {  // validated before the run; kept for completeness
      s.status = Status::fail;
      s.summary = made.error().message();
      blocked = "no Kafka client";
      r.steps.push_back(std::move(s));
      return;
    }
    client = std::move(*made);
    const kafka::ClientErrorLog& errors = client->client_errors();
    kafka::ErrorCode last = RD_KAFKA_RESP_ERR__TIMED_OUT;
    // The client's own first metadata request and ours race: since librdkafka 2.10 the
    // bootstrap connection goes once the brokers are known, and a request sent after that
    // waits on the advertised brokers. If those cannot be reached, our request is never
    // answered, but the connection errors name the brokers the bootstrap advertised: after
    // a second more of trying, they are step 4's evidence.
    std::optional<Clock::time_point> learned_at;
    while (left_until(deadline).count() > 0) {
      int step = static_cast<int>(std::min<std::int64_t>(left_until(deadline).count(), 500));
      auto md = kafka::request_metadata(client->handle(), /*all_topics=*/false, std::max(step, 1));
      last = md ? RD_KAFKA_RESP_ERR_NO_ERROR : md.error();
      client->poll(0);
      if (md && !md->brokers.empty()) {
        metadata = std::move(*md);
        break;
      }
      if (errors.authentication() || errors.tls()) break;
      if (!learned_advertised().empty()) {
        if (!learned_at) learned_at = Clock::now();
        if (Clock::now() - *learned_at >= 1s) break;
      }
    }
    if (!metadata && !errors.authentication() && !errors.tls()) {
      learned_unreachable = learned_advertised();
    }
    s.ms = ms_since(t0);
    const auto& auth = errors.authentication();
    const auto& tls_err = errors.tls();
    if (!metadata && auth) {
      s.status = Status::fail;
      s.summary = "authentication failed" +
                  (sec.username.empty() ? std::string() : " for user " + sec.username) +
                  (sec.mechanism.empty() ? "" : " (" + sec.mechanism + ")");
      s.details.push_back(auth.text);
      // The broker's generation tells whether librdkafka's SCRAM bug is the cause.
      std::optional<bool> kafka4;
      for (const auto& p : bootstrap_probes) {
        if (!p.connected) continue;
        kafka4 = kafka::broker_is_kafka4(p.connected_ip, p.endpoint.port, p.endpoint.host,
                                         sec.tls(), tls, std::min(o.timeout, 5000ms));
        if (kafka4) {
          s.details.emplace_back(*kafka4 ? "the broker is Apache Kafka 4.0 or later"
                                         : "the broker is Apache Kafka older than 4.0");
        }
        break;
      }
      s.fixes.push_back(kafka::authentication_hint(sec, kafka4));
      blocked = "SASL authentication failed (step 3)";
    } else if (!metadata && tls_err) {
      s.status = Status::fail;
      s.summary = "TLS failed in the Kafka client";
      s.details.push_back(tls_err.text);
      s.fixes.push_back(kafka::tls_error(client->handle(), tls_err, o.bootstrap).hint);
      blocked = "TLS failed (step 3)";
    } else if (!metadata && learned_unreachable.empty()) {
      s.status = Status::fail;
      s.summary = "no Kafka answer within " + seconds_text(o.timeout);
      auto e = kafka::unreachable_error(client->handle(), static_cast<int>(o.timeout.count()),
                                        errors, last, o.bootstrap);
      s.details.push_back(e.what);
      s.fixes.push_back(e.hint);
      blocked = "no Kafka answer (step 3)";
    } else if (sec.sasl()) {  // metadata, or brokers learned from the bootstrap's metadata
      s.status = Status::ok;
      s.summary = "authenticated" + (sec.username.empty() ? std::string() : " as " + sec.username) +
                  " with " + (sec.mechanism.empty() ? std::string("SASL") : sec.mechanism);
      if (metadata && !metadata->answered_by.empty()) {
        s.details.push_back("answered by " + metadata->answered_by);
      }
    } else {
      s.status = Status::skip;
      s.summary = "no SASL (security.protocol=" + sec.protocol + "); the client connected in " +
                  std::to_string(static_cast<long long>(s.ms)) + " ms";
    }
    if (!metadata && !learned_unreachable.empty()) {
      s.details.emplace_back(
          "the bootstrap answered with the cluster's brokers, which the client "
          "then could not reach (step 4)");
    }
    if (!sec.sasl() && !sec.username.empty()) {
      if (s.status != Status::fail) s.status = Status::warn;
      s.details.push_back("a SASL user name (" + sec.username +
                          ") is set, but security.protocol=" + sec.protocol + " does not use it");
      s.fixes.emplace_back(
          "for a SCRAM listener use --security-protocol sasl_ssl (or sasl_plaintext)");
    }
    r.steps.push_back(std::move(s));
  }

  void metadata_step() {
    Step s = make_step(4, "metadata");
    if (!blocked.empty()) return skip_rest(std::move(s));
    auto t0 = Clock::now();
    auto deadline = t0 + o.timeout;
    auto brokers = metadata ? metadata->brokers : learned_unreachable;
    std::vector<kafka::Endpoint> eps;
    eps.reserve(brokers.size());
    for (const auto& b : brokers) eps.push_back(b.endpoint);
    auto probes = kafka::probe_tcp_all(eps, o.timeout);
    std::vector<kafka::AdvertisedBroker> unusable;
    bool failed = false, warned = false, tls_names_bad = false;
    for (std::size_t i = 0; i < brokers.size(); ++i) {
      const auto& b = brokers[i];
      const auto& p = probes[i];
      BrokerCheck bc;
      bc.id = b.id;
      bc.address = b.endpoint.text();
      bc.reachable = p.connected;
      bc.connect_ms = p.connect_ms;
      bc.scope = std::string(kafka::to_string(p.scope()));
      if (kafka::classify_ip(b.endpoint.host) == kafka::AddressScope::not_an_ip) {
        for (const auto& a : p.addresses) bc.resolved += (bc.resolved.empty() ? "" : ",") + a;
      }
      std::string line = "broker " + std::to_string(b.id) + " at " + kafka::describe(p);
      auto scope_problem = kafka::advertised_scope_problem(p.scope(), bootstrap_scope);
      bool scope_fatal = scope_problem && (p.scope() == kafka::AddressScope::loopback ||
                                           p.scope() == kafka::AddressScope::unspecified);
      if (!p.connected) {
        bc.problem = "cannot connect from here: " + p.error;
        if (scope_problem) bc.problem += "; " + *scope_problem;
        failed = true;
        unusable.push_back(b);
      } else if (scope_problem) {
        bc.problem = *scope_problem;
        if (scope_fatal) {
          failed = true;
          unusable.push_back(b);
        } else {
          warned = true;
        }
      }
      if (p.connected && sec.tls() && left_until(deadline).count() > 0) {
        kafka::TlsCheck c = kafka::check_tls(p.connected_ip, b.endpoint.port, b.endpoint.host, tls,
                                             left_until(deadline));
        bc.tls = kafka::describe(c, b.endpoint.host, tls);
        bool bad = !c.handshake || (!c.chain_ok && tls.verify_chain) ||
                   (!c.name_ok && tls.verify_hostname);
        if (bad) {
          failed = true;
          tls_names_bad = tls_names_bad || (c.handshake && !c.name_ok);
          bc.problem += (bc.problem.empty() ? "TLS: " : "; TLS: ") + bc.tls;
        }
        line += "; TLS: " + bc.tls;
      }
      if (!bc.problem.empty() && p.connected)
        line += " -- " + bc.problem;
      else if (!p.connected && scope_problem)
        line += " -- " + *scope_problem;
      s.details.push_back(line);
      r.brokers.push_back(std::move(bc));
    }
    if (!metadata) {
      s.details.emplace_back(
          "brokers as the client learned them from the bootstrap's metadata "
          "(its connection errors name them); the cluster may have more");
    }
    // Topics this user may see: one more request, which also exercises authorization. Not
    // when no broker can answer it (it would only wait out the timeout).
    auto left = left_until(deadline);
    if (unusable.size() == brokers.size() && !brokers.empty()) {
      s.details.emplace_back("topics not listed: no advertised broker is usable from here");
    } else if (left.count() > 0) {
      auto all = kafka::request_metadata(client->handle(), /*all_topics=*/true,
                                         static_cast<int>(left.count()));
      if (all) {
        s.details.push_back(std::to_string(all->topic_count) + " topic(s) visible to this client");
      } else {
        s.details.push_back("cannot list topics: " + kafka::error_name(all.error()));
      }
    }
    s.ms = ms_since(t0);
    const std::size_t n = brokers.size();
    std::string count = std::to_string(n) + (n == 1 ? " broker" : " brokers");
    if (failed) {
      s.status = Status::fail;
      std::string which;
      for (const auto& b : r.brokers) {
        if (b.problem.empty()) continue;
        which += (which.empty() ? "" : ", ") + std::to_string(b.id) + " (" + b.address + ")";
      }
      s.summary = count + "; not usable from here: " + which;
      if (!unusable.empty()) {
        s.details.push_back("why: " +
                            kafka::advertised_listeners_explanation(unusable, o.bootstrap));
        std::string host = endpoints.empty() ? o.bootstrap : endpoints.front().host;
        s.fixes.push_back(kafka::advertised_listeners_fix(unusable, host));
      }
      if (tls_names_bad) {
        s.fixes.emplace_back(
            "each broker's certificate must name the address it advertises: with Strimzi the "
            "listener's `advertisedHost` values become certificate names, so set them rather "
            "than turning hostname verification off");
      }
      blocked = "some brokers are not usable from here (step 4)";
    } else {
      brokers_usable = true;
      s.status = warned ? Status::warn : Status::ok;
      s.summary = count + (warned ? ", all reachable from here, some at internal addresses"
                                  : ", all reachable from here");
      if (warned) {
        s.fixes.emplace_back(
            "clients elsewhere may not reach internal advertised addresses: advertise "
            "addresses every client can reach (Strimzi: advertisedHost per broker node id)");
      }
    }
    r.steps.push_back(std::move(s));
  }

  void probe_step(const kafka::Properties& client_props) {
    Step s = make_step(5, "probe");
    if (!o.topic) {
      s.status = Status::skip;
      s.summary = "not asked for (--topic T produces one probe message and reads it back)";
      r.steps.push_back(std::move(s));
      return;
    }
    if (!blocked.empty()) return skip_rest(std::move(s));
    const std::string& topic = *o.topic;
    auto t0 = Clock::now();
    auto deadline = t0 + o.timeout;
    std::string id = std::to_string(::getpid()) + "-" +
                     std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    std::string value = "{\"speedlayer_doctor_probe\":\"" + id + "\"}";
    auto sent = Clock::now();
    kafka::ErrorCode err = client->produce(topic, {}, value, /*tag=*/0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      while (!deliveries.delivered && left_until(deadline).count() > 0) client->poll(50);
      if (!deliveries.delivered) {
        client->purge_all();
        err = RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
      } else {
        err = deliveries.delivery_error;
      }
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      s.ms = ms_since(t0);
      s.status = Status::fail;
      s.summary = "producing to " + topic + " failed: " + kafka::error_name(err);
      if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
          err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
        s.fixes.push_back("topic " + topic +
                          " does not exist and is not auto-created: create it "
                          "(Strimzi: a KafkaTopic) or name an existing one");
      } else if (err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        s.fixes.push_back("this user may not write " + topic +
                          ": grant Write and Describe on it (Strimzi: the KafkaUser's acls)");
      } else {
        s.fixes.push_back("no acknowledgement within " + seconds_text(o.timeout) +
                          ": check the partition leader (step 4) and that enough in-sync "
                          "replicas are up for acks=all (min.insync.replicas)");
      }
      r.steps.push_back(std::move(s));
      return;
    }
    ProbeResult pr;
    pr.topic = topic;
    pr.partition = deliveries.partition;
    pr.offset = deliveries.offset;
    pr.produce_ms =
        std::chrono::duration<double, std::milli>(deliveries.acknowledged - sent).count();

    // Read it back with a consumer assigned to exactly that partition and offset (no group).
    kafka::Properties cp = client_props;
    cp.set("group.id", "speedlayer-doctor-" + id, "doctor probe");
    cp.set("enable.auto.commit", "false", "doctor probe");
    cp.set("enable.partition.eof", "false", "doctor probe");
    cp.set("fetch.wait.max.ms", "50", "doctor probe");
    kafka::set_consumer_defaults(cp);  // as every consumer of speedlayer
    std::string consume_error;
    bool found = false;
    auto consumer = kafka::Consumer::create(
        cp, {.start = kafka::StartFrom::stored, .quiet = true, .create_failure = kCreateFailure});
    if (!consumer) {
      consume_error = consumer.error().message();
    } else {
      if (auto st = (*consumer)->assign({{kafka::TopicPartition{topic, pr.partition}, pr.offset}});
          !st) {
        consume_error = st.error().what;
      }
      while (consume_error.empty() && !found && left_until(deadline).count() > 0) {
        kafka::MessagePtr m = (*consumer)->poll(50);
        if (!m) continue;
        if (m->err) {
          if (m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
            consume_error = "not allowed to read " + topic;
          }
          continue;
        }
        if (m->offset == pr.offset && kafka::view_of(*m, /*with_headers=*/false).payload == value) {
          found = true;
          pr.end_to_end_ms = ms_since(sent);
        }
      }
      (void)(*consumer)->close();
    }
    s.ms = ms_since(t0);
    char head[160];
    std::snprintf(head, sizeof head, "%s[%d]@%lld acknowledged in %.1f ms", topic.c_str(),
                  pr.partition, static_cast<long long>(pr.offset), pr.produce_ms);
    if (!found) {
      s.status = Status::fail;
      s.summary =
          std::string(head) + ", but not read back: " +
          (consume_error.empty() ? "not seen within " + seconds_text(o.timeout) : consume_error);
      s.fixes.push_back(consume_error.find("not allowed") != std::string::npos
                            ? "grant this user Read on " + topic + " (Strimzi: KafkaUser acls)"
                            : "check the partition leader's reachability (step 4)");
    } else {
      s.status = Status::ok;
      char tail[96];
      std::snprintf(tail, sizeof tail, ", read back %.1f ms after sending", pr.end_to_end_ms);
      s.summary = std::string(head) + tail;
      r.probe = pr;
    }
    r.steps.push_back(std::move(s));
  }
};

}  // namespace

Result<Report> run_doctor(const DoctorOptions& options) {
  Report report;
  Run run(options, report);
  SL_ASSIGN_OR_RETURN(run.endpoints, kafka::parse_bootstrap(options.bootstrap, "--brokers"));

  kafka::Properties props = options.kafka;
  props.set("bootstrap.servers", options.bootstrap, "--brokers");
  props.set_default("client.id", "speedlayer-doctor");
  props.set("message.timeout.ms",
            std::to_string(std::max<std::int64_t>(options.timeout.count(), 1)), "doctor --timeout");
  props.set_default("acks", "all");
  // Settings librdkafka rejects are usage errors (exit 2), before anything runs.
  if (auto conf = kafka::make_conf(props); !conf) return std::unexpected(conf.error());

  run.sec.protocol = ascii_lower(props.get("security.protocol").value_or("plaintext"));
  run.sec.mechanism =
      props.get("sasl.mechanism").value_or(props.get("sasl.mechanisms").value_or(""));
  run.sec.username = props.get("sasl.username").value_or("");
  run.tls = kafka::tls_settings_of(props);

  report.bootstrap = options.bootstrap;
  report.security_protocol = run.sec.protocol;
  if (run.sec.sasl()) {
    report.sasl_mechanism = run.sec.mechanism.empty() ? "GSSAPI" : run.sec.mechanism;
    report.sasl_username = run.sec.username;
    report.password_source = options.password_source;
  }
  if (run.sec.tls()) report.ca_source = run.tls.ca_source();
  report.librdkafka_version = kafka::librdkafka_version();

  run.bootstrap_step();
  run.tls_step();
  run.sasl_step(props);
  run.metadata_step();
  run.probe_step(props);
  return report;
}

}  // namespace speedlayer::doctor
