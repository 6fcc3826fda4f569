// Faults on a real 3-broker cluster (fixture kafka_cluster3: replication factor 3,
// min.insync.replicas 2): the partition leader is killed with SIGKILL in the middle of a
// large input and restarted later. Every line must arrive exactly once, in order per partition.
#include <signal.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

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

TEST(ProduceFault, LeaderKilledMidInputEveryLineArrivesExactlyOnceInOrder) {
  const std::string brokers = bootstrap("cluster3");
  const std::string dir = temp_dir("fault");
  const std::string topic = unique_topic("fault");
  ASSERT_EQ(create_topic("cluster3", topic, 3, 3), 0);
  std::ofstream(dir + "/no-routes.yaml") << "routes: []\n";
  constexpr int kLines = 1'000'000;
  std::vector<std::string> lines;
  lines.reserve(kLines);
  for (int i = 1; i <= kLines; ++i) lines.push_back(numbered_line(i, "payload to survive a crash"));
  write_lines(dir + "/in.txt", lines);

  int leader = leader_of_partition0(brokers, topic);
  ASSERT_GE(leader, 1) << "no leader found for " << topic;

  ChildProcess p({speedlayer_bin(), "produce", "--brokers", brokers, "--topic", topic, "--routes",
                  dir + "/no-routes.yaml", "--input", dir + "/in.txt", "--progress",
                  "--dead-letter", dir + "/dlq.jsonl"});
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (p.err().find("delivered") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    ASSERT_FALSE(p.wait_for(20ms)) << "finished before the fault\n" << p.err();
  }
  kill_node("cluster3", leader);
  EXPECT_FALSE(p.wait_for(5s)) << "finished while the leader was down: the fault came too late";
  start_node("cluster3", leader);

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

}  // namespace
}  // namespace speedlayer::testing
