// Unit tests of librdkafka client-error bookkeeping: classification and the brokers error
// lines name.
#include "kafka/client_errors.h"

#include <gtest/gtest.h>

#include <chrono>

namespace speedlayer::kafka {
namespace {

using namespace std::chrono_literals;

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

}  // namespace
}  // namespace speedlayer::kafka
