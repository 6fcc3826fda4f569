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
