// kafka/admin.h and kafka/transactions.h against the real broker of the kafka_single fixture:
// what librdkafka's mock cluster cannot do (CreateTopics, DescribeConfigs, storing offsets
// sent in a transaction).
#include <gtest/gtest.h>

#include <string>

#include "broker/test_broker.h"
#include "kafka/admin.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"
#include "kafka/transactions.h"

namespace speedlayer::kafka {
namespace {

constexpr int kTimeoutMs = 30'000;

struct Quiet : ProducerEvents {
  void on_delivery(const DeliveryReport&) noexcept override {}
  void on_client_error(rd_kafka_resp_err_t, std::string_view, bool) noexcept override {}
};

Properties props() {
  Properties p;
  p.set("bootstrap.servers", speedlayer::testing::bootstrap("single"), "kafka_single fixture");
  p.set("log_level", "3", "test");
  return p;
}

class KafkaAdminIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = Producer::create(props(), &events_);
    ASSERT_TRUE(p) << p.error().message();
    producer_ = std::move(*p);
  }
  rd_kafka_t* rk() const { return producer_->handle(); }

  Quiet events_;
  std::unique_ptr<Producer> producer_;
};

TEST_F(KafkaAdminIntegrationTest, EnsureTopicCreatesWithConfigsThenIsIdempotent) {
  const std::string topic = speedlayer::testing::unique_topic("kafka-admin-create");
  const std::vector<std::pair<std::string, std::string>> configs{{"cleanup.policy", "compact"},
                                                                 {"max.message.bytes", "2097152"}};
  auto created = ensure_topic(rk(), topic, 3, configs, kTimeoutMs);
  ASSERT_TRUE(created) << created.error().message();
  // Again, with other settings: an existing topic is left as it is.
  auto again = ensure_topic(rk(), topic, 5, {{"cleanup.policy", "delete"}}, kTimeoutMs);
  ASSERT_TRUE(again) << again.error().message();

  auto count = topic_partition_count(rk(), topic, kTimeoutMs);
  ASSERT_TRUE(count) << count.error().message();
  EXPECT_EQ(*count, 3);
  auto described = describe_topic_configs(rk(), topic, kTimeoutMs);
  ASSERT_TRUE(described) << described.error().message();
  EXPECT_EQ(described->at("max.message.bytes"), "2097152");
  EXPECT_EQ(described->at("cleanup.policy"), "compact");
  EXPECT_TRUE(described->count("retention.ms"));  // defaults are listed too
}

TEST_F(KafkaAdminIntegrationTest, MissingTopicErrorsNameTheTopic) {
  const std::string topic = speedlayer::testing::unique_topic("kafka-admin-missing");
  auto described = describe_topic_configs(rk(), topic, kTimeoutMs);
  ASSERT_FALSE(described);
  EXPECT_EQ(described.error().kind, ErrorKind::kafka) << described.error().message();
  EXPECT_EQ(described.error().where, "topic " + topic);
  auto count = topic_partition_count(rk(), topic, kTimeoutMs);
  ASSERT_FALSE(count);
  EXPECT_EQ(count.error().kind, ErrorKind::kafka);
  EXPECT_EQ(count.error().where, "topic " + topic);
}

TEST_F(KafkaAdminIntegrationTest, RefusedTopicConfigIsAKafkaError) {
  const std::string topic = speedlayer::testing::unique_topic("kafka-admin-refused");
  auto st = ensure_topic(rk(), topic, 1, {{"cleanup.policy", "sideways"}}, kTimeoutMs);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::kafka) << st.error().message();
  EXPECT_EQ(st.error().where, "topic " + topic);
  EXPECT_NE(st.error().hint.find("configs"), std::string::npos) << st.error().message();
}

TEST_F(KafkaAdminIntegrationTest, OffsetsSentInATransactionCommitWithIt) {
  const std::string in = speedlayer::testing::unique_topic("kafka-admin-txn-in");
  const std::string out = speedlayer::testing::unique_topic("kafka-admin-txn-out");
  ASSERT_TRUE(ensure_topic(rk(), in, 1, {}, kTimeoutMs));
  ASSERT_TRUE(ensure_topic(rk(), out, 1, {}, kTimeoutMs));
  Properties tp = props();
  tp.set("transactional.id", speedlayer::testing::unique_topic("kafka-admin-txn"), "test");
  auto producer = Producer::create(tp, &events_);
  ASSERT_TRUE(producer) << producer.error().message();
  Properties cp = props();
  cp.set("group.id", speedlayer::testing::unique_topic("kafka-admin-group"), "test");
  cp.set("isolation.level", "read_committed", "test");
  cp.set("enable.auto.commit", "false", "test");
  auto consumer = Consumer::create(cp, StartFrom::stored);
  ASSERT_TRUE(consumer) << consumer.error().message();
  GroupMetadataPtr group = (*consumer)->group_metadata();
  ASSERT_TRUE(group);
  const TopicPartition input{in, 0};

  Transactions txn((*producer)->handle());
  auto init = txn.init(60'000);
  ASSERT_TRUE(init) << init.error().message;
  auto run = [&](std::int64_t offset, bool commit) -> TxnStatus {
    if (auto st = txn.begin(); !st) return st;
    EXPECT_EQ((*producer)->produce(out, "k", "v", 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    if (auto st = txn.send_offsets({{input, offset}}, group.get(), -1); !st) return st;
    return commit ? txn.commit(-1) : txn.abort(-1);
  };
  auto committed = run(42, true);
  ASSERT_TRUE(committed) << committed.error().message;
  auto offsets = (*consumer)->committed({input}, kTimeoutMs);
  ASSERT_TRUE(offsets) << offsets.error().message();
  EXPECT_EQ(offsets->at(input), 42);

  auto aborted = run(50, false);
  ASSERT_TRUE(aborted) << aborted.error().message;
  offsets = (*consumer)->committed({input}, kTimeoutMs);
  ASSERT_TRUE(offsets) << offsets.error().message();
  EXPECT_EQ(offsets->at(input), 42);
}

}  // namespace
}  // namespace speedlayer::kafka
