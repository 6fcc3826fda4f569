// `speedlayer consume` against the real Kafka broker (fixture kafka_single), checked against
// kcat, a client no one here wrote: messages are produced with kcat, read back with the built
// binary ($SPEEDLAYER_BIN), and compared with what kcat -C -J prints for the same topic.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "broker/test_broker.h"
#include "support/child_process.h"

namespace st = speedlayer::testing;

namespace {

std::string speedlayer_bin() {
  const char* bin = std::getenv("SPEEDLAYER_BIN");
  if (bin && *bin) return bin;
  return std::string(SPEEDLAYER_BINARY_DIR) + "/src/app/speedlayer";
}

// Writes `lines` to a temporary file, one per line.
std::string lines_file(const std::string& name, const std::vector<std::string>& lines) {
  std::string path = ::testing::TempDir() + name + ".txt";
  std::ofstream out(path, std::ios::binary);
  for (const auto& l : lines) out << l << '\n';
  return path;
}

// Produces each line as one message with kcat (extra arguments: -p, -K, -H ...).
void kcat_produce(const std::string& bootstrap, const std::string& topic,
                  const std::vector<std::string>& lines, std::vector<std::string> extra = {}) {
  std::string file = lines_file(topic + "-" + std::to_string(lines.size()), lines);
  std::vector<std::string> argv{"kcat", "-P", "-b", bootstrap, "-t", topic, "-l"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(file);
  ASSERT_EQ(st::run_command(argv), 0) << "kcat -P failed";
  std::remove(file.c_str());
}

int consume(std::vector<std::string> args, std::string* out) {
  std::vector<std::string> argv{speedlayer_bin(), "consume"};
  argv.insert(argv.end(), args.begin(), args.end());
  return st::run_command(argv, out);
}

// Runs a shell command line; stdout (and stderr when the line redirects it) into *out.
int shell(const std::string& line, std::string* out) {
  return st::run_command({"sh", "-c", line}, out);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// JSON lines grouped by partition, in the order printed.
std::map<int, std::vector<std::string>> by_partition(const std::string& text) {
  std::map<int, std::vector<std::string>> out;
  for (const auto& line : split_lines(text)) {
    auto doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(doc.is_discarded()) << "not JSON: " << line;
    if (doc.is_discarded()) continue;
    out[doc["partition"].get<int>()].push_back(line);
  }
  return out;
}

TEST(ConsumeIntegration, TextOutputIsDecodedValuesOnePerLine) {
  const std::string bootstrap = st::bootstrap("single");
  const std::string topic = st::unique_topic("consume-text");
  ASSERT_EQ(st::create_topic("single", topic, 1, 1), 0);
  kcat_produce(bootstrap, topic,
               {R"("Hello")", R"("messi scores")", R"({ "a" : [1, 2] })", "plain text",
                R"("caf\u00e9 \ud83d\ude00")", R"("two\nlines")", "\x1b]0;title\x07\x1b[2J"});

  // One value per line, terminal controls escaped; --raw gives the decoded bytes.
  std::string out;
  ASSERT_EQ(consume({"--brokers", bootstrap, "--topic", topic, "--exit-at-end"}, &out), 0);
  EXPECT_EQ(out,
            "Hello\nmessi scores\n{\"a\":[1,2]}\nplain text\ncaf\xc3\xa9 \xf0\x9f\x98\x80\n"
            "two\\nlines\n\\x1b]0;title\\x07\\x1b[2J\n");
  std::string raw;
  ASSERT_EQ(consume({"--brokers", bootstrap, "--topic", topic, "--exit-at-end", "--raw"}, &raw), 0);
  EXPECT_EQ(raw,
            "Hello\nmessi scores\n{\"a\":[1,2]}\nplain text\ncaf\xc3\xa9 \xf0\x9f\x98\x80\n"
            "two\nlines\n\x1b]0;title\x07\x1b[2J\n");
}

TEST(ConsumeIntegration, JsonFormatMatchesKcat) {
  const std::string bootstrap = st::bootstrap("single");
  const std::string topic = st::unique_topic("consume-json");
  ASSERT_EQ(st::create_topic("single", topic, 3, 1), 0);
  kcat_produce(bootstrap, topic, {"k1:\"v1\"", ":empty key", "k2:{\"a\": 1}"}, {"-K", ":"});
  kcat_produce(bootstrap, topic, {"no key", "tab\there \"quoted\" \\ / \xc3\xa9"});
  kcat_produce(bootstrap, topic, {"with headers"}, {"-p", "2", "-H", "h1=v1", "-H", "h2="});
  for (int p = 0; p < 3; ++p) {
    kcat_produce(bootstrap, topic, {"p" + std::to_string(p) + "-a", "p" + std::to_string(p) + "-b"},
                 {"-p", std::to_string(p)});
  }

  std::string ours, theirs;
  ASSERT_EQ(consume({"--brokers", bootstrap, "--topic", topic, "--exit-at-end", "--format", "json"},
                    &ours),
            0);
  ASSERT_EQ(st::run_command(
                {"kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-J", "-q"},
                &theirs),
            0);
  auto a = by_partition(ours);
  auto b = by_partition(theirs);
  EXPECT_EQ(a, b) << "speedlayer:\n" << ours << "kcat:\n" << theirs;
  EXPECT_EQ(split_lines(ours).size(), 12u);
  EXPECT_NE(ours.find(R"("headers":["h1","v1","h2",""])"), std::string::npos) << ours;
}

TEST(ConsumeIntegration, CountStopsAfterN) {
  const std::string bootstrap = st::bootstrap("single");
  const std::string topic = st::unique_topic("consume-count");
  ASSERT_EQ(st::create_topic("single", topic, 1, 1), 0);
  kcat_produce(bootstrap, topic, {"1", "2", "3", "4", "5"});
  std::string out;
  // No --exit-at-end: --count alone ends the run.
  ASSERT_EQ(consume({"--brokers", bootstrap, "--topic", topic, "--count", "2"}, &out), 0);
  EXPECT_EQ(out, "1\n2\n");
}

TEST(ConsumeIntegration, PatternReadsMatchingTopicsOnly) {
  const std::string bootstrap = st::bootstrap("single");
  const std::string prefix = st::unique_topic("consume-pattern");
  ASSERT_EQ(st::create_topic("single", prefix + "-a", 1, 1), 0);
  ASSERT_EQ(st::create_topic("single", prefix + "-b", 2, 1), 0);
  ASSERT_EQ(st::create_topic("single", prefix + "-other", 1, 1), 0);
  kcat_produce(bootstrap, prefix + "-a", {"\"from a\""});
  kcat_produce(bootstrap, prefix + "-b", {"\"from b\""});
  kcat_produce(bootstrap, prefix + "-other", {"\"from other\""});

  std::string out;
  ASSERT_EQ(
      consume({"--brokers", bootstrap, "--pattern", prefix + "-(a|b)", "--exit-at-end"}, &out), 0);
  auto lines = split_lines(out);
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"from a", "from b"}));
}

