// A consumed (or delivered) message as librdkafka holds it, read without its C API: a view of
// its fields for printing, and its topic, timestamp and error text.
//
//   kafka::MessagePtr msg = consumer->poll(100);
//   kafka::MessageView m = kafka::view_of(*msg, /*with_headers=*/true);
//   std::printf("%.*s[%d]@%lld\n", int(m.topic.size()), m.topic.data(), m.partition,
//               static_cast<long long>(m.offset));
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/handles.h"

namespace speedlayer::kafka {

// librdkafka's message (what MessagePtr owns): err, partition, offset, key/payload and their
// sizes are plain fields; everything else is read with the functions below.
using Message = rd_kafka_message_t;
// A message's topic handle, only to tell whether two messages share a topic (cheaper than
// comparing names).
using TopicHandle = const rd_kafka_topic_t*;

enum class TimestampType { unknown, create, log_append };

struct MessageView {
  std::string_view topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  TimestampType tstype = TimestampType::unknown;
  std::int64_t timestamp = -1;  // ms since the epoch
  std::int32_t broker = -1;
  std::optional<std::string_view> key;      // nullopt: no key (null)
  std::optional<std::string_view> payload;  // nullopt: null value (tombstone)
  bool has_headers = false;
  std::vector<std::pair<std::string_view, std::optional<std::string_view>>> headers;
};

// Views into `msg` (valid while it lives). Headers are only read when asked for.
MessageView view_of(const Message& msg, bool with_headers);

// A message's topic name, record timestamp (milliseconds since the epoch, CreateTime or
// LogAppendTime; -1 when it has none) and, for a message that carries an error, its text.
std::string_view message_topic(const Message& msg);
std::int64_t message_timestamp(const Message& msg);
std::string message_error(const Message& msg);
inline TopicHandle message_topic_handle(const Message& msg) {
  return msg.rkt;
}

}  // namespace speedlayer::kafka
