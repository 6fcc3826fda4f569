#include "kafka/transactions.h"

#include "kafka/producer.h"  // error_name

namespace speedlayer::kafka {
namespace {

std::string read_transactional_id(rd_kafka_t* rk) {
  if (!rk) return {};
  const rd_kafka_conf_t* conf = rd_kafka_conf(rk);
  char buf[512];
  size_t size = sizeof buf;
  if (!conf || rd_kafka_conf_get(conf, "transactional.id", buf, &size) != RD_KAFKA_CONF_OK) {
    return {};
  }
  return buf;
}

TxnStatus local_error(rd_kafka_resp_err_t code, std::string message) {
  return std::unexpected(TxnError{.code = code, .message = std::move(message)});
}

}  // namespace

Error TxnError::to_error(const std::string& transactional_id) const {
  const bool timeout =
      code == RD_KAFKA_RESP_ERR__TIMED_OUT || code == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE ||
      code == RD_KAFKA_RESP_ERR__TRANSPORT || code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
  std::string hint;
  if (fatal) {
    hint = code == RD_KAFKA_RESP_ERR__FENCED
               ? "another producer with the same transactional.id took over; this one must stop"
               : "the producer cannot be used any more; create a new one";
  } else if (requires_abort) {
    hint = "abort the transaction, then retry it";
  } else if (retriable) {
    hint = timeout ? "the operation continues in the background; call it again"
                   : "call the operation again";
  }
  return Error{
      timeout ? ErrorKind::unreachable : ErrorKind::kafka, message,
      transactional_id.empty() ? "transactional producer" : "transactional.id " + transactional_id,
      std::move(hint)};
}

Transactions::Transactions(rd_kafka_t* rk)
    : rk_(rk), transactional_id_(read_transactional_id(rk)) {}

TxnStatus Transactions::check(rd_kafka_error_t* raw, const char* operation) const {
  ErrorPtr error(raw);
  if (!error) return {};
  const char* text = rd_kafka_error_string(error.get());
  return std::unexpected(TxnError{
      .code = rd_kafka_error_code(error.get()),
      .message = std::string(operation) + ": " +
                 (text && *text ? text : error_name(rd_kafka_error_code(error.get()))),
      .fatal = rd_kafka_error_is_fatal(error.get()) != 0,
      .retriable = rd_kafka_error_is_retriable(error.get()) != 0,
      .requires_abort = rd_kafka_error_txn_requires_abort(error.get()) != 0,
  });
}

TxnStatus Transactions::init(int timeout_ms) {
  if (!rk_) return local_error(RD_KAFKA_RESP_ERR__INVALID_ARG, "init transactions: no producer");
  return check(rd_kafka_init_transactions(rk_, timeout_ms), "init transactions");
}

TxnStatus Transactions::begin() {
  if (!rk_) return local_error(RD_KAFKA_RESP_ERR__INVALID_ARG, "begin transaction: no producer");
  return check(rd_kafka_begin_transaction(rk_), "begin transaction");
}

TxnStatus Transactions::send_offsets(
    const std::vector<std::pair<TopicPartition, std::int64_t>>& offsets,
    const rd_kafka_consumer_group_metadata_t* group, int timeout_ms) {
  if (!rk_) return local_error(RD_KAFKA_RESP_ERR__INVALID_ARG, "send offsets: no producer");
  if (!group) {
    return local_error(RD_KAFKA_RESP_ERR__INVALID_ARG, "send offsets: no consumer group metadata");
  }
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [tp, offset] : offsets) {
    if (offset < 0) continue;
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
  }
  if (list->cnt == 0) return {};
  return check(rd_kafka_send_offsets_to_transaction(rk_, list.get(), group, timeout_ms),
               "send offsets to transaction");
}

TxnStatus Transactions::commit(int timeout_ms) {
  if (!rk_) return local_error(RD_KAFKA_RESP_ERR__INVALID_ARG, "commit transaction: no producer");
  return check(rd_kafka_commit_transaction(rk_, timeout_ms), "commit transaction");
}

TxnStatus Transactions::abort(int timeout_ms) {
  if (!rk_) return local_error(RD_KAFKA_RESP_ERR__INVALID_ARG, "abort transaction: no producer");
  return check(rd_kafka_abort_transaction(rk_, timeout_ms), "abort transaction");
}

}  // namespace speedlayer::kafka
