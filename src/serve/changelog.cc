#include "serve/changelog.h"

#include <chrono>
#include <unistd.h>

namespace speedlayer::serve {

Result<std::unique_ptr<ChangelogReader>> ChangelogReader::create(const kafka::Properties& props,
                                                                  const std::string& topic,
                                                                  int timeout_ms) {
  kafka::Properties p = props;
  // A group id is required by librdkafka's consumer, but no group is joined (assign only)
  // and nothing is committed.
  p.set("group.id", "speedlayer-changelog-reader-" + std::to_string(::getpid()), "serve");
  p.set("enable.auto.commit", "false", "serve");
  p.set("enable.auto.offset.store", "false", "serve");
  p.set("isolation.level", "read_committed", "serve");
  p.set("enable.partition.eof", "true", "serve");
  p.set("auto.offset.reset", "earliest", "serve");
  p.set_default("log_level", "3");
  kafka::set_consumer_defaults(p);
  auto conf = kafka::make_conf(p);
  if (!conf) return std::unexpected(conf.error());
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), err, sizeof err);
  if (!rk) return fail(ErrorKind::usage, std::string("cannot create changelog reader: ") + err, topic);
  (void)conf->release();
  std::unique_ptr<ChangelogReader> reader(new ChangelogReader());
  reader->rk_.reset(rk);
  reader->topic_ = topic;

  kafka::TopicPtr rkt(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  const rd_kafka_metadata_t* md = nullptr;
  auto e = rd_kafka_metadata(rk, 0, rkt.get(), &md, timeout_ms);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return fail(ErrorKind::unreachable, "cannot read metadata of " + topic + ": " + rd_kafka_err2str(e),
                "changelog topic " + topic);
  }
  kafka::MetadataPtr owned(md);
  if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
    return fail(ErrorKind::kafka, "changelog topic " + topic + " has no partitions",
                "changelog topic " + topic);
  }
  for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
    reader->position_[md->topics[0].partitions[i].id] = 0;
  }
  return reader;
}

// Fetching starts only here, after read_to_end asked for the partitions' ends: a ListOffsets
// request queued behind a fetch on the same broker connection waits for the fetch's long
// poll (fetch.wait.max.ms, 500 ms on an idle changelog) per partition, which made every
// restore take 0.5 s per changelog partition (bench/README.md).
Status ChangelogReader::start_fetching() {
  if (fetching_) return {};
  kafka::PartitionListPtr list(
      rd_kafka_topic_partition_list_new(static_cast<int>(position_.size())));
  for (const auto& [partition, pos] : position_) {
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), partition)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  if (auto e = rd_kafka_assign(rk_.get(), list.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return fail(ErrorKind::kafka,
                std::string("cannot assign changelog partitions: ") + rd_kafka_err2str(e), topic_);
  }
  fetching_ = true;
  return {};
}

bool ChangelogReader::deliver(rd_kafka_message_t* msg, const RecordFn& f) {
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

Status ChangelogReader::read_to_end(const RecordFn& f, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  // With read_committed, the high watermark ListOffsets answers is the last stable offset.
  std::map<std::int32_t, std::int64_t> target;
  for (const auto& [partition, pos] : position_) {
    std::int64_t low = 0, high = 0;
    auto e = rd_kafka_query_watermark_offsets(rk_.get(), topic_.c_str(), partition, &low, &high,
                                              timeout_ms);
    if (e) {
      return fail(ErrorKind::kafka, std::string("cannot read the end of the changelog: ") + rd_kafka_err2str(e),
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
      return fail(ErrorKind::kafka, "changelog not read to its end in time", topic_,
                  "is a transaction of a stopped replica still open? it is aborted after "
                  "transaction.timeout.ms");
    }
    kafka::MessagePtr msg(rd_kafka_consumer_poll(rk_.get(), 100));
    if (msg) deliver(msg.get(), f);
  }
  return {};
}

int ChangelogReader::poll_some(const RecordFn& f, int timeout_ms) {
  int n = 0;
  if (!start_fetching()) return 0;  // assign failed: tried again next time
  kafka::MessagePtr msg(rd_kafka_consumer_poll(rk_.get(), timeout_ms));
  while (msg) {
    if (deliver(msg.get(), f)) ++n;
    if (n >= 10000) break;
    msg.reset(rd_kafka_consumer_poll(rk_.get(), 0));
  }
  return n;
}

}  // namespace speedlayer::serve
