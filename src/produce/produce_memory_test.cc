// The producer under a real 128 MiB memory cgroup (the pod's limit) while the broker stalls
// (SIGSTOP): it must size its buffers from the cgroup limit, wait (back-pressure) instead of
// growing, survive, and deliver everything once the broker resumes.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "produce/produce_test_support.h"
#include "support/memory_cgroup.h"

namespace speedlayer::testing {
namespace {

using namespace std::chrono_literals;

std::string broker_pid_file(const std::string& fixture) {
  std::ifstream nodes(fixture_dir(fixture) + "/nodes");
  std::string id, port, pid_file;
  nodes >> id >> port >> pid_file;
  return pid_file;
}

// Routed: every other line names a keyword of a second topic, so produce holds messages per
// route before handing them to librdkafka (outside its buffer budget): that must stay bounded.
void stays_under_128mib_while_the_broker_stalls(bool routed) {
  constexpr std::uint64_t kLimit = 128ull << 20;
  MemoryCgroup cgroup(kLimit);
  if (!cgroup.why.empty() || cgroup.dir.empty()) {
    // The README's 128Mi promise goes untested without a cgroup: the test command requires one
    // (SPEEDLAYER_REQUIRE_CGROUP=1, set by scripts/run-tests.sh), so CI cannot pass by skipping.
    const char* require = std::getenv("SPEEDLAYER_REQUIRE_CGROUP");
    if (require != nullptr && std::string(require) == "1") FAIL() << cgroup.why;
    GTEST_SKIP() << cgroup.why;
  }
  const std::string brokers = bootstrap("single");
  const std::string dir = temp_dir("memory");
  const std::string topic = unique_topic("memory");
  const std::string routed_topic = topic + "-alpha";
  if (routed) {
    std::ofstream(dir + "/routes.yaml")
        << "routes:\n  - topic: " << routed_topic << "\n    keywords: [alpha]\n";
  } else {
    std::ofstream(dir + "/routes.yaml") << "routes: []\n";
  }
  int broker_pid = 0;
  std::ifstream(broker_pid_file("single")) >> broker_pid;
  ASSERT_GT(broker_pid, 1) << "no broker pid in " << fixture_dir("single");

  // The input is a pipe this test writes, so the producer cannot finish before the broker is
  // stalled (from a file it read all 200 MB and exited in 0.6 s, a race the test lost).
  // O_RDWR: opening the FIFO does not wait for the producer; O_CLOEXEC: the producer holds no
  // write end, so closing ours is its end of input.
  const std::string fifo = dir + "/in.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int input = ::open(fifo.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(input, 0);
  std::signal(SIGPIPE, SIG_IGN);  // a producer that died makes write() fail, not this test
  // 2,000 lines of 100 KB: 200 MB of input, far more than the pod may hold.
  constexpr int kLines = 2000, kBeforeStall = 100;
  const std::string filler(100'000, 'x');
  auto write_lines = [&](int from, int to) {
    for (int i = from; i <= to; ++i) {
      const std::string line =
          numbered_line(i, (routed && i % 2 == 0 ? "alpha " : "") + filler) + "\n";
      for (std::size_t done = 0; done < line.size();) {
        const ssize_t n = ::write(input, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
      }
    }
  };

  // As in the pod: the process finds its limit in its cgroup (no --memory-limit flag).
  ChildProcess p({"sh", "-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"", cgroup.dir,
                  speedlayer_bin(), "produce", "--brokers", brokers, "--topic", topic, "--routes",
                  dir + "/routes.yaml", "--progress", "--dead-letter", dir + "/dlq.jsonl"},
                 {.stdin_path = fifo});
  write_lines(1, kBeforeStall);
  // The first progress line (once a second) says deliveries flow; the input is still open.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (p.err().find("delivered") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    ASSERT_FALSE(p.wait_for(20ms)) << p.err();
  }
  ASSERT_NE(p.err().find("delivered"), std::string::npos) << p.err();

  ::kill(broker_pid, SIGSTOP);
  // The rest arrives while the broker is stalled: the producer must hold back (its pipe fills,
  // this writer blocks) instead of growing past the cgroup's limit.
  std::thread writer([&] { write_lines(kBeforeStall + 1, kLines); });
  auto stalled = p.wait_for(8s);
  ::kill(broker_pid, SIGCONT);
  if (stalled) ::close(input);  // unblocks the writer
  writer.join();
  if (!stalled) ::close(input);  // end of input
  ASSERT_FALSE(stalled) << "the producer exited while the broker was stalled: " << *stalled << "\n"
                        << p.err();
  auto code = p.wait_for(240s);
  ASSERT_TRUE(code) << p.err();
  EXPECT_EQ(*code, 0) << "exit " << *code << " (137 = killed by the OOM killer)\n" << p.err();
  auto summary = parse_summary(p.err());
  EXPECT_EQ(summary["delivered"], kLines) << p.err();
  std::printf("peak RSS under a 128 MiB cgroup with a stalled broker: %.1f MiB\n",
              p.max_rss_bytes() / 1048576.0);
  EXPECT_LT(p.max_rss_bytes(), kLimit);
  std::size_t read = read_topic_with_kcat(brokers, topic).size();
  if (routed) {
    const std::size_t alpha = read_topic_with_kcat(brokers, routed_topic).size();
    EXPECT_EQ(alpha, static_cast<std::size_t>(kLines / 2));
    read += alpha;
  }
  EXPECT_EQ(read, static_cast<std::size_t>(kLines));
}

TEST(ProduceMemory, StaysUnder128MiBWhileTheBrokerStalls) {
  stays_under_128mib_while_the_broker_stalls(false);
}

TEST(ProduceMemory, RoutedStaysUnder128MiBWhileTheBrokerStalls) {
  stays_under_128mib_while_the_broker_stalls(true);
}

}  // namespace
}  // namespace speedlayer::testing
