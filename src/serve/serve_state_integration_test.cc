// `speedlayer serve`'s state against a real Kafka broker (fixture kafka_single), issue 12:
// records that cannot fit never cost exactness, deployments never see each other's state,
// event times are bounded, and a changelog of the earlier format is adopted on upgrade.
#include <signal.h>

#include <fstream>
#include <set>

#include "kafka/admin.h"
#include "kafka/producer.h"
#include "produce/produce_test_support.h"
#include "serve/serve_test_support.h"
#include "views/views.h"

namespace speedlayer::testing {
namespace {

using namespace std::chrono_literals;

// The value of a Prometheus sample line "name{labels} value" (or "name value"); -1 if absent.
double metric(const std::string& body, const std::string& series) {
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// A producer of the test's own (records written as another writer would), events ignored.
struct NoEvents : kafka::ProducerEvents {
  void on_delivery(const kafka::DeliveryReport&) noexcept override {}
  void on_client_error(rd_kafka_resp_err_t, std::string_view, bool) noexcept override {}
};

class ServeState : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = bootstrap("single");
    dir_ = temp_dir(std::string("serve-state-") +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    no_routes_ = dir_ + "/no-routes.yaml";
    std::ofstream(no_routes_) << "routes: []\n";
  }

  void produce(const std::string& topic, const std::vector<std::string>& lines,
               const std::string& format) {
    const std::string path = write_lines(dir_ + "/input-" + std::to_string(++inputs_), lines);
    ChildProcess p({speedlayer_bin(), "produce", "--brokers", brokers_, "--topic", topic,
                    "--format", format, "--routes", no_routes_, "--input", path});
    auto code = p.wait_for(180s);
    ASSERT_TRUE(code) << "produce still running after 180 s";
    ASSERT_EQ(*code, 0) << p.err();
    ASSERT_EQ(parse_summary(p.err())["delivered"], static_cast<long long>(lines.size())) << p.err();
  }

  std::vector<std::string> args(const std::string& topic, const std::string& group,
                                std::vector<std::string> extra = {}) {
    std::vector<std::string> a{"--brokers", brokers_, "--topic", topic, "--group", group};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  static void stop(ServeReplica& r) {
    r.proc().signal(SIGTERM);
    auto code = r.proc().wait_for(30s);
    ASSERT_TRUE(code) << r.name() << " did not stop within 30 s";
    EXPECT_EQ(*code, 0) << r.proc().err();
  }

  std::string brokers_, dir_, no_routes_;
  int inputs_ = 0;
};

// The case that lost records before: a window's partial outgrew the producer's message limit
// (five distinct 300 KB words), produce() refused it locally, and the offsets were committed
// without it. Now such words are dropped and counted (--max-term-bytes), every record serve
// writes has a bounded size, and a kill -9 loses nothing.
TEST_F(ServeState, HugeDistinctWordsThenKillNineRestoresExactCounts) {
  const std::string topic = unique_topic("state-huge");
  ASSERT_EQ(create_topic("single", topic, 1, 1), 0);
  std::vector<std::string> lines;
  for (int i = 0; i < 5; ++i) lines.push_back(std::string(300'000, static_cast<char>('a' + i)));
  for (int i = 0; i < 10; ++i) lines.push_back("short line " + std::to_string(i));
  produce(topic, lines, "text");

  const std::string group = unique_topic("state-huge-group");
  ServeReplica first("serve-1", args(topic, group));
  first.start();
  ASSERT_TRUE(first.wait_ready(90s));
  ASSERT_TRUE(first.wait_consumed(topic, 15, 60s));
  // Wait for the commit that holds all 15 (the changelog replayed as a restore would).
  const std::string changelog = group + ".changelog";
  bool committed = wait_until(
      30s,
      [&] {
        views::ViewStore store(views::WindowConfig{}, group);
        for (const auto& r : read_committed_with_kcat(brokers_, changelog))
          (void)store.apply(r.key,
                            r.null_value ? std::nullopt : std::optional<std::string_view>(r.value));
        auto totals = store.totals();
        return !totals.empty() && totals[0].consumed == 15;
      },
      200ms);
  ASSERT_TRUE(committed) << first.proc().err();
  auto metrics = first.get("/metrics").body;
  EXPECT_EQ(metric(metrics, "speedlayer_transactions_aborted_total"), 0) << metrics;
  EXPECT_EQ(metric(metrics, "speedlayer_long_terms_total{topic=\"" + topic + "\"}"), 5) << metrics;
  first.proc().signal(SIGKILL);
  ASSERT_TRUE(first.proc().wait_for(10s));

  ServeReplica second("serve-2", args(topic, group));
  second.start();
  ASSERT_TRUE(second.wait_ready(90s));
  auto totals = second.totals(topic);
  ASSERT_TRUE(totals);
  EXPECT_EQ((*totals)["consumed"], 15) << totals->dump();
  EXPECT_EQ((*totals)["count"], 15) << totals->dump();
  EXPECT_EQ((*totals)["long_terms"], 5) << totals->dump();
  auto view = second.view(topic);
  ASSERT_TRUE(view);
  EXPECT_EQ(window_sum(*view), 15u);
  EXPECT_EQ(term_sums(*view)["short"], 10u) << view->dump();
  metrics = second.get("/metrics").body;
  EXPECT_EQ(metric(metrics, "speedlayer_transactions_aborted_total"), 0) << metrics;
  stop(second);
}

// Two replicas on one host with the default transactional ids both work (no fencing), and
// each answers for the whole topic; a second group on the same topic (a reprocess, another
// deployment) gets its own default changelog and counts each record once.
TEST_F(ServeState, GroupsAreIsolatedAndReplicasOnOneHostDoNotFenceEachOther) {
  const std::string topic = unique_topic("state-groups");
  ASSERT_EQ(create_topic("single", topic, 4, 1), 0);
  std::vector<std::string> lines;
  for (int i = 0; i < 2'000; ++i) lines.push_back("record " + std::to_string(i % 10));
  produce(topic, lines, "text");

  const std::string g1 = unique_topic("state-g1");
  ServeReplica a("g1-a", args(topic, g1));
  ServeReplica b("g1-b", args(topic, g1));
  a.start();
  b.start();
  ASSERT_TRUE(a.wait_ready(90s));
  ASSERT_TRUE(b.wait_ready(90s));
  ASSERT_TRUE(a.wait_consumed(topic, 2'000, 90s));
  ASSERT_TRUE(b.wait_consumed(topic, 2'000, 90s));
  EXPECT_TRUE(a.running()) << a.proc().err();
  EXPECT_TRUE(b.running()) << b.proc().err();
  stop(a);
  stop(b);

  const std::string g2 = unique_topic("state-g2");
  ServeReplica c("g2", args(topic, g2));
  c.start();
  ASSERT_TRUE(c.wait_ready(90s));
  ASSERT_TRUE(c.wait_consumed(topic, 2'000, 90s));
  auto totals = c.totals(topic);
  ASSERT_TRUE(totals);
  EXPECT_EQ((*totals)["count"], 2'000) << totals->dump();
  // The first group's state is in its own topic, named after it.
  EXPECT_FALSE(read_committed_with_kcat(brokers_, g1 + ".changelog").empty());
  stop(c);
}

// Event times from a time field (numbers and ISO-8601) more than --max-future ahead, or
// before 1970, are malformed and move nothing.
TEST_F(ServeState, FutureAndNegativeEventTimesAreMalformed) {
  const std::string topic = unique_topic("state-times");
  ASSERT_EQ(create_topic("single", topic, 1, 1), 0);
  const long long now = wall_ms();
  std::vector<std::string> lines{
      "{\"ts\":" + std::to_string(now + 2 * 3'600'000LL) + ",\"text\":\"future number\"}",
      "{\"ts\":\"2999-01-01T00:00:00Z\",\"text\":\"future iso\"}",
      "{\"ts\":-5,\"text\":\"negative number\"}",
      "{\"ts\":\"1969-12-31T23:59:59Z\",\"text\":\"negative iso\"}",
      "{\"ts\":" + std::to_string(now) + ",\"text\":\"fine now\"}",
      "{\"ts\":" + std::to_string(now - 30'000) + ",\"text\":\"fine earlier\"}",
      "{\"ts\":" + std::to_string(now + 60'000) + ",\"text\":\"fine soon\"}",
  };
  produce(topic, lines, "json");
  ServeReplica serve("serve", args(topic, unique_topic("state-times-group"),
                                   {"--time-field", "ts", "--grace", "10m"}));
  serve.start();
  ASSERT_TRUE(serve.wait_ready(90s));
  ASSERT_TRUE(serve.wait_consumed(topic, 7, 60s));
  auto totals = serve.totals(topic);
  ASSERT_TRUE(totals);
  EXPECT_EQ((*totals)["count"], 3) << totals->dump();
  EXPECT_EQ((*totals)["malformed"], Json({{"bad_time", 2}, {"future_time", 2}})) << totals->dump();
  auto view = serve.view(topic);
  ASSERT_TRUE(view);
  EXPECT_EQ(term_sums(*view)["fine"], 3u) << view->dump();
  EXPECT_EQ(term_sums(*view).count("future"), 0u) << view->dump();
  stop(serve);
}

// A rolling upgrade: the group's offsets were committed with a changelog of format 1 (full
// partials, JSON state, no group in the keys). serve adopts it, goes on from the committed
// offsets, rewrites it as format 2 and tombstones it; a later restart reads the same counts.
TEST_F(ServeState, FormatOneChangelogIsAdoptedOnUpgrade) {
  const std::string topic = unique_topic("state-upgrade");
  ASSERT_EQ(create_topic("single", topic, 1, 1), 0);
  std::vector<std::string> lines;
  for (int i = 0; i < 100; ++i) lines.push_back("upgrade " + std::to_string(i < 60 ? 1 : 2));
  produce(topic, lines, "text");
  const std::string group = unique_topic("state-upgrade-group");
  const std::string changelog = unique_topic("state-upgrade-changelog");
  ASSERT_EQ(create_topic("single", changelog, 3, 1), 0);

  // What an earlier version committed after the first 60 records: their partial and state
  // (in one window, as of their timestamps), and offset 60.
  views::WindowConfig config;
  views::PartitionAggregator old(topic, 0, config);
  const long long now = wall_ms();
  for (int i = 0; i < 60; ++i) old.add(now, "upgrade 1");
  kafka::Properties props;
  props.set("bootstrap.servers", brokers_, "test");
  // As the earlier serve wrote them (keyed, murmur2): the tombstones serve writes for them
  // must land in the same changelog partitions for compaction to remove them.
  props.set("partitioner", "murmur2_random", "test");
  NoEvents events;
  auto producer = kafka::Producer::create(props, &events);
  ASSERT_TRUE(producer);
  for (views::Millis start : old.take_dirty_windows()) {
    ASSERT_EQ((*producer)->produce(changelog, views::changelog_window_key(topic, 0, start),
                                   views::encode_partial(*old.window(start)), 0),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_EQ((*producer)->produce(changelog, views::changelog_state_key(topic, 0),
                                 views::encode_state(old.state()), 0),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ((*producer)->flush(30'000), RD_KAFKA_RESP_ERR_NO_ERROR);
  {
    kafka::Properties cp = props;
    cp.set("group.id", group, "test");
    auto conf = kafka::make_conf(cp);
    ASSERT_TRUE(conf);
    char err[256];
    kafka::KafkaPtr consumer(rd_kafka_new(RD_KAFKA_CONSUMER, conf->release(), err, sizeof err));
    ASSERT_TRUE(consumer) << err;
    kafka::PartitionListPtr offsets(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(offsets.get(), topic.c_str(), 0)->offset = 60;
    ASSERT_EQ(rd_kafka_commit(consumer.get(), offsets.get(), 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_consumer_close(consumer.get());
  }

  const auto serve_args = args(topic, group, {"--changelog-topic", changelog});
  ServeReplica first("serve-1", serve_args);
  first.start();
  ASSERT_TRUE(first.wait_ready(90s));
  ASSERT_TRUE(first.wait_consumed(topic, 100, 60s));
  auto view = first.view(topic);
  ASSERT_TRUE(view);
  EXPECT_EQ(window_sum(*view), 100u) << view->dump();
  EXPECT_EQ(term_sums(*view)["upgrade"], 100u) << view->dump();
  stop(first);

  // The format 1 keys are tombstoned; format 2 holds the state.
  std::map<std::string, bool> latest_null;
  for (const auto& r : read_committed_with_kcat(brokers_, changelog))
    latest_null[r.key] = r.null_value;
  EXPECT_TRUE(latest_null[views::changelog_state_key(topic, 0)]) << "format 1 state not tombstoned";
  EXPECT_FALSE(latest_null[views::ChangelogKeys(group).state(topic, 0)]);

  ServeReplica second("serve-2", serve_args);
  second.start();
  ASSERT_TRUE(second.wait_ready(90s));
  auto totals = second.totals(topic);
  ASSERT_TRUE(totals);
  EXPECT_EQ((*totals)["consumed"], 100) << totals->dump();
  EXPECT_EQ((*totals)["count"], 100) << totals->dump();
  stop(second);

  // Offsets without any state (the changelog the group used is not the one given): refused.
  ServeReplica wrong(
      "serve-wrong",
      args(topic, group, {"--changelog-topic", unique_topic("state-upgrade-other")}));
  wrong.start();
  auto code = wrong.proc().wait_for(90s);
  ASSERT_TRUE(code) << "serve kept running with offsets but no state";
  EXPECT_EQ(*code, 2) << wrong.proc().err();
  EXPECT_NE(wrong.proc().err().find("holds no state"), std::string::npos) << wrong.proc().err();
}

// Late records go to --late-topic in the same transactions as the offsets: after a kill -9
// mid-stream and a restart, the late topic holds every late record exactly once, with its
// original value and headers saying why, and each window counts its own late records.
TEST_F(ServeState, LateRecordsReachTheLateTopicExactlyOnceAcrossAKillNine) {
  const std::string topic = unique_topic("state-late");
  ASSERT_EQ(create_topic("single", topic, 1, 1), 0);
  const long long B = (wall_ms() - 3'600'000) / 1'000 * 1'000;  // an hour ago, aligned
  constexpr int kTotal = 100'000;
  std::vector<std::string> lines;
  std::set<std::string> expected_late;
  std::set<long long> counted_windows;  // a window counts its late records while it is kept
  std::map<long long, std::uint64_t> late_by_window;
  long long stream_time = -1;
  for (int i = 0; i < kTotal; ++i) {
    // Every tenth record is 5 s behind: late (1 s windows, 100 ms grace) once stream time
    // has passed its window's end + grace.
    const long long ts = i % 10 == 9 ? B + i - 5'000 : B + i;
    const std::string line =
        "{\"ts\":" + std::to_string(ts) + ",\"text\":\"r" + std::to_string(i) + "\"}";
    stream_time = std::max(stream_time, ts);
    const long long start = ts / 1'000 * 1'000;
    if (start + 1'000 + 100 <= stream_time) {
      expected_late.insert(line);
      ++late_by_window[start];
    } else {
      counted_windows.insert(start);
    }
    lines.push_back(line);
  }
  ASSERT_GT(expected_late.size(), 9'000u);
  produce(topic, lines, "json");

  const std::string group = unique_topic("state-late-group");
  const std::string late_topic = unique_topic("state-late-records");
  // The restart reuses the transactional id, as a pod's restarted container does: it aborts
  // the killed process's open transaction at once, so readers of the late topic are not held
  // back by it until transaction.timeout.ms.
  const auto serve_args = args(topic, group,
                               {"--time-field", "ts", "--window", "1s", "--grace", "100ms",
                                "--late-topic", late_topic, "--transactional-id", group + "-txn"});
  ServeReplica first("serve-1", serve_args);
  first.start();
  const auto [killed, at_kill] = first.kill_mid_stream(topic, kTotal, 120s);
  ASSERT_TRUE(killed) << first.proc().err();
  ASSERT_LT(at_kill, static_cast<std::uint64_t>(kTotal)) << "consumed everything before the kill";
  ASSERT_TRUE(first.proc().wait_for(10s));

  ServeReplica second("serve-2", serve_args);
  second.start();
  ASSERT_TRUE(second.wait_ready(120s));
  ASSERT_TRUE(second.wait_consumed(topic, kTotal, 120s));
  auto totals = second.totals(topic);
  ASSERT_TRUE(totals);
  EXPECT_EQ((*totals)["late"], expected_late.size()) << totals->dump();
  EXPECT_EQ((*totals)["count"], kTotal - expected_late.size()) << totals->dump();
  auto view = second.view(topic);
  ASSERT_TRUE(view);
  std::uint64_t window_late = 0;
  for (const auto& w : (*view)["windows"]) window_late += w["late"].get<std::uint64_t>();
  std::uint64_t expected_window_late = 0;
  for (const auto& [start, n] : late_by_window) {
    if (counted_windows.count(start)) expected_window_late += n;
  }
  EXPECT_GT(expected_window_late, 9'000u);
  EXPECT_EQ(window_late, expected_window_late);
  stop(second);  // commits what is pending

  std::string out;
  ASSERT_EQ(run_command(
                {"kcat", "-C", "-b", brokers_, "-t", late_topic, "-X",
                 "isolation.level=read_committed", "-o", "beginning", "-e", "-q", "-f", "%h\t%s\n"},
                &out),
            0);
  std::istringstream in(out);
  std::string line;
  std::map<std::string, int> seen;
  std::size_t with_headers = 0;
  while (std::getline(in, line)) {
    const auto tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    const std::string headers = line.substr(0, tab);
    ++seen[line.substr(tab + 1)];
    with_headers += headers.find("speedlayer.reason=late") != std::string::npos &&
                    headers.find("speedlayer.topic=" + topic) != std::string::npos &&
                    headers.find("speedlayer.window.start=") != std::string::npos;
  }
  EXPECT_EQ(seen.size(), expected_late.size());
  for (const auto& [value, n] : seen) {
    EXPECT_EQ(n, 1) << "late record written " << n << " times: " << value;
    EXPECT_TRUE(expected_late.count(value)) << "not a late record: " << value;
  }
  EXPECT_EQ(with_headers, expected_late.size());
}

// An existing changelog topic whose max.message.bytes is below the largest record serve may
// write is refused at start (exit 2, naming the topic and the limit), never discovered as a
// failed transaction later.
TEST_F(ServeState, ExistingTopicTooSmallForTheLargestRecordIsRefused) {
  const std::string topic = unique_topic("state-limit");
  ASSERT_EQ(create_topic("single", topic, 1, 1), 0);
  const std::string changelog = unique_topic("state-limit-changelog");
  kafka::Properties props;
  props.set("bootstrap.servers", brokers_, "test");
  NoEvents events;
  auto producer = kafka::Producer::create(props, &events);
  ASSERT_TRUE(producer);
  ASSERT_TRUE(kafka::ensure_topic((*producer)->handle(), changelog, 1,
                                  {{"cleanup.policy", "compact"}, {"max.message.bytes", "100000"}},
                                  30'000));
  ServeReplica serve(
      "serve", args(topic, unique_topic("state-limit-group"), {"--changelog-topic", changelog}));
  serve.start();
  auto code = serve.proc().wait_for(90s);
  ASSERT_TRUE(code) << "serve started with a changelog too small for its records";
  EXPECT_EQ(*code, 2) << serve.proc().err();
  EXPECT_NE(serve.proc().err().find("max.message.bytes"), std::string::npos) << serve.proc().err();
  EXPECT_NE(serve.proc().err().find(changelog), std::string::npos) << serve.proc().err();
}

}  // namespace
}  // namespace speedlayer::testing
