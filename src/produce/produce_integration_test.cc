// `speedlayer produce` against a real Kafka broker (fixture kafka_single), run as a user runs
// it: the built binary, input from a file or stdin, results read back with kcat.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include "produce/produce_test_support.h"

namespace speedlayer::testing {
namespace {

using namespace std::chrono_literals;

class ProduceIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = bootstrap("single");
    dir_ = temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    no_routes_ = dir_ + "/no-routes.yaml";
    std::ofstream(no_routes_) << "routes: []\n";
  }
  std::string brokers_;
  std::string dir_;
  std::string no_routes_;  // every message goes to the default topic
};

TEST_F(ProduceIntegration, RoutedInputArrivesExactlyOncePerTopicInOrder) {
  std::string sport = unique_topic("Sport"), ai = unique_topic("AI"), other = unique_topic("other");
  std::ofstream(dir_ + "/routes.yaml")
      << "routes:\n  - topic: " << sport << "\n    keywords: [basketball, football, messi]\n"
      << "  - topic: " << ai << "\n    keywords: [AI, ML, NLP, CV]\n";
  const char* kinds[] = {
      "Messi scored again",         "new ML model",   "weather is fine", "AI meets football",
      "messiah is not messi-less?", "the CV, the NLP"};
  // Expected topic per kind: first rule in file order wins ("AI meets football" -> Sport).
  std::vector<std::string> expected_topic = {sport, ai, other, sport, sport, ai};
  std::vector<std::string> lines;
  std::map<std::string, std::vector<int>> expected;
  for (int i = 1; i <= 3000; ++i) {
    lines.push_back(numbered_line(i, kinds[i % 6]));
    expected[expected_topic[i % 6]].push_back(i);
  }
  write_lines(dir_ + "/in.txt", lines);

  ChildProcess p({speedlayer_bin(), "produce", "--brokers", brokers_, "--topic", other, "--routes",
                  dir_ + "/routes.yaml", "--input", dir_ + "/in.txt", "--dead-letter",
                  dir_ + "/dlq.jsonl"});
  ASSERT_EQ(p.wait_for(120s), 0) << p.err();
  auto summary = parse_summary(p.err());
  EXPECT_EQ(summary["read"], 3000);
  EXPECT_EQ(summary["delivered"], 3000);
  EXPECT_EQ(summary["dead-lettered"], 0);

  for (const auto& topic : {sport, ai, other}) {
    auto records = read_topic_with_kcat(brokers_, topic);
    std::vector<int> got;
    std::map<int, int> last_per_partition;
    for (const auto& r : records) {
      int n = line_number_of(r.value);
      got.push_back(n);
      EXPECT_GT(n, last_per_partition[r.partition]) << "out of order in " << topic;
      last_per_partition[r.partition] = n;
      // The value is the exact json.dumps of the line.
      EXPECT_EQ(r.value, "\"" + lines[static_cast<std::size_t>(n - 1)] + "\"");
    }
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, expected[topic]) << topic;
  }
}

TEST_F(ProduceIntegration, SyncPrintsTopicPartitionOffsetForEachMessage) {
  std::string topic = unique_topic("sync");
  write_lines(dir_ + "/in.txt", {"Hello", "caf\xc3\xa9 \"quoted\""});
  ChildProcess p({speedlayer_bin(), "produce", "--brokers", brokers_, "--topic", topic, "--sync",
                  "--routes", no_routes_},
                 {.stdin_path = dir_ + "/in.txt"});
  ASSERT_EQ(p.wait_for(60s), 0) << p.err();
  auto out = p.out();
  EXPECT_NE(out.find("delivered topic=" + topic + " partition="), std::string::npos) << out;
  EXPECT_NE(out.find("line=1\n"), std::string::npos);
  EXPECT_NE(out.find("line=2\n"), std::string::npos);
  auto records = read_topic_with_kcat(brokers_, topic);
  ASSERT_EQ(records.size(), 2u);
  std::set<std::string> values{records[0].value, records[1].value};
  EXPECT_TRUE(values.count("\"Hello\""));
  EXPECT_TRUE(values.count("\"caf\\u00e9 \\\"quoted\\\"\""));
}