TEST(ConsumeIntegration, TopicsAreRepeatable) {
  const std::string bootstrap = st::bootstrap("single");
  const std::string t1 = st::unique_topic("consume-multi");
  const std::string t2 = st::unique_topic("consume-multi");
  ASSERT_EQ(st::create_topic("single", t1, 1, 1), 0);
  ASSERT_EQ(st::create_topic("single", t2, 1, 1), 0);
  kcat_produce(bootstrap, t1, {"one"});
  kcat_produce(bootstrap, t2, {"two"});
  std::string out;
  ASSERT_EQ(consume({"--brokers", bootstrap, "--topic", t1, "--topic", t2, "--exit-at-end"}, &out),
            0);
  auto lines = split_lines(out);
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two"}));
}

TEST(ConsumeIntegration, GroupCommitsAndResumes) {
  const std::string bootstrap = st::bootstrap("single");
  const std::string topic = st::unique_topic("consume-group");
  const std::string group = st::unique_topic("group");
  ASSERT_EQ(st::create_topic("single", topic, 2, 1), 0);
  kcat_produce(bootstrap, topic, {"a", "b", "c"}, {"-p", "0"});
  kcat_produce(bootstrap, topic, {"d"}, {"-p", "1"});
  std::vector<std::string> args{"--brokers", bootstrap, "--topic",      topic,
                                "--group",   group,     "--exit-at-end"};
  std::string out;
  ASSERT_EQ(consume(args, &out), 0);
  auto lines = split_lines(out);
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "b", "c", "d"}));

  out.clear();
  ASSERT_EQ(consume(args, &out), 0);
  EXPECT_EQ(out, "") << "committed offsets were not used";

  kcat_produce(bootstrap, topic, {"e"}, {"-p", "0"});
  out.clear();
  ASSERT_EQ(consume(args, &out), 0);
  EXPECT_EQ(out, "e\n");

  // --from beginning overrides the committed offsets; --from end reads nothing old.
  out.clear();
  args.insert(args.end(), {"--from", "beginning"});
  ASSERT_EQ(consume(args, &out), 0);
  EXPECT_EQ(split_lines(out).size(), 5u);
}

