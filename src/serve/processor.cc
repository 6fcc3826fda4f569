#include "serve/processor.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "config/memory.h"
#include "core/units.h"
#include "kafka/admin.h"
#include "kafka/topic_reader.h"

namespace speedlayer::serve {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTxnTimeoutMs = 60'000;
// A transaction that aborts this many times in a row (each followed by a restore) ends serve
// with an error: a failure that repeats after a restore would otherwise loop forever.
constexpr int kMaxConsecutiveAborts = 5;
constexpr int kMaxCommitRetries = 10;
// Late records buffered for --late-topic beyond this commit at once (memory bound).
constexpr std::size_t kMaxLateBufferBytes = 8u << 20;
// The broker's and librdkafka's defaults for the largest record (batch) accepted.
constexpr std::uint64_t kBrokerDefaultMaxMessageBytes = 1'048'588;
constexpr std::uint64_t kClientDefaultMessageMaxBytes = 1'000'000;
// Room for a record's key, headers and batch framing beside its value.
constexpr std::uint64_t kRecordOverheadBytes = 1024;

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "local";
  return buf;
}

// The largest changelog / output record value serve can write with these options.
std::uint64_t changelog_value_bound(const ServeOptions& o) {
  return std::max<std::uint64_t>(
      views::codec::max_window_value_bytes(o.window.max_terms, o.window.max_term_bytes),
      views::PartitionAggregator::kDeltaBudgetBytes);
}
std::uint64_t output_value_bound(const ServeOptions& o) {
  return views::output_value_bound(o.window, o.output_all_terms);
}

}  // namespace

ServeOptions with_defaults(ServeOptions o) {
  if (o.changelog_topic.empty()) o.changelog_topic = o.group + ".changelog";
  if (o.output_topic.empty()) o.output_topic = o.group + ".views";
  // Term filters: the built-in stop words, 2 characters, numbers dropped (build_serve_options
  // sets them from the flags; the demo takes these).
  if (!o.window.filters) o.window.filters = text::default_filters();
  if (o.transactional_id.empty())
    o.transactional_id =
        "speedlayer-serve-" + o.group + "-" + host_name() + "-" + std::to_string(::getpid());
  return o;
}

views::Millis system_wall_clock() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Processor::Processor(const ServeOptions& options, WallClock clock)
    : o_(options), clock_(std::move(clock)), keys_(options.group) {}

Processor::~Processor() {
  // A consumer that shutdown() did not close (start() failed, or a test ended early) is closed
  // by its destructor, which runs on_revoked: that touches owned_, pending_restore_ and the
  // transaction, members declared after consumer_ and so destroyed before it. Close it here,
  // while everything is alive, and without committing: what a processor that never shut down
  // holds is consumed again from the committed offsets.
  abandoning_ = true;
  consumer_.reset();
}

std::string Processor::compute_not_ready_reason() const {
  if (!consumer_) return "not connected";
  if (!consumer_->assigned_once()) return "waiting for the consumer group to assign partitions";
  if (!pending_restore_.empty()) return "restoring state from the changelog";
  return "";
}

