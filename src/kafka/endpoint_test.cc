// Unit tests of broker addresses: bootstrap parsing, address classification and bounded TCP
// probes on 127.0.0.1.
#include "kafka/endpoint.h"

#include <gtest/gtest.h>

#include <chrono>

#include "kafka/test_listener.h"

namespace speedlayer::kafka {
namespace {

using namespace std::chrono_literals;
using testing::closed_port;
using testing::Listener;

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

}  // namespace
}  // namespace speedlayer::kafka
