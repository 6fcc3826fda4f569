// Shared helpers for the producer's integration tests: input files, reading topics back
// with kcat (a client no one here wrote), parsing the summary line.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "broker/test_broker.h"
#include "support/child_process.h"

namespace speedlayer::testing {

struct Record {
  int partition = -1;
  long long offset = -1;
  std::string value;
};

// Every record of `topic` from the beginning, read with kcat until the end of each partition.
inline std::vector<Record> read_topic_once_with_kcat(const std::string& brokers,
                                                     const std::string& topic) {
  std::string out;
  int rc = run_command({"kcat", "-C", "-b", brokers, "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", "%p %o %s\\n"},
                       &out);
  EXPECT_EQ(rc, 0) << "kcat failed reading " << topic;
  std::vector<Record> records;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    Record r;
    std::istringstream fields(line);
    fields >> r.partition >> r.offset;
    std::getline(fields, r.value);
    if (!r.value.empty() && r.value[0] == ' ') r.value.erase(0, 1);
    records.push_back(std::move(r));
  }
  return records;
}

// Every record of `topic`, read with kcat (-e: to the end of each partition). With
// `at_least` (a count the caller knows was acknowledged), a read that returns fewer is
// repeated twice, a second apart, and said so in the output: once (1 run in ~40) a read
// right after the producer exited came back one record short of what the producer had
// acknowledged, not reproduced since. A re-read that finds every record tells an early stop
// of the reader from a loss; a real loss stays short and fails the caller's check.
inline std::vector<Record> read_topic_with_kcat(
    const std::string& brokers, const std::string& topic,
    std::optional<std::size_t> at_least = std::nullopt) {
  auto records = read_topic_once_with_kcat(brokers, topic);
  for (int retry = 1; retry <= 2 && at_least && records.size() < *at_least; ++retry) {
    std::printf("kcat read %zu of at least %zu records of %s; reading again\n", records.size(),
                *at_least, topic.c_str());
    std::this_thread::sleep_for(std::chrono::seconds(1));
    records = read_topic_once_with_kcat(brokers, topic);
  }
  return records;
}

// A numbered line whose number can be recovered from the JSON the producer sends.
inline std::string numbered_line(int i, const std::string& words) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "line-%08d ", i);
  return buf + words;
}

inline int line_number_of(const std::string& json_value) {
  auto pos = json_value.find("line-");
  return pos == std::string::npos ? -1 : std::stoi(json_value.substr(pos + 5, 8));
}

inline std::string write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary);
  for (const auto& l : lines) out << l << '\n';
  return path;
}

// Fields of the summary line "produce: read N, delivered N, failed N, invalid N, dead-lettered N".
inline std::map<std::string, long long> parse_summary(const std::string& stderr_text) {
  std::map<std::string, long long> fields;
  std::smatch m;
  std::regex re(
      "produce: read ([0-9,]+), delivered ([0-9,]+), failed ([0-9,]+), invalid ([0-9,]+), "
      "dead-lettered ([0-9,]+)");
  if (!std::regex_search(stderr_text, m, re)) return fields;
  auto num = [](std::string s) {
    s.erase(std::remove(s.begin(), s.end(), ','), s.end());
    return std::stoll(s);
  };
  fields["read"] = num(m[1]);
  fields["delivered"] = num(m[2]);
  fields["failed"] = num(m[3]);
  fields["invalid"] = num(m[4]);
  fields["dead-lettered"] = num(m[5]);
  return fields;
}

// The delivered count of the last progress line ("produce: ... read R, delivered D, ...",
// --progress), or -1 when none was printed yet.
inline long long last_progress_delivered(const std::string& stderr_text) {
  static const std::regex re("in flight -?[0-9]+, read [0-9,]+, delivered ([0-9,]+)");
  long long delivered = -1;
  for (auto it = std::sregex_iterator(stderr_text.begin(), stderr_text.end(), re);
       it != std::sregex_iterator(); ++it) {
    std::string n = (*it)[1];
    n.erase(std::remove(n.begin(), n.end(), ','), n.end());
    delivered = std::stoll(n);
  }
  return delivered;
}

// Waits until a progress line of `p` counts at least `at_least` delivered messages; returns
// that count, or the last one seen (-1: none) when `p` exited or `limit` passed first.
inline long long wait_for_delivered(ChildProcess& p, long long at_least,
                                    std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  long long delivered = last_progress_delivered(p.err());
  while (delivered < at_least && std::chrono::steady_clock::now() < deadline) {
    if (p.wait_for(std::chrono::milliseconds(20))) return last_progress_delivered(p.err());
    delivered = last_progress_delivered(p.err());
  }
  return delivered;
}

// A named pipe the test writes and the producer reads as its standard input
// (ChildOptions{.stdin_path = fifo.path()}): the producer cannot reach the end of its input
// before close(), so a fault injected "mid-input" always is, however fast the machine.
// O_RDWR: opening does not wait for the reader; O_CLOEXEC: the child holds no write end, so
// close() is its end of input. SIGPIPE is ignored: a producer that died makes write() fail.
class FifoInput {
 public:
  explicit FifoInput(std::string path) : path_(std::move(path)) {
    std::signal(SIGPIPE, SIG_IGN);
    if (::mkfifo(path_.c_str(), 0600) == 0) fd_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  }
  ~FifoInput() { close(); }
  FifoInput(const FifoInput&) = delete;
  FifoInput& operator=(const FifoInput&) = delete;

  bool ok() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

  // Writes all of `data` (blocks while the pipe is full); false when the reader is gone.
  bool write(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Lines numbered_line(from..to, words), newline-terminated, in chunks of about 64 KiB.
  bool write_numbered(int from, int to, const std::string& words) {
    std::string chunk;
    for (int i = from; i <= to; ++i) {
      chunk += numbered_line(i, words);
      chunk += '\n';
      if (chunk.size() >= 65536 || i == to) {
        if (!write(chunk)) return false;
        chunk.clear();
      }
    }
    return true;
  }

  // End of input for the reader.
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

inline std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  std::string l;
  while (std::getline(in, l)) lines.push_back(l);
  return lines;
}

}  // namespace speedlayer::testing
