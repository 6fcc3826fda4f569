// Shared helpers for the producer's integration tests: input files, reading topics back
// with kcat (a client no one here wrote), parsing the summary line.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
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
inline std::vector<Record> read_topic_with_kcat(const std::string& brokers, const std::string& topic,
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
  std::regex re("produce: read ([0-9,]+), delivered ([0-9,]+), failed ([0-9,]+), invalid ([0-9,]+), "
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

inline std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  std::string l;
  while (std::getline(in, l)) lines.push_back(l);
  return lines;
}

}  // namespace speedlayer::testing
