// TopicReader on librdkafka's mock cluster: every partition read from the beginning without
// a group, tombstones passed on, new records followed, and clear errors when the topic cannot
// be read.
#include "kafka/topic_reader.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kafka/mock_cluster.h"
#include "kafka/producer.h"
#include "kafka/test_deliveries.h"

namespace speedlayer::kafka {
namespace {

using Deliveries = testing::CountingDeliveries;

Properties props_for(const MockCluster& cluster) {
  Properties props;
  props.set("bootstrap.servers", cluster.bootstraps(), "mock");
  props.set("log_level", "2", "test");
  props.set("fetch.wait.max.ms", "10", "test");  // the mock holds empty fetches this long
  return props;
}

// key -> value (nullopt: tombstone) per record, in the order produced to one partition each.
using Records = std::vector<std::pair<std::string, std::optional<std::string>>>;

void produce_to(const MockCluster& cluster, const std::string& topic, std::int32_t partition,
                const Records& records) {
  Deliveries deliveries;
  auto producer = Producer::create(props_for(cluster), &deliveries);
  ASSERT_TRUE(producer) << producer.error().message();
  for (const auto& [key, value] : records) {
    std::string_view v = value ? std::string_view(*value) : std::string_view();
    ASSERT_EQ((*producer)->produce(topic, partition, key, v, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_EQ((*producer)->flush(10'000), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(deliveries.ok, static_cast<int>(records.size()));
}

struct Collected {
  Records records;
  RecordFn fn() {
    return [this](std::string_view key, std::optional<std::string_view> value) {
      records.emplace_back(std::string(key),
                           value ? std::optional<std::string>(std::string(*value)) : std::nullopt);
    };
  }
  // The records of one key prefix (a partition's records share one), in reading order.
  Records with_prefix(const std::string& prefix) const {
    Records out;
    for (const auto& r : records) {
      if (r.first.starts_with(prefix)) out.push_back(r);
    }
    return out;
  }
};

TEST(TopicReader, ReadsEveryPartitionToItsEndThenFollowsNewRecords) {
  auto cluster = MockCluster::create(1);
  ASSERT_TRUE(cluster) << cluster.error().message();
  ASSERT_TRUE((*cluster)->create_topic("state", 3, 1));
  std::map<int, Records> sent;
  for (int p = 0; p < 3; ++p) {
    for (int i = 0; i < 5 + p; ++i) {
      sent[p].push_back(
          {"p" + std::to_string(p) + "-" + std::to_string(i), "v" + std::to_string(i)});
    }
    sent[p].push_back({"p" + std::to_string(p) + "-0", std::nullopt});       // a tombstone
    sent[p].push_back({"p" + std::to_string(p) + "-empty", std::string()});  // not one
    produce_to(**cluster, "state", p, sent[p]);
  }

  auto reader = TopicReader::create(props_for(**cluster), "state", 10'000);
  ASSERT_TRUE(reader) << reader.error().message();
  Collected got;
  ASSERT_TRUE((*reader)->read_to_end(got.fn(), 30'000));
  // Everything there at the call, once, in order per partition; a null value stays null.
  ASSERT_EQ(got.records.size(), 7u + 8u + 9u);
  for (int p = 0; p < 3; ++p) {
    EXPECT_EQ(got.with_prefix("p" + std::to_string(p) + "-"), sent[p]) << "partition " << p;
  }

  // Following: records produced later arrive through poll_some, nothing read twice.
  Records later = {{"p1-late", "x"}, {"p1-late", std::nullopt}};
  produce_to(**cluster, "state", 1, later);
  Collected followed;
  for (int i = 0; i < 300 && followed.records.size() < later.size(); ++i) {
    (*reader)->poll_some(followed.fn(), 100);
  }
  EXPECT_EQ(followed.records, later);
  EXPECT_EQ((*reader)->poll_some(followed.fn(), 200), 0);

  // An empty topic is at its end at once.
  ASSERT_TRUE((*cluster)->create_topic("empty", 2, 1));
  auto empty = TopicReader::create(props_for(**cluster), "empty", 10'000);
  ASSERT_TRUE(empty) << empty.error().message();
  Collected none;
  EXPECT_TRUE((*empty)->read_to_end(none.fn(), 10'000));
  EXPECT_TRUE(none.records.empty());
}

TEST(TopicReader, AnUnreachableClusterIsAnErrorNamingTheTopic) {
  Properties props;
  props.set("bootstrap.servers", "127.0.0.1:1", "test");  // nothing listens on port 1
  props.set("log_level", "0", "test");
  auto reader = TopicReader::create(props, "state", 500);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().kind, ErrorKind::unreachable);
  EXPECT_NE(reader.error().message().find("state"), std::string::npos) << reader.error().message();
}

}  // namespace
}  // namespace speedlayer::kafka
