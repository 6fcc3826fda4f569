// The hostile inputs of issue 13, each tried the way a user meets it: the built binary
// ($SPEEDLAYER_BIN) run as a child process against the real Kafka broker (fixture
// kafka_single), checking the documented outcome: the exit code, a message naming the line,
// flag or file, the dead letter, nothing lost, no secret printed. Before the fixes these
// were SIGABRT (exit 134), SIGSEGV (exit 139), silent 60 ms windows, a followed symlink and a
// printed password.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "broker/test_broker.h"
#include "support/child_process.h"

namespace st = speedlayer::testing;
using namespace std::chrono_literals;

namespace {

struct Outcome {
  int code = -1;
  std::string out, err;
};

Outcome run(std::vector<std::string> args, const std::string& stdin_path = "/dev/null",
            std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), st::speedlayer_bin());
  st::ChildProcess p(args, {.stdin_path = stdin_path, .env = std::move(env)});
  auto code = p.wait_for(120s);
  EXPECT_TRUE(code) << "still running after 120 s: " << args[1];
  return Outcome{code.value_or(-1), p.out(), p.err()};
}

std::string write_file(const std::string& dir, const std::string& name, const std::string& text) {
  std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::vector<nlohmann::json> dead_letters(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Every value on `topic`, read with kcat (a client no one here wrote).
std::vector<std::string> kcat_values(const std::string& bootstrap, const std::string& topic) {
  std::string out;
  EXPECT_EQ(st::run_command({"kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                             "-q", "-D", "\x1e"},
                            &out),
            0);
  std::vector<std::string> values;
  for (std::size_t at = 0, next; (next = out.find('\x1e', at)) != std::string::npos;
       at = next + 1) {
    values.push_back(out.substr(at, next - at));
  }
  return values;
}

class Adversarial : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = st::temp_dir(std::string("adversarial-") +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    bootstrap_ = st::bootstrap("single");
    topic_ = st::unique_topic("adversarial");
    ASSERT_EQ(st::create_topic("single", topic_, 1, 1), 0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> produce_args(const std::string& dead_letter) {
    // No input names a sport or AI word: everything goes to the default topic, --topic.
    return {"produce", "--brokers", bootstrap_, "--topic", topic_, "--dead-letter", dead_letter};
  }

  std::string dir_, bootstrap_, topic_;
};

TEST_F(Adversarial, ProduceJsonNumberOutOfRangeIsDeadLetteredTheRestDelivered) {
  // Was SIGABRT (exit 134): nothing confirmed, nothing dead-lettered, no summary.
  const std::string input = write_file(dir_, "in.jsonl",
                                       "{\"n\":1,\"text\":\"a\"}\n"
                                       "{\"n\":1e400,\"text\":\"a\"}\n"
                                       "{\"n\":3,\"text\":\"c\"}\n");
  const std::string dlq = dir_ + "/dead.jsonl";
  auto args = produce_args(dlq);
  args.insert(args.end(), {"--input", input, "--format", "json"});
  Outcome r = run(args);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find(input + ":line 2: invalid JSON: number out of range"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("produce: read 3, delivered 2"), std::string::npos) << r.err;
  auto dead = dead_letters(dlq);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0]["line"], 2);
  EXPECT_EQ(dead[0]["input"], "{\"n\":1e400,\"text\":\"a\"}");
  EXPECT_EQ(kcat_values(bootstrap_, topic_),
            (std::vector<std::string>{"{\"n\":1,\"text\":\"a\"}", "{\"n\":3,\"text\":\"c\"}"}));
}

TEST_F(Adversarial, ProduceDeepValueWithKeyFieldIsDeadLetteredNotACrash) {
  // Was SIGSEGV (exit 139) in --key-field's dump() of the deep value.
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  const std::string input =
      write_file(dir_, "in.jsonl", "{\"k\":" + deep + "}\n{\"k\":\"u1\",\"text\":\"ok\"}\n");
  const std::string dlq = dir_ + "/dead.jsonl";
  auto args = produce_args(dlq);
  args.insert(args.end(), {"--input", input, "--format", "json", "--key-field", "k"});
  Outcome r = run(args);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find(":line 1: invalid JSON: nested deeper than 512 levels at byte 517"),
            std::string::npos)
      << r.err.substr(0, 2000);
  auto dead = dead_letters(dlq);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0]["line"], 1);
  EXPECT_EQ(kcat_values(bootstrap_, topic_),
            (std::vector<std::string>{"{\"k\":\"u1\",\"text\":\"ok\"}"}));
}

TEST_F(Adversarial, ConsumeShowsADeepValueAsItsBytesAndAGroupReaderRestarts) {
  // Was SIGSEGV (exit 139), and with --group a restarted reader crashed on it forever.
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  const std::string file = write_file(dir_, "deep.json", deep);
  ASSERT_EQ(st::run_command({"kcat", "-P", "-b", bootstrap_, "-t", topic_, file}), 0);
  ASSERT_EQ(st::run_command({"kcat", "-P", "-b", bootstrap_, "-t", topic_,
                             write_file(dir_, "after.txt", "after")}),
            0);
  const std::string group = st::unique_topic("adversarial-group");
  Outcome first = run({"consume", "--brokers", bootstrap_, "--topic", topic_, "--group", group,
                       "--count", "1", "--quiet"});
  EXPECT_EQ(first.code, 0) << first.err;
  EXPECT_EQ(first.out, deep + "\n");
  Outcome second = run({"consume", "--brokers", bootstrap_, "--topic", topic_, "--group", group,
                        "--exit-at-end", "--quiet"});
  EXPECT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(second.out, "after\n");
  Outcome json = run({"consume", "--brokers", bootstrap_, "--topic", topic_, "--exit-at-end",
                      "--format", "json", "--quiet"});
  EXPECT_EQ(json.code, 0) << json.err;
  EXPECT_NE(json.out.find("\"payload\":\"" + std::string(100, '[')), std::string::npos);
}

