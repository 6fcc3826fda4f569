#include "consume/formatter.h"

#include <algorithm>
#include <charconv>

#include "json/python_json.h"

namespace speedlayer::consume {
namespace {

void append_int(std::int64_t v, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

void append_hex_escape(unsigned char c, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xF]);
}

// Escapes the controls of a valid UTF-8 run.
void append_valid_utf8_safe(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t run = 0;  // start of the pending run of bytes copied as they are
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool c1 = c == 0xC2 && i + 1 < text.size() &&
                    static_cast<unsigned char>(text[i + 1]) < 0xA0;  // U+0080..U+009F
    if ((c >= 0x20 && c != 0x7f && !c1) || c == '\t') continue;
    out.append(text.substr(run, i - run));
    if (c1) {
      const auto second = static_cast<unsigned char>(text[i + 1]) & 0x3F;  // 0x80..0x9F -> 0..31
      out += "\\u00";
      out.push_back(kHex[(0x80 | second) >> 4]);
      out.push_back(kHex[second & 0xF]);
      ++i;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      append_hex_escape(c, out);
    }
    run = i + 1;
  }
  out.append(text.substr(run));
}

}  // namespace

void append_terminal_safe(std::string_view text, std::string& out) {
  while (!text.empty()) {
    const std::size_t bad = json::find_invalid_utf8(text);
    if (bad == std::string_view::npos) {
      append_valid_utf8_safe(text, out);
      return;
    }
    append_valid_utf8_safe(text.substr(0, bad), out);
    append_hex_escape(static_cast<unsigned char>(text[bad]), out);
    text.remove_prefix(bad + 1);
  }
}

void append_text(const MessageView& m, std::string& out) {
  if (m.payload) append_terminal_safe(json::decode_for_display(*m.payload), out);
  out.push_back('\n');
}

void append_raw_text(const MessageView& m, std::string& out) {
  if (m.payload) out += json::decode_for_display(*m.payload);
  out.push_back('\n');
}

void append_base64(std::string_view bytes, std::string& out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 0) return;
  std::uint32_t v = at(i) << 16;
  if (rest == 2) v |= at(i + 1) << 8;
  out.push_back(kAlphabet[(v >> 18) & 63]);
  out.push_back(kAlphabet[(v >> 12) & 63]);
  out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
  out.push_back('=');
}

void append_kcat_json(const MessageView& m, std::string& out) {
  out += "{\"topic\":";
  json::append_json_string(m.topic, out);
  out += ",\"partition\":";
  append_int(m.partition, out);
  out += ",\"offset\":";
  append_int(m.offset, out);
  out += ",\"tstype\":";
  out += m.tstype == TimestampType::create       ? "\"create\""
         : m.tstype == TimestampType::log_append ? "\"logappend\""
                                                 : "\"unknown\"";
  out += ",\"ts\":";
  append_int(m.timestamp, out);
  out += ",\"broker\":";
  append_int(m.broker, out);
  if (m.has_headers) {
    out += ",\"headers\":[";
    bool first = true;
    for (const auto& [name, value] : m.headers) {
      if (!first) out.push_back(',');
      first = false;
      json::append_json_string(name, out);
      out.push_back(',');
      if (value)
        json::append_json_string(*value, out);
      else
        out += "null";
    }
    out.push_back(']');
  }
  // Each field with its lossless base64 twin when the bytes are not valid UTF-8.
  auto field = [&](const char* name, const std::optional<std::string_view>& bytes) {
    out += ",\"";
    out += name;
    out += "\":";
    if (!bytes) {
      out += "null";
      return;
    }
    if (json::append_json_string(*bytes, out)) return;
    out += ",\"";
    out += name;
    out += "_base64\":\"";
    append_base64(*bytes, out);
    out.push_back('"');
  };
  field("key", m.key);
  field("payload", m.payload);
  out += "}\n";
}

std::string format_partitions(std::vector<kafka::TopicPartition> partitions) {
  std::sort(partitions.begin(), partitions.end());
  std::string out;
  std::string_view current;
  bool open = false;
  for (const auto& tp : partitions) {
    if (!open || tp.topic != current) {
      if (open) out += "], ";
      out += tp.topic;
      out.push_back('[');
      current = tp.topic;
      open = true;
    } else {
      out.push_back(',');
    }
    out += std::to_string(tp.partition);
  }
  if (open) out.push_back(']');
  return out;
}

}  // namespace speedlayer::consume