TEST(ConsumeIntegration, WithoutGroupNothingIsCommitted) {
  const std::string bootstrap = st::bootstrap("single");
  const std::string topic = st::unique_topic("consume-nogroup");
  ASSERT_EQ(st::create_topic("single", topic, 1, 1), 0);
  kcat_produce(bootstrap, topic, {"x", "y"});
  std::string first, second;
  ASSERT_EQ(consume({"--brokers", bootstrap, "--topic", topic, "--exit-at-end"}, &first), 0);
  ASSERT_EQ(consume({"--brokers", bootstrap, "--topic", topic, "--exit-at-end"}, &second), 0);
  EXPECT_EQ(first, "x\ny\n");
  EXPECT_EQ(second, first);
  std::string end;
  ASSERT_EQ(
      consume({"--brokers", bootstrap, "--topic", topic, "--exit-at-end", "--from", "end"}, &end),
      0);
  EXPECT_EQ(end, "");
}

TEST(ConsumeIntegration, UnknownTopicWithExitAtEndFails) {
  const std::string bootstrap = st::bootstrap("single");
  const std::string topic = st::unique_topic("consume-missing");
  std::string out;
  ASSERT_EQ(shell("'" + speedlayer_bin() + "' consume --brokers " + bootstrap + " --topic " +
                      topic + " --exit-at-end 2>&1",
                  &out),
            1);
  EXPECT_NE(out.find(topic + ": topic does not exist"), std::string::npos) << out;
}

TEST(ConsumeIntegration, BadFromIsUsageError) {
  std::string out;
  EXPECT_EQ(
      shell("'" + speedlayer_bin() + "' consume --brokers 127.0.0.1:9 --topic t --from latest 2>&1",
            &out),
      2);
  EXPECT_NE(out.find("--from"), std::string::npos) << out;
}

// A port nothing listens on: bind an ephemeral port, then close it.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(ConsumeIntegration, UnreachableBrokerExits3WithinTimeout) {
  std::string brokers = "127.0.0.1:" + std::to_string(closed_port());
  std::string out;
  auto started = std::chrono::steady_clock::now();
  int rc = shell("'" + speedlayer_bin() + "' consume --brokers " + brokers +
                     " --topic t --connect-timeout 2s --exit-at-end 2>&1",
                 &out);
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(rc, 3) << out;
  EXPECT_LT(elapsed, std::chrono::seconds(8));
  EXPECT_GE(elapsed, std::chrono::milliseconds(1900));
  EXPECT_NE(out.find("no Kafka broker answered within 2 s"), std::string::npos) << out;
  EXPECT_NE(out.find(brokers), std::string::npos) << out;
}

TEST(ConsumeIntegration, SigtermStopsCleanlyAndCommits) {
  const std::string bootstrap = st::bootstrap("single");
  const std::string topic = st::unique_topic("consume-signal");
  const std::string group = st::unique_topic("group");
  ASSERT_EQ(st::create_topic("single", topic, 1, 1), 0);
  kcat_produce(bootstrap, topic, {"before"});
  // Runs without --exit-at-end until SIGTERM, which comes once it has printed the message
  // (not after a guessed delay: the group join alone can take seconds on a slow machine).
  st::ChildProcess p({speedlayer_bin(), "consume", "--quiet", "--brokers", bootstrap, "--topic",
                      topic, "--group", group});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (p.out() != "before\n" && std::chrono::steady_clock::now() < deadline) {
    ASSERT_FALSE(p.wait_for(std::chrono::milliseconds(20))) << "consume exited before SIGTERM\n"
                                                            << p.out() << p.err();
  }
  ASSERT_EQ(p.out(), "before\n") << p.err();
  p.signal(SIGTERM);
  auto rc = p.wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(rc) << "consume did not stop on SIGTERM\n" << p.err();
  EXPECT_EQ(*rc, 0) << p.err();
  EXPECT_EQ(p.out(), "before\n");
  // The offset was committed at the stop: the group has nothing left to read.
  std::string out;
  ASSERT_EQ(
      consume({"--brokers", bootstrap, "--topic", topic, "--group", group, "--exit-at-end"}, &out),
      0);
  EXPECT_EQ(out, "");
}

