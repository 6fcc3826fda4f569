// Unit tests of the connectivity diagnosis: parsing, address classification, bounded TCP
// probes on 127.0.0.1, client-error bookkeeping, and the fail-fast wait against closed ports
// and librdkafka's in-process mock cluster.
#include "kafka/diagnosis.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "kafka/mock_cluster.h"
#include "kafka/producer.h"

namespace speedlayer::kafka {
namespace {

using namespace std::chrono_literals;

// A listening socket on 127.0.0.1 (port chosen by the kernel); closed on destruction.
struct Listener {
  int fd = -1;
  int port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd); }
};

int closed_port() {
  Listener l;
  int port = l.port;
  return port;  // closed when l goes away
}

TEST(ParseBootstrap, HostPortListsWithPrefixesSpacesAndIpv6) {
  auto eps = parse_bootstrap(" a.example:9094, SASL_SSL://10.0.0.7:9093 ,[::1]:19092,b,,");
  ASSERT_TRUE(eps) << eps.error().message();
  ASSERT_EQ(eps->size(), 4u);
  EXPECT_EQ((*eps)[0], (Endpoint{"a.example", 9094}));
  EXPECT_EQ((*eps)[1], (Endpoint{"10.0.0.7", 9093}));
  EXPECT_EQ((*eps)[2], (Endpoint{"::1", 19092}));
  EXPECT_EQ((*eps)[2].text(), "[::1]:19092");
  EXPECT_EQ((*eps)[3], (Endpoint{"b", 9092}));  // librdkafka's default port
}

TEST(ParseBootstrap, BadInputNamesTheEntryAndOrigin) {
  auto bad_port = parse_bootstrap("host:99999", "--brokers");
  ASSERT_FALSE(bad_port);
  EXPECT_EQ(bad_port.error().kind, ErrorKind::usage);
  EXPECT_EQ(bad_port.error().where, "--brokers");
  EXPECT_NE(bad_port.error().what.find("host:99999"), std::string::npos);
  EXPECT_FALSE(parse_bootstrap("host:x"));
  EXPECT_FALSE(parse_bootstrap(":9092"));
  EXPECT_FALSE(parse_bootstrap("[::1:9092"));
  auto empty = parse_bootstrap(" , ");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().hint.find("KAFKA_BROKERS"), std::string::npos);
}

TEST(LearnedBrokerInError, NamesTheBrokerOnlyForLearnedBrokers) {
  // librdkafka 2.12's form, and 2.0's with the protocol.
  auto a = learned_broker_in_error(
      "127.0.0.2:42163/1: Connect to ipv4#127.0.0.2:42163 failed: Connection refused");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, 1);
  EXPECT_EQ(a->endpoint, (Endpoint{"127.0.0.2", 42163}));
  auto b = learned_broker_in_error("sasl_ssl://[::1]:9094/12: Disconnected");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->id, 12);
  EXPECT_EQ(b->endpoint, (Endpoint{"::1", 9094}));
  // Bootstrap brokers, other lines: not a learned broker.
  EXPECT_FALSE(learned_broker_in_error("sasl_ssl://127.0.0.1:44219/bootstrap: Connect failed"));
  EXPECT_FALSE(learned_broker_in_error("1/1 brokers are down"));
  EXPECT_FALSE(learned_broker_in_error("host:9092/: x"));
  EXPECT_FALSE(learned_broker_in_error("host:9092/-3: x"));
  EXPECT_FALSE(learned_broker_in_error("no colon here"));
}

