// A thin owner of one librdkafka high-level (group) consumer: subscription to topics and regex
// patterns, a rebalance callback that places each newly assigned partition per a StartFrom
// policy, partition-EOF tracking ("has every assigned partition been read to its end?"),
// offset store/commit, per-partition lag, and a connectivity check. It never throws; every
// callback runs on the thread that calls poll() (or close()).
//
//   kafka::Properties props = ...;                   // bootstrap.servers, group.id, security
//   auto consumer = kafka::Consumer::create(props, {.start = kafka::StartFrom::beginning});
//   if (!consumer) return consumer.error();
//   if (auto up = (*consumer)->wait_for_cluster(30'000, bootstrap); !up) return up.error();
//   (*consumer)->subscribe({"Sport", "^AI.*"});      // a leading '^' makes a regex
//   while (!(*consumer)->all_assigned_at_end()) {
//     kafka::MessagePtr msg = (*consumer)->poll(100);
//     if (!msg) continue;                              // nothing yet, or a partition EOF
//     if (msg->err) { report(kafka::error_name(msg->err)); continue; }
//     print(msg.get());
//   }
//   (*consumer)->close();                              // also done by the destructor
//
// Group ids are required (librdkafka's subscribe() needs one); a caller that wants no group
// semantics passes a unique throwaway id and enable.auto.commit=false.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "kafka/client_errors.h"
#include "kafka/handles.h"
#include "kafka/message.h"  // message_topic, message_error, view_of
#include "kafka/properties.h"

namespace speedlayer::kafka {

// Where a consumer starts reading a partition newly assigned to it.
enum class StartFrom {
  beginning,  // the oldest retained offset
  end,        // only messages produced after the assignment
  stored,     // the group's committed offset; without one, auto.offset.reset (default earliest)
};
std::string_view to_string(StartFrom from);

struct TopicPartition {
  std::string topic;
  std::int32_t partition = -1;
  auto operator<=>(const TopicPartition&) const = default;
};

// Lag of one assigned partition. Offsets are -1 when unknown.
struct PartitionLag {
  TopicPartition tp;
  std::int64_t position = -1;  // next offset this consumer reads
  std::int64_t low = -1;       // low watermark: oldest retained offset
  std::int64_t high = -1;      // high watermark: offset the next produced message gets
  // high - position. Before the position is known (nothing read and no EOF yet): high - low
  // when starting from the beginning, else -1. Also -1 when the watermarks are unknown.
  std::int64_t lag = -1;
  bool at_end = false;  // the partition EOF event for the current position was seen
};

class ConsumerEvents {
 public:
  virtual ~ConsumerEvents() = default;
  // Partitions added to this consumer's assignment (after their start offsets were set).
  virtual void on_assigned(const std::vector<TopicPartition>& added) noexcept { (void)added; }
  // Partitions about to be taken away, called before they are given up (like Java's
  // onPartitionsRevoked): the last moment to store() offsets of messages from them. `lost`
  // when the group session was lost (another member may own them already; commits fail).
  virtual void on_revoked(const std::vector<TopicPartition>& removed, bool lost) noexcept {
    (void)removed;
    (void)lost;
  }
  // Client-level errors (all brokers down, authentication, a failed assign, fatal errors...).
  virtual void on_client_error(rd_kafka_resp_err_t error, std::string_view reason,
                               bool fatal) noexcept {
    (void)error;
    (void)reason;
    (void)fatal;
  }
  // A commit failed: automatic ones (enable.auto.commit), the one close() makes, and explicit
  // commit() calls (which also return the error).
  virtual void on_commit_error(rd_kafka_resp_err_t error) noexcept { (void)error; }
};

struct ConsumerOptions {
  StartFrom start = StartFrom::stored;
  // The group.id is unique to this consumer and nothing was ever committed for it (a throwaway
  // group). Then beginning/end are reached through auto.offset.reset instead of an explicit
  // logical offset: librdkafka 2.0.2 starts an explicit BEGINNING/END lookup before it knows
  // the partition leader and retries only after 500 ms, which made every short run 0.5 s
  // slower. The result is the same, since such a group has no committed offsets.
  bool fresh_group = false;
  ConsumerEvents* events = nullptr;  // not owned; may be null
  bool quiet = false;                // no librdkafka log lines (the doctor's read-back)
  // Starts the error when librdkafka refuses the configuration: "<this>: <its reason>".
  std::string_view create_failure = "cannot create Kafka consumer";
};

class Consumer {
 public:
  // `props` must hold bootstrap.servers and group.id. Sets enable.partition.eof=true (the
  // at-end tracking needs it) and auto.offset.reset: earliest unless given (for a fresh
  // group: earliest for beginning, latest for end, whatever was given).
  static Result<std::unique_ptr<Consumer>> create(const Properties& props,
                                                  const ConsumerOptions& options);
  static Result<std::unique_ptr<Consumer>> create(const Properties& props, StartFrom start,
                                                  ConsumerEvents* events = nullptr) {
    return create(props, ConsumerOptions{.start = start, .fresh_group = false, .events = events});
  }
  ~Consumer();  // close()s the consumer if still open, then destroys the handle
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Replaces the subscription. A name starting with '^' is a regular expression matched
  // against all topic names (librdkafka semantics: POSIX extended regex, unanchored at the
  // end unless the pattern ends with '$'); other names are literal topics.
  Status subscribe(const std::vector<std::string>& topics_and_patterns);

