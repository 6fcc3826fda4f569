// `speedlayer doctor` against the project's pinned Kafka 4.x broker (fixture kafka_single):
// a healthy plaintext cluster is exit 0, and the broker-generation probe that decides whether
// librdkafka's SCRAM bug explains a failed login recognises Kafka 4.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "broker/test_broker.h"
#include "kafka/endpoint.h"
#include "kafka/tls_probe.h"
#include "support/child_process.h"

namespace speedlayer::testing {
namespace {

using namespace std::chrono_literals;

TEST(DoctorSingle, HealthyKafka4BrokerIsExit0) {
  const std::string brokers = bootstrap("single");
  ChildProcess p({speedlayer_bin(), "doctor", "--brokers", brokers, "--json"});
  ASSERT_EQ(p.wait_for(60s), 0) << p.out() << p.err();
  auto report = nlohmann::json::parse(p.out());
  EXPECT_EQ(report["result"], "healthy");
  EXPECT_EQ(report["steps"][0]["status"], "ok");
  EXPECT_EQ(report["steps"][3]["status"], "ok");
  EXPECT_EQ(report["brokers"].size(), 1u);
  EXPECT_EQ(report["brokers"][0]["reachable"], true);
}

TEST(DoctorSingle, BrokerGenerationProbeRecognisesKafka4) {
  auto eps = kafka::parse_bootstrap(bootstrap("single"));
  ASSERT_TRUE(eps);
  auto kafka4 = kafka::broker_is_kafka4("127.0.0.1", eps->front().port, "127.0.0.1", false,
                                        kafka::TlsSettings{}, 5s);
  ASSERT_TRUE(kafka4.has_value());
  EXPECT_TRUE(*kafka4);
}

}  // namespace
}  // namespace speedlayer::testing
