// kafka/admin.h, kafka/transactions.h and Consumer's partition controls against librdkafka's
// mock cluster (no broker needed). The mock has neither CreateTopics nor DescribeConfigs:
// topic creation and describe_topic_configs are covered by kafka_admin_integration_test.
#include "kafka/admin.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "kafka/consumer.h"
#include "kafka/mock_cluster.h"
#include "kafka/producer.h"
#include "kafka/test_deliveries.h"
#include "kafka/transactions.h"

namespace speedlayer::kafka {
namespace {

using Clock = std::chrono::steady_clock;

using Deliveries = testing::CountingDeliveries;

Properties props_for(const std::string& bootstrap) {
  Properties props;
  props.set("bootstrap.servers", bootstrap, "test");
  props.set("log_level", "0", "test");  // injected errors would be logged otherwise
  return props;
}

class KafkaAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = MockCluster::create(3);
    ASSERT_TRUE(cluster) << cluster.error().message();
    cluster_ = std::move(*cluster);
    ASSERT_TRUE(cluster_->create_topic("existing", 4, 1));
    ASSERT_TRUE(cluster_->create_topic("out", 1, 1));
    ASSERT_TRUE(cluster_->create_topic("in", 2, 1));
  }

  std::unique_ptr<Producer> producer(Properties props) {
    auto p = Producer::create(props, &deliveries_);
    EXPECT_TRUE(p) << p.error().message();
    return p ? std::move(*p) : nullptr;
  }

