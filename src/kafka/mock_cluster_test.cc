// In-process tests of MockCluster, Producer and Consumer together (librdkafka's mock cluster:
// no broker needed). The first group join on the mock waits ~3 s, so each consuming test
// takes a few seconds.
#include "kafka/mock_cluster.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kafka/consumer.h"
#include "kafka/producer.h"
#include "kafka/test_deliveries.h"

namespace speedlayer::kafka {
namespace {

using Clock = std::chrono::steady_clock;

using Deliveries = testing::CountingDeliveries;

struct Recorder : ConsumerEvents {
  std::vector<TopicPartition> assigned;
  int revocations = 0;
  void on_assigned(const std::vector<TopicPartition>& added) noexcept override {
    assigned.insert(assigned.end(), added.begin(), added.end());
  }
  void on_revoked(const std::vector<TopicPartition>&, bool) noexcept override { ++revocations; }
};

Properties base_props(const MockCluster& cluster) {
  Properties props;
  props.set("bootstrap.servers", cluster.bootstraps(), "mock");
  props.set("log_level", "2", "test");
  return props;
}

void produce_all(const MockCluster& cluster, const std::string& topic,
                 const std::vector<std::string>& values) {
  Deliveries deliveries;
  auto producer = Producer::create(base_props(cluster), &deliveries);
  ASSERT_TRUE(producer) << producer.error().message();
  std::uint64_t tag = 0;
  for (const auto& v : values) {
    ASSERT_EQ((*producer)->produce(topic, "key-" + v, v, ++tag), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_EQ((*producer)->flush(10'000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(deliveries.ok, static_cast<int>(values.size()));
  EXPECT_EQ(deliveries.failed, 0);
}

// Reads until every assigned partition is at its end (or the deadline).
std::vector<std::string> read_to_end(Consumer& consumer, std::chrono::seconds limit) {
  std::vector<std::string> values;
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    MessagePtr msg = consumer.poll(100);
    if (!msg) {
      if (consumer.all_assigned_at_end()) break;
      continue;
    }
    if (msg->err) {
      ADD_FAILURE() << "consumer error: " << rd_kafka_message_errstr(msg.get());
      continue;
    }
    values.emplace_back(static_cast<const char*>(msg->payload), msg->len);
  }
  return values;
}

TEST(MockCluster, CreatesBrokersAndTopics) {
  auto cluster = MockCluster::create(3);
  ASSERT_TRUE(cluster) << cluster.error().message();
  EXPECT_EQ((*cluster)->broker_count(), 3);
  std::string bootstraps = (*cluster)->bootstraps();
  EXPECT_EQ(std::count(bootstraps.begin(), bootstraps.end(), ','), 2) << bootstraps;
  EXPECT_TRUE((*cluster)->create_topic("Sport", 3, 2));
  EXPECT_FALSE(MockCluster::create(0));
}

TEST(MockCluster, ProduceThenConsumeBack) {
  auto cluster = MockCluster::create(1);
  ASSERT_TRUE(cluster) << cluster.error().message();
  ASSERT_TRUE((*cluster)->create_topic("Sport", 2, 1));
  std::vector<std::string> sent;
  for (int i = 0; i < 20; ++i) sent.push_back("\"message " + std::to_string(i) + "\"");
  produce_all(**cluster, "Sport", sent);

  Properties props = base_props(**cluster);
  props.set("group.id", "mock-test", "test");
  props.set("fetch.wait.max.ms", "10", "test");  // the mock holds empty fetches this long
  Recorder recorder;
  auto consumer = Consumer::create(props, {.start = StartFrom::beginning, .events = &recorder});
  ASSERT_TRUE(consumer) << consumer.error().message();
  ASSERT_TRUE((*consumer)->wait_for_cluster(5000, (*cluster)->bootstraps()));
  ASSERT_TRUE((*consumer)->subscribe({"Sport"}));
  EXPECT_FALSE((*consumer)->all_assigned_at_end());  // nothing assigned yet

  auto got = read_to_end(**consumer, std::chrono::seconds(30));
  EXPECT_TRUE((*consumer)->all_assigned_at_end());
  EXPECT_EQ(std::multiset<std::string>(got.begin(), got.end()),
            std::multiset<std::string>(sent.begin(), sent.end()));
  EXPECT_EQ(recorder.assigned.size(), 2u);
  EXPECT_EQ((*consumer)->assignment(), (std::vector<TopicPartition>{{"Sport", 0}, {"Sport", 1}}));

  // Everything read: lag 0 on both partitions, from the broker and from the cache.
  auto lag = (*consumer)->lag(/*query_broker=*/true, 5000);
  ASSERT_EQ(lag.size(), 2u);
  std::int64_t high_total = 0;
  for (const auto& l : lag) {
    EXPECT_EQ(l.lag, 0) << l.tp.topic << "[" << l.tp.partition << "]";
    EXPECT_EQ(l.position, l.high);
    EXPECT_TRUE(l.at_end);
    high_total += l.high;
  }
  EXPECT_EQ(high_total, 20);
  for (const auto& l : (*consumer)->lag(/*query_broker=*/false)) EXPECT_EQ(l.lag, 0);

  EXPECT_TRUE((*consumer)->commit());
  EXPECT_TRUE((*consumer)->close());
  EXPECT_TRUE((*consumer)->close());  // idempotent
  EXPECT_EQ(recorder.revocations, 1);
}

// poll_batch returns every message once, in offset order per partition, no EOF events, in
// batches larger than one once messages are queued, and keeps the at-end bookkeeping.
TEST(MockCluster, PollBatchReadsEverythingInOrder) {
  auto cluster = MockCluster::create(1);
  ASSERT_TRUE(cluster) << cluster.error().message();
  ASSERT_TRUE((*cluster)->create_topic("Sport", 2, 1));
  std::vector<std::string> sent;
  for (int i = 0; i < 3000; ++i) sent.push_back("\"batch " + std::to_string(i) + "\"");
  produce_all(**cluster, "Sport", sent);

  Properties props = base_props(**cluster);
  props.set("group.id", "mock-batch", "test");
  props.set("fetch.wait.max.ms", "10", "test");
  auto consumer = Consumer::create(props, StartFrom::beginning);
  ASSERT_TRUE(consumer) << consumer.error().message();
  ASSERT_TRUE((*consumer)->subscribe({"Sport"}));
  std::vector<MessagePtr> batch;
  std::multiset<std::string> got;
  std::map<std::int32_t, std::int64_t> next_offset;
  std::size_t largest = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline &&
         !(got.size() == sent.size() && (*consumer)->all_assigned_at_end())) {
    batch.clear();
    const std::size_t n = (*consumer)->poll_batch(100, batch, 500);
    ASSERT_EQ(n, batch.size());
    ASSERT_LE(n, 500u);
    largest = std::max(largest, n);
    for (const auto& msg : batch) {
      ASSERT_EQ(msg->err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_message_errstr(msg.get());
      auto [it, fresh] = next_offset.try_emplace(msg->partition, 0);
      EXPECT_EQ(msg->offset, it->second) << "partition " << msg->partition;
      it->second = msg->offset + 1;
      got.emplace(static_cast<const char*>(msg->payload), msg->len);
    }
  }
  EXPECT_EQ(got, std::multiset<std::string>(sent.begin(), sent.end()));
  EXPECT_TRUE((*consumer)->all_assigned_at_end());
  EXPECT_GT(largest, 1u);  // queued messages came in one call
  batch.clear();
  EXPECT_EQ((*consumer)->poll_batch(0, batch, 0), 0u);  // max 0: nothing taken
  for (const auto& l : (*consumer)->lag(/*query_broker=*/true, 5000)) EXPECT_EQ(l.lag, 0);
}

TEST(MockCluster, StoredOffsetsResumeAfterCommit) {
  auto cluster = MockCluster::create(1);
  ASSERT_TRUE(cluster);
  ASSERT_TRUE((*cluster)->create_topic("AI", 1, 1));
  produce_all(**cluster, "AI", {"a", "b", "c"});

  Properties props = base_props(**cluster);
  props.set("group.id", "resume", "test");
  props.set("fetch.wait.max.ms", "10", "test");
  props.set("enable.auto.offset.store", "false", "test");
  props.set("session.timeout.ms", "6000", "test");  // the mock rejoins after session - 1 s
  {
    auto consumer = Consumer::create(props, {.start = StartFrom::stored});
    ASSERT_TRUE(consumer);
    ASSERT_TRUE((*consumer)->subscribe({"AI"}));
    // Read and store only the first two.
    int stored = 0;
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (stored < 2 && Clock::now() < deadline) {
      MessagePtr msg = (*consumer)->poll(100);
      if (!msg || msg->err) continue;
      ASSERT_TRUE((*consumer)->store(*msg));
      ++stored;
    }
    ASSERT_EQ(stored, 2);
    ASSERT_TRUE((*consumer)->commit());
  }  // destructor closes
  produce_all(**cluster, "AI", {"d"});
  auto consumer = Consumer::create(props, {.start = StartFrom::stored});
  ASSERT_TRUE(consumer);
  ASSERT_TRUE((*consumer)->subscribe({"AI"}));
  EXPECT_EQ(read_to_end(**consumer, std::chrono::seconds(30)),
            (std::vector<std::string>{"c", "d"}));
}

TEST(MockCluster, StartFromEndSkipsExistingMessages) {
  auto cluster = MockCluster::create(1);
  ASSERT_TRUE(cluster);
  ASSERT_TRUE((*cluster)->create_topic("old", 1, 1));
  produce_all(**cluster, "old", {"x", "y"});
  Properties props = base_props(**cluster);
  props.set("group.id", "from-end", "test");
  props.set("fetch.wait.max.ms", "10", "test");
  auto consumer = Consumer::create(props, {.start = StartFrom::end});
  ASSERT_TRUE(consumer);
  ASSERT_TRUE((*consumer)->subscribe({"old"}));
  EXPECT_TRUE(read_to_end(**consumer, std::chrono::seconds(30)).empty());
  EXPECT_TRUE((*consumer)->all_assigned_at_end());
}

TEST(MockCluster, CooperativeProtocolAndRegexSubscription) {
  auto cluster = MockCluster::create(1);
  ASSERT_TRUE(cluster);
  ASSERT_TRUE((*cluster)->create_topic("sensor-a", 1, 1));
  ASSERT_TRUE((*cluster)->create_topic("sensor-b", 1, 1));
  ASSERT_TRUE((*cluster)->create_topic("other", 1, 1));
  produce_all(**cluster, "sensor-a", {"1"});
  produce_all(**cluster, "sensor-b", {"2"});
  produce_all(**cluster, "other", {"3"});
  Properties props = base_props(**cluster);
  props.set("group.id", "coop", "test");
  props.set("fetch.wait.max.ms", "10", "test");
  props.set("partition.assignment.strategy", "cooperative-sticky", "test");
  Recorder recorder;
  auto consumer = Consumer::create(props, {.start = StartFrom::beginning, .events = &recorder});
  ASSERT_TRUE(consumer);
  ASSERT_TRUE((*consumer)->subscribe({"^sensor-.*"}));
  auto got = read_to_end(**consumer, std::chrono::seconds(30));
  EXPECT_EQ(std::multiset<std::string>(got.begin(), got.end()),
            (std::multiset<std::string>{"1", "2"}));
  EXPECT_EQ((*consumer)->assignment(),
            (std::vector<TopicPartition>{{"sensor-a", 0}, {"sensor-b", 0}}));
}

TEST(MockCluster, UnreachableWhenBrokersDown) {
  auto cluster = MockCluster::create(1);
  ASSERT_TRUE(cluster);
  ASSERT_TRUE((*cluster)->set_broker_down(1));
  Properties props = base_props(**cluster);
  props.set("group.id", "down", "test");
  auto consumer = Consumer::create(props, StartFrom::beginning);
  ASSERT_TRUE(consumer);
  auto started = Clock::now();
  auto status = (*consumer)->wait_for_cluster(1500, (*cluster)->bootstraps());
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().kind, ErrorKind::unreachable);
  EXPECT_NE(status.error().where.find((*cluster)->bootstraps()), std::string::npos);
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(4));

  ASSERT_TRUE((*cluster)->set_broker_up(1));
  EXPECT_TRUE((*consumer)->wait_for_cluster(5000, (*cluster)->bootstraps()));
}

TEST(MockCluster, InjectedFetchErrorsAreRetried) {
  auto cluster = MockCluster::create(1);
  ASSERT_TRUE(cluster);
  ASSERT_TRUE((*cluster)->create_topic("flaky", 1, 1));
  produce_all(**cluster, "flaky", {"p", "q"});
  // On broker 1 (the only one, so the leader): its error stack can be counted, the
  // cluster-wide one of push_request_errors() cannot.
  ASSERT_TRUE((*cluster)->push_broker_request_errors(
      1, kApiFetch,
      {{RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0}, {RD_KAFKA_RESP_ERR__TRANSPORT, 0}}));
  auto pending = (*cluster)->pending_broker_request_errors(1, kApiFetch);
  ASSERT_TRUE(pending) << pending.error().message();
  ASSERT_EQ(*pending, 2u);
  Properties props = base_props(**cluster);
  props.set("group.id", "flaky", "test");
  props.set("fetch.wait.max.ms", "10", "test");
  auto consumer = Consumer::create(props, StartFrom::beginning);
  ASSERT_TRUE(consumer);
  ASSERT_TRUE((*consumer)->subscribe({"flaky"}));
  // Transient fetch errors may surface as consumer errors; the data still arrives in order.
  std::vector<std::string> got;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline && !(*consumer)->all_assigned_at_end()) {
    MessagePtr msg = (*consumer)->poll(100);
    if (msg && !msg->err) got.emplace_back(static_cast<const char*>(msg->payload), msg->len);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"p", "q"}));
  // Both injected errors were met: two Fetch requests failed before the one that succeeded.
  pending = (*cluster)->pending_broker_request_errors(1, kApiFetch);
  ASSERT_TRUE(pending) << pending.error().message();
  EXPECT_EQ(*pending, 0u) << "the data arrived without the injected Fetch errors being hit";
}

