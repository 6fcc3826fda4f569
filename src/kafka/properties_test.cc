// Unit tests of the defaults every librdkafka handle of speedlayer gets, and that a value the
// user set wins over each of them.
#include "kafka/properties.h"

#include <gtest/gtest.h>

namespace speedlayer::kafka {
namespace {

const ProducerDefaults kRole{
    .client_id = "speedlayer-test", .log_level = "2", .max_in_flight = "1"};

TEST(ClientDefaults, ProducersAndConsumersReachTheLearnedBrokerWithoutTheStartDelay) {
  Properties producer;
  set_producer_defaults(producer, kRole);
  Properties consumer;
  set_consumer_defaults(consumer);
  for (const Properties* props : {&producer, &consumer}) {
    EXPECT_EQ(props->get("reconnect.backoff.ms"), "20");
    ASSERT_NE(props->find("reconnect.backoff.ms"), nullptr);
    EXPECT_EQ(props->find("reconnect.backoff.ms")->origin, "default");
  }
  // librdkafka takes the value (it is a number of milliseconds in its range).
  EXPECT_TRUE(make_conf(producer));
  EXPECT_TRUE(make_conf(consumer));
}

TEST(ClientDefaults, WhatTheUserSetWins) {
  Properties producer;
  producer.set("reconnect.backoff.ms", "250", "-X");
  producer.set("enable.idempotence", "false", "-X");
  producer.set("partitioner", "consistent_random", "-X");
  set_producer_defaults(producer, kRole);
  EXPECT_EQ(producer.get("reconnect.backoff.ms"), "250");
  EXPECT_EQ(producer.get("enable.idempotence"), "false");
  EXPECT_EQ(producer.get("partitioner"), "consistent_random");
  EXPECT_EQ(producer.get("max.in.flight.requests.per.connection"), "1");

  Properties consumer;
  consumer.set("reconnect.backoff.ms", "5", "env KAFKA_RECONNECT");
  set_consumer_defaults(consumer);
  EXPECT_EQ(consumer.get("reconnect.backoff.ms"), "5");
  EXPECT_EQ(consumer.find("reconnect.backoff.ms")->origin, "env KAFKA_RECONNECT");
}

}  // namespace
}  // namespace speedlayer::kafka
