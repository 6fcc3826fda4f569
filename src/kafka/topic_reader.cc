#include "kafka/topic_reader.h"

#include <unistd.h>

#include <chrono>

#include "kafka/client.h"

namespace speedlayer::kafka {

Result<std::unique_ptr<TopicReader>> TopicReader::create(const Properties& props,
                                                         const std::string& topic, int timeout_ms) {
  Properties p = props;
  // A group id is required by librdkafka's consumer, but no group is joined (assign only)
  // and nothing is committed.
  p.set("group.id", "speedlayer-topic-reader-" + std::to_string(::getpid()), "topic reader");
  p.set("enable.auto.commit", "false", "topic reader");
  p.set("enable.auto.offset.store", "false", "topic reader");
  p.set("isolation.level", "read_committed", "topic reader");
  p.set("enable.partition.eof", "true", "topic reader");
  p.set("auto.offset.reset", "earliest", "topic reader");
  p.set_default("log_level", "3");
  set_consumer_defaults(p);
  std::unique_ptr<TopicReader> reader(new TopicReader());
  auto client =
      new_client(ClientType::consumer, p, {}, "cannot create a reader of " + topic, topic, "");
  if (!client) return std::unexpected(client.error());
  reader->rk_ = std::move(*client);
  rd_kafka_t* rk = reader->rk_.get();
  reader->topic_ = topic;

  TopicPtr rkt(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  const rd_kafka_metadata_t* md = nullptr;
  auto e = rd_kafka_metadata(rk, 0, rkt.get(), &md, timeout_ms);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return fail(ErrorKind::unreachable,
                "cannot read metadata of " + topic + ": " + rd_kafka_err2str(e), "topic " + topic);
  }
  MetadataPtr owned(md);
  if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
    return fail(ErrorKind::kafka, "topic " + topic + " has no partitions", "topic " + topic);
  }
  for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
    reader->position_[md->topics[0].partitions[i].id] = 0;
  }
  return reader;
}

// Fetching starts only here, after read_to_end asked for the partitions' ends: a ListOffsets
// request queued behind a fetch on the same broker connection waits for the fetch's long
// poll (fetch.wait.max.ms, 500 ms on an idle topic) per partition, which made every serve
// restore take 0.5 s per changelog partition (bench/README.md).
Status TopicReader::start_fetching() {
  if (fetching_) return {};
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(position_.size())));
  for (const auto& [partition, pos] : position_) {
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), partition)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  if (auto e = rd_kafka_assign(rk_.get(), list.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return fail(ErrorKind::kafka,
                "cannot assign the partitions of " + topic_ + ": " + rd_kafka_err2str(e), topic_);
  }
  fetching_ = true;
  return {};
}

bool TopicReader::deliver(rd_kafka_message_t* msg, const RecordFn& f) {
  if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    position_[msg->partition] = msg->offset;
    return false;
  }
  if (msg->err) return false;
  position_[msg->partition] = msg->offset + 1;
  std::string_view key(static_cast<const char*>(msg->key), msg->key ? msg->key_len : 0);
  std::optional<std::string_view> value;
  if (msg->payload) value = std::string_view(static_cast<const char*>(msg->payload), msg->len);
  f(key, value);
  return true;
}

Status TopicReader::read_to_end(const RecordFn& f, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  // With read_committed, the high watermark ListOffsets answers is the last stable offset.
  std::map<std::int32_t, std::int64_t> target;
  for (const auto& [partition, pos] : position_) {
    std::int64_t low = 0, high = 0;
    auto e = rd_kafka_query_watermark_offsets(rk_.get(), topic_.c_str(), partition, &low, &high,
                                              timeout_ms);
    if (e) {
      return fail(ErrorKind::kafka, "cannot read the end of " + topic_ + ": " + rd_kafka_err2str(e),
                  topic_ + " partition " + std::to_string(partition));
    }
    target[partition] = high;
  }
  if (auto st = start_fetching(); !st) return st;
  auto done = [&] {
    for (const auto& [partition, end] : target) {
      if (position_[partition] < end) return false;
    }
    return true;
  };
  while (!done()) {
    if (Clock::now() > deadline) {
      return fail(ErrorKind::kafka, "topic not read to its end in time", topic_,
                  "is a transaction of a stopped replica still open? it is aborted after "
                  "transaction.timeout.ms");
    }
    MessagePtr msg(rd_kafka_consumer_poll(rk_.get(), 100));
    if (msg) deliver(msg.get(), f);
  }
  return {};
}

int TopicReader::poll_some(const RecordFn& f, int timeout_ms) {
  int n = 0;
  if (!start_fetching()) return 0;  // assign failed: tried again next time
  MessagePtr msg(rd_kafka_consumer_poll(rk_.get(), timeout_ms));
  while (msg) {
    if (deliver(msg.get(), f)) ++n;
    if (n >= 10000) break;
    msg.reset(rd_kafka_consumer_poll(rk_.get(), 0));
  }
  return n;
}

}  // namespace speedlayer::kafka
