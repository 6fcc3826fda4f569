// Reads newline-separated records from a file descriptor with bounded memory, and notices a
// stop request while waiting for input (a pipe or terminal that stays open).
//
//   LineReader reader(STDIN_FILENO, /*max_line=*/1'000'000, &stop_flag());
//   std::string_view line;
//   while (reader.next(line) == LineReader::Status::line) handle(reader.line_number(), line);
//
// A line longer than max_line is skipped without being held in memory and reported as
// Status::too_long (its size in skipped_bytes()). After a stop request, the complete lines
// already read from the descriptor are still returned, then Status::stopped: whatever left the
// input is accounted for.
//
// `on_idle`, when given, runs every 200 ms that the input has nothing to read (the producer
// serves its delivery reports and progress there, so a quiet pipe still gets its confirmations);
// when it returns false the input ends as after a stop request.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>
#include <vector>

namespace speedlayer::produce {

class LineReader {
 public:
  enum class Status { line, too_long, incomplete, eof, stopped, error };

  LineReader(int fd, std::size_t max_line, const std::atomic<bool>* stop,
             std::function<bool()> on_idle = {});
  Status next(std::string_view& line);
  std::uint64_t line_number() const { return line_number_; }
  std::uint64_t skipped_bytes() const { return skipped_bytes_; }
  int error_number() const { return errno_; }
  // Whether the next call of next() returns a line without reading (a whole line is buffered).
  bool line_ready() const {
    return std::memchr(buf_.data() + scanned_, '\n', end_ - scanned_) != nullptr;
  }

 private:
  // Reads more bytes into the buffer; false at EOF, stop or error (status_ says which).
  bool fill();

  int fd_;
  std::size_t max_line_;
  const std::atomic<bool>* stop_;
  std::function<bool()> on_idle_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0, scanned_ = 0;
  std::uint64_t line_number_ = 0;
  std::uint64_t skipped_bytes_ = 0;
  bool discarding_ = false;
  bool input_done_ = false;
  Status final_ = Status::eof;
  int errno_ = 0;
};

}  // namespace speedlayer::produce