TEST(ClassifyIp, EveryScope) {
  EXPECT_EQ(classify_ip("127.0.0.1"), AddressScope::loopback);
  EXPECT_EQ(classify_ip("127.0.0.2"), AddressScope::loopback);
  EXPECT_EQ(classify_ip("::1"), AddressScope::loopback);
  EXPECT_EQ(classify_ip("10.1.2.3"), AddressScope::private_network);
  EXPECT_EQ(classify_ip("172.16.0.1"), AddressScope::private_network);
  EXPECT_EQ(classify_ip("172.31.255.255"), AddressScope::private_network);
  EXPECT_EQ(classify_ip("172.32.0.1"), AddressScope::public_internet);
  EXPECT_EQ(classify_ip("172.15.255.255"), AddressScope::public_internet);
  EXPECT_EQ(classify_ip("192.168.49.2"), AddressScope::private_network);
  EXPECT_EQ(classify_ip("192.169.0.1"), AddressScope::public_internet);
  EXPECT_EQ(classify_ip("100.64.0.1"), AddressScope::shared);
  EXPECT_EQ(classify_ip("100.128.0.1"), AddressScope::public_internet);
  EXPECT_EQ(classify_ip("169.254.1.1"), AddressScope::link_local);
  EXPECT_EQ(classify_ip("0.0.0.0"), AddressScope::unspecified);
  EXPECT_EQ(classify_ip("::"), AddressScope::unspecified);
  EXPECT_EQ(classify_ip("fd00::1"), AddressScope::private_network);
  EXPECT_EQ(classify_ip("fe80::1"), AddressScope::link_local);
  EXPECT_EQ(classify_ip("::ffff:192.168.1.1"), AddressScope::private_network);
  EXPECT_EQ(classify_ip("2001:db8::1"), AddressScope::public_internet);
  EXPECT_EQ(classify_ip("203.0.113.9"), AddressScope::public_internet);
  EXPECT_EQ(classify_ip("my-cluster-kafka-0.kafka.svc"), AddressScope::not_an_ip);
  EXPECT_EQ(classify_ip("300.1.1.1"), AddressScope::not_an_ip);
  EXPECT_TRUE(is_internal(AddressScope::private_network));
  EXPECT_FALSE(is_internal(AddressScope::public_internet));
}

TEST(AdvertisedScopeProblem, LoopbackWhenRemoteAndPrivateBehindPublic) {
  using S = AddressScope;
  auto loop_remote = advertised_scope_problem(S::loopback, S::public_internet);
  ASSERT_TRUE(loop_remote);
  EXPECT_NE(loop_remote->find("loopback"), std::string::npos);
  EXPECT_TRUE(advertised_scope_problem(S::loopback, S::private_network));
  EXPECT_FALSE(advertised_scope_problem(S::loopback, S::loopback));  // same machine: fine
  auto priv = advertised_scope_problem(S::private_network, S::public_internet);
  ASSERT_TRUE(priv);
  EXPECT_NE(priv->find("private"), std::string::npos);
  EXPECT_FALSE(advertised_scope_problem(S::private_network, S::private_network));  // in-cluster
  EXPECT_FALSE(advertised_scope_problem(S::public_internet, S::public_internet));
  EXPECT_TRUE(advertised_scope_problem(S::unspecified, S::loopback));
  EXPECT_TRUE(advertised_scope_problem(S::shared, S::public_internet));
}

TEST(ProbeTcp, ConnectsToAListenerAndNamesARefusal) {
  Listener l;
  auto ok = probe_tcp({"127.0.0.1", l.port}, 2s);
  EXPECT_TRUE(ok.resolved);
  EXPECT_TRUE(ok.connected) << ok.error;
  EXPECT_EQ(ok.connected_ip, "127.0.0.1");
  EXPECT_EQ(ok.scope(), AddressScope::loopback);
  EXPECT_NE(describe(ok).find("TCP connected"), std::string::npos) << describe(ok);

  int port = closed_port();
  auto refused = probe_tcp({"127.0.0.1", port}, 2s);
  EXPECT_FALSE(refused.connected);
  EXPECT_NE(refused.error.find("connection refused"), std::string::npos) << refused.error;
  EXPECT_NE(describe(refused).find("127.0.0.1:" + std::to_string(port)), std::string::npos);

  auto by_name = probe_tcp({"localhost", l.port}, 2s);
  EXPECT_TRUE(by_name.connected) << by_name.error;
  EXPECT_NE(describe(by_name).find("resolves to"), std::string::npos) << describe(by_name);
}

TEST(ProbeTcp, AllAtOnceStaysWithinTheTimeout) {
  Listener l;
  auto started = std::chrono::steady_clock::now();
  auto probes = probe_tcp_all(
      {{"127.0.0.1", l.port}, {"127.0.0.1", closed_port()}, {"no-such-host.invalid", 9092}}, 500ms);
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, 1500ms);
  ASSERT_EQ(probes.size(), 3u);
  EXPECT_TRUE(probes[0].connected);
  EXPECT_FALSE(probes[1].connected);
  EXPECT_FALSE(probes[2].connected);
  // Either the resolver said no, or it had not answered within the bound.
  EXPECT_TRUE(probes[2].error.find("does not resolve") != std::string::npos ||
              probes[2].error.find("no answer within") != std::string::npos)
      << probes[2].error;
}