TEST_F(ProduceIntegration, SigtermMidInputLosesNothing) {
  std::string topic = unique_topic("sigterm");
  std::vector<std::string> lines;
  for (int i = 1; i <= 1'500'000; ++i)
    lines.push_back(numbered_line(i, "some words about nothing"));
  // Stdin is a pipe the test keeps open until after the signal, so the signal surely lands
  // mid-input however fast produce is (with a file, it once finished all 1.5M lines first).
  const std::string fifo = dir_ + "/input.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  std::atomic<bool> signalled{false};
  std::thread writer([&] {
    // SIGPIPE once produce has exited: blocked here, so write() returns EPIPE instead.
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    int fd = -1;  // non-blocking open: succeeds once produce has opened its end
    for (auto until = std::chrono::steady_clock::now() + 60s;
         fd < 0 && std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(5ms)) {
      fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    }
    if (fd < 0) return;
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    // ~200,000 lines/s: messages are in flight when the signal comes.
    std::string chunk;
    for (std::size_t i = 0; i < lines.size() && !signalled.load(); ++i) {
      chunk += lines[i];
      chunk += '\n';
      if (i % 2'000 == 1'999 || i + 1 == lines.size()) {
        if (::write(fd, chunk.data(), chunk.size()) < 0) break;  // EPIPE: produce is gone
        chunk.clear();
        std::this_thread::sleep_for(10ms);
      }
    }
    while (!signalled.load()) std::this_thread::sleep_for(10ms);
    ::close(fd);
  });
  ChildProcess p({speedlayer_bin(), "produce", "--brokers", brokers_, "--topic", topic, "--routes",
                  no_routes_, "--progress", "--dead-letter", dir_ + "/dlq.jsonl"},
                 {.stdin_path = fifo});
  // Wait until deliveries flow, then stop it.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (p.err().find("delivered") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    if (p.wait_for(50ms)) break;
  }
  EXPECT_FALSE(p.wait_for(0ms)) << "produce ended before the signal with its input still open\n"
                                << p.err();
  p.signal(SIGTERM);
  auto code = p.wait_for(30s);
  signalled = true;
  writer.join();
  ASSERT_TRUE(code) << "did not stop within 30 s of SIGTERM";
  auto summary = parse_summary(p.err());
  ASSERT_FALSE(summary.empty()) << p.err();
  EXPECT_GT(summary["read"], 0);
  EXPECT_LT(summary["read"], 1'500'000) << "the signal came too late to test anything";
  EXPECT_EQ(summary["delivered"] + summary["dead-lettered"], summary["read"]);
  EXPECT_EQ(*code, summary["dead-lettered"] == 0 ? 0 : 1);

  // What the topic holds is exactly lines 1..delivered (no loss, no duplicate).
  auto records =
      read_topic_with_kcat(brokers_, topic, static_cast<std::size_t>(summary["delivered"]));
  EXPECT_EQ(static_cast<long long>(records.size()), summary["delivered"]);
  std::vector<int> got;
  for (const auto& r : records) got.push_back(line_number_of(r.value));
  std::sort(got.begin(), got.end());
  if (static_cast<long long>(records.size()) != summary["delivered"]) {
    std::map<int, std::pair<long long, long long>> per_partition;  // count, highest offset
    for (const auto& r : records) {
      auto& [count, top] = per_partition[r.partition];
      ++count;
      top = std::max<long long>(top, r.offset);
    }
    for (const auto& [partition, ct] : per_partition)
      std::printf("partition %d: %lld records, highest offset %lld\n", partition, ct.first,
                  ct.second);
    std::set<int> have(got.begin(), got.end());
    for (int i = 1; i <= summary["read"] && i < 2'000'000; ++i)
      if (!have.count(i)) std::printf("line %d missing\n", i);
  }
  EXPECT_EQ(std::adjacent_find(got.begin(), got.end()), got.end()) << "duplicate record";
  auto dead = read_lines(dir_ + "/dlq.jsonl");
  EXPECT_EQ(static_cast<long long>(dead.size()), summary["dead-lettered"]);
  EXPECT_EQ(got.size() + dead.size(), static_cast<std::size_t>(summary["read"]));
}

