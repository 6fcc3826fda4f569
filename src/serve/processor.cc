#include "serve/processor.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "serve/changelog.h"

namespace speedlayer::serve {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTxnTimeoutMs = 60'000;

std::string error_text(rd_kafka_error_t* e) { return e ? rd_kafka_error_string(e) : ""; }

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "local";
  return buf;
}

kafka::PartitionListPtr to_list(const std::vector<kafka::TopicPartition>& tps) {
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(tps.size())));
  for (const auto& tp : tps) rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
  return list;
}

}  // namespace

views::Millis system_wall_clock() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Processor::Processor(const ServeOptions& options, WallClock clock)
    : o_(options), clock_(std::move(clock)) {}

Processor::~Processor() = default;

std::string Processor::compute_not_ready_reason() const {
  if (!consumer_) return "not connected";
  if (!consumer_->assigned_once()) return "waiting for the consumer group to assign partitions";
  if (!pending_restore_.empty()) return "restoring state from the changelog";
  return "";
}

Status Processor::start() {
  kafka::Properties pp = o_.kafka;
  std::string txn_id = o_.transactional_id.empty()
                           ? "speedlayer-serve-" + o_.group + "-" + host_name()
                           : o_.transactional_id;
  pp.set("transactional.id", txn_id, "--transactional-id");
  pp.set_default("enable.idempotence", "true");
  // A replica that dies mid-transaction blocks read_committed readers until its transaction
  // times out; keep that short.
  pp.set_default("transaction.timeout.ms", "10000");
  pp.set_default("client.id", "speedlayer-serve");
  pp.set_default("log_level", "3");
  pp.set_default("partitioner", "murmur2_random");
  // Right after a commit the coordinator is still writing its markers, and the next
  // transaction's AddPartitionsToTxn is answered CONCURRENT_TRANSACTIONS and retried after
  // retry.backoff.ms: librdkafka's 100 ms default then sets the commit cycle (measured:
  // bench/README.md). Java's producer retries that case after 20 ms.
  pp.set_default("retry.backoff.ms", "10");
  // As in produce (produce_service.cc): with several requests in flight librdkafka 2.12.1
  // can count a failed first batch of a new partition as delivered ("implicitly acked");
  // here that would commit a transaction without its changelog record.
  pp.set_default("max.in.flight.requests.per.connection", "1");
  auto producer = kafka::Producer::create(pp, this);
  if (!producer) return std::unexpected(producer.error());
  producer_ = std::move(*producer);
  int connect_ms = static_cast<int>(o_.connect_timeout.count());
  if (auto st = producer_->wait_for_cluster(connect_ms, o_.bootstrap); !st) return st;

  if (auto st = ensure_topic(producer_->handle(), o_.changelog_topic, o_.changelog_partitions,
                             {{"cleanup.policy", "compact"}}, connect_ms);
      !st) {
    return st;
  }
  if (auto st = ensure_topic(producer_->handle(), o_.output_topic, 3, {}, connect_ms); !st) return st;

  kafka::ErrorPtr init(rd_kafka_init_transactions(producer_->handle(), kTxnTimeoutMs));
  if (init) {
    return fail(ErrorKind::kafka, "cannot initialize transactions: " + error_text(init.get()),
                "transactional.id " + txn_id,
                "the user needs Write and Describe on the TransactionalId (ACLs)");
  }

  kafka::Properties cp = o_.kafka;
  cp.set("group.id", o_.group, "--group");
  cp.set("enable.auto.commit", "false", "serve");
  cp.set("enable.auto.offset.store", "false", "serve");
  cp.set("isolation.level", "read_committed", "serve");
  cp.set_default("client.id", "speedlayer-serve");
  cp.set_default("log_level", "3");
  // A replica killed with -9 holds its partitions until its session times out; 10 s instead
  // of Kafka's 45 s bounds how long its partitions' views stand still.
  cp.set_default("session.timeout.ms", "10000");
  auto consumer = kafka::Consumer::create(cp, kafka::StartFrom::stored, this);
  if (!consumer) return std::unexpected(consumer.error());
  consumer_ = std::move(*consumer);
  if (auto st = consumer_->subscribe(o_.topics); !st) return st;
  last_housekeeping_ = Clock::now();
  return {};
}