  // A transactional producer whose coordinator is broker 1 (so that broker-level faults
  // can target it), with transactions initialized.
  std::unique_ptr<Producer> txn_producer(const std::string& id) {
    EXPECT_EQ(rd_kafka_mock_coordinator_set(cluster_->handle(), "transaction", id.c_str(), 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    Properties props = props_for(cluster_->bootstraps());
    props.set("transactional.id", id, "test");
    auto p = producer(props);
    if (!p) return nullptr;
    Transactions txn(p->handle());
    EXPECT_EQ(txn.transactional_id(), id);
    auto st = txn.init(10'000);
    EXPECT_TRUE(st) << st.error().message;
    return p;
  }

  std::unique_ptr<Consumer> consumer(const std::string& group) {
    Properties props = props_for(cluster_->bootstraps());
    props.set("group.id", group, "test");
    props.set("enable.auto.commit", "false", "test");
    props.set("enable.auto.offset.store", "false", "test");
    props.set("fetch.wait.max.ms", "10", "test");
    auto c = Consumer::create(props, StartFrom::beginning);
    EXPECT_TRUE(c) << c.error().message();
    return c ? std::move(*c) : nullptr;
  }

  // One transaction: two messages and an offset, committed or aborted.
  TxnStatus run_txn(Transactions& txn, Producer& p, std::int64_t offset, bool commit) {
    if (auto st = txn.begin(); !st) return st;
    EXPECT_EQ(p.produce("out", "k", "v1", 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    EXPECT_EQ(p.produce("out", "k", "v2", 2), RD_KAFKA_RESP_ERR_NO_ERROR);
    GroupMetadataPtr group(rd_kafka_consumer_group_metadata_new("txn-group"));
    if (auto st = txn.send_offsets({{{"in", 0}, offset}, {{"in", 1}, -1}}, group.get(), 10'000);
        !st) {
      return st;
    }
    return commit ? txn.commit(10'000) : txn.abort(10'000);
  }

  Deliveries deliveries_;
  std::unique_ptr<MockCluster> cluster_;
};

TEST_F(KafkaAdminTest, EnsureTopicAcceptsAnExistingTopicAndCountsPartitions) {
  auto p = producer(props_for(cluster_->bootstraps()));
  ASSERT_TRUE(p);
  for (int i = 0; i < 2; ++i) {  // idempotent
    auto st = ensure_topic(p->handle(), "existing", 4, {{"cleanup.policy", "compact"}}, 5'000);
    ASSERT_TRUE(st) << st.error().message();
  }
  auto count = topic_partition_count(p->handle(), "existing", 5'000);
  ASSERT_TRUE(count) << count.error().message();
  EXPECT_EQ(*count, 4);
}

TEST_F(KafkaAdminTest, MissingTopicIsAnErrorAndIsNotAutoCreated) {
  auto p = producer(props_for(cluster_->bootstraps()));
  ASSERT_TRUE(p);
  for (int i = 0; i < 2; ++i) {  // the lookup itself must not create it
    auto count = topic_partition_count(p->handle(), "absent", 5'000);
    ASSERT_FALSE(count);
    EXPECT_EQ(count.error().kind, ErrorKind::kafka);
    EXPECT_EQ(count.error().where, "topic absent");
    EXPECT_NE(count.error().what.find("does not exist"), std::string::npos);
  }
}

// The mock names no controller broker, where admin requests go: they time out.
TEST_F(KafkaAdminTest, MockClusterHasNoCreateTopicsNorDescribeConfigs) {
  auto p = producer(props_for(cluster_->bootstraps()));
  ASSERT_TRUE(p);
  auto created = ensure_topic(p->handle(), "absent", 3, {}, 1'000);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().kind, ErrorKind::unreachable) << created.error().message();
  EXPECT_EQ(created.error().where, "topic absent");
  EXPECT_NE(created.error().hint.find("controller"), std::string::npos);
  auto configs = describe_topic_configs(p->handle(), "existing", 1'000);
  ASSERT_FALSE(configs);
  EXPECT_EQ(configs.error().kind, ErrorKind::unreachable) << configs.error().message();
  EXPECT_EQ(configs.error().where, "topic existing");
}

TEST_F(KafkaAdminTest, BadArgumentsAreUsageErrors) {
  auto p = producer(props_for(cluster_->bootstraps()));
  ASSERT_TRUE(p);
  auto zero = ensure_topic(p->handle(), "absent", 0, {}, 5'000);
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().kind, ErrorKind::usage) << zero.error().message();
  auto empty = topic_partition_count(p->handle(), "", 5'000);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind, ErrorKind::usage);
}

TEST_F(KafkaAdminTest, NoBrokerIsUnreachable) {
  ASSERT_TRUE(cluster_->set_broker_down(-1));
  auto p = producer(props_for(cluster_->bootstraps()));
  ASSERT_TRUE(p);
  const auto start = Clock::now();
  auto count = topic_partition_count(p->handle(), "existing", 1'000);
  ASSERT_FALSE(count);
  EXPECT_EQ(count.error().kind, ErrorKind::unreachable) << count.error().message();
  auto configs = describe_topic_configs(p->handle(), "existing", 1'000);
  ASSERT_FALSE(configs);
  EXPECT_EQ(configs.error().kind, ErrorKind::unreachable) << configs.error().message();
  auto created = ensure_topic(p->handle(), "absent", 1, {}, 1'000);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().kind, ErrorKind::unreachable) << created.error().message();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
}

TEST_F(KafkaAdminTest, TransactionCommitsAndAborts) {
  auto p = txn_producer("txn-commit");
  ASSERT_TRUE(p);
  Transactions txn(p->handle());
  auto committed = run_txn(txn, *p, 42, true);
  ASSERT_TRUE(committed) << committed.error().message;
  EXPECT_EQ(deliveries_.ok, 2);
  auto aborted = run_txn(txn, *p, 43, false);
  ASSERT_TRUE(aborted) << aborted.error().message;
  p->poll(0);  // reports of the aborted messages: purged, or delivered before the abort
  EXPECT_EQ(deliveries_.ok + deliveries_.failed, 4);
  auto again = run_txn(txn, *p, 44, true);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(deliveries_.ok + deliveries_.failed, 6);
  EXPECT_GE(deliveries_.ok, 4);
  // A limit of the mock (mock_cluster.h): offsets sent in a transaction are not stored.
  // When this fails, the mock learned to; check the offsets here instead.
  auto c = consumer("txn-group");
  ASSERT_TRUE(c);
  auto offsets = c->committed({{"in", 0}}, 10'000);
  ASSERT_TRUE(offsets) << offsets.error().message();
  EXPECT_LT(offsets->at({"in", 0}), 0);
  // Nothing to send is fine; misuse is a plain (flagless) error.
  ASSERT_TRUE(txn.begin());
  EXPECT_TRUE(txn.send_offsets({}, nullptr, 1'000).error().code == RD_KAFKA_RESP_ERR__INVALID_ARG);
  GroupMetadataPtr group(rd_kafka_consumer_group_metadata_new("txn-group"));
  EXPECT_TRUE(txn.send_offsets({}, group.get(), 1'000));
  auto twice = txn.begin();
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, RD_KAFKA_RESP_ERR__STATE);
  EXPECT_FALSE(twice.error().fatal || twice.error().retriable || twice.error().requires_abort);
  EXPECT_TRUE(txn.commit(10'000));
}

TEST_F(KafkaAdminTest, NotCoordinatorOnEndTxnIsRetriedByLibrdkafka) {
  auto p = txn_producer("txn-not-coordinator");
  ASSERT_TRUE(p);
  Transactions txn(p->handle());
  cluster_->push_request_errors(
      kApiEndTxn, {RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_NOT_COORDINATOR});
  auto st = run_txn(txn, *p, 7, true);
  EXPECT_TRUE(st) << st.error().message;
}

TEST_F(KafkaAdminTest, RefusedOffsetsRequireAbort) {
  auto p = txn_producer("txn-abortable");
  ASSERT_TRUE(p);
  Transactions txn(p->handle());
  cluster_->push_request_errors(kApiAddOffsetsToTxn,
                                {RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED});
  auto st = run_txn(txn, *p, 7, true);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
  EXPECT_NE(st.error().message.find("send offsets to transaction: "), std::string::npos);
  EXPECT_TRUE(st.error().requires_abort);
  EXPECT_FALSE(st.error().fatal);
  EXPECT_FALSE(st.error().retriable);
  Error e = st.error().to_error(txn.transactional_id());
  EXPECT_EQ(e.kind, ErrorKind::kafka);
  EXPECT_EQ(e.where, "transactional.id txn-abortable");
  EXPECT_NE(e.hint.find("abort"), std::string::npos);
  // The commit fails too; abort recovers and the next transaction commits.
  auto commit = txn.commit(10'000);
  ASSERT_FALSE(commit);
  EXPECT_TRUE(commit.error().requires_abort);
  ASSERT_TRUE(txn.abort(10'000));
  auto next = run_txn(txn, *p, 8, true);
  EXPECT_TRUE(next) << next.error().message;
}

TEST_F(KafkaAdminTest, FencedCommitIsFatal) {
  auto p = txn_producer("txn-fenced");
  ASSERT_TRUE(p);
  Transactions txn(p->handle());
  cluster_->push_request_errors(kApiEndTxn, {RD_KAFKA_RESP_ERR_PRODUCER_FENCED});
  auto st = run_txn(txn, *p, 7, true);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, RD_KAFKA_RESP_ERR__FENCED);  // librdkafka normalizes it
  EXPECT_TRUE(st.error().fatal);
  EXPECT_FALSE(st.error().retriable);
  EXPECT_FALSE(st.error().requires_abort);
  Error e = st.error().to_error(txn.transactional_id());
  EXPECT_EQ(e.kind, ErrorKind::kafka);
  EXPECT_NE(e.hint.find("same transactional.id"), std::string::npos);
  auto begin = txn.begin();  // the producer stays unusable
  ASSERT_FALSE(begin);
  EXPECT_TRUE(begin.error().fatal);
}

TEST_F(KafkaAdminTest, CommitTimeoutIsRetriableAndResumes) {
  auto p = txn_producer("txn-slow");
  ASSERT_TRUE(p);
  Transactions txn(p->handle());
  ASSERT_TRUE(txn.begin());
  ASSERT_EQ(p->produce("out", "k", "v", 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  // The coordinator (broker 1) answers the next EndTxn after 2 s.
  ASSERT_TRUE(
      cluster_->push_broker_request_errors(1, kApiEndTxn, {{RD_KAFKA_RESP_ERR_NO_ERROR, 2'000}}));
  auto st = txn.commit(300);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, RD_KAFKA_RESP_ERR__TIMED_OUT);
  EXPECT_TRUE(st.error().retriable);
  EXPECT_FALSE(st.error().fatal);
  EXPECT_FALSE(st.error().requires_abort);
  EXPECT_EQ(st.error().to_error().kind, ErrorKind::unreachable);
  auto again = txn.commit(10'000);  // the caller's retry resumes the commit
  EXPECT_TRUE(again) << again.error().message;
}

TEST_F(KafkaAdminTest, ConsumerPausesSeeksResumesAndReadsCommittedOffsets) {
  {
    auto p = producer(props_for(cluster_->bootstraps()));
    ASSERT_TRUE(p);
    for (int i = 0; i < 5; ++i) {
      ASSERT_EQ(p->produce("existing", "k", std::to_string(i), 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ASSERT_EQ(p->flush(10'000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  auto c = consumer("controls");
  ASSERT_TRUE(c);
  GroupMetadataPtr group = c->group_metadata();
  ASSERT_TRUE(group);
  const std::vector<TopicPartition> all{
      {"existing", 0}, {"existing", 1}, {"existing", 2}, {"existing", 3}};
  auto none = c->committed(all, 10'000);
  ASSERT_TRUE(none) << none.error().message();
  ASSERT_EQ(none->size(), 4u);
  for (const auto& [tp, offset] : *none) EXPECT_EQ(offset, RD_KAFKA_OFFSET_INVALID);

  ASSERT_TRUE(c->subscribe({"existing"}));
  std::map<std::int32_t, std::int64_t> last;  // partition -> last offset read
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!c->all_assigned_at_end() && Clock::now() < deadline) {
    if (MessagePtr msg = c->poll(100); msg && !msg->err) {
      last[msg->partition] = msg->offset;
      ASSERT_TRUE(c->store(*msg));
    }
  }
  ASSERT_TRUE(c->all_assigned_at_end());
  ASSERT_EQ(last.size(), 1u);  // one key: one partition
  const TopicPartition tp{"existing", last.begin()->first};
  ASSERT_EQ(last.begin()->second, 4);
  ASSERT_TRUE(c->commit());
  auto committed = c->committed({tp}, 10'000);
  ASSERT_TRUE(committed) << committed.error().message();
  EXPECT_EQ(committed->at(tp), 5);

  ASSERT_TRUE(c->pause({tp}));
  auto seek = c->seek({{tp, 2}}, 10'000);
  ASSERT_TRUE(seek) << seek.error().message();
  EXPECT_FALSE(c->all_assigned_at_end());
  for (auto until = Clock::now() + std::chrono::milliseconds(500); Clock::now() < until;) {
    MessagePtr msg = c->poll(50);
    EXPECT_FALSE(msg && !msg->err) << "paused partition delivered offset " << msg->offset;
  }
  ASSERT_TRUE(c->resume({tp}));
  std::vector<std::int64_t> offsets;
  while (offsets.size() < 3 && Clock::now() < deadline) {
    if (MessagePtr msg = c->poll(100); msg && !msg->err) offsets.push_back(msg->offset);
  }
  EXPECT_EQ(offsets, (std::vector<std::int64_t>{2, 3, 4}));
  ASSERT_TRUE(c->seek({{tp, -1}}, 10'000));  // negative: from the beginning
  MessagePtr first;
  while (!first && Clock::now() < deadline) {
    if (MessagePtr msg = c->poll(100); msg && !msg->err) first = std::move(msg);
  }
  ASSERT_TRUE(first);
  EXPECT_EQ(first->offset, 0);

  auto unknown = c->pause({{"nope", 0}});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().where, "nope partition 0");
  EXPECT_TRUE(c->pause({}));
  EXPECT_TRUE(c->seek({}, 1'000));
}

}  // namespace
}  // namespace speedlayer::kafka