TEST_F(ProduceIntegration, InvalidInputIsDeadLetteredWithItsLineNumber) {
  std::string topic = unique_topic("invalid");
  std::string huge(5000, 'x');
  write_lines(dir_ + "/in.json",
              {R"({"text": "messi", "id": 1})", R"({"text": "broken" )", "\"ok\"",
               "{\"text\": \"" + huge + "\"}", R"({"text": "AI", "id": 5})"});
  ChildProcess p({speedlayer_bin(), "produce", "--brokers", brokers_, "--topic", topic, "--routes",
                  no_routes_, "--format", "json", "--key-field", "id", "--input", dir_ + "/in.json",
                  "--dead-letter", dir_ + "/dlq.jsonl", "-X", "message.max.bytes=2000"});
  ASSERT_EQ(p.wait_for(60s), 1) << p.err();
  auto summary = parse_summary(p.err());
  EXPECT_EQ(summary["read"], 5);
  EXPECT_EQ(summary["delivered"], 3);
  EXPECT_EQ(summary["invalid"], 2);
  // The error message names the input and line.
  EXPECT_NE(p.err().find(dir_ + "/in.json:line 2: invalid JSON"), std::string::npos) << p.err();
  EXPECT_NE(p.err().find(":line 4: line of 5012 bytes exceeds the limit of 2000"),
            std::string::npos)
      << p.err();
  auto dead = read_lines(dir_ + "/dlq.jsonl");
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_NE(dead[0].find("\"line\":2"), std::string::npos) << dead[0];
  EXPECT_NE(dead[0].find("\"input\":\"{\\\"text\\\": \\\"broken\\\" \""), std::string::npos)
      << dead[0];
  EXPECT_NE(dead[1].find("\"line\":4"), std::string::npos);
  auto records = read_topic_with_kcat(brokers_, topic);
  std::set<std::string> values;
  for (const auto& r : records) values.insert(r.value);
  // Compact, with the input's key order kept.
  EXPECT_EQ(values, (std::set<std::string>{R"({"text":"messi","id":1})", "\"ok\"",
                                           R"({"text":"AI","id":5})"}));
}

TEST_F(ProduceIntegration, InvalidUtf8InTextModeIsDeadLetteredAsBase64) {
  std::string topic = unique_topic("utf8");
  write_lines(dir_ + "/in.txt", {"fine", "bad \xff byte", "also fine"});
  ChildProcess p({speedlayer_bin(), "produce", "--brokers", brokers_, "--topic", topic, "--routes",
                  no_routes_, "--input", dir_ + "/in.txt", "--dead-letter", dir_ + "/dlq.jsonl"});
  ASSERT_EQ(p.wait_for(60s), 1) << p.err();
  auto dead = read_lines(dir_ + "/dlq.jsonl");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].find("\"line\":2"), std::string::npos);
  EXPECT_NE(dead[0].find("invalid UTF-8 at byte 5"), std::string::npos) << dead[0];
  EXPECT_NE(dead[0].find("\"input_base64\":\"YmFkIP8gYnl0ZQ==\""), std::string::npos) << dead[0];
  EXPECT_EQ(read_topic_with_kcat(brokers_, topic).size(), 2u);
}

TEST_F(ProduceIntegration, StrictSendsUnmatchedToDeadLetter) {
  std::string topic = unique_topic("strict");
  std::ofstream(dir_ + "/routes.yaml")
      << "routes:\n  - topic: " << topic << "\n    keywords: [messi]\n";
  write_lines(dir_ + "/in.txt", {"messi", "nobody"});
  ChildProcess p({speedlayer_bin(), "produce", "--brokers", brokers_, "--strict", "--routes",
                  dir_ + "/routes.yaml", "--input", dir_ + "/in.txt", "--dead-letter",
                  dir_ + "/dlq.jsonl"});
  ASSERT_EQ(p.wait_for(60s), 1) << p.err();
  auto dead = read_lines(dir_ + "/dlq.jsonl");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].find("no route matched"), std::string::npos);
  EXPECT_NE(dead[0].find("\"value\":\"nobody\""), std::string::npos) << dead[0];
}

