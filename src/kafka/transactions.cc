#include "kafka/transactions.h"

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

Transactions::Transactions(rd_kafka_t* rk)
    : rk_(rk), transactional_id_(read_transactional_id(rk)) {}

TxnStatus Transactions::check(rd_kafka_error_t* raw, const char* operation) const {
  if (!raw) return {};
  return std::unexpected(KafkaError::from(raw, operation));
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
