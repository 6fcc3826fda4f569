#include "kafka/consumer.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "kafka/client.h"
#include "kafka/cluster_wait.h"
#include "kafka/error.h"

namespace speedlayer::kafka {

std::string_view to_string(StartFrom from) {
  switch (from) {
    case StartFrom::beginning:
      return "beginning";
    case StartFrom::end:
      return "end";
    case StartFrom::stored:
      return "stored";
  }
  return "stored";
}

Result<std::unique_ptr<Consumer>> Consumer::create(const Properties& input,
                                                   const ConsumerOptions& options) {
  if (!input.get("group.id")) {
    return fail(ErrorKind::internal, "a Kafka consumer needs group.id",
                "Kafka client configuration",
                "set group.id (a unique throwaway id when no group semantics are wanted)");
  }
  Properties props = input;
  // The at-end tracking depends on partition EOF events.
  props.set("enable.partition.eof", "true", "speedlayer consumer");
  if (options.fresh_group && options.start == StartFrom::beginning) {
    props.set("auto.offset.reset", "earliest", "start from the beginning (fresh group)");
  } else if (options.fresh_group && options.start == StartFrom::end) {
    props.set("auto.offset.reset", "latest", "start from the end (fresh group)");
  } else {
    props.set_default("auto.offset.reset", "earliest");
  }
  set_consumer_defaults(props);
  std::unique_ptr<Consumer> consumer(new Consumer(options));
  auto rk = new_client(ClientType::consumer, props,
                       ClientCallbacks{.opaque = consumer.get(),
                                       .error = &Consumer::on_error_cb,
                                       .rebalance = &Consumer::on_rebalance_cb,
                                       .offset_commit = &Consumer::on_commit_cb,
                                       .quiet = options.quiet},
                       options.create_failure);
  if (!rk) return std::unexpected(rk.error());
  consumer->rk_ = std::move(*rk);
  return consumer;
}

std::string Consumer::fatal_error() const {
  char buf[512] = "";
  if (rd_kafka_fatal_error(rk_.get(), buf, sizeof buf) == RD_KAFKA_RESP_ERR_NO_ERROR) return "";
  return buf;
}

Consumer::~Consumer() {
  if (rk_ && !closed_) (void)close();
}

Status Consumer::subscribe(const std::vector<std::string>& topics_and_patterns) {
  if (topics_and_patterns.empty()) {
    return fail(ErrorKind::usage, "nothing to subscribe to", "consumer",
                "give at least one topic or pattern");
  }
  PartitionListPtr list(
      rd_kafka_topic_partition_list_new(static_cast<int>(topics_and_patterns.size())));
  for (const auto& t : topics_and_patterns) {
    rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (!forwarded_) {
    // From now on one queue serves everything: messages, rebalances and error callbacks all
    // arrive through poll(). (rd_kafka_poll() must not be used after this.)
    rd_kafka_poll_set_consumer(rk_.get());
    forwarded_ = true;
  }
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_.get(), list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::string names;
    for (const auto& t : topics_and_patterns) names += (names.empty() ? "" : ", ") + t;
    return fail(ErrorKind::usage, "cannot subscribe: " + error_name(err), names,
                "check topic names and regex patterns");
  }
  return {};
}

Consumer::PartitionState* Consumer::state_for(const rd_kafka_message_t& msg) {
  if (msg.rkt == cached_rkt_ && msg.partition == cached_partition_ && cached_state_) {
    return cached_state_;
  }
  if (!msg.rkt) return nullptr;
  auto it = assigned_.find(TopicPartition{rd_kafka_topic_name(msg.rkt), msg.partition});
  if (it == assigned_.end()) return nullptr;
  cached_rkt_ = msg.rkt;
  cached_partition_ = msg.partition;
  cached_state_ = &it->second;
  return cached_state_;
}

MessagePtr Consumer::poll(int timeout_ms) {
  return admit(MessagePtr(rd_kafka_consumer_poll(rk_.get(), timeout_ms)));
}

std::size_t Consumer::poll_batch(int timeout_ms, std::vector<MessagePtr>& out, std::size_t max) {
  const std::size_t before = out.size();
  if (max == 0) return 0;
  if (MessagePtr first = poll(timeout_ms)) out.push_back(std::move(first));
  if (!queue_) queue_.reset(rd_kafka_queue_get_consumer(rk_.get()));
  if (!queue_) return out.size() - before;  // not in a group: no consumer queue
  while (out.size() - before < max) {
    raw_.resize(std::min<std::size_t>(max - (out.size() - before), 1024));
    // Timeout 0: only what is queued already (with a timeout it would wait to fill the batch).
    const ssize_t n = rd_kafka_consume_batch_queue(queue_.get(), 0, raw_.data(), raw_.size());
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (MessagePtr msg = admit(MessagePtr(raw_[static_cast<std::size_t>(i)]))) {
        out.push_back(std::move(msg));
      }
    }
    if (static_cast<std::size_t>(n) < raw_.size()) break;  // the queue is drained
  }
  return out.size() - before;
}