TEST_F(Adversarial, ConfigFilesOfTheWrongShapeAreExit2NamingFileAndLine) {
  // A non-scalar key was SIGABRT; a directory was accepted silently.
  const std::string bad_key = write_file(dir_, "bad-key.yaml", "brokers: x\n[a, b]: y\n");
  Outcome r = run({"consume", "--topic", topic_, "--config", bad_key});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(bad_key + ":2: a key must be a plain name"), std::string::npos) << r.err;

  const std::string bad_value = write_file(dir_, "bad-value.yaml", "brokers: [a, b]\n");
  r = run({"consume", "--topic", topic_, "--config", bad_value});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(bad_value + ":1: setting 'brokers' must be a single value"),
            std::string::npos)
      << r.err;

  r = run({"consume", "--topic", topic_, "--config", dir_});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(dir_ + ": config file is a directory, not a file"), std::string::npos)
      << r.err;
  r = run({"consume", "--topic", topic_}, "/dev/null", {{"SPEEDLAYER_CONFIG", "/dev/zero"}});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("/dev/zero: config file is a device, not a file"), std::string::npos)
      << r.err;
}

TEST_F(Adversarial, DurationsWithoutAUnitOrTooLargeAreExit2NamingTheFlag) {
  // "--window 60" silently meant 60 ms; over ~24 days timeouts wrapped into a false exit 3.
  Outcome r = run({"serve", "--brokers", bootstrap_, "--topic", topic_, "--window", "60"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--window: invalid duration '60': a number needs a unit: write 60s or 60ms"),
            std::string::npos)
      << r.err;
  r = run({"consume", "--brokers", bootstrap_, "--topic", topic_, "--connect-timeout", "30d"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--connect-timeout: invalid duration '30d': too large"), std::string::npos)
      << r.err;
  r = run({"consume", "--brokers", bootstrap_, "--topic", topic_, "--exit-at-end", "--quiet"},
          "/dev/null",
          {{"SPEEDLAYER_CONFIG", write_file(dir_, "c.yaml", "connect-timeout: 45\n")}});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("c.yaml:1: invalid duration '45'"), std::string::npos) << r.err;
}

TEST_F(Adversarial, DeadLetterFileIsPrivateAndASymlinkIsNotFollowed) {
  const std::string input = write_file(dir_, "in.jsonl", "not json\n{\"ok\":1}\n");
  // umask 0: the file would have been 0666.
  const mode_t old = ::umask(0);
  const std::string dlq = dir_ + "/dead.jsonl";
  auto args = produce_args(dlq);
  args.insert(args.end(), {"--input", input, "--format", "json"});
  Outcome r = run(args);
  ::umask(old);
  EXPECT_EQ(r.code, 1) << r.err;
  struct stat st{};
  ASSERT_EQ(::stat(dlq.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(r.err.find("produce: 1 record(s) written to dead-letter file " + dlq),
            std::string::npos)
      << r.err;

  // A symlink planted at the path: refused, the record goes to stderr, and the summary says so.
  const std::string target = write_file(dir_, "precious.txt", "precious\n");
  const std::string link = dir_ + "/link.jsonl";
  std::filesystem::create_symlink(target, link);
  args = produce_args(link);
  args.insert(args.end(), {"--input", input, "--format", "json"});
  r = run(args);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(st::read_file(target), "precious\n");
  EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("dead-letter: {"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 record(s) could not be written to dead-letter file " + link +
                       " and were printed to stderr instead"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("record(s) written to dead-letter file"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("in.jsonl:line 1: invalid JSON: parse error at byte 2"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("-> stderr (dead-letter file not writable)"), std::string::npos) << r.err;
}

TEST_F(Adversarial, MalformedSecretsAreNeverPrinted) {
  const std::string secret = "hunter2-s3cr3t";
  const std::string typo_file =
      write_file(dir_, "typo.yaml", "kafka:\n  sasl.pasword: " + secret + "\n");
  const std::vector<std::vector<std::string>> cases = {
      {"-X", "sasl.password:" + secret}, {"-Xsasl.password", secret}, {"--sasl-pasword", secret},
      {"--sasl-pasword=" + secret},      {"--config", typo_file},
  };
  for (const auto& extra : cases) {
    for (const char* command : {"produce", "consume", "serve", "doctor"}) {
      std::vector<std::string> args{command, "--brokers", bootstrap_, "--topic", topic_};
      args.insert(args.end(), extra.begin(), extra.end());
      Outcome r = run(args);
      EXPECT_EQ(r.code, 2) << command << " " << extra[0] << "\n" << r.err;
      EXPECT_EQ(r.err.find(secret), std::string::npos) << command << " " << extra[0] << "\n"
                                                       << r.err;
      EXPECT_EQ(r.out.find(secret), std::string::npos) << command << " " << extra[0];
      EXPECT_FALSE(r.err.empty()) << command << " " << extra[0];
    }
  }
}

}  // namespace
