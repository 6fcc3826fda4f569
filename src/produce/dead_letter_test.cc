#include "produce/dead_letter.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace speedlayer::produce {
namespace {

std::vector<nlohmann::json> records(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(DeadLetter, WritesOneJsonObjectPerRecordWithReasonAndLine) {
  auto path = std::filesystem::temp_directory_path() / ("dlq-" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(path);
  {
    DeadLetter dlq(path.string(), "in.txt");
    dlq.write_invalid(3, "invalid JSON: x", "{bad");
    dlq.write_invalid(4, "invalid UTF-8 at byte 1", "\xff\xfe");
    dlq.write_undelivered(5, "Sport", "Broker: Message size too large", "\"messi\"");
    EXPECT_EQ(dlq.records(), 3u);
    EXPECT_EQ(dlq.fallback_records(), 0u);
  }
  auto r = records(path.string());
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0]["line"], 3);
  EXPECT_EQ(r[0]["source"], "in.txt");
  EXPECT_EQ(r[0]["input"], "{bad");
  EXPECT_EQ(r[1]["input_base64"], "//4=");
  EXPECT_EQ(r[2]["topic"], "Sport");
  EXPECT_EQ(r[2]["value"], "messi");
  EXPECT_EQ(r[2]["reason"], "Broker: Message size too large");
  std::filesystem::remove(path);
}

TEST(DeadLetter, NothingIsCreatedUntilARecordIsWritten) {
  auto path = std::filesystem::temp_directory_path() / ("dlq-none-" + std::to_string(::getpid()));
  { DeadLetter dlq(path.string(), "stdin"); }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(DeadLetter, UnwritableFileFallsBackToStderrAndStillCounts) {
  DeadLetter dlq("/nonexistent-dir/dlq.jsonl", "stdin");
  ::testing::internal::CaptureStderr();
  dlq.write_invalid(1, "bad", "x");
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(dlq.records(), 1u);
  EXPECT_EQ(dlq.fallback_records(), 1u);
  EXPECT_NE(err.find("dead-letter: {"), std::string::npos) << err;
  EXPECT_NE(err.find("/nonexistent-dir/dlq.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace speedlayer::produce
