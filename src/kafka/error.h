// librdkafka's errors without its C types in the callers: an error code, its text, and an
// error object's flags (fatal / retriable / transaction-requires-abort), which decide what a
// caller does next.
//
//   if (auto e = producer->produce("Sport", {}, value, tag); e != RD_KAFKA_RESP_ERR_NO_ERROR)
//     log(kafka::error_name(e));                       // "Local: Queue full"
//   auto st = kafka::KafkaError::from(raw_error, "commit transaction");  // takes ownership
//   if (st.fatal) ...;                                  // destroy the producer
#pragma once

#include <string>

#include "core/error.h"
#include "kafka/handles.h"

namespace speedlayer::kafka {

// librdkafka's error code (RD_KAFKA_RESP_ERR_*: negative values are local, others the
// broker's).
using ErrorCode = rd_kafka_resp_err_t;

// librdkafka's text for an error code.
std::string error_name(ErrorCode error);

// One librdkafka error object (rd_kafka_error_t) as a value, or a local error made here.
struct KafkaError {
  ErrorCode code = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string message;     // "<operation>: <librdkafka's text>", e.g. "commit transaction: ..."
  bool fatal = false;      // the client is unusable: destroy it
  bool retriable = false;  // the same call may be repeated
  bool requires_abort = false;  // abort() the transaction before anything else

  // Takes ownership of `error` (destroys it); its text is prefixed with "<operation>: ".
  // `error` must not be null.
  static KafkaError from(rd_kafka_error_t* error, const char* operation);

  // As a speedlayer::Error: ErrorKind::unreachable for timeouts and lost connections, else
  // ErrorKind::kafka; `where` names the transactional.id; the hint says what the flags mean.
  Error to_error(const std::string& transactional_id = {}) const;
};

}  // namespace speedlayer::kafka