// The group's committed offset of partition 0 of `topic`, asked with Kafka's own
// ConsumerGroupCommand (no group join, so it does not disturb the running member); -1 when
// none is committed yet.
long long committed_offset(const std::string& bootstrap, const std::string& group,
                           const std::string& topic) {
  std::string out;
  if (st::run_broker_script(
          {"run-class", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
           "--bootstrap-server", bootstrap, "--describe", "--group", group},
          &out) != 0)
    return -1;
  for (const auto& line : split_lines(out)) {
    std::istringstream in(line);
    std::string g, t, partition, current;
    if (in >> g >> t >> partition >> current && t == topic && partition == "0" &&
        !current.empty() &&
        std::all_of(current.begin(), current.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::stoll(current);
  }
  return -1;
}

// consume --group killed with -9 mid-run, then started again: it resumes from the group's
// committed offsets. At-least-once: no message is missing; the messages printed after the
// last commit (and only those) are printed again by the second run.
TEST(ConsumeIntegration, GroupResumesFromCommittedOffsetsAfterKill9) {
  const std::string bootstrap = st::bootstrap("single");
  const std::string topic = st::unique_topic("consume-kill9");
  const std::string group = st::unique_topic("group");
  ASSERT_EQ(st::create_topic("single", topic, 1, 1), 0);
  constexpr int kFirst = 2000, kSecond = 2000;
  auto numbered = [](int from, int n) {
    std::vector<std::string> lines;
    for (int i = from; i < from + n; ++i) lines.push_back("m" + std::to_string(i));
    return lines;
  };
  // Complete lines only: a line cut by the kill has no newline (its offset was not stored).
  auto complete_lines = [](std::string text) {
    text.erase(text.find_last_of('\n') + 1);
    return split_lines(text);
  };
  kcat_produce(bootstrap, topic, numbered(0, kFirst));
  // A 6 s session (the broker's minimum): the restart's join waits for the killed member's
  // session to expire.
  std::vector<std::string> args{"--quiet",
                                "--brokers",
                                bootstrap,
                                "--topic",
                                topic,
                                "--group",
                                group,
                                "-X",
                                "auto.commit.interval.ms=200",
                                "-X",
                                "session.timeout.ms=6000"};
  std::vector<std::string> argv{speedlayer_bin(), "consume"};
  argv.insert(argv.end(), args.begin(), args.end());
  st::ChildProcess first(argv);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  auto printed = [&] { return complete_lines(first.out()).size(); };
  while (printed() < kFirst && std::chrono::steady_clock::now() < deadline) {
    ASSERT_FALSE(first.wait_for(std::chrono::milliseconds(20))) << "consume exited\n"
                                                                << first.err();
  }
  ASSERT_EQ(printed(), static_cast<std::size_t>(kFirst)) << first.err();
  // Wait for the auto-commit of the first part (polled with a deadline), so that the restart
  // has a committed offset to resume from.
  long long committed = -1;
  while (committed < kFirst && std::chrono::steady_clock::now() < deadline) {
    ASSERT_FALSE(first.wait_for(std::chrono::milliseconds(0))) << first.err();
    committed = committed_offset(bootstrap, group, topic);
  }
  ASSERT_EQ(committed, kFirst) << "the first part's offsets were never committed";
  // The second part, and kill -9 as soon as the first of it is printed: wherever the kill
  // lands, messages printed after the last commit are uncommitted.
  kcat_produce(bootstrap, topic, numbered(kFirst, kSecond));
  while (printed() <= static_cast<std::size_t>(kFirst) &&
         std::chrono::steady_clock::now() < deadline) {
    ASSERT_FALSE(first.wait_for(std::chrono::milliseconds(5))) << first.err();
  }
  first.signal(SIGKILL);
  auto rc = first.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(rc);
  ASSERT_EQ(*rc, 128 + SIGKILL);
  const auto before = complete_lines(first.out());
  ASSERT_GT(before.size(), static_cast<std::size_t>(kFirst));
  ASSERT_EQ(before, numbered(0, static_cast<int>(before.size())));

  // The restart.
  args.push_back("--exit-at-end");
  std::string out;
  ASSERT_EQ(consume(args, &out), 0);
  const auto after = split_lines(out);
  // It resumes at a committed offset k: at or after the first part's commit, and not after
  // what the first run printed (no gap); from there every message, in order, to the end.
  // (Nothing at all: the kill came after everything was printed and committed.)
  int k = kFirst + kSecond;
  if (!after.empty()) {
    ASSERT_EQ(after.front().rfind('m', 0), 0u) << after.front();
    k = std::stoi(after.front().substr(1));
  }
  EXPECT_GE(k, kFirst) << "restarted below the committed offset";
  EXPECT_LE(k, static_cast<int>(before.size())) << "messages between the runs are missing";
  EXPECT_EQ(after, numbered(k, kFirst + kSecond - k));
  // Duplicates: exactly the first run's uncommitted tail.
  std::printf("kill -9 after %zu printed; resumed at %d (%d printed twice)\n", before.size(), k,
              static_cast<int>(before.size()) - k);
}

TEST(ConsumeIntegration, OutputLinesCountMessages) {
  const std::string bootstrap = st::bootstrap("single");
  const std::string topic = st::unique_topic("consume-wc");
  ASSERT_EQ(st::create_topic("single", topic, 3, 1), 0);
  std::vector<std::string> lines;
  for (int i = 0; i < 500; ++i) lines.push_back("\"message " + std::to_string(i) + "\"");
  kcat_produce(bootstrap, topic, lines);
  std::string out;
  ASSERT_EQ(shell("'" + speedlayer_bin() + "' consume --brokers " + bootstrap + " --topic " +
                      topic + " --exit-at-end | wc -l",
                  &out),
            0);
  EXPECT_EQ(std::stoi(out), 500);
}

}  // namespace