TEST(ConnectIp, RejectsNamesAndReturnsAConnectedSocket) {
  Listener l;
  auto fd = connect_ip("127.0.0.1", l.port, 1s);
  ASSERT_TRUE(fd) << fd.error().message();
  ::close(*fd);
  EXPECT_FALSE(connect_ip("localhost", l.port, 1s));
  auto refused = connect_ip("127.0.0.1", closed_port(), 1s);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::unreachable);
}

TEST(ClientErrorLog, AuthenticationIsNotHiddenByAllBrokersDown) {
  ClientErrorLog log;
  log.record(RD_KAFKA_RESP_ERR__TRANSPORT, "127.0.0.1:1/bootstrap: Connect failed: refused");
  log.record(RD_KAFKA_RESP_ERR__AUTHENTICATION, "SASL authentication error: invalid credentials");
  log.record(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, "1/1 brokers are down");
  EXPECT_EQ(log.last().code, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN);
  EXPECT_EQ(log.authentication().code, RD_KAFKA_RESP_ERR__AUTHENTICATION);
  EXPECT_EQ(log.transport().text, "127.0.0.1:1/bootstrap: Connect failed: refused");
  EXPECT_FALSE(log.tls());
}

// The brokers a client learned from the bootstrap's metadata, as its connection errors name
// them: the doctor's evidence when no metadata request of its own was answered.
TEST(ClientErrorLog, KeepsEveryLearnedBrokerItCouldNotReachOnce) {
  ClientErrorLog log;
  EXPECT_TRUE(log.learned_brokers().empty());
  log.record(RD_KAFKA_RESP_ERR__TRANSPORT, "127.0.0.1:9094/bootstrap: Connect failed: refused");
  EXPECT_TRUE(log.learned_brokers().empty());
  log.record(RD_KAFKA_RESP_ERR__TRANSPORT,
             "10.0.0.12:31234/3: Connect to ipv4#10.0.0.12:31234 failed: Connection refused");
  log.record(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, "1/1 brokers are down");
  log.record(RD_KAFKA_RESP_ERR__TRANSPORT,
             "10.0.0.13:31235/5: Connect to ipv4#10.0.0.13:31235 failed: Connection timed out");
  log.record(RD_KAFKA_RESP_ERR__TRANSPORT,
             "10.0.0.12:31234/3: Connect to ipv4#10.0.0.12:31234 failed: Connection refused");
  // Not transport errors: not evidence of an unreachable broker.
  log.record(RD_KAFKA_RESP_ERR__AUTHENTICATION, "10.0.0.14:31236/7: SASL authentication error");
  ASSERT_EQ(log.learned_brokers().size(), 2u);
  EXPECT_EQ(log.learned_brokers()[0].id, 3);
  EXPECT_EQ(log.learned_brokers()[0].endpoint, (Endpoint{"10.0.0.12", 31234}));
  EXPECT_EQ(log.learned_brokers()[1].id, 5);
  EXPECT_EQ(log.learned_brokers()[1].endpoint, (Endpoint{"10.0.0.13", 31235}));
}

TEST(Classify, AuthenticationTlsTransport) {
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR__AUTHENTICATION, ""), FailureClass::authentication);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED, ""),
            FailureClass::authentication);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR__SSL, "certificate verify failed"), FailureClass::tls);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR__TRANSPORT, "SSL handshake failed: Disconnected"),
            FailureClass::tls);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR__TRANSPORT, "Connect to ipv4#127.0.0.1:1 failed"),
            FailureClass::transport);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR__RESOLVE, ""), FailureClass::transport);
  EXPECT_EQ(classify(RD_KAFKA_RESP_ERR__STATE, ""), FailureClass::none);
}

TEST(AdvertisedListeners, ExplanationAndStrimziFixNameTheBrokers) {
  std::vector<AdvertisedBroker> bad{{3, {"10.0.0.12", 31234}}, {5, {"10.0.0.13", 31235}}};
  auto why = advertised_listeners_explanation(bad, "203.0.113.9:31092");
  EXPECT_NE(why.find("advertised.listeners"), std::string::npos);
  EXPECT_NE(why.find("Broker 3 advertises 10.0.0.12:31234"), std::string::npos) << why;
  auto fix = advertised_listeners_fix(bad, "203.0.113.9");
  EXPECT_NE(fix.find("brokers 3 and 5"), std::string::npos) << fix;
  EXPECT_NE(fix.find("broker: 3, advertisedHost"), std::string::npos) << fix;
  EXPECT_NE(fix.find("node id"), std::string::npos);
  EXPECT_NE(fix.find("alternativeNames"), std::string::npos);
  EXPECT_NE(fix.find("203.0.113.9"), std::string::npos);
  EXPECT_NE(fix.find("nodePort"), std::string::npos);
}