  // The next message, or a consumer error as a message with err != 0 (e.g.
  // UNKNOWN_TOPIC_OR_PART, TOPIC_AUTHORIZATION_FAILED), or null when nothing arrived within
  // `timeout_ms`. Partition-EOF events are not returned: they update the at-end state and
  // poll() returns null. Rebalance and error callbacks run inside this call.
  MessagePtr poll(int timeout_ms);
  // Appends up to `max` messages to `out` (as poll() returns them) and returns how many:
  // waits at most `timeout_ms` for the first, then takes only what is already queued, in
  // one call (one queue lock and clock read per batch instead of per message). Callbacks run
  // inside, as in poll(); after a rebalance callback the batch may still hold messages of
  // partitions revoked meanwhile (librdkafka drops those of outdated fetches only).
  std::size_t poll_batch(int timeout_ms, std::vector<MessagePtr>& out, std::size_t max);

  // True once the group assigned this consumer its partitions (at least one rebalance
  // completed, possibly with an empty assignment) and every assigned partition's EOF was
  // seen with no message after it. An empty assignment counts as at end.
  bool all_assigned_at_end() const;
  // Whether at least one assignment happened (even an empty one).
  bool assigned_once() const { return assigned_once_; }
  std::vector<TopicPartition> assignment() const;

  // Marks `msg` as processed: its offset + 1 becomes the stored offset that the next
  // (auto or explicit) commit sends. Needs enable.auto.offset.store=false. A message from a
  // partition no longer assigned is skipped without error (its new owner re-reads it).
  Status store(const rd_kafka_message_t& msg);
  // Synchronously commits the stored offsets (or, with automatic offset store, the consumed
  // positions). Having nothing to commit is not an error.
  Status commit();
  // Leaves the group (committing when enable.auto.commit is on) and stops fetching.
  // Idempotent; the destructor calls it.
  Status close();

  // Lag of every assigned partition. With `query_broker` the watermarks are asked from the
  // partition leaders (blocking, at most `timeout_ms` per partition); otherwise the values
  // cached from the last fetch responses are used (cheap, for periodic metrics; the low
  // watermark is only cached when statistics.interval.ms is set).
  std::vector<PartitionLag> lag(bool query_broker, int timeout_ms = 1000);

  // Waits until a broker answers a metadata request and every broker it advertises accepts
  // TCP from here, at most `timeout_ms` (kafka::wait_until_usable). Errors name the bootstrap
  // servers and the cause: ErrorKind::usage (exit 2) at once on an authentication or TLS
  // failure; ErrorKind::unreachable (exit 3) at the deadline when no broker answered or an
  // advertised address is unreachable. Safe at any time: before subscribe() it serves error
  // callbacks itself (so the reason is known); after, it never consumes messages and the
  // reason is the last error poll() saw.
  Status wait_for_cluster(int timeout_ms, std::string_view bootstrap);

  // Names of all topics in the cluster (one metadata request).
  Result<std::vector<std::string>> list_topics(int timeout_ms);

