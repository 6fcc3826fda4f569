#include "kafka/error.h"

namespace speedlayer::kafka {

std::string error_name(ErrorCode error) {
  return rd_kafka_err2str(error);
}

KafkaError KafkaError::from(rd_kafka_error_t* raw, const char* operation) {
  ErrorPtr error(raw);
  const char* text = rd_kafka_error_string(error.get());
  return KafkaError{
      .code = rd_kafka_error_code(error.get()),
      .message = std::string(operation) + ": " +
                 (text && *text ? text : error_name(rd_kafka_error_code(error.get()))),
      .fatal = rd_kafka_error_is_fatal(error.get()) != 0,
      .retriable = rd_kafka_error_is_retriable(error.get()) != 0,
      .requires_abort = rd_kafka_error_txn_requires_abort(error.get()) != 0,
  };
}

Error KafkaError::to_error(const std::string& transactional_id) const {
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

}  // namespace speedlayer::kafka
