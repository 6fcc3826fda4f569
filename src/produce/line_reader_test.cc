#include "produce/line_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

namespace speedlayer::produce {
namespace {

struct Pipe {
  Pipe() { EXPECT_EQ(::pipe(fds), 0); }
  ~Pipe() {
    if (fds[0] >= 0) ::close(fds[0]);
    if (fds[1] >= 0) ::close(fds[1]);
  }
  void write(const std::string& s) {
    EXPECT_EQ(::write(fds[1], s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  void close_writer() {
    ::close(fds[1]);
    fds[1] = -1;
  }
  int fds[2] = {-1, -1};
};

std::vector<std::string> all_lines(LineReader& r, LineReader::Status* last = nullptr) {
  std::vector<std::string> out;
  std::string_view line;
  LineReader::Status s;
  while ((s = r.next(line)) == LineReader::Status::line) out.emplace_back(line);
  if (last) *last = s;
  return out;
}

TEST(LineReader, SplitsLinesAndKeepsALastLineWithoutNewline) {
  Pipe p;
  p.write("one\ntwo\r\n\nthree");
  p.close_writer();
  LineReader r(p.fds[0], 100, nullptr);
  LineReader::Status last;
  EXPECT_EQ(all_lines(r, &last), (std::vector<std::string>{"one", "two", "", "three"}));
  EXPECT_EQ(last, LineReader::Status::eof);
  EXPECT_EQ(r.line_number(), 4u);
}

// line_ready: whether next() has a whole line without reading (produce sends its staged
// messages when it has not, before next() may block on a quiet pipe).
TEST(LineReader, LineReadyOnlyWhenAWholeLineIsBuffered) {
  Pipe p;
  LineReader r(p.fds[0], 100, nullptr);
  EXPECT_FALSE(r.line_ready());  // nothing read yet
  p.write("one\ntwo\nthr");
  std::string_view line;
  ASSERT_EQ(r.next(line), LineReader::Status::line);
  EXPECT_EQ(line, "one");
  EXPECT_TRUE(r.line_ready());
  ASSERT_EQ(r.next(line), LineReader::Status::line);
  EXPECT_EQ(line, "two");
  EXPECT_FALSE(r.line_ready());  // "thr" has no newline yet: next() would wait
  p.write("ee\n");
  ASSERT_EQ(r.next(line), LineReader::Status::line);
  EXPECT_EQ(line, "three");
  EXPECT_FALSE(r.line_ready());
}

TEST(LineReader, TooLongLineIsSkippedWithBoundedMemoryAndCounted) {
  Pipe p;
  std::string big(1'000'000, 'x');  // larger than the reader's buffer
  std::thread writer([&] {
    p.write("short\n" + big + "\nafter\n");
    p.close_writer();
  });
  LineReader r(p.fds[0], 1000, nullptr);
  std::string_view line;
  ASSERT_EQ(r.next(line), LineReader::Status::line);
  EXPECT_EQ(line, "short");
  ASSERT_EQ(r.next(line), LineReader::Status::too_long);
  EXPECT_EQ(r.skipped_bytes(), big.size());
  EXPECT_EQ(r.line_number(), 2u);
  ASSERT_EQ(r.next(line), LineReader::Status::line);
  EXPECT_EQ(line, "after");
  EXPECT_EQ(r.line_number(), 3u);
  writer.join();
}

TEST(LineReader, StopRequestEndsAWaitOnAnOpenPipe) {
  Pipe p;
  std::atomic<bool> stop{false};
  p.write("a\nb\npartial");
  LineReader r(p.fds[0], 100, &stop);
  std::string_view line;
  ASSERT_EQ(r.next(line), LineReader::Status::line);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
  });
  // Lines already read from the pipe are still returned, then the cut line as incomplete.
  ASSERT_EQ(r.next(line), LineReader::Status::line);
  EXPECT_EQ(line, "b");
  ASSERT_EQ(r.next(line), LineReader::Status::incomplete);
  EXPECT_EQ(line, "partial");
  EXPECT_EQ(r.next(line), LineReader::Status::stopped);
  stopper.join();
}

TEST(LineReader, QuietInputRunsTheIdleCallbackUntilItSaysStop) {
  // The producer confirms deliveries there while a pipe stays quiet; false ends the input.
  Pipe p;
  std::atomic<bool> stop{false};
  p.write("a\n");
  int idle_calls = 0;
  LineReader r(p.fds[0], 100, &stop, [&] { return ++idle_calls < 3; });
  std::string_view line;
  ASSERT_EQ(r.next(line), LineReader::Status::line);
  EXPECT_EQ(line, "a");
  EXPECT_EQ(idle_calls, 0);  // input was there: no idle call
  EXPECT_EQ(r.next(line), LineReader::Status::stopped);
  EXPECT_EQ(idle_calls, 3);
}

}  // namespace
}  // namespace speedlayer::produce
