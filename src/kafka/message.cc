#include "kafka/message.h"

namespace speedlayer::kafka {

MessageView view_of(const Message& msg, bool with_headers) {
  MessageView m;
  if (msg.rkt) m.topic = rd_kafka_topic_name(msg.rkt);
  m.partition = msg.partition;
  m.offset = msg.offset;
  rd_kafka_timestamp_type_t tstype = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  m.timestamp = rd_kafka_message_timestamp(&msg, &tstype);
  m.tstype = tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME       ? TimestampType::create
             : tstype == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? TimestampType::log_append
                                                            : TimestampType::unknown;
  m.broker = rd_kafka_message_broker_id(&msg);
  if (msg.key) m.key = std::string_view(static_cast<const char*>(msg.key), msg.key_len);
  if (msg.payload) m.payload = std::string_view(static_cast<const char*>(msg.payload), msg.len);
  if (with_headers) {
    rd_kafka_headers_t* hdrs = nullptr;
    // rd_kafka_message_headers() takes a non-const message: it parses and caches the headers.
    if (rd_kafka_message_headers(const_cast<Message*>(&msg), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        hdrs) {
      m.has_headers = true;
      const char* name = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      for (std::size_t i = 0;
           rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        std::optional<std::string_view> v;
        if (value) v = std::string_view(static_cast<const char*>(value), size);
        m.headers.emplace_back(std::string_view(name), v);
      }
    }
  }
  return m;
}

std::string_view message_topic(const Message& msg) {
  return msg.rkt ? rd_kafka_topic_name(msg.rkt) : std::string_view();
}

std::int64_t message_timestamp(const Message& msg) {
  rd_kafka_timestamp_type_t type;
  return rd_kafka_message_timestamp(&msg, &type);
}

std::string message_error(const Message& msg) {
  return rd_kafka_message_errstr(&msg);
}

}  // namespace speedlayer::kafka