MessagePtr Consumer::admit(MessagePtr msg) {
  if (!msg) return nullptr;
  if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    if (PartitionState* s = state_for(*msg)) {
      s->at_end = true;
      s->position = msg->offset;
    }
    return nullptr;
  }
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (PartitionState* s = state_for(*msg)) {
      s->at_end = false;
      s->position = msg->offset + 1;
    }
  }
  return msg;
}

bool Consumer::all_assigned_at_end() const {
  if (!assigned_once_) return false;
  return std::all_of(assigned_.begin(), assigned_.end(),
                     [](const auto& entry) { return entry.second.at_end; });
}

std::vector<TopicPartition> Consumer::assignment() const {
  std::vector<TopicPartition> out;
  out.reserve(assigned_.size());
  for (const auto& [tp, state] : assigned_) out.push_back(tp);
  return out;
}

Status Consumer::store(const rd_kafka_message_t& msg) {
  if (!msg.rkt) return fail(ErrorKind::internal, "message without topic", "offset store");
  // The legacy per-partition API adds the 1 itself (unlike rd_kafka_offsets_store()).
  rd_kafka_resp_err_t err = rd_kafka_offset_store(msg.rkt, msg.partition, msg.offset);
  // _STATE: the partition is no longer assigned; its new owner reads from the last commit.
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__STATE) {
    return fail(ErrorKind::kafka, "cannot store offset: " + error_name(err),
                std::string(rd_kafka_topic_name(msg.rkt)) + "[" + std::to_string(msg.partition) +
                    "]@" + std::to_string(msg.offset));
  }
  return {};
}

Status Consumer::commit() {
  if (closed_) return {};
  rd_kafka_resp_err_t err = rd_kafka_commit(rk_.get(), nullptr, /*async=*/0);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return {};
  return fail(ErrorKind::kafka, "offset commit failed: " + error_name(err), "consumer group",
              "the next run re-reads the messages after the last successful commit");
}

Status Consumer::close() {
  if (closed_ || !rk_) return {};
  closed_ = true;
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_.get());
  assigned_.clear();
  cached_state_ = nullptr;
  cached_rkt_ = nullptr;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return fail(ErrorKind::kafka, "consumer close failed: " + error_name(err), "consumer group");
  }
  return {};
}

std::vector<PartitionLag> Consumer::lag(bool query_broker, int timeout_ms) {
  std::vector<PartitionLag> out;
  out.reserve(assigned_.size());
  for (const auto& [tp, state] : assigned_) {
    PartitionLag l;
    l.tp = tp;
    l.position = state.position;
    l.at_end = state.at_end;
    std::int64_t low = -1, high = -1;
    rd_kafka_resp_err_t err =
        query_broker ? rd_kafka_query_watermark_offsets(rk_.get(), tp.topic.c_str(), tp.partition,
                                                        &low, &high, timeout_ms)
                     : rd_kafka_get_watermark_offsets(rk_.get(), tp.topic.c_str(), tp.partition,
                                                      &low, &high);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      l.low = low;
      l.high = high;
    }
    if (l.high >= 0 && l.position >= 0) {
      l.lag = std::max<std::int64_t>(0, l.high - l.position);
    } else if (l.high >= 0 && l.low >= 0 && start_ == StartFrom::beginning) {
      l.lag = l.high - l.low;
    }
    out.push_back(std::move(l));
  }
  return out;
}

Status Consumer::wait_for_cluster(int timeout_ms, std::string_view bootstrap) {
  // Serve error callbacks (they carry the reason) while the main queue is still ours; after
  // subscribe() only poll() may serve them, or messages would be lost here.
  return wait_until_usable(rk_.get(), timeout_ms, bootstrap, errors_, [this] {
    if (!forwarded_) rd_kafka_poll(rk_.get(), 0);
  });
}

Result<std::vector<std::string>> Consumer::list_topics(int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_.get(), 1, nullptr, &md, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return fail(ErrorKind::kafka, "cannot list topics: " + error_name(err), "cluster metadata");
  }
  MetadataPtr owned(md);
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(owned->topic_cnt));
  for (int i = 0; i < owned->topic_cnt; ++i) {
    const auto& t = owned->topics[i];
    if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR) names.emplace_back(t.topic);
  }
  return names;
}

