#include "produce/dead_letter.h"

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
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
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
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
  if (fd_ >= 0) ::close(fd_);
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

bool DeadLetter::write_line(const std::string& record) {
  std::size_t done = 0;
  while (done < record.size()) {
    const ssize_t n = ::write(fd_, record.data() + done, record.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // Disk full, quota, I/O error: take back what part of the line went in (O_APPEND leaves
    // the offset at its end), so the file holds whole lines only; the record goes to stderr.
    const int saved = errno;
    if (done > 0) {
      const off_t end = ::lseek(fd_, 0, SEEK_CUR);
      if (end >= static_cast<off_t>(done) &&
          ::ftruncate(fd_, end - static_cast<off_t>(done)) != 0) {
        std::fprintf(stderr,
                     "speedlayer: dead-letter file %s: cannot remove a partly written "
                     "line: %s\n",
                     path_.c_str(), std::strerror(errno));
      }
    }
    std::fprintf(stderr, "speedlayer: cannot write dead-letter file %s: %s\n", path_.c_str(),
                 std::strerror(n < 0 ? saved : ENOSPC));
    return false;
  }
  return true;
}

void DeadLetter::set_forward(Forward forward, std::string name) {
  forward_ = std::move(forward);
  forward_name_ = std::move(name);
}

void DeadLetter::write_record(std::string_view record) {
  std::string line(record);
  if (line.empty() || line.back() != '\n') line += '\n';
  last_forwarded_ = false;
  emit_to_file(line);
}

void DeadLetter::emit(const std::string& record) {
  if (forward_) {
    std::string_view message(record);
    if (!message.empty() && message.back() == '\n') message.remove_suffix(1);
    last_forwarded_ = forward_(message);
    if (last_forwarded_) {
      ++records_forwarded_;
      last_in_file_ = false;
      return;
    }
  }
  emit_to_file(record);
}

void DeadLetter::emit_to_file(const std::string& record) {
  if (fd_ < 0 && !open_failed_) {
    // O_NONBLOCK: a FIFO at the path without a reader fails at once instead of hanging.
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                 0600);
    if (fd_ < 0) {
      open_failed_ = true;
      const int err = errno;
      std::fprintf(stderr,
                   "speedlayer: cannot open dead-letter file %s: %s; dead-letter records go to "
                   "stderr, prefixed with 'dead-letter: '\n",
                   path_.c_str(),
                   err == ELOOP ? "it is a symbolic link (refused: give the real path)"
                                : std::strerror(err));
    }
  }
  last_in_file_ = fd_ >= 0 && write_line(record);
  if (last_in_file_) {
    ++records_in_file_;
    return;
  }
  ++records_on_stderr_;
  std::fprintf(stderr, "dead-letter: %s", record.c_str());
}

}  // namespace speedlayer::produce
