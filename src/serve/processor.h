// The exactly-once heart of `speedlayer serve`: consumes the input topics in a consumer group
// and, in one Kafka transaction per commit interval, writes the changed partial aggregates to
// the compacted changelog, closed windows to the output topic, and the consumed offsets
// (send_offsets_to_transaction). State and offsets therefore move together: after kill -9 a
// restart (or the replica that takes the partitions over) restores the partials of exactly the
// committed offsets from the changelog and goes on, neither losing nor double-counting.
//
// Commits are pipelined: the processor thread begins the transaction and produces the changed
// records (non-blocking), then a commit thread sends the offsets and commits, which takes a
// few to hundreds of milliseconds (the coordinator answers CONCURRENT_TRANSACTIONS until the
// previous commit's markers are written). Meanwhile the processor goes on consuming and
// aggregating; what it adds goes into the next transaction. One transaction is in flight at a
// time; if it aborts, all state is restored from the changelog (records aggregated since are
// consumed again from the committed offsets).
//
// The processor is also a views::LiveAggregators: the HTTP views read snapshots of its
// aggregators (views::LiveSnapshotCache), so a replica serves its own partitions as of the
// last processed batch, and a view never holds the processor's lock while it merges.
//
//   Processor p(options, wall_clock);
//   if (auto st = p.start(); !st) ...;
//   while (!stop) p.step();     // one poll; commits when the interval has passed
//   p.shutdown();               // commits what is pending, leaves the group
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "http/metrics.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"
#include "kafka/transactions.h"
#include "views/views.h"

