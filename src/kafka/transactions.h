// The transactional API of a producer handle (transactional.id set), without its C error
// objects: each call returns a TxnError that keeps librdkafka's three flags, which decide
// what the caller does next. Non-owning and copyable; it never throws. librdkafka's
// transactional calls are thread-safe but must not run concurrently with each other, so one
// thread at a time drives a transaction.
//
//   kafka::Transactions txn(producer->handle());
//   if (auto st = txn.init(60'000); !st)                                  // once, at start
//     return std::unexpected(st.error().to_error(txn.transactional_id()));
//   if (auto st = txn.begin(); !st) ...;
//   producer->produce(...);                                                // any number
//   auto group = consumer->group_metadata();
//   auto st = txn.send_offsets({{{"Sport", 0}, next_offset}}, group.get(), -1);
//   if (st) st = txn.commit(-1);
//   while (!st && st.error().retriable) st = txn.commit(-1);              // the caller's policy
//   if (!st && st.error().requires_abort) st = txn.abort(-1);              // then begin() again
//   if (!st && st.error().fatal) ...;                                      // destroy the producer
//
// What to do after an error:
//   - retriable: call the same operation again; it resumes what is going on in the background
//     (typically __TIMED_OUT: a commit or abort did not finish within timeout_ms). commit()
//     and abort() never loop themselves: retry policy and deadlines belong to the caller.
//   - requires_abort: the transaction cannot be committed; abort() it, then begin() anew.
//   - fatal: the producer is unusable (e.g. __FENCED: a newer producer with the same
//     transactional.id took over, or authorization was revoked); destroy it.
//   - none set: the call failed permanently (e.g. __STATE: begin() twice, or no
//     transactional.id).
// librdkafka recommends timeout_ms = -1 for commit() and abort(): the remaining transaction
// time (transaction.timeout.ms).
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kafka/consumer.h"  // TopicPartition
#include "kafka/error.h"
#include "kafka/handles.h"

namespace speedlayer::kafka {

// Kept librdkafka's flags: see kafka/error.h.
using TxnError = KafkaError;
using TxnStatus = std::expected<void, TxnError>;

class Transactions {
 public:
  // `rk` is a producer with transactional.id set; it must outlive this object.
  explicit Transactions(rd_kafka_t* rk);

  // Registers the transactional.id with its coordinator, fencing older producers with the
  // same id and finishing their pending transaction. Once per producer, before begin().
  TxnStatus init(int timeout_ms);
  // Starts a transaction: everything produced until commit()/abort() belongs to it. Local,
  // no broker round trip.
  TxnStatus begin();
  // Adds consumed offsets (the next offset to read, per partition) to the transaction, for
  // the consumer group described by `group` (Consumer::group_metadata()): they are committed
  // with it, or not at all. Partitions with a negative offset are left out; nothing to send
  // is not an error.
  TxnStatus send_offsets(const std::vector<std::pair<TopicPartition, std::int64_t>>& offsets,
                         const rd_kafka_consumer_group_metadata_t* group, int timeout_ms);
  // Flushes what was produced, then commits. Does not retry a retriable error itself.
  TxnStatus commit(int timeout_ms);
  // Drops what was produced (its delivery reports fail with __PURGE_*) and aborts.
  TxnStatus abort(int timeout_ms);

  rd_kafka_t* handle() const { return rk_; }
  // The producer's transactional.id ("" when not set), for error messages.
  const std::string& transactional_id() const { return transactional_id_; }

 private:
  TxnStatus check(rd_kafka_error_t* error, const char* operation) const;

  rd_kafka_t* rk_ = nullptr;
  std::string transactional_id_;
};

}  // namespace speedlayer::kafka