TEST(AuthenticationHint, NamesCredentialsAndTheScramBugWhenItApplies) {
  SecuritySummary s;
  s.protocol = "sasl_ssl";
  s.mechanism = "SCRAM-SHA-512";
  s.username = "alice";
  auto hint = authentication_hint(s);  // broker generation unknown
  EXPECT_NE(hint.find("--sasl-password-file"), std::string::npos);
  EXPECT_NE(hint.find("KafkaUser"), std::string::npos);
  EXPECT_EQ(hint.find("librdkafka#4895") != std::string::npos, librdkafka_has_scram_nonce_bug());
  auto kafka4 = authentication_hint(s, true);
  EXPECT_EQ(kafka4.rfind("this broker is Apache Kafka 4.0 or later", 0) == 0,
            librdkafka_has_scram_nonce_bug())
      << kafka4;
  EXPECT_EQ(authentication_hint(s, false).find("librdkafka#4895"), std::string::npos);
  s.mechanism = "PLAIN";
  EXPECT_EQ(authentication_hint(s).find("librdkafka#4895"), std::string::npos);
  EXPECT_EQ(authentication_hint(s, true).find("librdkafka#4895"), std::string::npos);
}

Properties client_props(const std::string& bootstrap) {
  Properties p;
  p.set("bootstrap.servers", bootstrap, "test");
  p.set("log_level", "0", "test");
  return p;
}

struct NoEvents : ProducerEvents {
  void on_delivery(const DeliveryReport&) noexcept override {}
  void on_client_error(rd_kafka_resp_err_t, std::string_view, bool) noexcept override {}
};

TEST(WaitUntilUsable, NothingListeningIsUnreachableWithinTheBoundAndSaysWhy) {
  std::string bootstrap = "127.0.0.1:" + std::to_string(closed_port());
  NoEvents events;
  auto producer = Producer::create(client_props(bootstrap), &events);
  ASSERT_TRUE(producer);
  auto started = std::chrono::steady_clock::now();
  auto up = (*producer)->wait_for_cluster(1500, bootstrap);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().kind, ErrorKind::unreachable);
  EXPECT_EQ(exit_code(up.error()), 3);
  EXPECT_GE(took, 1400ms);
  EXPECT_LT(took, 4000ms);
  EXPECT_NE(up.error().what.find("no Kafka broker answered within 1.5 s"), std::string::npos)
      << up.error().message();
  EXPECT_NE(up.error().what.find("connection refused"), std::string::npos) << up.error().what;
  EXPECT_NE(up.error().where.find(bootstrap), std::string::npos);
}

TEST(WaitUntilUsable, PlainTcpServerThatIsNotKafkaPointsAtTheSecurityProtocol) {
  Listener l;  // accepts (kernel backlog) but never answers
  std::string bootstrap = "127.0.0.1:" + std::to_string(l.port);
  NoEvents events;
  auto producer = Producer::create(client_props(bootstrap), &events);
  ASSERT_TRUE(producer);
  auto up = (*producer)->wait_for_cluster(1500, bootstrap);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().kind, ErrorKind::unreachable);
  EXPECT_NE(up.error().hint.find("--security-protocol"), std::string::npos) << up.error().message();
}

TEST(WaitUntilUsable, HealthyMockClusterIsUsableAtOnce) {
  auto cluster = MockCluster::create(3);
  ASSERT_TRUE(cluster) << cluster.error().message();
  std::string bootstrap = (*cluster)->bootstraps();
  NoEvents events;
  auto producer = Producer::create(client_props(bootstrap), &events);
  ASSERT_TRUE(producer);
  auto started = std::chrono::steady_clock::now();
  auto up = (*producer)->wait_for_cluster(10'000, bootstrap);
  EXPECT_TRUE(up) << up.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

}  // namespace
}  // namespace speedlayer::kafka
