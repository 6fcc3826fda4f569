#include "produce/dead_letter.h"

#include <cerrno>
#include <chrono>
#include <cstring>

#include "json/python_json.h"

namespace speedlayer::produce {
namespace {

std::string base64(std::string_view in) {
  static constexpr char kTable[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    out += kTable[v >> 18];
    out += kTable[(v >> 12) & 63];
    out += kTable[(v >> 6) & 63];
    out += kTable[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kTable[v >> 18];
    out += kTable[(v >> 12) & 63];
    out += i + 1 < in.size() ? kTable[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string header(std::string_view source, std::uint64_t line, std::string_view reason) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::string r = "{\"time\":" + std::to_string(now) + ",\"source\":";
  json::append_python_dumps(source, r);
  r += ",\"line\":" + std::to_string(line) + ",\"reason\":";
  // Reasons are our own or librdkafka's ASCII text; invalid bytes would still be escaped.
  json::append_python_dumps(json::find_invalid_utf8(reason) == std::string_view::npos
                                ? reason
                                : std::string_view("(reason not valid UTF-8)"),
                            r);
  return r;
}

}  // namespace

DeadLetter::DeadLetter(std::string path, std::string source)
    : path_(std::move(path)), source_(std::move(source)) {}

DeadLetter::~DeadLetter() {
  if (file_) std::fclose(file_);
}

void DeadLetter::write_invalid(std::uint64_t line, std::string_view reason,
                               std::string_view raw_line) {
  std::string r = header(source_, line, reason);
  if (json::find_invalid_utf8(raw_line) == std::string_view::npos) {
    r += ",\"input\":";
    json::append_python_dumps(raw_line, r);
  } else {
    r += ",\"input_base64\":\"" + base64(raw_line) + "\"";
  }
  r += "}\n";
  emit(r);
}

void DeadLetter::write_undelivered(std::uint64_t line, std::string_view topic,
                                   std::string_view reason, std::string_view value_json) {
  std::string r = header(source_, line, reason);
  r += ",\"topic\":";
  json::append_python_dumps(topic, r);
  r += ",\"value\":";
  r.append(value_json.empty() ? std::string_view("null") : value_json);
  r += "}\n";
  emit(r);
}

void DeadLetter::emit(const std::string& record) {
  ++records_;
  if (!file_ && !open_failed_) {
    file_ = std::fopen(path_.c_str(), "a");
    if (!file_) {
      open_failed_ = true;
      std::fprintf(stderr,
                   "speedlayer: cannot open dead-letter file %s: %s; dead-letter records go to "
                   "stderr, prefixed with 'dead-letter: '\n",
                   path_.c_str(), std::strerror(errno));
    }
  }
  if (file_ && std::fwrite(record.data(), 1, record.size(), file_) == record.size() &&
      std::fflush(file_) == 0) {
    return;
  }
  ++fallback_records_;
  std::fprintf(stderr, "dead-letter: %s", record.c_str());
}

}  // namespace speedlayer::produce