void Processor::with_live(const Visitor& f) const {
  std::lock_guard lock(live_mu_);
  std::vector<const views::PartitionAggregator*> aggs;
  aggs.reserve(owned_.size());
  for (const auto& [tp, owned] : owned_) aggs.push_back(owned.agg.get());
  f(aggs);
}

void Processor::on_assigned(const std::vector<kafka::TopicPartition>& added) noexcept {
  try {
    for (const auto& tp : added) pending_restore_.insert(tp);
    if (!added.empty()) {
      auto list = to_list(added);
      rd_kafka_pause_partitions(consumer_->handle(), list.get());
    }
    ready_ = false;
  } catch (...) {
    set_fatal("out of memory in on_assigned");
  }
}

void Processor::on_revoked(const std::vector<kafka::TopicPartition>& removed, bool lost) noexcept {
  try {
    if (lost) {
      // The group moved on without us: offsets we commit now would be rejected. What the
      // removed partitions aggregated since the last commit is dropped with them (their new
      // owner consumes it again from the committed offsets).
      if (auto st = finish_commit(true); !st) note_error(st.error().message());
    } else if (auto st = commit_now(); !st) {
      note_error(st.error().message());
    }
    std::lock_guard lock(live_mu_);
    for (const auto& tp : removed) {
      owned_.erase(tp);
      pending_restore_.erase(tp);
    }
  } catch (...) {
    set_fatal("out of memory in on_revoked");
  }
}

void Processor::on_client_error(rd_kafka_resp_err_t error, std::string_view reason,
                                bool fatal) noexcept {
  note_error(reason);
  if (fatal) set_fatal(reason);
  (void)error;
}

void Processor::note_error(std::string_view what) noexcept {
  try {
    std::lock_guard lock(reason_mu_);
    last_error_ = std::string(what);
  } catch (...) {
  }
}

void Processor::set_fatal(std::string_view why) noexcept {
  try {
    std::lock_guard lock(reason_mu_);
    if (fatal_reason_.empty()) fatal_reason_ = std::string(why);
  } catch (...) {
  }
  fatal_ = true;
}

void Processor::on_delivery(const kafka::DeliveryReport& report) noexcept {
  // A failed delivery fails the transaction's commit (abortable), which restores the state.
  if (report.error == RD_KAFKA_RESP_ERR_NO_ERROR) return;
  try {
    note_error("changelog/output delivery failed: " + kafka::error_name(report.error));
  } catch (...) {
  }
}