  // For a transactional producer's send_offsets (kafka/transactions.h): the group id, and
  // once joined the generation and member id, which let the group coordinator reject offsets
  // of a member that lost its partitions. Null only when librdkafka cannot allocate it.
  GroupMetadataPtr group_metadata() const;
  // Stops / restarts fetching these assigned partitions (messages fetched before a pause
  // may still be returned by poll). Every partition is tried; an error names the first one
  // librdkafka refused (e.g. one it does not know). Empty lists are no-ops.
  Status pause(const std::vector<TopicPartition>& partitions);
  Status resume(const std::vector<TopicPartition>& partitions);
  // The group's committed offsets (the next offset to read) of these partitions, asked from
  // the group coordinator. With isolation.level=read_committed it waits while a transaction
  // holds uncommitted offsets for them. A partition without a committed offset gets
  // RD_KAFKA_OFFSET_INVALID (-1001): treat any negative value as none.
  // ErrorKind::unreachable when no answer came within `timeout_ms`.
  Result<std::map<TopicPartition, std::int64_t>> committed(
      const std::vector<TopicPartition>& partitions, int timeout_ms);
  // Moves the fetch position of assigned partitions: the next message read from each is the
  // one at its offset; a negative offset means the beginning (the oldest retained message).
  // Waits up to `timeout_ms` until messages fetched for the old positions are dropped (no
  // message from before the seek is returned after it). The at-end state of these
  // partitions is reset (all_assigned_at_end() is false until their EOF is seen again).
  Status seek(const std::map<TopicPartition, std::int64_t>& offsets, int timeout_ms);
  // Reads exactly these partitions from these offsets, outside any group (instead of
  // subscribe(); replaces a previous assign()): a one-off read such as the doctor's
  // read-back of its probe message. ErrorKind::kafka "cannot assign the partition: ..." when
  // librdkafka refuses.
  Status assign(const std::map<TopicPartition, std::int64_t>& offsets);

  const std::string& last_client_error() const { return last_client_error_; }
  const ClientErrorLog& client_errors() const { return errors_; }
  // librdkafka's text for the fatal error that made this client unusable ("" when none).
  std::string fatal_error() const;
  rd_kafka_t* handle() const { return rk_.get(); }

 private:
  struct PartitionState {
    std::int64_t position = -1;  // next offset to read, -1 unknown
    bool at_end = false;
  };

  explicit Consumer(const ConsumerOptions& options)
      : start_(options.start), fresh_group_(options.fresh_group), events_(options.events) {}
  static void on_rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static void on_error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void on_commit_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* offsets, void* opaque);
  void rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) noexcept;
  void assign(rd_kafka_topic_partition_list_t* partitions, bool cooperative);
  void revoke(rd_kafka_topic_partition_list_t* partitions, bool cooperative);
  void client_error(rd_kafka_resp_err_t err, const std::string& text, bool fatal) noexcept;
  PartitionState* state_for(const rd_kafka_message_t& msg);
  MessagePtr admit(MessagePtr msg);  // poll()'s bookkeeping: at-end state, EOF filtered out

  StartFrom start_;
  bool fresh_group_ = false;
  ConsumerEvents* events_ = nullptr;
  bool closed_ = false;
  bool forwarded_ = false;  // main queue forwarded to the consumer queue (by subscribe())
  bool assigned_once_ = false;
  std::string last_client_error_;
  ClientErrorLog errors_;
  std::map<TopicPartition, PartitionState> assigned_;
  // Positions reached in partitions read before, kept across revocations so that a partition
  // coming back after a rebalance continues where this consumer left off (beginning/end).
  std::map<TopicPartition, std::int64_t> resume_;
  // One-entry cache for state_for(): consecutive messages mostly come from one partition.
  const rd_kafka_topic_t* cached_rkt_ = nullptr;
  std::int32_t cached_partition_ = -1;
  PartitionState* cached_state_ = nullptr;
  KafkaPtr rk_;
  QueuePtr queue_;  // the consumer queue, for poll_batch (declared after rk_: released first)
  std::vector<rd_kafka_message_t*> raw_;  // poll_batch's buffer
};

}  // namespace speedlayer::kafka
