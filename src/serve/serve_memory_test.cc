// `speedlayer serve` under a real 256 MiB memory cgroup (the Deployment's limit), with two
// hours of event time over six partitions and a distinct word in every record: the state that
// used to outgrow the pod (every kept window holding thousands of counters) must stay under
// the limit, before and after a kill -9, with record counts exact and the reported error
// bounds true against an exact recount.
#include <signal.h>

#include <fstream>

#include "produce/produce_test_support.h"
#include "serve/serve_test_support.h"
#include "support/memory_cgroup.h"

namespace speedlayer::testing {
namespace {

using namespace std::chrono_literals;

TEST(ServeMemory, TwoHoursOfDistinctWordsStayUnder256MiBAndRestoreThere) {
  constexpr std::uint64_t kLimit = 256ull << 20;
  MemoryCgroup cgroup(kLimit);
  // CI and the development machines can make one (cgroup v1 or a delegated v2): a missing
  // precondition fails, it does not skip.
  ASSERT_TRUE(cgroup.why.empty() && !cgroup.dir.empty()) << cgroup.why;
  const std::string brokers = bootstrap("single");
  const std::string dir = temp_dir("serve-memory");
  const std::string topic = unique_topic("serve-memory");
  ASSERT_EQ(create_topic("single", topic, 6, 1), 0);
  std::ofstream(dir + "/no-routes.yaml") << "routes: []\n";

  // 2,400,000 records over the two hours before now: 20,000 per 60 s window, 3,333 distinct
  // ids per window and partition, all kept while the window is open.
  constexpr long long kRecords = 2'400'000;
  const long long now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  const long long first = (now - 7'200'000) / 60'000 * 60'000;
  std::map<long long, std::uint64_t> per_window;
  {
    std::ofstream in(dir + "/in.jsonl");
    for (long long i = 0; i < kRecords; ++i) {
      const long long ts = first + i * 3;  // 3 ms apart: 2 hours
      ++per_window[ts / 60'000 * 60'000];
      in << "{\"ts\":" << ts << ",\"text\":\"id" << i << " common words\"}\n";
    }
  }
  ChildProcess produce({speedlayer_bin(), "produce", "--brokers", brokers, "--topic", topic,
                        "--format", "json", "--routes", dir + "/no-routes.yaml", "--input",
                        dir + "/in.jsonl"});
  auto produced = produce.wait_for(300s);
  ASSERT_TRUE(produced);
  ASSERT_EQ(*produced, 0) << produce.err();

  const std::string group = unique_topic("serve-memory-group");
  // Listening on port 0: the port serve got is read from its log line (no free-port race).
  auto port_of = [](ChildProcess& p) {
    int port = -1;
    wait_until(
        60s,
        [&] {
          const std::string err = p.err();
          const std::string marker = "HTTP on http://127.0.0.1:";
          const auto at = err.find(marker);
          if (at != std::string::npos) port = std::atoi(err.c_str() + at + marker.size());
          return port > 0 || p.wait_for(0ms).has_value();
        },
        20ms);
    return port;
  };
  auto start_serve = [&]() {
    // As in the pod: serve finds its limit in its cgroup (no --memory-limit flag).
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{"sh",
                                 "-c",
                                 "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"",
                                 cgroup.dir,
                                 speedlayer_bin(),
                                 "serve",
                                 "--brokers",
                                 brokers,
                                 "--topic",
                                 topic,
                                 "--group",
                                 group,
                                 "--time-field",
                                 "ts",
                                 "--retention",
                                 "3h",
                                 "--top-k",
                                 "3",
                                 "--listen",
                                 "127.0.0.1:0"});
  };
  auto consumed = [&](int port) -> std::uint64_t {
    auto r = http_get(port, "/v1/topics");
    if (r.status != 200) return 0;
    auto j = Json::parse(r.body, nullptr, false);
    if (j.is_discarded()) return 0;
    for (const auto& t : j["topics"])
      if (t["topic"] == topic) return t["consumed"].get<std::uint64_t>();
    return 0;
  };
  // Every window's count exact, and "common" (in every record) within its reported bound.
  auto check_views = [&](int port) {
    auto r = http_get(port, "/v1/views?topic=" + topic);
    ASSERT_EQ(r.status, 200);
    auto view = Json::parse(r.body);
    ASSERT_EQ(view["windows"].size(), per_window.size());
    for (const auto& w : view["windows"]) {
      const long long start = w["start"];
      const std::uint64_t truth = per_window[start];
      EXPECT_EQ(w["count"].get<std::uint64_t>(), truth) << "window " << start;
      bool seen = false;
      for (const auto& t : w["top"]) {
        if (t["term"] != "common") continue;
        seen = true;
        const std::uint64_t count = t["count"], error = t["error"];
        EXPECT_LE(count, truth + error) << "window " << start;
        EXPECT_GE(count + error, truth) << "window " << start;
      }
      EXPECT_TRUE(seen) << "window " << start << ": " << w.dump();
    }
  };

  auto serve = start_serve();
  int port = port_of(*serve);
  ASSERT_GT(port, 0) << serve->err();
  ASSERT_TRUE(wait_until(
      300s, [&] { return serve->wait_for(0ms).has_value() || consumed(port) == kRecords; }, 200ms))
      << serve->err();
  ASSERT_FALSE(serve->wait_for(0ms)) << "serve ended (137 = OOM killed): " << serve->err();
  check_views(port);
  // Whatever the last transaction held when the kill comes, the restart counts it once.
  serve->signal(SIGKILL);
  auto killed = serve->wait_for(10s);
  ASSERT_TRUE(killed);
  std::printf("[ info   ] peak RSS of serve with 2 h of state under 256 MiB: %.1f MiB\n",
              serve->max_rss_bytes() / 1048576.0);
  EXPECT_LT(serve->max_rss_bytes(), kLimit);

  serve = start_serve();
  port = port_of(*serve);
  ASSERT_GT(port, 0) << serve->err();
  ASSERT_TRUE(wait_until(
      300s, [&] { return serve->wait_for(0ms).has_value() || consumed(port) == kRecords; }, 200ms))
      << serve->err();
  ASSERT_FALSE(serve->wait_for(0ms))
      << "restarted serve ended (137 = OOM killed): " << serve->err();
  check_views(port);
  serve->signal(SIGTERM);
  auto code = serve->wait_for(30s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << serve->err();
  std::printf("[ info   ] peak RSS of the restarted serve: %.1f MiB\n",
              serve->max_rss_bytes() / 1048576.0);
  EXPECT_LT(serve->max_rss_bytes(), kLimit);
}

}  // namespace
}  // namespace speedlayer::testing