Status Processor::restore_pending() {
  if (pending_restore_.empty()) return {};
  // The committed offsets must include our own last commit.
  if (auto st = finish_commit(true); !st) return st;
  if (pending_restore_.empty()) return {};
  std::vector<kafka::TopicPartition> tps(pending_restore_.begin(), pending_restore_.end());
  // 1. The committed offsets (read_committed: waits until no transaction is pending on them).
  auto list = to_list(tps);
  if (auto e = rd_kafka_committed(consumer_->handle(), list.get(), kTxnTimeoutMs); e) {
    return fail(ErrorKind::kafka, std::string("cannot read committed offsets: ") + rd_kafka_err2str(e),
                "group " + o_.group);
  }
  std::map<kafka::TopicPartition, std::int64_t> committed;
  for (int i = 0; i < list->cnt; ++i) {
    committed[{list->elems[i].topic, list->elems[i].partition}] = list->elems[i].offset;
  }
  // 2. The partials of those offsets: the changelog read to its end (committed data only).
  views::ViewStore restored(o_.window);
  auto reader = ChangelogReader::create(o_.kafka, o_.changelog_topic,
                                        static_cast<int>(o_.connect_timeout.count()));
  if (!reader) return std::unexpected(reader.error());
  std::uint64_t bad_records = 0;
  auto st = (*reader)->read_to_end(
      [&](std::string_view key, std::optional<std::string_view> value) {
        auto parsed = views::parse_changelog_key(key);
        if (!parsed || !pending_restore_.count({parsed->topic, parsed->partition})) return;
        if (!restored.apply(key, value)) ++bad_records;
      },
      kTxnTimeoutMs);
  if (!st) return st;
  if (bad_records) {
    std::fprintf(stderr, "speedlayer serve: %llu unreadable changelog record(s) skipped\n",
                 static_cast<unsigned long long>(bad_records));
  }
  // 3. Aggregators resume exactly there; fetching restarts at the committed offsets.
  {
    std::lock_guard lock(live_mu_);
    for (const auto& tp : tps) {
      Owned owned;
      owned.agg = std::make_unique<views::PartitionAggregator>(tp.topic, tp.partition, o_.window);
      restored.restore_into(*owned.agg);
      owned.next_offset = committed[tp];
      owned_[tp] = std::move(owned);
    }
  }
  kafka::PartitionListPtr seek_list(rd_kafka_topic_partition_list_new(static_cast<int>(tps.size())));
  for (const auto& tp : tps) {
    std::int64_t offset = committed[tp];
    rd_kafka_topic_partition_list_add(seek_list.get(), tp.topic.c_str(), tp.partition)->offset =
        offset >= 0 ? offset : RD_KAFKA_OFFSET_BEGINNING;
  }
  kafka::ErrorPtr seek_error(rd_kafka_seek_partitions(consumer_->handle(), seek_list.get(), 10'000));
  if (seek_error) {
    return fail(ErrorKind::kafka, "cannot seek restored partitions: " + error_text(seek_error.get()),
                "group " + o_.group);
  }
  rd_kafka_resume_partitions(consumer_->handle(), list.get());
  pending_restore_.clear();
  ready_ = consumer_->assigned_once();
  return {};
}

void Processor::note_change() {
  if (!changes_pending_) {
    changes_pending_ = true;
    pending_since_ = Clock::now();
  }
}

// Called with live_mu_ held.
void Processor::process(const rd_kafka_message_t& msg, views::Millis now, LastPartition& last) {
  if (msg.rkt != last.rkt || msg.partition != last.partition) {
    auto it = owned_.find(kafka::TopicPartition{rd_kafka_topic_name(msg.rkt), msg.partition});
    last = {msg.rkt, msg.partition, it == owned_.end() ? nullptr : &it->second};
    if (last.owned) last.owned->agg->mark_active(now);
  }
  if (!last.owned) return;  // being restored: refetched after the seek
  Owned& owned = *last.owned;
  if (msg.offset < owned.next_offset) return;  // fetched before a seek back (restore)
  rd_kafka_timestamp_type_t ts_type;
  views::Millis ts = rd_kafka_message_timestamp(&msg, &ts_type);
  std::string_view value(static_cast<const char*>(msg.payload), msg.payload ? msg.len : 0);
  const auto extracted = views::extract_text_view(value, o_.text_field, o_.time_field,
                                                  o_.max_value_bytes, text_scratch_);
  views::Millis event_time = extracted.event_time.value_or(ts >= 0 ? ts : now);
  if (extracted.problem != views::Malformed::none) {
    owned.agg->add_malformed(extracted.problem);
  } else {
    owned.agg->add(event_time, extracted.text);
  }
  owned.next_offset = msg.offset + 1;
  owned.progressed = true;
  note_change();
  if (ts >= 0 && latency_) latency_->observe(std::max<double>(0, (now - ts) / 1000.0));
}

void Processor::housekeeping() {
  views::Millis now = clock_();
  views::Millis expire_before = expire_request_.exchange(-1);
  bool changed = false;
  {
    std::lock_guard lock(live_mu_);
    for (auto& [tp, owned] : owned_) {
      auto closed = owned.agg->close_due(now);
      owned.to_emit.insert(owned.to_emit.end(), closed.begin(), closed.end());
      views::Millis retention_edge = owned.agg->state().stream_time - o_.window.retention_ms;
      auto expired = owned.agg->expire(std::max(retention_edge, expire_before));
      owned.to_tombstone.insert(owned.to_tombstone.end(), expired.begin(), expired.end());
      changed = changed || !closed.empty() || !expired.empty();
    }
  }
  if (changed) note_change();
  // Metrics snapshot of the owned partitions (totals across replicas come from the views).
  std::map<std::string, std::uint64_t> consumed, late;
  std::map<std::string, std::map<std::string, std::uint64_t>> malformed;
  for (auto& [tp, owned] : owned_) {
    const auto& s = owned.agg->state();
    consumed[tp.topic] += s.consumed;
    late[tp.topic] += s.late;
    for (const auto& [reason, n] : s.malformed) malformed[tp.topic][reason] += n;
  }
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> lag;
  for (const auto& l : consumer_->lag(false)) lag[{l.tp.topic, l.tp.partition}] = l.lag;
  std::lock_guard lock(stats_.mu);
  stats_.consumed = std::move(consumed);
  stats_.late = std::move(late);
  stats_.malformed = std::move(malformed);
  stats_.lag = std::move(lag);
}

Status Processor::start_commit() {
  if (!changes_pending_ || in_flight_) return {};
  const auto started = Clock::now();
  rd_kafka_t* rk = producer_->handle();
  kafka::ErrorPtr begun(rd_kafka_begin_transaction(rk));
  if (begun) {
    return fail(ErrorKind::kafka, "cannot begin transaction: " + error_text(begun.get()), "serve");
  }
  // A produce error other than a full queue also fails the commit (abortable), which restores.
  auto send = [&](const std::string& topic, const std::string& key, std::string_view value) {
    while (producer_->produce(topic, key, value, 0) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      producer_->poll(10);
    }
  };
  // Only the processor thread writes the aggregators, so reading them needs no lock; taking
  // the dirty marks and clearing the pending lists is invisible to the views.
  kafka::PartitionListPtr offsets(rd_kafka_topic_partition_list_new(static_cast<int>(owned_.size())));
  for (auto& [tp, owned] : owned_) {
    auto& agg = *owned.agg;
    for (views::Millis start : agg.take_dirty_windows()) {
      const views::Partial* p = agg.window(start);
      auto key = views::changelog_window_key(tp.topic, tp.partition, start);
      std::string value = p ? views::encode_partial(*p) : std::string();
      // An expired window leaves a tombstone (null value) so compaction forgets it.
      send(o_.changelog_topic, key, p ? std::string_view(value) : std::string_view());
    }
    for (views::Millis start : owned.to_tombstone) {
      send(o_.changelog_topic, views::changelog_window_key(tp.topic, tp.partition, start),
           std::string_view());
    }
    for (views::Millis start : owned.to_emit) {
      if (const views::Partial* p = agg.window(start)) {
        send(o_.output_topic, views::output_key(tp.topic, start, tp.partition),
             views::encode_output(tp.topic, tp.partition, start, *p, o_.window));
      }
    }
    if (agg.take_state_dirty()) {
      send(o_.changelog_topic, views::changelog_state_key(tp.topic, tp.partition),
           views::encode_state(agg.state()));
    }
    if (owned.progressed && owned.next_offset >= 0) {
      rd_kafka_topic_partition_list_add(offsets.get(), tp.topic.c_str(), tp.partition)->offset =
          owned.next_offset;
    }
    owned.to_emit.clear();
    owned.to_tombstone.clear();
    owned.progressed = false;
  }
  changes_pending_ = false;
  kafka::GroupMetadataPtr group(rd_kafka_consumer_group_metadata(consumer_->handle()));
  auto offsets_ptr = std::make_shared<kafka::PartitionListPtr>(std::move(offsets));
  auto group_ptr = std::make_shared<kafka::GroupMetadataPtr>(std::move(group));
  http::Histogram* duration = commit_duration_;
  // The commit thread touches only the producer (thread-safe) and what it was given.
  in_flight_ = std::async(std::launch::async, [rk, offsets_ptr, group_ptr, duration, started] {
    CommitOutcome out;
    rd_kafka_topic_partition_list_t* list = offsets_ptr->get();
    if (list->cnt > 0) {
      kafka::ErrorPtr e(
          rd_kafka_send_offsets_to_transaction(rk, list, group_ptr->get(), kTxnTimeoutMs));
      if (e) {
        out.kind = rd_kafka_error_is_fatal(e.get()) ? CommitOutcome::Kind::fatal
                                                    : CommitOutcome::Kind::abortable;
        out.message = "sending offsets failed: " + error_text(e.get());
        return out;
      }
    }
    while (true) {
      kafka::ErrorPtr e(rd_kafka_commit_transaction(rk, kTxnTimeoutMs));
      if (!e) break;
      if (rd_kafka_error_is_retriable(e.get())) continue;
      out.kind = rd_kafka_error_txn_requires_abort(e.get()) ? CommitOutcome::Kind::abortable
                                                            : CommitOutcome::Kind::fatal;
      out.message = "commit failed: " + error_text(e.get());
      return out;
    }
    if (duration) duration->observe(Clock::now() - started);
    return out;
  });
  return {};
}

Status Processor::finish_commit(bool wait) {
  if (!in_flight_) return {};
  if (!wait && in_flight_->wait_for(std::chrono::seconds(0)) != std::future_status::ready) return {};
  CommitOutcome out = in_flight_->get();
  in_flight_.reset();
  switch (out.kind) {
    case CommitOutcome::Kind::committed: {
      std::lock_guard lock(stats_.mu);
      ++stats_.transactions;
      return {};
    }
    case CommitOutcome::Kind::abortable:
      return recover_from_abort(out.message);
    case CommitOutcome::Kind::fatal:
      break;
  }
  set_fatal(out.message);
  return fail(ErrorKind::kafka, "transaction failed: " + out.message, "serve",
              "another replica with the same --transactional-id fenced this one?");
}

Status Processor::commit_now() {
  if (auto st = finish_commit(true); !st) return st;
  if (auto st = start_commit(); !st) return st;
  return finish_commit(true);
}

Status Processor::recover_from_abort(const std::string& why) {
  // Kafka Streams' answer to an aborted transaction: throw the in-memory state away and
  // restore it, with the offsets, from what was committed.
  kafka::ErrorPtr e(rd_kafka_abort_transaction(producer_->handle(), kTxnTimeoutMs));
  std::fprintf(stderr, "speedlayer serve: transaction aborted (%s); restoring state\n", why.c_str());
  {
    std::lock_guard lock(stats_.mu);
    ++stats_.aborted_transactions;
  }
  if (e && rd_kafka_error_is_fatal(e.get())) {
    set_fatal(error_text(e.get()));
    return fail(ErrorKind::kafka, "cannot abort transaction: " + error_text(e.get()), "serve");
  }
  std::vector<kafka::TopicPartition> tps;
  {
    std::lock_guard lock(live_mu_);
    for (auto& [tp, owned] : owned_) tps.push_back(tp);
    owned_.clear();
  }
  changes_pending_ = false;
  for (const auto& tp : tps) pending_restore_.insert(tp);
  if (!tps.empty()) {
    auto list = to_list(tps);
    rd_kafka_pause_partitions(consumer_->handle(), list.get());
  }
  ready_ = false;
  return {};
}

Status Processor::step() {
  if (fatal_) {
    std::lock_guard lock(reason_mu_);
    return fail(ErrorKind::kafka, "fatal Kafka error: " + fatal_reason_, "serve");
  }
  if (auto st = finish_commit(false); !st) return st;
  if (auto st = restore_pending(); !st) return st;
  // Poll without the lock (a rebalance callback may run inside), then aggregate the batch
  // under it, so the views never wait for a poll.
  const int timeout = changes_pending_ || in_flight_ ? 5 : 50;
  batch_.clear();
  consumer_->poll_batch(timeout, batch_, 5000);
  std::erase_if(batch_, [this](const kafka::MessagePtr& msg) {
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      note_error(rd_kafka_message_errstr(msg.get()));
    return true;
  });
  if (!batch_.empty()) {
    // One clock read per batch, not per record (it showed in profiles): a batch takes
    // milliseconds, far below the idle fallback and latency buckets the time is used for.
    const views::Millis now = clock_();
    std::lock_guard lock(live_mu_);
    LastPartition last;
    for (const auto& msg : batch_) process(*msg, now, last);
  }
  batch_.clear();
  // While a commit is in flight its thread serves the producer's events.
  if (!in_flight_) producer_->poll(0);
  if (Clock::now() - last_housekeeping_ >= std::chrono::milliseconds(200)) {
    housekeeping();
    last_housekeeping_ = Clock::now();
  }
  if (changes_pending_ && !in_flight_ && Clock::now() - pending_since_ >= o_.commit_interval) {
    if (auto st = start_commit(); !st) return st;
  }
  if (!pending_restore_.empty()) ready_ = false;
  auto reason = compute_not_ready_reason();
  std::lock_guard lock(stats_.mu);
  stats_.not_ready_reason = std::move(reason);
  return {};
}

void Processor::shutdown() {
  if (!consumer_) return;
  housekeeping();
  if (auto st = commit_now(); !st) {
    std::fprintf(stderr, "speedlayer serve: last commit failed: %s\n", st.error().message().c_str());
  }
  consumer_->close();
}

}  // namespace speedlayer::serve