// assign(): exactly one partition from one offset, no group join (the doctor's read-back).
TEST(MockCluster, AssignReadsOnePartitionFromAnOffsetWithoutAGroup) {
  auto cluster = MockCluster::create(1);
  ASSERT_TRUE(cluster) << cluster.error().message();
  ASSERT_TRUE((*cluster)->create_topic("probe", 2, 1));
  produce_all(**cluster, "probe", {"a", "b", "c"});
  Properties props = base_props(**cluster);
  props.set("group.id", "assign-test", "test");
  props.set("enable.auto.commit", "false", "test");
  auto consumer = Consumer::create(props, {.start = StartFrom::stored, .quiet = true});
  ASSERT_TRUE(consumer) << consumer.error().message();
  // Where each value went (the partitioner spreads the keys).
  std::map<std::string, std::pair<std::int32_t, std::int64_t>> where;
  for (std::int32_t p = 0; p < 2; ++p) {
    ASSERT_TRUE((*consumer)->assign({{TopicPartition{"probe", p}, 0}}));
    EXPECT_TRUE((*consumer)->assigned_once());
    const std::vector<TopicPartition> expected{TopicPartition{"probe", p}};
    EXPECT_EQ((*consumer)->assignment(), expected);
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline && !(*consumer)->all_assigned_at_end()) {
      MessagePtr msg = (*consumer)->poll(100);
      if (!msg) continue;
      ASSERT_FALSE(msg->err) << message_error(*msg);
      MessageView m = view_of(*msg, /*with_headers=*/false);
      EXPECT_EQ(m.topic, "probe");
      EXPECT_EQ(m.partition, p);
      ASSERT_TRUE(m.payload);
      where[std::string(*m.payload)] = {m.partition, m.offset};
    }
    EXPECT_TRUE((*consumer)->all_assigned_at_end());
  }
  ASSERT_EQ(where.size(), 3u);
  // From an offset: only what follows it.
  const auto [partition, offset] = where["c"];
  ASSERT_TRUE((*consumer)->assign({{TopicPartition{"probe", partition}, offset}}));
  std::vector<std::string> values;
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline && !(*consumer)->all_assigned_at_end()) {
    if (MessagePtr msg = (*consumer)->poll(100); msg && !msg->err) {
      values.emplace_back(*view_of(*msg, false).payload);
    }
  }
  EXPECT_EQ(values, std::vector<std::string>{"c"});
}

}  // namespace
}  // namespace speedlayer::kafka