TEST_F(ProduceIntegration, DeadLetterTopicTakesTheRecordsTheFileOnlyWhatItRefuses) {
  const std::string topic = unique_topic("dlt-in");
  const std::string dead_topic = unique_topic("dlt");
  ASSERT_EQ(create_topic("single", dead_topic, 1, 1), 0);
  write_lines(dir_ + "/in.txt", {"fine", "bad \xff byte", "also fine"});
  ChildProcess p({speedlayer_bin(), "produce", "--brokers", brokers_, "--topic", topic, "--routes",
                  no_routes_, "--input", dir_ + "/in.txt", "--dead-letter", dir_ + "/dlq.jsonl",
                  "--dead-letter-topic", dead_topic});
  ASSERT_EQ(p.wait_for(60s), 1) << p.err();
  EXPECT_EQ(parse_summary(p.err())["dead-lettered"], 1);
  EXPECT_NE(p.err().find("1 record(s) confirmed in dead-letter topic " + dead_topic),
            std::string::npos)
      << p.err();
  EXPECT_NE(p.err().find(":line 2: invalid UTF-8 at byte 5 -> dead-letter topic " + dead_topic),
            std::string::npos)
      << p.err();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/dlq.jsonl"));
  auto dead = read_topic_with_kcat(brokers_, dead_topic);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].value.find("\"line\":2"), std::string::npos) << dead[0].value;
  EXPECT_NE(dead[0].value.find("\"input_base64\":\"YmFkIP8gYnl0ZQ==\""), std::string::npos);
  EXPECT_EQ(dead[0].value.back(), '}');  // one record, no newline
  EXPECT_EQ(read_topic_with_kcat(brokers_, topic).size(), 2u);

  // A dead-letter topic that cannot take them: the records land in the file, nothing is lost.
  ChildProcess q({speedlayer_bin(), "produce", "--brokers", brokers_, "--topic", topic, "--routes",
                  no_routes_, "--input", dir_ + "/in.txt", "--dead-letter", dir_ + "/dlq.jsonl",
                  "--dead-letter-topic", "no such topic!"});
  ASSERT_EQ(q.wait_for(60s), 1) << q.err();
  auto in_file = read_lines(dir_ + "/dlq.jsonl");
  ASSERT_EQ(in_file.size(), 1u) << q.err();
  EXPECT_NE(in_file[0].find("\"line\":2"), std::string::npos) << in_file[0];
}

TEST_F(ProduceIntegration, UnreachableBrokerExits3WithinThirtySeconds) {
  // Nothing listens on port 1; the default --connect-timeout (30 s) applies.
  ChildProcess p(
      {speedlayer_bin(), "produce", "--brokers", "127.0.0.1:1", "--generate", "--count", "10"});
  auto code = p.wait_for(45s);
  ASSERT_TRUE(code) << "still running after 45 s";
  EXPECT_EQ(*code, 3) << p.err();
  EXPECT_LT(p.elapsed().count(), 35.0);
  EXPECT_NE(p.err().find("127.0.0.1:1"), std::string::npos) << p.err();
  EXPECT_NE(p.err().find("Connection refused"), std::string::npos) << p.err();
}

TEST_F(ProduceIntegration, BadConfigurationExits2NamingTheOrigin) {
  ChildProcess bad_x({speedlayer_bin(), "produce", "--brokers", brokers_, "-X", "no.such=1"});
  EXPECT_EQ(bad_x.wait_for(30s), 2);
  EXPECT_NE(bad_x.err().find("-X no.such"), std::string::npos) << bad_x.err();

  std::ofstream(dir_ + "/routes.yaml") << "routes:\n  - topic: ok\n    keywords: []\n";
  ChildProcess bad_routes({speedlayer_bin(), "produce", "--brokers", brokers_},
                          {.env = {{"SPEEDLAYER_ROUTES", dir_ + "/routes.yaml"}}});
  EXPECT_EQ(bad_routes.wait_for(30s), 2);
  EXPECT_NE(bad_routes.err().find(dir_ + "/routes.yaml:3"), std::string::npos) << bad_routes.err();

  ChildProcess no_brokers({speedlayer_bin(), "produce"}, {.clear_env = true});
  EXPECT_EQ(no_brokers.wait_for(30s), 2);
  EXPECT_NE(no_brokers.err().find("KAFKA_BROKERS"), std::string::npos) << no_brokers.err();
}

TEST_F(ProduceIntegration, PodStyleRunFromEnvironmentOnly) {
  // As the Deployment runs it: configuration only from the environment, no terminal, no stdin.
  std::string topic = unique_topic("pod");
  ChildProcess p({speedlayer_bin(), "produce", "--generate", "--count", "500"},
                 {.env = {{"KAFKA_BROKERS", brokers_},
                          {"KAFKA_TOPIC", topic},
                          {"SPEEDLAYER_ROUTES", no_routes_}},
                  .clear_env = true,
                  .work_dir = dir_});
  ASSERT_EQ(p.wait_for(60s), 0) << p.err();
  EXPECT_EQ(read_topic_with_kcat(brokers_, topic).size(), 500u);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/speedlayer-dead-letter.jsonl"));
}

}  // namespace
}  // namespace speedlayer::testing
