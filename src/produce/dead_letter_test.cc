#include "produce/dead_letter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

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
  auto path =
      std::filesystem::temp_directory_path() / ("dlq-" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(path);
  {
    DeadLetter dlq(path.string(), "in.txt");
    dlq.write_invalid(3, "invalid JSON: x", "{bad");
    dlq.write_invalid(4, "invalid UTF-8 at byte 1", "\xff\xfe");
    dlq.write_undelivered(5, "Sport", "Broker: Message size too large", "\"messi\"");
    EXPECT_EQ(dlq.records(), 3u);
    EXPECT_EQ(dlq.records_on_stderr(), 0u);
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
  {
    DeadLetter dlq(path.string(), "stdin");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(DeadLetter, UnwritableFileFallsBackToStderrAndStillCounts) {
  DeadLetter dlq("/nonexistent-dir/dlq.jsonl", "stdin");
  ::testing::internal::CaptureStderr();
  dlq.write_invalid(1, "bad", "x");
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(dlq.records(), 1u);
  EXPECT_EQ(dlq.records_on_stderr(), 1u);
  EXPECT_NE(err.find("dead-letter: {"), std::string::npos) << err;
  EXPECT_NE(err.find("/nonexistent-dir/dlq.jsonl"), std::string::npos);
}

std::filesystem::path temp_path(const std::string& name) {
  auto path =
      std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(path);
  return path;
}

TEST(DeadLetter, FileIsPrivateEvenUnderAPermissiveUmask) {
  // The records hold message contents: 0600, not 0666 & ~umask.
  auto path = temp_path("dlq-mode");
  const mode_t old = ::umask(0);
  {
    DeadLetter dlq(path.string(), "stdin");
    dlq.write_invalid(1, "bad", "secret payload");
  }
  ::umask(old);
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::filesystem::remove(path);
}

TEST(DeadLetter, SymlinkAtThePathIsRefusedNotFollowed) {
  auto target = temp_path("dlq-target");
  auto link = temp_path("dlq-link");
  std::ofstream(target) << "precious\n";
  std::filesystem::create_symlink(target, link);
  DeadLetter dlq(link.string(), "stdin");
  ::testing::internal::CaptureStderr();
  dlq.write_invalid(7, "bad", "x");
  const std::string err = ::testing::internal::GetCapturedStderr();
  std::ifstream in(target);
  std::stringstream kept;
  kept << in.rdbuf();
  EXPECT_EQ(kept.str(), "precious\n");  // not appended to
  EXPECT_EQ(dlq.records_in_file(), 0u);
  EXPECT_EQ(dlq.records_on_stderr(), 1u);
  EXPECT_NE(err.find("symbolic link"), std::string::npos) << err;
  EXPECT_NE(err.find("dead-letter: {"), std::string::npos) << err;  // the record is kept
  std::filesystem::remove(link);
  std::filesystem::remove(target);
}

TEST(DeadLetter, DescriptorIsClosedOnExec) {
  auto path = temp_path("dlq-cloexec");
  DeadLetter dlq(path.string(), "stdin");
  dlq.write_invalid(1, "bad", "x");
  int flags = -1;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(entry.path(), ec) == path) {
      flags = ::fcntl(std::stoi(entry.path().filename().string()), F_GETFD);
    }
  }
  ASSERT_NE(flags, -1) << "the dead-letter file is not open";
  EXPECT_TRUE(flags & FD_CLOEXEC);
  std::filesystem::remove(path);
}

TEST(DeadLetter, AShortWriteLeavesNoTornLineAndTheRecordGoesToStderr) {
  // A file-size limit makes write() stop part way through a line, as a full disk does.
  auto path = temp_path("dlq-short");
  const std::string big(300, 'x');
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::dup2(pipe_fds[1], 2);  // the child's stderr: read back below
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{1000, 1000};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    DeadLetter dlq(path.string(), "stdin");
    for (int i = 1; i <= 5; ++i) dlq.write_invalid(static_cast<std::uint64_t>(i), "bad", big);
    std::fflush(stderr);
    ::_exit(static_cast<int>(dlq.records_in_file() * 10 + dlq.records_on_stderr()));
  }
  ::close(pipe_fds[1]);
  std::string err;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;)
    err.append(buf, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  const int in_file = WEXITSTATUS(status) / 10, on_stderr = WEXITSTATUS(status) % 10;
  EXPECT_EQ(in_file + on_stderr, 5);
  EXPECT_GE(on_stderr, 1);
  // Every line in the file is whole JSON (parse would throw on a torn one), one per record.
  auto r = records(path.string());
  EXPECT_EQ(static_cast<int>(r.size()), in_file);
  for (std::size_t i = 0; i < r.size(); ++i) EXPECT_EQ(r[i]["line"], i + 1);
  EXPECT_LE(std::filesystem::file_size(path), 1000u);
  // The records that did not fit are on stderr, whole.
  std::size_t printed = 0;
  for (std::size_t at = err.find("dead-letter: {"); at != std::string::npos;
       at = err.find("dead-letter: {", at + 1)) {
    ++printed;
  }
  EXPECT_EQ(static_cast<int>(printed), on_stderr) << err;
  std::filesystem::remove(path);
}

TEST(DeadLetter, AForwardTakesRecordsAndTheFileKeepsWhatItRefusesOrFailsToDeliver) {
  auto path = temp_path("dlq-forward");
  std::vector<std::string> forwarded;
  bool accept = true;
  {
    DeadLetter dlq(path.string(), "in.txt");
    dlq.set_forward(
        [&](std::string_view record) {
          if (accept) forwarded.emplace_back(record);
          return accept;
        },
        "dead-letters");
    dlq.write_invalid(1, "invalid JSON", "{x");
    EXPECT_TRUE(dlq.last_record_forwarded());
    EXPECT_EQ(dlq.records_forwarded(), 1u);
    EXPECT_EQ(dlq.records(), 0u);  // nothing in the file or on stderr
    EXPECT_FALSE(std::filesystem::exists(path));
    accept = false;  // e.g. the client's queue is full
    dlq.write_invalid(2, "invalid JSON", "{y");
    EXPECT_FALSE(dlq.last_record_forwarded());
    EXPECT_EQ(dlq.records_in_file(), 1u);
    dlq.write_record(forwarded.at(0));  // the first one's delivery failed later
    EXPECT_EQ(dlq.records_in_file(), 2u);
    EXPECT_EQ(dlq.forward_name(), "dead-letters");
  }
  ASSERT_EQ(forwarded.size(), 1u);
  EXPECT_EQ(forwarded[0].back(), '}');  // one message per record, no newline
  EXPECT_EQ(nlohmann::json::parse(forwarded[0])["line"], 1);
  auto r = records(path.string());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0]["line"], 2);
  EXPECT_EQ(r[1]["line"], 1);
  EXPECT_EQ(r[1]["input"], "{x");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace speedlayer::produce
