// How `speedlayer consume` prints one Kafka message. Pure functions over a MessageView, so
// they are tested without a broker.
//
//   MessageView m = kafka::view_of(*msg, /*with_headers=*/format == OutputFormat::json);
//   append_text(m, out);        // decode_for_display(value) + "\n"
//   append_kcat_json(m, out);   // one kcat -J line + "\n"
//
// Text: the value decoded with json::decode_for_display (a JSON string prints as its text, other
// JSON compact, anything else as raw bytes), made safe for a terminal, then a newline: exactly
// one line per message. Escaped: C0 controls except tab (\n, \r, else \xHH, so ESC is \x1b),
// DEL (\x7f), the C1 controls U+0080..U+009F (\u0080..\u009f) and each byte that is not
// part of valid UTF-8 (\xHH: a lone 0x9b is CSI to some terminals). A backslash already in
// the value is not doubled (readability over reversibility: --format json is exact). A null
// value (tombstone) prints as an empty line.
// Raw (--raw): the decoded value byte for byte, then a newline (values holding newlines then
// span several lines; control sequences reach the terminal).
//
// JSON: the envelope of `kcat -C -J` (kcat 1.7, checked against Kafka 4.1), same field names,
// order and types:
//   {"topic":"t","partition":0,"offset":5,"tstype":"create","ts":1718000000000,"broker":1,
//    "headers":["h1","v1","h2",null],"key":"k","payload":"\"Hello\""}
// tstype is "create", "logappend" or "unknown" (ts then -1); broker is -1 when unknown;
// "headers" (name, value, name, value...) appears only when the message has headers; key and
// payload are JSON strings of the raw bytes, or null when absent. Strings are escaped like
// kcat's JSON generator (yajl): \" \\ \b \f \n \r \t, other control characters as \u00XX with
// uppercase hex, everything else (including '/', DEL and UTF-8) as is.
// Where kcat differs on purpose: kcat copies bytes that are not valid UTF-8 into its output,
// making the line invalid JSON. Here each maximal invalid sequence becomes U+FFFD, and the
// exact bytes are added as "key_base64" / "payload_base64" (standard base64, after "key" /
// "payload") so nothing is lost; valid UTF-8 gives the same line as kcat. Header values that
// are not valid UTF-8 only get the U+FFFD replacement.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/consumer.h"
#include "kafka/message.h"

namespace speedlayer::consume {

enum class OutputFormat { text, raw, json };

using kafka::MessageView;  // kafka::view_of(msg) makes one
using kafka::TimestampType;

void append_text(const MessageView& m, std::string& out);
void append_raw_text(const MessageView& m, std::string& out);
void append_kcat_json(const MessageView& m, std::string& out);
inline void append_message(OutputFormat format, const MessageView& m, std::string& out) {
  switch (format) {
    case OutputFormat::json:
      append_kcat_json(m, out);
      return;
    case OutputFormat::raw:
      append_raw_text(m, out);
      return;
    case OutputFormat::text:
      append_text(m, out);
      return;
  }
}

// Appends `text` with the escapes of the text format (above).
void append_terminal_safe(std::string_view text, std::string& out);

void append_base64(std::string_view bytes, std::string& out);

// "AI[0], Sport[0,1,2]" for status lines (sorted by topic, then partition).
std::string format_partitions(std::vector<kafka::TopicPartition> partitions);

}  // namespace speedlayer::consume
