// The dead-letter file: one JSON object per line for every input that was not delivered,
// with the reason. Opened on first use (so a healthy run on a read-only filesystem never needs
// it). If it cannot be written, the record goes to stderr instead: never dropped silently.
//
//   DeadLetter dlq("dead-letter.jsonl", "stdin");
//   dlq.write_invalid(12, "invalid JSON: ...", raw_line);
//   dlq.write_undelivered(13, "Sport", "Broker: Message size too large", value_json);
//
// Record fields: time (ms since epoch), source, line, reason, and either topic + value (the
// JSON value that was sent) or input (the raw line as a JSON string) / input_base64 (when the
// line is not valid UTF-8).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace speedlayer::produce {

class DeadLetter {
 public:
  DeadLetter(std::string path, std::string source);
  ~DeadLetter();
  DeadLetter(const DeadLetter&) = delete;
  DeadLetter& operator=(const DeadLetter&) = delete;

  void write_invalid(std::uint64_t line, std::string_view reason, std::string_view raw_line);
  // `value_json` must be the JSON text that was produced (it is embedded as is).
  void write_undelivered(std::uint64_t line, std::string_view topic, std::string_view reason,
                         std::string_view value_json);

  std::uint64_t records() const { return records_; }
  std::uint64_t fallback_records() const { return fallback_records_; }
  const std::string& path() const { return path_; }

 private:
  void emit(const std::string& record);

  std::string path_;
  std::string source_;
  std::FILE* file_ = nullptr;
  bool open_failed_ = false;
  std::uint64_t records_ = 0;
  std::uint64_t fallback_records_ = 0;
};

}  // namespace speedlayer::produce