void Consumer::assign(rd_kafka_topic_partition_list_t* partitions, bool cooperative) {
  if (!cooperative) assigned_.clear();  // eager: the list is the whole assignment
  std::vector<TopicPartition> added;
  added.reserve(static_cast<std::size_t>(partitions->cnt));
  for (int i = 0; i < partitions->cnt; ++i) {
    auto& p = partitions->elems[i];
    TopicPartition tp{p.topic, p.partition};
    // INVALID: the group's committed offset, else auto.offset.reset.
    std::int64_t offset = RD_KAFKA_OFFSET_INVALID;
    if (start_ != StartFrom::stored) {
      auto seen = resume_.find(tp);
      if (seen != resume_.end() && seen->second >= 0) {
        offset = seen->second;  // read here before: continue, whatever the policy
      } else if (!fresh_group_) {
        offset = start_ == StartFrom::beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
      }
    }
    p.offset = offset;
    assigned_[tp] = PartitionState{offset >= 0 ? offset : -1, false};
    added.push_back(std::move(tp));
  }
  std::string failure;
  if (cooperative) {
    ErrorPtr error(rd_kafka_incremental_assign(rk_.get(), partitions));
    if (error) failure = rd_kafka_error_string(error.get());
  } else {
    rd_kafka_resp_err_t err = rd_kafka_assign(rk_.get(), partitions);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) failure = error_name(err);
  }
  assigned_once_ = true;
  if (!failure.empty()) {
    for (const auto& tp : added) assigned_.erase(tp);
    client_error(RD_KAFKA_RESP_ERR__STATE, "cannot take the assigned partitions: " + failure,
                 false);
    return;
  }
  if (events_) events_->on_assigned(added);
}

void Consumer::revoke(rd_kafka_topic_partition_list_t* partitions, bool cooperative) {
  bool lost = rd_kafka_assignment_lost(rk_.get()) != 0;
  std::vector<TopicPartition> removed;
  removed.reserve(static_cast<std::size_t>(partitions->cnt));
  for (int i = 0; i < partitions->cnt; ++i) {
    TopicPartition tp{partitions->elems[i].topic, partitions->elems[i].partition};
    auto it = assigned_.find(tp);
    if (it != assigned_.end()) {
      if (it->second.position >= 0) resume_[tp] = it->second.position;
      assigned_.erase(it);
    }
    removed.push_back(std::move(tp));
  }
  if (events_) events_->on_revoked(removed, lost);
  std::string failure;
  if (cooperative) {
    ErrorPtr error(rd_kafka_incremental_unassign(rk_.get(), partitions));
    if (error) failure = rd_kafka_error_string(error.get());
  } else {
    for (const auto& [tp, state] : assigned_) {
      if (state.position >= 0) resume_[tp] = state.position;
    }
    assigned_.clear();
    rd_kafka_resp_err_t err = rd_kafka_assign(rk_.get(), nullptr);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) failure = error_name(err);
  }
  if (!failure.empty()) {
    client_error(RD_KAFKA_RESP_ERR__STATE, "cannot give up revoked partitions: " + failure, false);
  }
}

void Consumer::rebalance(rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t* partitions) noexcept {
  cached_state_ = nullptr;
  cached_rkt_ = nullptr;
  try {
    // "COOPERATIVE" for cooperative-sticky; "EAGER" for range/roundrobin; "NONE" before a join.
    const char* protocol = rd_kafka_rebalance_protocol(rk_.get());
    bool cooperative = protocol && std::strcmp(protocol, "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      assign(partitions, cooperative);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      revoke(partitions, cooperative);
    } else {
      // Any other error: librdkafka asks the application to drop the whole assignment.
      for (const auto& [tp, state] : assigned_) {
        if (state.position >= 0) resume_[tp] = state.position;
      }
      assigned_.clear();
      rd_kafka_assign(rk_.get(), nullptr);
      client_error(err, "group rebalance failed: " + error_name(err), false);
    }
  } catch (...) {
    // Out of memory while bookkeeping: keep librdkafka consistent, report nothing more.
    if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) rd_kafka_assign(rk_.get(), nullptr);
  }
}

void Consumer::client_error(rd_kafka_resp_err_t err, const std::string& text, bool fatal) noexcept {
  errors_.record(err, text);
  try {
    last_client_error_ = text;
  } catch (...) {
    // swallowed: out of memory keeps the previous text; the error is still recorded and reported
  }
  if (events_) events_->on_client_error(err, text, fatal);
}

void Consumer::on_rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  if (self) self->rebalance(err, partitions);
}

void Consumer::on_error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  if (!self) return;
  bool fatal = false;
  try {
    std::string text = reason ? reason : "";
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char buf[512];
      err = rd_kafka_fatal_error(rk, buf, sizeof buf);
      text = buf;
      fatal = true;
    }
    self->client_error(static_cast<rd_kafka_resp_err_t>(err), text, fatal);
  } catch (...) {
    // swallowed: librdkafka's error callback must never throw
  }
}

void Consumer::on_commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*,
                            void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  if (!self || !self->events_) return;
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
  self->events_->on_commit_error(err);
}

}  // namespace speedlayer::kafka