Status Processor::start() {
  if (o_.changelog_topic.empty() || o_.output_topic.empty() || o_.transactional_id.empty()) {
    return fail(ErrorKind::internal, "serve options without defaults (with_defaults)", "serve");
  }
  memory_limit_ = o_.memory_limit ? o_.memory_limit : config::container_memory_limit().value_or(0);
  term_capacity_ = o_.window.max_terms;
  const std::uint64_t needed =
      std::max(changelog_value_bound(o_), output_value_bound(o_)) + kRecordOverheadBytes;
  kafka::Properties pp = o_.kafka;
  const std::string& txn_id = o_.transactional_id;
  pp.set("transactional.id", txn_id, "--transactional-id");
  // A replica that dies mid-transaction blocks read_committed readers until its transaction
  // times out; keep that short.
  pp.set_default("transaction.timeout.ms", "10000");
  // Right after a commit the coordinator is still writing its markers, and the next
  // transaction's AddPartitionsToTxn is answered CONCURRENT_TRANSACTIONS and retried after
  // retry.backoff.ms: librdkafka's 100 ms default then sets the commit cycle (measured:
  // bench/README.md). Java's producer retries that case after 20 ms.
  pp.set_default("retry.backoff.ms", "10");
  // Idempotence and the murmur2 partitioner: as every producer of speedlayer. One request in
  // flight, as in produce (produce_service.cc): with several requests in flight librdkafka
  // 2.12.1 can count a failed first batch of a new partition as delivered ("implicitly
  // acked"); here that would commit a transaction without its changelog record.
  kafka::set_producer_defaults(
      pp, {.client_id = "speedlayer-serve", .log_level = "3", .max_in_flight = "1"});
  // Room for the largest record serve writes (e.g. --output-terms all).
  if (needed > kClientDefaultMessageMaxBytes)
    pp.set_default("message.max.bytes", std::to_string(needed));
  client_message_max_bytes_ = kClientDefaultMessageMaxBytes;
  if (auto v = pp.get("message.max.bytes"))
    client_message_max_bytes_ = std::strtoull(v->c_str(), nullptr, 10);
  auto producer = kafka::Producer::create(pp, this);
  if (!producer) return std::unexpected(producer.error());
  producer_ = std::move(*producer);
  txn_ = std::make_unique<kafka::Transactions>(producer_->handle());
  int connect_ms = static_cast<int>(o_.connect_timeout.count());
  if (auto st = producer_->wait_for_cluster(connect_ms, o_.bootstrap); !st) return st;

  const std::string max_bytes =
      std::to_string(std::max<std::uint64_t>(kBrokerDefaultMaxMessageBytes, needed));
  // Compaction never touches a log's active segment: 64 MiB segments (not 1 GiB) let it
  // bound a slow changelog within days, not months.
  if (auto st =
          kafka::ensure_topic(producer_->handle(), o_.changelog_topic, o_.changelog_partitions,
                              {{"cleanup.policy", "compact"},
                               {"max.message.bytes", max_bytes},
                               {"segment.bytes", "67108864"}},
                              connect_ms);
      !st) {
    return st;
  }
  if (auto st = kafka::ensure_topic(
          producer_->handle(), o_.output_topic, 3,
          {{"cleanup.policy", "delete"}, {"max.message.bytes", max_bytes}}, connect_ms);
      !st) {
    return st;
  }
  if (!o_.late_topic.empty()) {
    if (auto st = kafka::ensure_topic(
            producer_->handle(), o_.late_topic, 3,
            {{"cleanup.policy", "delete"}, {"max.message.bytes", max_bytes}}, connect_ms);
        !st) {
      return st;
    }
  }
  auto partitions =
      kafka::topic_partition_count(producer_->handle(), o_.changelog_topic, connect_ms);
  if (!partitions) return std::unexpected(partitions.error());
  changelog_partitions_ = std::max(1, *partitions);
  if (auto st = check_record_limits(connect_ms); !st) return st;

  if (auto st = txn_->init(kTxnTimeoutMs); !st) {
    Error e = st.error().to_error(txn_id);
    e.what = "cannot initialize transactions: " + e.what;
    e.hint = "the user needs Write and Describe on the TransactionalId (ACLs)";
    return std::unexpected(std::move(e));
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
  if (!o_.instance_id.empty()) cp.set("group.instance.id", o_.instance_id, "--instance-id");
  auto consumer = kafka::Consumer::create(cp, kafka::StartFrom::stored, this);
  if (!consumer) return std::unexpected(consumer.error());
  consumer_ = std::move(*consumer);
  if (auto st = consumer_->subscribe(o_.topics); !st) return st;
  last_housekeeping_ = Clock::now();
  return {};
}

Status Processor::check_record_limits(int timeout_ms) {
  const std::uint64_t changelog_needed = changelog_value_bound(o_) + kRecordOverheadBytes;
  const std::uint64_t output_needed = output_value_bound(o_) + kRecordOverheadBytes;
  const std::uint64_t client_limit = client_message_max_bytes_;
  const std::string sizes = "--max-terms " + std::to_string(o_.window.max_terms) +
                            ", --max-term-bytes " + std::to_string(o_.window.max_term_bytes) +
                            ", --top-k " + std::to_string(o_.window.top_k) +
                            (o_.output_all_terms ? ", --output-terms all" : "");
  const std::uint64_t needed = std::max(changelog_needed, output_needed);
  if (client_limit < needed) {
    return fail(ErrorKind::usage,
                "serve's records can reach " + std::to_string(needed) +
                    " bytes but the producer's message.max.bytes is " +
                    std::to_string(client_limit),
                "-X message.max.bytes", "raise it, or lower " + sizes);
  }
  auto check_topic = [&](const std::string& topic, std::uint64_t topic_needed) -> Status {
    auto configs = kafka::describe_topic_configs(producer_->handle(), topic, timeout_ms);
    std::uint64_t limit = kBrokerDefaultMaxMessageBytes;
    if (!configs) {
      std::fprintf(stderr,
                   "speedlayer serve: cannot read max.message.bytes of topic %s (%s); assuming "
                   "the broker default %llu\n",
                   topic.c_str(), configs.error().message().c_str(),
                   static_cast<unsigned long long>(limit));
      return {};
    }
    if (auto it = configs->find("max.message.bytes"); it != configs->end())
      limit = std::strtoull(it->second.c_str(), nullptr, 10);
    if (limit < topic_needed) {
      return fail(
          ErrorKind::usage,
          "serve's records for topic " + topic + " can reach " + std::to_string(topic_needed) +
              " bytes but the topic accepts at most " + std::to_string(limit) +
              " (max.message.bytes)",
          "topic " + topic,
          "raise the topic's max.message.bytes (e.g. in its KafkaTopic), or lower " + sizes);
    }
    return {};
  };
  if (!o_.check_topic_limits) return {};
  if (auto st = check_topic(o_.changelog_topic, changelog_needed); !st) return st;
  return check_topic(o_.output_topic, output_needed);
}

std::vector<const views::PartitionAggregator*> Processor::live_aggregators() const {
  std::vector<const views::PartitionAggregator*> aggs;
  aggs.reserve(owned_.size());
  for (const auto& [tp, owned] : owned_) aggs.push_back(owned.agg.get());
  return aggs;
}

void Processor::live_changed() {
  snapshots_.changed([this] { return live_aggregators(); });
}

std::shared_ptr<const views::LiveSnapshot> Processor::live_snapshot() const {
  return snapshots_.read(live_mu_, [this] { return live_aggregators(); });
}

void Processor::on_assigned(const std::vector<kafka::TopicPartition>& added) noexcept {
  try {
    for (const auto& tp : added) pending_restore_.insert(tp);
    if (auto st = consumer_->pause(added); !st) note_error(st.error().message());
    ready_ = false;
  } catch (...) {
    set_fatal("out of memory in on_assigned");
  }
}

void Processor::on_revoked(const std::vector<kafka::TopicPartition>& removed, bool lost) noexcept {
  try {
    if (abandoning_) {
      // ~Processor: nothing is committed (see there).
    } else if (lost) {
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
    apply_memory_budget();
    live_changed();
  } catch (...) {
    set_fatal("out of memory in on_revoked");
  }
}

void Processor::on_client_error(kafka::ErrorCode error, std::string_view reason,
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
    // swallowed: out of memory keeps the previous reason text; the error is counted by the caller
  }
}

void Processor::set_fatal(std::string_view why) noexcept {
  try {
    std::lock_guard lock(reason_mu_);
    if (fatal_reason_.empty()) fatal_reason_ = std::string(why);
  } catch (...) {
    // swallowed: out of memory keeps the reason empty; fatal_ below still stops serve
  }
  fatal_ = true;
}

void Processor::on_delivery(const kafka::DeliveryReport& report) noexcept {
  // A failed delivery fails the transaction's commit (abortable), which restores the state.
  if (report.error == RD_KAFKA_RESP_ERR_NO_ERROR) return;
  delivery_failed_ = true;
  try {
    note_error("changelog/output delivery failed: " + kafka::error_name(report.error));
  } catch (...) {
    // swallowed: delivery_failed_ is set above; only the reason text is lost to out of memory
  }
}

Status Processor::restore_pending() {
  if (pending_restore_.empty()) return {};
  // The committed offsets must include our own last commit.
  if (auto st = finish_commit(true); !st) return st;
  if (pending_restore_.empty()) return {};
  std::vector<kafka::TopicPartition> tps(pending_restore_.begin(), pending_restore_.end());
  // 1. The committed offsets (read_committed: waits until no transaction is pending on them).
  auto committed = consumer_->committed(tps, kTxnTimeoutMs);
  if (!committed) {
    Error e = committed.error();
    e.what = "cannot read committed offsets: " + e.what;
    e.where = "group " + o_.group;
    return std::unexpected(std::move(e));
  }
  // 2. The partials of those offsets: the changelog read to its end (committed data only).
  views::ViewStore restored(o_.window, o_.group);
  auto reader = kafka::TopicReader::create(o_.kafka, o_.changelog_topic,
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
  std::map<kafka::TopicPartition, std::int64_t> seek_to;
  std::map<kafka::TopicPartition, Owned> restored_owned;
  for (const auto& tp : tps) {
    const std::int64_t offset = (*committed)[tp];
    Owned owned;
    owned.agg =
        std::make_unique<views::PartitionAggregator>(tp.topic, tp.partition, o_.window, keys_);
    const bool has_state = restored.restore_into(*owned.agg);
    if (!has_state && offset >= 0) {
      // Offsets are committed only with the state they account for: offsets without state
      // mean another changelog (a renamed or deleted topic, or an upgrade from a version whose
      // default changelog name was speedlayer.changelog). Counting on from them would be wrong.
      return fail(ErrorKind::usage,
                  "group " + o_.group + " has committed offset " + std::to_string(offset) + " on " +
                      tp.topic + "-" + std::to_string(tp.partition) + " but the changelog " +
                      o_.changelog_topic + " holds no state for it",
                  "--changelog-topic " + o_.changelog_topic,
                  "pass the changelog topic this group used before (before issue 12 the default "
                  "was speedlayer.changelog), or start over with a new --group");
    }
    owned.next_offset = offset;
    seek_to[tp] = offset;
    restored_owned[tp] = std::move(owned);
  }
  {
    std::lock_guard lock(live_mu_);
    for (auto& [tp, owned] : restored_owned) owned_[tp] = std::move(owned);
    apply_memory_budget();
    live_changed();
  }
  if (auto st = consumer_->seek(seek_to, 10'000); !st) {
    Error e = st.error();
    e.what = "cannot seek restored partitions: " + e.what;
    return std::unexpected(std::move(e));
  }
  if (auto st = consumer_->resume(tps); !st) return st;
  pending_restore_.clear();
  ready_ = consumer_->assigned_once();
  return {};
}

// Called with live_mu_ held. A kept term costs about 100 bytes in an aggregator (its
// TermCounts entry, index slot and changelog bookkeeping) plus its encoded copy in every
// replica's ViewStore: 160 bytes is the estimate the budget uses (the views' snapshots copy
// only each window's top terms). Terms get 40% of the limit
// (the rest: librdkafka's buffers, bounded per partition, the closed windows' top terms, HTTP,
// the binary). Open windows per partition: those of (size + grace), plus one.
void Processor::apply_memory_budget() {
  std::size_t capacity = o_.window.max_terms;
  if (memory_limit_ > 0 && !owned_.empty()) {
    constexpr std::uint64_t kBytesPerTerm = 160;
    const std::uint64_t budget = memory_limit_ / 10 * 4;
    const auto size = static_cast<std::uint64_t>(std::max<views::Millis>(o_.window.size_ms, 1));
    const std::uint64_t open_per_partition =
        (static_cast<std::uint64_t>(o_.window.size_ms + o_.window.grace_ms) + size - 1) / size + 1;
    const std::uint64_t fit = budget / kBytesPerTerm / (owned_.size() * open_per_partition);
    capacity = static_cast<std::size_t>(std::clamp<std::uint64_t>(
        fit, std::min<std::uint64_t>(o_.window.effective_closed_terms(), o_.window.max_terms),
        o_.window.max_terms));
  }
  if (capacity != term_capacity_.load() && capacity < o_.window.max_terms) {
    std::fprintf(stderr,
                 "speedlayer serve: memory limit %s: keeping at most %zu distinct terms per open "
                 "window and partition (%zu partitions; --max-terms %zu); counts beyond it are "
                 "estimates with error bounds\n",
                 format_bytes(memory_limit_).c_str(), capacity, owned_.size(), o_.window.max_terms);
  }
  term_capacity_ = capacity;
  for (auto& [tp, owned] : owned_) owned.agg->set_max_terms(capacity);
}

void Processor::note_change() {
  if (!changes_pending_) {
    changes_pending_ = true;
    pending_since_ = Clock::now();
  }
}

// Called with live_mu_ held.
void Processor::process(const kafka::Message& msg, views::Millis now, LastPartition& last) {
  const kafka::TopicHandle topic = kafka::message_topic_handle(msg);
  if (topic != last.topic || msg.partition != last.partition) {
    auto it =
        owned_.find(kafka::TopicPartition{std::string(kafka::message_topic(msg)), msg.partition});
    last = {topic, msg.partition, it == owned_.end() ? nullptr : &it->second};
    if (last.owned) last.owned->agg->mark_active(now);
  }
  if (!last.owned) return;  // being restored: refetched after the seek
  Owned& owned = *last.owned;
  if (msg.offset < owned.next_offset) return;  // fetched before a seek back (restore)
  const views::Millis ts = kafka::message_timestamp(msg);
  std::string_view value(static_cast<const char*>(msg.payload), msg.payload ? msg.len : 0);
  const auto extracted = views::extract_text_view(value, o_.text_field, o_.time_field,
                                                  o_.max_value_bytes, text_scratch_);
  const views::Millis event_time = extracted.event_time.value_or(ts >= 0 ? ts : now);
  views::Malformed problem = extracted.problem;
  if (problem == views::Malformed::none)
    problem = views::event_time_problem(event_time, now, o_.max_future_ms);
  if (problem != views::Malformed::none) {
    owned.agg->add_malformed(problem);
  } else if (owned.agg->add(event_time, extracted.text) ==
                 views::PartitionAggregator::Outcome::late &&
             !o_.late_topic.empty()) {
    LateRecord r;
    r.null_key = msg.key == nullptr;
    if (msg.key) r.key.assign(static_cast<const char*>(msg.key), msg.key_len);
    r.null_value = msg.payload == nullptr;
    r.value.assign(value);
    r.timestamp = ts;
    r.window_start = views::window_start(event_time, o_.window.size_ms);
    r.stream_time = owned.agg->state().stream_time;
    r.offset = msg.offset;
    late_bytes_ += r.key.size() + r.value.size() + 256;
    owned.late.push_back(std::move(r));
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
      changed = changed || !closed.empty() || !expired.empty();
    }
    if (changed) live_changed();
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
  if (auto st = txn_->begin(); !st) {
    if (st.error().fatal) set_fatal(st.error().message);
    return fail(ErrorKind::kafka, "cannot begin transaction: " + st.error().message, "serve");
  }
  // Any local produce error other than a full queue (back-pressure: wait) fails the
  // transaction before it is committed: no offsets without the state they account for.
  std::string produce_error;
  // Runs `produce` until it is not refused for a full queue (polling meanwhile); the first
  // other error is kept and nothing more is sent.
  auto produce_waiting = [&](const auto& produce, const std::string& what) {
    if (!produce_error.empty()) return;
    kafka::ErrorCode e;
    while ((e = produce()) == RD_KAFKA_RESP_ERR__QUEUE_FULL) producer_->poll(10);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) produce_error = kafka::error_name(e) + " for " + what;
  };
  auto send = [&](const std::string& topic, std::int32_t partition, const std::string& key,
                  std::string_view value) {
    produce_waiting([&] { return producer_->produce(topic, partition, key, value, 0); },
                    "a " + std::to_string(value.size()) + "-byte record " + key + " to " + topic);
  };
  // A late record as it came, with headers saying what happened to it. A value that cannot
  // fit a record here is replaced by a null value and a header giving its size: the headers
  // name its origin, and a failure that would repeat after every restore never ends in an
  // abort loop.
  auto send_late = [&](const kafka::TopicPartition& tp, const LateRecord& r) {
    const views::Millis end = r.window_start + o_.window.size_ms;
    std::vector<std::pair<std::string, std::string>> headers{
        {"speedlayer.reason", "late"},
        {"speedlayer.group", o_.group},
        {"speedlayer.topic", tp.topic},
        {"speedlayer.partition", std::to_string(tp.partition)},
        {"speedlayer.offset", std::to_string(r.offset)},
        {"speedlayer.window.start", std::to_string(r.window_start)},
        {"speedlayer.window.end", std::to_string(end)},
        {"speedlayer.stream_time", std::to_string(r.stream_time)}};
    std::string_view value = r.null_value ? std::string_view() : std::string_view(r.value);
    if (r.key.size() + r.value.size() + kRecordOverheadBytes > client_message_max_bytes_) {
      headers.emplace_back(
          "speedlayer.value_dropped",
          "too large for message.max.bytes: " + std::to_string(r.value.size()) + " bytes");
      value = std::string_view();
    }
    const std::string_view key = r.null_key ? std::string_view() : std::string_view(r.key);
    produce_waiting(
        [&] { return producer_->produce(o_.late_topic, key, value, r.timestamp, headers, 0); },
        "a late record to " + o_.late_topic);
  };
  // Only the processor thread writes the aggregators, so reading them needs no lock; taking
  // the dirty marks and clearing the pending lists is invisible to the views.
  std::vector<std::pair<kafka::TopicPartition, std::int64_t>> offsets;
  for (auto& [tp, owned] : owned_) {
    auto& agg = *owned.agg;
    records_.clear();
    agg.take_changelog(records_);
    const std::int32_t changelog_partition =
        views::changelog_partition(tp.topic, tp.partition, changelog_partitions_);
    for (const auto& rec : records_) {
      // Format 1 keys (tombstones of adopted records) go where the key partitioner put them.
      const bool legacy = rec.key.empty() || rec.key[0] != '2';
      send(o_.changelog_topic, legacy ? RD_KAFKA_PARTITION_UA : changelog_partition, rec.key,
           rec.value ? std::string_view(*rec.value) : std::string_view());
    }
    for (const LateRecord& r : owned.late) send_late(tp, r);
    for (views::Millis start : owned.to_emit) {
      if (const views::Partial* p = agg.window(start)) {
        send(o_.output_topic, RD_KAFKA_PARTITION_UA,
             views::output_key(tp.topic, start, tp.partition),
             views::encode_output(tp.topic, tp.partition, start, *p, o_.window, o_.output_all_terms,
                                  o_.group));
      }
    }
    if (owned.progressed && owned.next_offset >= 0) offsets.emplace_back(tp, owned.next_offset);
    owned.late.clear();
    owned.to_emit.clear();
    owned.progressed = false;
  }
  changes_pending_ = false;
  late_bytes_ = 0;
  if (!produce_error.empty()) return recover_from_abort("produce", produce_error);
  auto group = std::make_shared<kafka::GroupMetadataPtr>(consumer_->group_metadata());
  http::Histogram* duration = commit_duration_;
  kafka::Transactions txn = *txn_;
  delivery_failed_ = false;
  std::atomic<bool>* delivery_failed = &delivery_failed_;
  // The commit thread touches only the producer (thread-safe) and what it was given.
  in_flight_ = std::async(std::launch::async, [txn, offsets = std::move(offsets), group, duration,
                                               started, delivery_failed]() mutable {
    CommitOutcome out;
    auto failed = [&](const kafka::TxnError& e, const char* reason) {
      out.kind = e.fatal ? CommitOutcome::Kind::fatal : CommitOutcome::Kind::abortable;
      out.reason = e.fatal ? "fatal" : reason;
      out.message = e.message;
      return out;
    };
    if (!offsets.empty()) {
      if (auto st = txn.send_offsets(offsets, group->get(), kTxnTimeoutMs); !st)
        return failed(st.error(), "send_offsets");
    }
    auto st = txn.commit(kTxnTimeoutMs);
    for (int retry = 0; !st && st.error().retriable && retry < kMaxCommitRetries; ++retry)
      st = txn.commit(kTxnTimeoutMs);
    if (!st) {
      // A failed delivery of one of the transaction's records ends here too.
      return failed(st.error(), delivery_failed->load() ? "delivery" : "commit");
    }
    if (duration) duration->observe(Clock::now() - started);
    return out;
  });
  return {};
}

Status Processor::finish_commit(bool wait) {
  if (!in_flight_) return {};
  if (!wait && in_flight_->wait_for(std::chrono::seconds(0)) != std::future_status::ready)
    return {};
  CommitOutcome out = in_flight_->get();
  in_flight_.reset();
  switch (out.kind) {
    case CommitOutcome::Kind::committed: {
      consecutive_aborts_ = 0;
      std::lock_guard lock(stats_.mu);
      ++stats_.transactions;
      return {};
    }
    case CommitOutcome::Kind::abortable:
      return recover_from_abort(out.reason, out.message);
    case CommitOutcome::Kind::fatal:
      break;
  }
  {
    std::lock_guard lock(stats_.mu);
    ++stats_.commit_failures[out.reason];
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

Status Processor::recover_from_abort(const std::string& reason, const std::string& why) {
  // Kafka Streams' answer to an aborted transaction: throw the in-memory state away and
  // restore it, with the offsets, from what was committed.
  auto aborted = txn_->abort(kTxnTimeoutMs);
  std::fprintf(stderr, "speedlayer serve: transaction aborted (%s: %s); restoring state\n",
               reason.c_str(), why.c_str());
  {
    std::lock_guard lock(stats_.mu);
    ++stats_.aborted_transactions;
    ++stats_.commit_failures[reason];
  }
  if (!aborted && aborted.error().fatal) {
    set_fatal(aborted.error().message);
    return fail(ErrorKind::kafka, "cannot abort transaction: " + aborted.error().message, "serve");
  }
  if (++consecutive_aborts_ >= kMaxConsecutiveAborts) {
    const std::string message =
        std::to_string(consecutive_aborts_) +
        " transactions in a row aborted, each after a restore; the last: " + reason + ": " + why;
    set_fatal(message);
    return fail(ErrorKind::kafka, message, "serve",
                "a failure that repeats after a restore; see the reason above");
  }
  std::vector<kafka::TopicPartition> tps;
  {
    std::lock_guard lock(live_mu_);
    for (auto& [tp, owned] : owned_) tps.push_back(tp);
    owned_.clear();
    live_changed();
  }
  changes_pending_ = false;
  late_bytes_ = 0;
  for (const auto& tp : tps) pending_restore_.insert(tp);
  if (auto st = consumer_->pause(tps); !st) note_error(st.error().message());
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
    if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) note_error(kafka::message_error(*msg));
    return true;
  });
  if (!batch_.empty()) {
    // One clock read per batch, not per record (it showed in profiles): a batch takes
    // milliseconds, far below the idle fallback and latency buckets the time is used for.
    const views::Millis now = clock_();
    std::lock_guard lock(live_mu_);
    LastPartition last;
    for (const auto& msg : batch_) process(*msg, now, last);
    live_changed();
  }
  batch_.clear();
  // While a commit is in flight its thread serves the producer's events.
  if (!in_flight_) producer_->poll(0);
  if (Clock::now() - last_housekeeping_ >= std::chrono::milliseconds(200)) {
    housekeeping();
    last_housekeeping_ = Clock::now();
  }
  // Late records waiting for --late-topic are bounded: past the bound, commit now.
  const bool late_full = late_bytes_ > kMaxLateBufferBytes;
  if (late_full && in_flight_) {
    if (auto st = finish_commit(true); !st) return st;
  }
  if (changes_pending_ && !in_flight_ &&
      (late_full || Clock::now() - pending_since_ >= o_.commit_interval)) {
    if (auto st = start_commit(); !st) return st;
  }
  if (!pending_restore_.empty()) ready_ = false;
  auto reason = compute_not_ready_reason();
  std::lock_guard lock(stats_.mu);
  stats_.not_ready_reason = std::move(reason);
  return {};
}

Status Processor::shutdown() {
  if (!consumer_) return {};
  housekeeping();
  std::uint64_t aborted_before = 0;
  {
    std::lock_guard lock(stats_.mu);
    aborted_before = stats_.aborted_transactions;
  }
  Status st = commit_now();
  if (st) {
    // An abortable failure restores and returns success (serve would go on); at the end
    // nothing follows, so what was processed since the last commit stays uncommitted.
    std::lock_guard lock(stats_.mu);
    if (stats_.aborted_transactions != aborted_before) {
      st = fail(ErrorKind::kafka,
                "the last transaction aborted: what was processed since the last commit is not "
                "committed",
                "serve", "a restart consumes it again from the committed offsets");
    }
  }
  if (!st) {
    std::fprintf(stderr, "speedlayer serve: last commit failed: %s\n",
                 st.error().message().c_str());
  }
  if (auto closed = consumer_->close(); !closed) {
    std::fprintf(stderr, "speedlayer serve: leaving the group failed: %s\n",
                 closed.error().message().c_str());
  }
  return st;
}

}  // namespace speedlayer::serve
