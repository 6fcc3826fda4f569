#include "produce/line_reader.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace speedlayer::produce {

LineReader::LineReader(int fd, std::size_t max_line, const std::atomic<bool>* stop,
                       std::function<bool()> on_idle)
    : fd_(fd),
      max_line_(std::max<std::size_t>(max_line, 1)),
      stop_(stop),
      on_idle_(std::move(on_idle)) {
  buf_.resize(std::max<std::size_t>(256 * 1024, max_line_ + 2));
}

bool LineReader::fill() {
  if (input_done_) return false;
  // Compact: move the unfinished line to the front.
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    scanned_ -= begin_;
    begin_ = 0;
  }
  while (true) {
    if (stop_ && stop_->load(std::memory_order_relaxed)) {
      input_done_ = true;
      final_ = Status::stopped;
      return false;
    }
    pollfd pfd{fd_, POLLIN, 0};
    int ready = ::poll(&pfd, 1, 200);
    if (ready < 0 && errno != EINTR) {
      errno_ = errno;
      input_done_ = true;
      final_ = Status::error;
      return false;
    }
    if (ready == 0 && on_idle_ && !on_idle_()) {
      input_done_ = true;
      final_ = Status::stopped;
      return false;
    }
    if (ready <= 0) continue;
    ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
    if (n > 0) {
      end_ += static_cast<std::size_t>(n);
      return true;
    }
    if (n == 0) {
      input_done_ = true;
      final_ = Status::eof;
      return false;
    }
    if (errno == EINTR || errno == EAGAIN) continue;
    errno_ = errno;
    input_done_ = true;
    final_ = Status::error;
    return false;
  }
}

LineReader::Status LineReader::next(std::string_view& line) {
  while (true) {
    const char* base = buf_.data();
    const void* nl = std::memchr(base + scanned_, '\n', end_ - scanned_);
    if (nl) {
      std::size_t stop_at = static_cast<const char*>(nl) - base;
      std::size_t start = begin_;
      begin_ = scanned_ = stop_at + 1;
      ++line_number_;
      if (discarding_) {
        discarding_ = false;
        skipped_bytes_ += stop_at - start;
        return Status::too_long;
      }
      std::size_t len = stop_at - start;
      if (len > 0 && base[start + len - 1] == '\r') --len;  // CRLF input
      if (len > max_line_) {
        skipped_bytes_ = len;
        return Status::too_long;
      }
      line = std::string_view(base + start, len);
      return Status::line;
    }
    scanned_ = end_;
    // No newline: if the pending line cannot fit, drop what we have and keep counting.
    if (end_ - begin_ > max_line_) {
      if (!discarding_) {
        discarding_ = true;
        skipped_bytes_ = 0;
      }
      skipped_bytes_ += end_ - begin_;
      begin_ = scanned_ = end_ = 0;
    }
    if (!fill()) {
      // A last line without a trailing newline still counts.
      if (end_ > begin_ || discarding_) {
        ++line_number_;
        std::size_t start = begin_, len = end_ - begin_;
        begin_ = scanned_ = end_;
        if (discarding_) {
          discarding_ = false;
          skipped_bytes_ += len;
          return Status::too_long;
        }
        line = std::string_view(buf_.data() + start, len);
        // A partial line cut by a stop request was read, so it is reported, as incomplete.
        return final_ == Status::stopped ? Status::incomplete : Status::line;
      }
      return final_;
    }
  }
}

}  // namespace speedlayer::produce
