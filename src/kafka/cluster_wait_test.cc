// Unit tests of the fail-fast wait against closed ports and librdkafka's in-process mock
// cluster, and of the authentication hint.
#include "kafka/cluster_wait.h"

#include <gtest/gtest.h>

#include <chrono>

#include "kafka/mock_cluster.h"
#include "kafka/producer.h"
#include "kafka/test_listener.h"

namespace speedlayer::kafka {
namespace {

using namespace std::chrono_literals;
using testing::closed_port;
using testing::Listener;

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
