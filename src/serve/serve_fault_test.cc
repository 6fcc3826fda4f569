// `speedlayer serve`'s exactness under failures, against a real broker: three replicas on a
// six-partition topic fed continuously at about 2,000 records/s; every few seconds one replica
// is killed with SIGKILL and started again; once the broker is stopped (SIGSTOP) for 5 s. At
// the end every window's record count and every term count (a small vocabulary, so exact),
// and the late and malformed counts, equal an independent recount of the input topic.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include "produce/produce_test_support.h"
#include "serve/serve_test_support.h"
#include "views/views.h"

namespace speedlayer::testing {
namespace {

using namespace std::chrono_literals;

TEST(ServeFaults, KillsAndABrokerStallLeaveEveryCountExact) {
  const std::string brokers = bootstrap("single");
  const std::string dir = temp_dir("serve-faults");
  const std::string topic = unique_topic("serve-faults");
  ASSERT_EQ(create_topic("single", topic, 6, 1), 0);
  std::ofstream(dir + "/no-routes.yaml") << "routes: []\n";
  const std::string fifo = dir + "/feed";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int pid = broker_pid("single");
  ASSERT_GT(pid, 1);

  // The feeder: JSON objects with an event time, paced into `speedlayer produce` through a
  // pipe; about one in 25 is 30 s behind (late: 10 s windows, 2 s grace), one in 200 has no
  // text field (malformed).
  ChildProcess produce({"sh", "-c", "exec \"$@\" < \"$0\"", fifo, speedlayer_bin(), "produce",
                        "--brokers", brokers, "--topic", topic, "--format", "json", "--routes",
                        dir + "/no-routes.yaml"});
  std::atomic<bool> stop_feeding{false};
  std::atomic<long long> sent{0};
  std::thread feeder([&] {
    // Close-on-exec: the serve replicas started meanwhile must not hold the pipe open.
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    std::mt19937_64 rng(42);
    const auto started = SteadyClock::now();
    for (long long i = 0; !stop_feeding.load(); ++i) {
      std::string lines;
      for (int k = 0; k < 20; ++k) {
        const long long now = wall_ms();
        const long long ts = rng() % 25 == 0 ? now - 30'000 : now;
        const auto word = "w" + std::to_string(rng() % 12);
        if (rng() % 200 == 0) {
          lines += "{\"ts\":" + std::to_string(ts) + ",\"body\":\"" + word + "\"}\n";
        } else {
          lines += "{\"ts\":" + std::to_string(ts) + ",\"text\":\"" + word + " common\"}\n";
        }
      }
      if (::write(fd, lines.data(), lines.size()) != static_cast<ssize_t>(lines.size())) break;
      sent += 20;
      std::this_thread::sleep_until(started + (i + 1) * 10ms);
    }
    ::close(fd);
  });
  // The feeder ends (and is joined) however the test ends.
  struct JoinFeeder {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~JoinFeeder() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } join_feeder{stop_feeding, feeder};

  const std::string group = unique_topic("serve-faults-group");
  auto args = [&](int i) {
    return std::vector<std::string>{
        "--brokers", brokers, "--topic",       topic,
        "--group",   group,   "--time-field",  "ts",
        "--window",  "10s",   "--grace",       "2s",
        "--top-k",   "50",    "--instance-id", "replica-" + std::to_string(i)};
  };
  std::vector<std::unique_ptr<ServeReplica>> replicas;
  for (int i = 0; i < 3; ++i) {
    replicas.push_back(std::make_unique<ServeReplica>("replica-" + std::to_string(i), args(i)));
    replicas.back()->start();
  }
  for (auto& r : replicas) ASSERT_TRUE(r->wait_ready(120s));

  // Faults while the feed runs, on a fixed schedule: every 6 s a kill -9 and restart, round
  // robin (four of them), with a 5 s broker stall after the second; then the feed stops.
  int kills = 0;
  bool stalled = false;
  for (int step = 0; step < 5; ++step) {
    std::this_thread::sleep_for(6s);
    if (step == 2) {
      ::kill(pid, SIGSTOP);
      std::this_thread::sleep_for(5s);
      ::kill(pid, SIGCONT);
      stalled = true;
      continue;
    }
    auto& victim = replicas[static_cast<std::size_t>(kills % 3)];
    victim->proc().signal(SIGKILL);
    ASSERT_TRUE(victim->proc().wait_for(10s));
    victim = std::make_unique<ServeReplica>(victim->name(), args(kills % 3));
    victim->start();
    ++kills;
  }
  std::this_thread::sleep_for(3s);
  stop_feeding = true;
  feeder.join();
  auto produced = produce.wait_for(120s);
  ASSERT_TRUE(produced) << "produce did not finish:\n" << produce.err();
  ASSERT_EQ(*produced, 0) << produce.err();
  ASSERT_TRUE(stalled);
  ASSERT_EQ(kills, 4);
  const auto total = static_cast<std::uint64_t>(sent.load());
  ASSERT_EQ(parse_summary(produce.err())["delivered"], static_cast<long long>(total))
      << produce.err();
  for (auto& r : replicas) {
    ASSERT_TRUE(r->running()) << r->name() << " ended:\n" << r->proc().err();
    ASSERT_TRUE(r->wait_consumed(topic, total, 180s));
  }

  // The independent recount: the input topic read back partition by partition, in offset
  // order, through fresh aggregators with the same window rules and no failures.
  views::WindowConfig config;
  config.size_ms = 10'000;
  config.grace_ms = 2'000;
  config.top_k = 50;
  std::string out;
  ASSERT_EQ(run_command({"kcat", "-C", "-b", brokers, "-t", topic, "-o", "beginning", "-e", "-q",
                         "-f", "%p\t%s\n"},
                        &out),
            0);
  std::map<int, std::unique_ptr<views::PartitionAggregator>> recount;
  std::istringstream in(out);
  std::string line;
  std::uint64_t read_back = 0, malformed = 0;
  while (std::getline(in, line)) {
    const auto tab = line.find('\t');
    const int partition = std::stoi(line.substr(0, tab));
    auto& agg = recount[partition];
    if (!agg) agg = std::make_unique<views::PartitionAggregator>(topic, partition, config);
    auto e = views::extract_text(line.substr(tab + 1), "text", "ts", 1 << 20);
    ++read_back;
    if (e.problem != views::Malformed::none) {
      agg->add_malformed(e.problem);
      ++malformed;
    } else {
      agg->add(*e.event_time, e.text);
    }
  }
  ASSERT_EQ(read_back, total);
  std::map<long long, std::uint64_t> counts;
  std::map<long long, std::map<std::string, std::uint64_t>> terms;
  std::uint64_t late = 0;
  for (const auto& [p, agg] : recount) {
    late += agg->state().late;
    agg->for_each_window([&](views::Millis start, const views::Partial& w) {
      counts[start] += w.count;
      for (const auto& [t, c] : w.terms) terms[start][t] += c;
    });
  }
  ASSERT_GT(late, 0u);
  ASSERT_GT(malformed, 0u);

  for (auto& r : replicas) {
    SCOPED_TRACE(r->name());
    auto totals = r->totals(topic);
    ASSERT_TRUE(totals);
    EXPECT_EQ((*totals)["consumed"], total) << totals->dump();
    EXPECT_EQ((*totals)["late"], late) << totals->dump();
    EXPECT_EQ((*totals)["malformed"], Json({{"no_text", malformed}})) << totals->dump();
    auto view = r->view(topic);
    ASSERT_TRUE(view);
    std::map<long long, std::uint64_t> got_counts;
    std::map<long long, std::map<std::string, std::uint64_t>> got_terms;
    for (const auto& w : (*view)["windows"]) {
      const long long start = w["start"];
      got_counts[start] = w["count"];
      for (const auto& t : w["top"]) got_terms[start][t["term"]] = t["count"];
    }
    EXPECT_EQ(got_counts, counts);
    EXPECT_EQ(got_terms, terms);
  }
  std::printf("[ info   ] %llu records, %d kills, a 5 s broker stall, %llu late, %llu malformed\n",
              static_cast<unsigned long long>(total), kills, static_cast<unsigned long long>(late),
              static_cast<unsigned long long>(malformed));
  for (auto& r : replicas) {
    r->proc().signal(SIGTERM);
    auto code = r->proc().wait_for(30s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0) << r->proc().err();
  }
}

}  // namespace
}  // namespace speedlayer::testing
