// The dead-letter file: one JSON object per line for every input that was not delivered,
// with the reason. Opened on first use (so a healthy run on a read-only filesystem never needs
// it) with O_APPEND|O_CREAT|O_NOFOLLOW|O_CLOEXEC and mode 0600 (the records hold message
// contents): a symlink planted at the path is refused, not followed. Each record is one
// write(); a short write is cut back off the file, so a reader never sees a torn line. A record
// that cannot be written goes to stderr instead, prefixed "dead-letter: ": never dropped
// silently, and counted apart (records_in_file / records_on_stderr).
//
//   DeadLetter dlq("dead-letter.jsonl", "stdin");
//   dlq.write_invalid(12, "invalid JSON: ...", raw_line);
//   dlq.write_undelivered(13, "Sport", "Broker: Message size too large", value_json);
//
// Record fields: time (ms since epoch), source, line, reason, and either topic + value (the
// JSON value that was sent) or input (the raw line as a JSON string) / input_base64 (when the
// line is not valid UTF-8).
//
// With a forward (set_forward: e.g. `produce --dead-letter-topic`), each record goes there first,
// as one message without its newline; the file (or stderr) takes only what the forward refuses
// at once, and what it could not deliver later (write_record), so a dead letter that survives
// the pod is never bought with one that is lost.
#pragma once

#include <cstdint>
#include <functional>
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

  // `forward` returns true when it took the record (its delivery is then the caller's: on
  // failure, write_record()); false sends it to the file. `name` is shown in messages.
  using Forward = std::function<bool(std::string_view record)>;
  void set_forward(Forward forward, std::string name);
  // A record the forward took and could not deliver: to the file (or stderr), as it was.
  void write_record(std::string_view record);

  std::uint64_t records() const { return records_in_file_ + records_on_stderr_; }
  std::uint64_t records_forwarded() const { return records_forwarded_; }
  // Whether the latest record was taken by the forward.
  bool last_record_forwarded() const { return last_forwarded_; }
  const std::string& forward_name() const { return forward_name_; }
  std::uint64_t records_in_file() const { return records_in_file_; }
  std::uint64_t records_on_stderr() const { return records_on_stderr_; }
  // Whether the latest record went to the file (false: to stderr, or none yet).
  bool last_record_in_file() const { return last_in_file_; }
  const std::string& path() const { return path_; }

 private:
  void emit(const std::string& record);  // ends with '\n'
  void emit_to_file(const std::string& record);
  bool write_line(const std::string& record);

  std::string path_;
  std::string source_;
  int fd_ = -1;
  bool open_failed_ = false;
  std::uint64_t records_in_file_ = 0;
  std::uint64_t records_on_stderr_ = 0;
  bool last_in_file_ = false;
  Forward forward_;
  std::string forward_name_;
  std::uint64_t records_forwarded_ = 0;
  bool last_forwarded_ = false;
};

}  // namespace speedlayer::produce
