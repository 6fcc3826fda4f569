// Faults on real brokers. On the 3-broker cluster (fixture kafka_cluster3: replication factor
// 3, min.insync.replicas 2) the partition leader is killed with SIGKILL in the middle of a
// large input and restarted later: every line must arrive exactly once, in order per
// partition. On a single broker of the test's own (the shared kafka_single is never killed)
// that dies for good: exit 3 after --connect-timeout, and every line read is delivered or
// dead-lettered. The input is a pipe the test writes, so each fault lands mid-input whatever
// the machine's speed.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "produce/produce_test_support.h"

namespace speedlayer::testing {
namespace {

using namespace std::chrono_literals;

int leader_of_partition0(const std::string& brokers, const std::string& topic) {
  std::string out;
  run_command({"kcat", "-L", "-J", "-b", brokers, "-t", topic}, &out);
  auto md = nlohmann::json::parse(out, nullptr, false);
  if (md.is_discarded()) return -1;
  for (const auto& t : md["topics"]) {
    for (const auto& p : t["partitions"]) {
      if (p["partition"] == 0) return p["leader"].get<int>();
    }
  }
  return -1;
}

// Restarts a killed node when the test ends early, so a failed assertion does not leave the
// shared cluster with one node down for the tests after it.
struct RestartNodeAtExit {
  std::string fixture;
  int id = -1;
  bool killed = false;
  ~RestartNodeAtExit() {
    if (killed) start_node(fixture, id);
  }
};

TEST(ProduceFault, LeaderKilledMidInputEveryLineArrivesExactlyOnceInOrder) {
  const std::string brokers = bootstrap("cluster3");
  const std::string dir = temp_dir("fault");
  const std::string topic = unique_topic("fault");
  ASSERT_EQ(create_topic("cluster3", topic, 3, 3), 0);
  std::ofstream(dir + "/no-routes.yaml") << "routes: []\n";
  // Lines 1..kBeforeKill go in before the kill, kBeforeKill+1..kAcrossKill while it happens,
  // the rest only after the leader is dead: the input is a pipe this test writes, so the
  // producer cannot finish before the fault (from a file it could, on a fast machine).
  constexpr int kLines = 1'000'000, kBeforeKill = 300'000, kAcrossKill = 600'000;
  const std::string words = "payload to survive a crash";
  FifoInput input(dir + "/in.fifo");
  ASSERT_TRUE(input.ok()) << "cannot make the pipe " << input.path();

  int leader = leader_of_partition0(brokers, topic);
  ASSERT_GE(leader, 1) << "no leader found for " << topic;

  ChildProcess p({speedlayer_bin(), "produce", "--brokers", brokers, "--topic", topic, "--routes",
                  dir + "/no-routes.yaml", "--progress", "--dead-letter", dir + "/dlq.jsonl"},
                 {.stdin_path = input.path()});
  ASSERT_TRUE(input.write_numbered(1, kBeforeKill, words)) << p.err();
  // Deliveries flow (a progress line counts one), and the input is still open.
  ASSERT_GT(wait_for_delivered(p, 1, 60s), 0) << "no delivery before the fault\n" << p.err();

  RestartNodeAtExit restart{"cluster3", leader};
  std::thread across([&] { input.write_numbered(kBeforeKill + 1, kAcrossKill, words); });
  kill_node("cluster3", leader);
  restart.killed = true;
  across.join();
  // Written after the leader died: they can only go to its successor.
  ASSERT_TRUE(input.write_numbered(kAcrossKill + 1, kLines, words)) << p.err();
  // Every line confirmed while the old leader is still down (replication 3, min.insync 2).
  EXPECT_EQ(wait_for_delivered(p, kLines, 300s), kLines)
      << "not every line was confirmed while the leader was down\n"
      << p.err();
  ASSERT_FALSE(p.wait_for(0ms)) << "the producer exited with its input still open\n" << p.err();
  // The fault was real: partition 0 was led by another node while those lines went in.
  EXPECT_NE(leader_of_partition0(brokers, topic), leader) << "the killed node still leads";
  start_node("cluster3", leader);
  restart.killed = false;
  input.close();  // end of input

  auto code = p.wait_for(300s);
  ASSERT_TRUE(code) << "producer did not finish\n" << p.err();
  EXPECT_EQ(*code, 0) << p.err();
  auto summary = parse_summary(p.err());
  EXPECT_EQ(summary["read"], kLines);
  EXPECT_EQ(summary["delivered"], kLines) << p.err();

  auto records = read_topic_with_kcat(brokers, topic);
  std::vector<int> seen(kLines + 1, 0);
  std::map<int, int> last_per_partition;
  int out_of_order = 0;
  for (const auto& r : records) {
    int n = line_number_of(r.value);
    ASSERT_GE(n, 1);
    ASSERT_LE(n, kLines);
    ++seen[static_cast<std::size_t>(n)];
    if (n <= last_per_partition[r.partition]) ++out_of_order;
    last_per_partition[r.partition] = n;
  }
  int missing = 0, duplicated = 0;
  for (int i = 1; i <= kLines; ++i) {
    if (seen[static_cast<std::size_t>(i)] == 0) ++missing;
    if (seen[static_cast<std::size_t>(i)] > 1) ++duplicated;
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(duplicated, 0);
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(records.size(), static_cast<std::size_t>(kLines));
}

// A single-node cluster of this test's own (never the shared kafka_single fixture), stopped
// and wiped when the test ends however it ends.
struct OwnBroker {
  std::string dir;
  std::string bootstrap;
  explicit OwnBroker(std::string d) : dir(std::move(d)) {
    std::string out;
    if (run_broker_script({"start", "--dir", dir, "--brokers", "1"}, &out) != 0) return;
    std::ifstream(dir + "/bootstrap") >> bootstrap;
  }
  ~OwnBroker() { run_broker_script({"stop", "--dir", dir, "--clean"}); }
};

TEST(ProduceFault, OnlyBrokerDeadForGoodExits3AndDeadLettersWhatWasNotConfirmed) {
  const std::string dir = temp_dir("only-broker");
  OwnBroker broker(dir + "/kafka");
  ASSERT_FALSE(broker.bootstrap.empty()) << "could not start a broker in " << broker.dir;
  const std::string topic = unique_topic("only-broker");
  ASSERT_EQ(run_broker_script({"create-topic", "--dir", broker.dir, "--topic", topic,
                               "--partitions", "1", "--replication", "1"}),
            0);
  std::ofstream(dir + "/no-routes.yaml") << "routes: []\n";
  constexpr int kBeforeDeath = 1000, kLines = 2000;
  const std::string words = "payload with no broker left";
  FifoInput input(dir + "/in.fifo");
  ASSERT_TRUE(input.ok()) << "cannot make the pipe " << input.path();

  // --flush-timeout far above --connect-timeout: only the unreachable cluster can end the run
  // before the input does.
  constexpr auto kConnectTimeout = 5s;
  ChildProcess p({speedlayer_bin(), "produce", "--brokers", broker.bootstrap, "--topic", topic,
                  "--routes", dir + "/no-routes.yaml", "--progress", "--connect-timeout", "5s",
                  "--flush-timeout", "600s", "--dead-letter", dir + "/dlq.jsonl"},
                 {.stdin_path = input.path()});
  ASSERT_TRUE(input.write_numbered(1, kBeforeDeath, words)) << p.err();
  ASSERT_EQ(wait_for_delivered(p, kBeforeDeath, 60s), kBeforeDeath) << p.err();

  // The broker dies for good (kill -9; it comes back only to read the topic after the run).
  // `died` is taken before the kill: the producer cannot see the cluster down any earlier.
  const auto died = std::chrono::steady_clock::now();
  ASSERT_EQ(run_broker_script({"kill-node", "--dir", broker.dir, "--node", "1"}), 0);
  // Lines after the death: the producer takes them and cannot deliver them. The input stays
  // open: the producer must give up by itself, not wait for more input.
  ASSERT_TRUE(input.write_numbered(kBeforeDeath + 1, kLines, words)) << p.err();
  auto code = p.wait_for(120s);
  ASSERT_TRUE(code) << "the producer did not give up on a dead cluster\n" << p.err();
  const auto after_death = std::chrono::steady_clock::now() - died;
  input.close();
  std::printf("exit %d, %.1f s after the broker died (--connect-timeout 5s)\n", *code,
              std::chrono::duration<double>(after_death).count());
  EXPECT_EQ(*code, 3) << p.err();
  EXPECT_NE(p.err().find("cluster unreachable"), std::string::npos) << p.err();
  EXPECT_GE(after_death, kConnectTimeout) << "gave up before --connect-timeout";

  // Counts add up: every line read is delivered or dead-lettered, with a reason.
  auto summary = parse_summary(p.err());
  ASSERT_FALSE(summary.empty()) << "no summary line\n" << p.err();
  EXPECT_GT(summary["read"], kBeforeDeath) << p.err();
  EXPECT_LE(summary["read"], kLines) << p.err();
  EXPECT_EQ(summary["delivered"], kBeforeDeath) << p.err();
  EXPECT_EQ(summary["delivered"] + summary["dead-lettered"], summary["read"]) << p.err();
  EXPECT_EQ(summary["failed"], summary["dead-lettered"]) << p.err();
  std::vector<int> where(kLines + 1, 0);  // 1 in the topic, 2 dead-lettered
  auto dead = read_lines(dir + "/dlq.jsonl");
  EXPECT_EQ(static_cast<long long>(dead.size()), summary["dead-lettered"]);
  for (const auto& d : dead) {
    auto record = nlohmann::json::parse(d, nullptr, false);
    ASSERT_FALSE(record.is_discarded()) << d;
    const int line = record["line"].get<int>();
    ASSERT_GT(line, kBeforeDeath) << d;
    ASSERT_LE(line, kLines) << d;
    EXPECT_EQ(line_number_of(record["value"].dump()), line) << d;
    EXPECT_NE(record["reason"].get<std::string>().find("cluster unreachable"), std::string::npos)
        << d;
    where[static_cast<std::size_t>(line)] |= 2;
  }

  // What the producer counted as delivered is in the topic once the broker is back.
  ASSERT_EQ(run_broker_script({"start-node", "--dir", broker.dir, "--node", "1"}), 0);
  auto records =
      read_topic_with_kcat(broker.bootstrap, topic, static_cast<std::size_t>(summary["delivered"]));
  EXPECT_EQ(records.size(), static_cast<std::size_t>(kBeforeDeath));
  for (const auto& r : records) {
    const int n = line_number_of(r.value);
    ASSERT_GE(n, 1);
    ASSERT_LE(n, kLines);
    where[static_cast<std::size_t>(n)] |= 1;
  }
  int lost = 0;
  for (long long i = 1; i <= summary["read"]; ++i) {
    if (where[static_cast<std::size_t>(i)] == 0) ++lost;
  }
  EXPECT_EQ(lost, 0) << "lines read but neither in the topic nor dead-lettered";
}

}  // namespace
}  // namespace speedlayer::testing