namespace speedlayer::serve {

struct ServeOptions {
  kafka::Properties kafka;  // connection settings
  std::string bootstrap;
  std::string group = "speedlayer-serve";
  std::vector<std::string> topics;  // literal names and '^regex' patterns
  std::string text_field = "text";
  std::string time_field;
  views::WindowConfig window;
  // HTTP: the API (and page, stream) on `listen`; probes and /metrics also on `probe_listen`
  // when set, a listener no API client can starve. Loopback by default: exposing it is a choice.
  std::string listen = "127.0.0.1:8080";
  std::string probe_listen;
  // A file holding the bearer token of the admin endpoints (POST /v1/expire); empty: they are
  // off.
  std::string admin_token_file;
  // GET /v1/stream: at most this many "view" events per second per topic (changes coalesced).
  int stream_rate = 4;
  // Empty: derived from the group (with_defaults), as Kafka Streams derives its topics from
  // application.id, so two deployments never share state by default.
  std::string output_topic;      // <group>.views
  std::string changelog_topic;   // <group>.changelog
  int changelog_partitions = 6;  // when serve creates the changelog topic
  // Default: speedlayer-serve-<group>-<hostname>-<pid>. Exactly-once v2 fences zombies through
  // the consumer group's generation, so the id need not follow partitions; it must only be
  // unique per live process (two replicas on one host) and, ideally, the same after a
  // restart in place (a pod's container restarts as pid 1 again), so that the restart aborts
  // its predecessor's open transaction at once instead of after transaction.timeout.ms.
  std::string transactional_id;
  std::chrono::milliseconds commit_interval{100};
  std::chrono::milliseconds connect_timeout{30'000};
  std::size_t max_value_bytes = 1 << 20;
  // Event times more than this ahead of the wall clock are malformed (future_time).
  views::Millis max_future_ms = 3'600'000;
  // Closed windows' output records carry every kept term (true) or only the top terms.
  bool output_all_terms = false;
  // Late records (after their window's end + grace) are also written here, in the same
  // transaction as the offsets: original key, value and timestamp, headers saying where they
  // came from, their window, the stream time and the reason. Empty: only counted.
  std::string late_topic;
  // Static group membership (group.instance.id, KIP-345): a replica restarted in place with
  // the same id takes its partitions back at once instead of after the dead member's session
  // timeout. Unique per live replica (e.g. the pod name). Empty: dynamic membership.
  std::string instance_id;
  // Memory the process may use (0: the container's limit, if any). Sizes the distinct terms
  // each open window keeps per partition (term_capacity); record counts stay exact.
  std::uint64_t memory_limit = 0;
  // Read the changelog and output topics' max.message.bytes at start (DescribeConfigs). Off
  // only for librdkafka's mock cluster (the demo), which cannot answer it.
  bool check_topic_limits = true;
};

// `o` with the defaults that depend on other settings filled in (topic names from the
// group, the transactional id).
ServeOptions with_defaults(ServeOptions o);

using WallClock = std::function<views::Millis()>;
views::Millis system_wall_clock();

// Counters the HTTP layer exposes; written by the processor thread, read by scrapes.
struct ProcessorStats {
  std::mutex mu;
  std::map<std::string, std::uint64_t> consumed, late;                    // per topic
  std::map<std::string, std::map<std::string, std::uint64_t>> malformed;  // topic -> reason
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> lag;       // per partition
  std::uint64_t transactions = 0, aborted_transactions = 0;
  // Transactions that failed, by reason: produce (a record refused locally), delivery,
  // send_offsets, commit, fatal.
  std::map<std::string, std::uint64_t> commit_failures;
  std::string not_ready_reason = "starting";  // "" when ready
};

class Processor final : public kafka::ConsumerEvents,
                        public kafka::ProducerEvents,
                        public views::LiveAggregators {
 public:
  Processor(const ServeOptions& options, WallClock clock);
  ~Processor() override;

  // Connects, creates the changelog/output topics if needed, initializes transactions,
  // subscribes. Errors: unreachable (exit 3), usage (exit 2), kafka (exit 1).
  Status start();
  // One poll and whatever is due (restore, commit, window closing). A fatal error ends it.
  Status step();
  // Commits what is pending and leaves the group. An error when that last commit failed
  // (aborted included): serve then exits non-zero.
  Status shutdown();

  bool ready() const { return ready_.load(); }
  ProcessorStats& stats() { return stats_; }
  // Event time to processing latency of each record (set before start()).
  void set_latency_histogram(http::Histogram* h) { latency_ = h; }
  // Distinct terms each open window keeps per owned partition (--max-terms, lowered by the
  // memory budget when it binds).
  std::size_t term_capacity() const { return term_capacity_.load(); }
  // Duration of each commit (changelog and output records, offsets, EndTxn; set before
  // start()): the part of produce-to-view latency the processor spends not processing.
  void set_commit_histogram(http::Histogram* h) { commit_duration_ = h; }
  // Drops windows ending at or before `before` (a batch watermark) from the owned partitions,
  // with tombstones in the changelog; applied at the next commit.
  void request_expire(views::Millis before) { expire_request_.store(before); }

  // ConsumerEvents / ProducerEvents (called inside poll; never throw).
  void on_assigned(const std::vector<kafka::TopicPartition>& added) noexcept override;
  void on_revoked(const std::vector<kafka::TopicPartition>& removed, bool lost) noexcept override;
  void on_client_error(kafka::ErrorCode error, std::string_view reason,
                       bool fatal) noexcept override;
  void on_delivery(const kafka::DeliveryReport& report) noexcept override;

  // views::LiveAggregators: a snapshot of the owned partitions' aggregators (any thread).
  std::shared_ptr<const views::LiveSnapshot> live_snapshot() const override;
  // Snapshots made for the views so far.
  std::uint64_t snapshots_published() const { return snapshots_.published(); }

 private:
  // A late record on its way to --late-topic with the next transaction.
  struct LateRecord {
    std::string key, value;
    bool null_key = false, null_value = false;
    views::Millis timestamp = -1, window_start = 0, stream_time = 0;
    std::int64_t offset = -1;
  };
  struct Owned {
    std::unique_ptr<views::PartitionAggregator> agg;
    std::int64_t next_offset = -1;       // to commit: last processed + 1
    std::vector<views::Millis> to_emit;  // windows closed in this transaction
    std::vector<LateRecord> late;        // for --late-topic
    bool progressed = false;
  };

  // What the commit thread reports.
  struct CommitOutcome {
    enum class Kind { committed, abortable, fatal } kind = Kind::committed;
    std::string reason;  // commit_failures label
    std::string message;
  };
  // Checks that every record serve may write fits the producer's message.max.bytes and the
  // changelog and output topics' max.message.bytes (usage error otherwise).
  Status check_record_limits(int timeout_ms);

  Status restore_pending();
  std::string compute_not_ready_reason() const;
  void note_change();
  // Begins a transaction, produces the changed state, closed windows and tombstones, and
  // hands the offsets and the commit to the commit thread.
  Status start_commit();
  // Takes the in-flight commit's outcome (waiting for it if `wait`, else only when done).
  Status finish_commit(bool wait);
  // Commits everything pending now and waits for it (rebalance, shutdown).
  Status commit_now();
  Status recover_from_abort(const std::string& reason, const std::string& why);
  void note_error(std::string_view what) noexcept;
  void set_fatal(std::string_view why) noexcept;  // the first reason wins
  // The partition a batch's previous record went to: consecutive records mostly share it, so
  // most records skip building a TopicPartition and the map lookup.
  struct LastPartition {
    kafka::TopicHandle topic = nullptr;
    std::int32_t partition = -1;
    Owned* owned = nullptr;  // nullptr: not owned (being restored)
  };
  void process(const kafka::Message& msg, views::Millis now, LastPartition& last);
  void housekeeping();
  // With live_mu_ held, after changing owned_ or an aggregator: a reader waiting for a fresh
  // snapshot gets it now.
  void live_changed();
  std::vector<const views::PartitionAggregator*> live_aggregators() const;  // live_mu_ held

  const ServeOptions& o_;
  WallClock clock_;
  views::ChangelogKeys keys_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<kafka::Transactions> txn_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::int32_t changelog_partitions_ = 1;       // of the changelog topic as found at start
  std::uint64_t client_message_max_bytes_ = 0;  // the producer's message.max.bytes
  int consecutive_aborts_ = 0;
  std::atomic<bool> delivery_failed_{false};  // a record of the transaction in flight failed
  std::size_t late_bytes_ = 0;      // buffered for --late-topic since the last start_commit
  std::uint64_t memory_limit_ = 0;  // resolved at start (0: none)
  std::atomic<std::size_t> term_capacity_{0};
  // Sets every owned aggregator's max_terms from the memory budget and the owned partitions.
  void apply_memory_budget();
  std::vector<views::ChangelogRecord> records_;  // reused by start_commit
  // Written by the processor thread only, under live_mu_; read by it without the lock and by
  // the views under it.
  std::map<kafka::TopicPartition, Owned> owned_;
  mutable std::mutex live_mu_;
  views::LiveSnapshotCache snapshots_;
  std::set<kafka::TopicPartition> pending_restore_;
  bool changes_pending_ = false;  // state changed since the last start_commit
  std::chrono::steady_clock::time_point pending_since_;
  std::optional<std::future<CommitOutcome>> in_flight_;
  std::atomic<bool> fatal_{false};
  bool abandoning_ = false;  // in ~Processor: revoked partitions are dropped, not committed
  std::mutex reason_mu_;     // fatal_reason_, last_error_: callbacks may run on the commit thread
  std::string fatal_reason_;
  std::chrono::steady_clock::time_point last_housekeeping_;
  std::atomic<bool> ready_{false};
  std::atomic<views::Millis> expire_request_{-1};
  ProcessorStats stats_;
  http::Histogram* latency_ = nullptr;
  http::Histogram* commit_duration_ = nullptr;
  std::string last_error_;
  std::vector<kafka::MessagePtr> batch_;
  std::string text_scratch_;  // a decoded JSON text (extract_text_view), reused per record
};

}  // namespace speedlayer::serve
