// serve's Processor in-process against librdkafka's mock cluster, with errors injected into
// its transactions (no broker needed; the mock's first group join takes ~3 s).
//
// What the mock can and cannot show (kafka/mock_cluster.h): it neither hides the records of
// aborted transactions from read_committed readers nor stores the offsets sent in a
// transaction. A restore after an abort is therefore exact here only when nothing of the
// aborted transaction reached the log and nothing was committed before it: the first test.
// The others inject EndTxn / AddOffsetsToTxn / TxnOffsetCommit errors and check the abort
// path itself (counted, state thrown away and restored from the changelog, serve goes on
// and commits), and that a failed last commit fails shutdown.
#include "serve/processor.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <functional>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kafka/mock_cluster.h"
#include "kafka/producer.h"
#include "kafka/topic_reader.h"
#include "serve/serve_service.h"
#include "views/view_store.h"

namespace speedlayer::serve {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Event and wall-clock time: fixed, so no window closes while a test runs.
constexpr views::Millis kNow = 1'800'000'000'000;
constexpr char kTopic[] = "words";
constexpr int kRecords = 500;

struct NoEvents : kafka::ProducerEvents {
  void on_delivery(const kafka::DeliveryReport&) noexcept override {}
  void on_client_error(rd_kafka_resp_err_t, std::string_view, bool) noexcept override {}
};

class ProcessorAbort : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = kafka::MockCluster::create(1);
    ASSERT_TRUE(cluster) << cluster.error().message();
    cluster_ = std::move(*cluster);
    const std::string group = std::string("processor-test-") +
                              ::testing::UnitTest::GetInstance()->current_test_info()->name();
    o_.group = group;
    o_.topics = {kTopic};
    o_.check_topic_limits = false;  // the mock has no DescribeConfigs
    o_.connect_timeout = 10s;
    o_.window.size_ms = 3'600'000;
    o_.kafka.set("bootstrap.servers", cluster_->bootstraps(), "test");
    o_.kafka.set("fetch.wait.max.ms", "10", "test");  // the mock holds empty fetches this long
    o_.kafka.set("log_level", "2", "test");
    o_.bootstrap = cluster_->bootstraps();
    o_ = with_defaults(o_);
    // One partition everywhere: each transaction sends one changelog batch.
    ASSERT_TRUE(cluster_->create_topic(kTopic, 1, 1));
    ASSERT_TRUE(cluster_->create_topic(o_.changelog_topic, 1, 1));
    ASSERT_TRUE(cluster_->create_topic(o_.output_topic, 1, 1));
    // The input, all delivered before any error is injected.
    kafka::Properties props;
    props.set("bootstrap.servers", cluster_->bootstraps(), "test");
    NoEvents events;
    auto producer = kafka::Producer::create(props, &events);
    ASSERT_TRUE(producer);
    for (int i = 0; i < kRecords; ++i) {
      const std::string value = "{\"text\":\"alpha beta w" + std::to_string(i) + "\"}";
      ASSERT_EQ((*producer)->produce(kTopic, {}, value, kNow, {}, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ASSERT_EQ((*producer)->flush(10'000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  // Steps the processor until `done` (or a step fails, or 30 s pass).
  ::testing::AssertionResult step_until(Processor& p, const std::function<bool()>& done,
                                        const char* what) {
    const auto deadline = Clock::now() + 30s;
    while (!done()) {
      if (Clock::now() > deadline) return ::testing::AssertionFailure() << "timed out: " << what;
      if (auto st = p.step(); !st)
        return ::testing::AssertionFailure() << what << ": step failed: " << st.error().message();
    }
    return ::testing::AssertionSuccess();
  }

  static std::uint64_t transactions(Processor& p) {
    std::lock_guard lock(p.stats().mu);
    return p.stats().transactions;
  }
  static std::uint64_t aborted(Processor& p) {
    std::lock_guard lock(p.stats().mu);
    return p.stats().aborted_transactions;
  }
  static std::uint64_t failures(Processor& p, const std::string& reason) {
    std::lock_guard lock(p.stats().mu);
    auto it = p.stats().commit_failures.find(reason);
    return it == p.stats().commit_failures.end() ? 0 : it->second;
  }

  // Records consumed of kTopic as the processor holds them now (its live aggregators).
  std::uint64_t live_consumed(Processor& p) const {
    views::ViewStore store(o_.window, o_.group);
    store.set_live(&p);
    for (const auto& t : store.totals())
      if (t.topic == kTopic) return t.consumed;
    return 0;
  }
  // The same as committed in the changelog (what a restore or another replica reads).
  std::uint64_t committed_consumed() const {
    views::ViewStore store(o_.window, o_.group);
    auto reader = kafka::TopicReader::create(o_.kafka, o_.changelog_topic, 10'000);
    EXPECT_TRUE(reader);
    if (!reader) return 0;
    auto st = (*reader)->read_to_end(
        [&](std::string_view key, std::optional<std::string_view> value) {
          EXPECT_TRUE(store.apply(key, value));
        },
        10'000);
    EXPECT_TRUE(st) << st.error().message();
    for (const auto& t : store.totals())
      if (t.topic == kTopic) return t.consumed;
    return 0;
  }

  std::unique_ptr<kafka::MockCluster> cluster_;
  ServeOptions o_;
};

// The first transaction's changelog write is refused (a permanent produce error: nothing
// reaches the log), so its commit fails abortably. The processor aborts, throws its state
// away, restores the committed state (none yet), consumes every record again and commits
// each exactly once.
TEST_F(ProcessorAbort, FailedDeliveryAbortsRestoresAndReprocessesEachRecordOnce) {
  Processor p(o_, [] { return kNow; });
  ASSERT_TRUE(p.start());
  cluster_->push_request_errors(kafka::kApiProduce, {RD_KAFKA_RESP_ERR_INVALID_RECORD});
  std::uint64_t most_seen = 0;
  ASSERT_TRUE(step_until(
      p,
      [&] {
        most_seen = std::max(most_seen, live_consumed(p));
        return aborted(p) == 1;
      },
      "the abort"));
  // Counted once, under "delivery", or "send_offsets" when the refused batch's answer came
  // before the offsets were sent (librdkafka then refuses them: the transaction must abort).
  EXPECT_EQ(failures(p, "delivery") + failures(p, "send_offsets"), 1u);
  EXPECT_EQ(failures(p, "fatal"), 0u);
  EXPECT_EQ(transactions(p), 0u);
  // Then the records again, counted once each, and committed.
  ASSERT_TRUE(step_until(
      p,
      [&] {
        most_seen = std::max(most_seen, live_consumed(p));
        return transactions(p) >= 1 && live_consumed(p) == kRecords && p.ready();
      },
      "the reprocessed records' commit"));
  EXPECT_EQ(most_seen, static_cast<std::uint64_t>(kRecords)) << "a record was counted twice";
  EXPECT_EQ(live_consumed(p), static_cast<std::uint64_t>(kRecords));
  EXPECT_TRUE(p.shutdown());  // commits whatever is still pending
  EXPECT_EQ(committed_consumed(), static_cast<std::uint64_t>(kRecords));
  // Two aborts, each counted: the refused batch, then (librdkafka 2.12.1) the next
  // transaction's first batch, whose sequence numbers follow the refused one's: librdkafka
  // calls that "skipped sequence numbers", bumps the producer epoch and fails that
  // transaction too. Below kMaxConsecutiveAborts, so serve goes on.
  EXPECT_EQ(aborted(p), 2u);
  EXPECT_EQ(failures(p, "delivery") + failures(p, "send_offsets"), 2u);
  EXPECT_EQ(failures(p, "fatal"), 0u);
}

// EndTxn (commit), AddOffsetsToTxn and TxnOffsetCommit refused with an abortable error: the
// transaction is aborted and counted under its reason, the state is restored from the
// changelog, and the processor goes on to commit. (Exact counts: see the file's comment.)
struct InjectedTxnError {
  const char* name;
  std::int16_t api;
  rd_kafka_resp_err_t error;
  const char* reason;  // speedlayer_commit_failures_total's label
};

class ProcessorTxnError : public ProcessorAbort,
                          public ::testing::WithParamInterface<InjectedTxnError> {};

TEST_P(ProcessorTxnError, AbortsRestoresAndCommitsAgain) {
  const InjectedTxnError& c = GetParam();
  Processor p(o_, [] { return kNow; });
  ASSERT_TRUE(p.start());
  cluster_->push_request_errors(c.api, {c.error});
  ASSERT_TRUE(step_until(p, [&] { return aborted(p) == 1; }, "the abort"));
  EXPECT_EQ(failures(p, c.reason), 1u);
  EXPECT_EQ(transactions(p), 0u);
  ASSERT_TRUE(step_until(
      p, [&] { return transactions(p) >= 1 && p.ready() && live_consumed(p) >= kRecords; },
      "a commit after the restore"));
  EXPECT_EQ(aborted(p), 1u);
  EXPECT_EQ(failures(p, "fatal"), 0u);
  // After the last commit, the committed state is the live one.
  const std::uint64_t live = live_consumed(p);
  EXPECT_TRUE(p.shutdown());
  EXPECT_EQ(committed_consumed(), live);
}

INSTANTIATE_TEST_SUITE_P(
    Injected, ProcessorTxnError,
    ::testing::Values(
        InjectedTxnError{"EndTxn", kafka::kApiEndTxn, RD_KAFKA_RESP_ERR_UNKNOWN, "commit"},
        InjectedTxnError{"AddOffsetsToTxn", kafka::kApiAddOffsetsToTxn,
                         RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, "send_offsets"},
        InjectedTxnError{"TxnOffsetCommit", kafka::kApiTxnOffsetCommit,
                         RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, "send_offsets"}),
    [](const ::testing::TestParamInfo<InjectedTxnError>& info) { return info.param.name; });

// SIGTERM's path: shutdown() commits what is pending and waits. When that last commit fails,
// shutdown says so (serve then exits non-zero), abortable or not.
TEST_F(ProcessorAbort, FailedLastCommitFailsShutdown) {
  o_.commit_interval = std::chrono::hours(1);  // nothing commits before shutdown
  Processor p(o_, [] { return kNow; });
  ASSERT_TRUE(p.start());
  ASSERT_TRUE(step_until(p, [&] { return live_consumed(p) == kRecords; }, "the records"));
  ASSERT_EQ(transactions(p), 0u);
  cluster_->push_request_errors(kafka::kApiEndTxn, {RD_KAFKA_RESP_ERR_UNKNOWN});
  auto st = p.shutdown();
  ASSERT_FALSE(st) << "the last commit failed, and shutdown reported success";
  EXPECT_NE(st.error().message().find("not committed"), std::string::npos) << st.error().message();
  EXPECT_EQ(aborted(p), 1u);
  EXPECT_EQ(transactions(p), 0u);
}

// start() and no shutdown() (serve when start() fails, a test that ends early): the destructor
// leaves the group without touching members already destroyed (ASan saw a heap use after free
// there, in the consumer's revoke callback) and without committing.
TEST_F(ProcessorAbort, DestroyedWithoutShutdownLeavesTheGroupAndCommitsNothing) {
  o_.commit_interval = std::chrono::hours(1);  // nothing commits on its own
  {
    Processor p(o_, [] { return kNow; });
    ASSERT_TRUE(p.start());
    ASSERT_TRUE(step_until(p, [&] { return live_consumed(p) == kRecords; }, "the records"));
    ASSERT_EQ(transactions(p), 0u);
  }
  EXPECT_EQ(committed_consumed(), 0u);
}

TEST_F(ProcessorAbort, SuccessfulLastCommitSucceedsShutdown) {
  o_.commit_interval = std::chrono::hours(1);
  Processor p(o_, [] { return kNow; });
  ASSERT_TRUE(p.start());
  ASSERT_TRUE(step_until(p, [&] { return live_consumed(p) == kRecords; }, "the records"));
  EXPECT_TRUE(p.shutdown());
  EXPECT_EQ(transactions(p), 1u);
  EXPECT_EQ(committed_consumed(), static_cast<std::uint64_t>(kRecords));
}

// A rebalance while the processor holds uncommitted state: on_revoked commits it, and that
// commit fails (EndTxn). The transaction is aborted and counted, the processor goes on (an
// abortable failure is not fatal), and whichever replica owns the partition afterwards
// restores it and is ready.
TEST_F(ProcessorAbort, RebalanceDuringAFailingCommitAbortsAndGoesOn) {
  o_.commit_interval = std::chrono::hours(1);  // the first commit is the rebalance's
  o_.kafka.set("session.timeout.ms", "6000", "test");
  Processor a(o_, [] { return kNow; });
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(step_until(a, [&] { return live_consumed(a) == kRecords; }, "the records"));
  cluster_->push_request_errors(kafka::kApiEndTxn, {RD_KAFKA_RESP_ERR_UNKNOWN});
  ServeOptions ob = o_;
  ob.transactional_id += "-b";
  Processor b(ob, [] { return kNow; });
  ASSERT_TRUE(b.start());
  const auto deadline = Clock::now() + 60s;
  auto settled = [&] {
    return aborted(a) == 1 && ((a.ready() && live_consumed(a) >= kRecords) ||
                               (b.ready() && live_consumed(b) >= kRecords));
  };
  while (!settled()) {
    ASSERT_LT(Clock::now(), deadline) << "no rebalance, abort and restore";
    auto sa = a.step();
    ASSERT_TRUE(sa) << sa.error().message();
    auto sb = b.step();
    ASSERT_TRUE(sb) << sb.error().message();
  }
  EXPECT_EQ(failures(a, "commit"), 1u);
  EXPECT_EQ(failures(a, "fatal"), 0u);
  EXPECT_EQ(aborted(b), 0u);
  // Neither ends with an error (what the new owner counts after its restore depends on the
  // mock showing aborted records: see the file's comment).
  EXPECT_TRUE(a.shutdown());
  EXPECT_TRUE(b.shutdown());
}

// serve itself: SIGTERM (the stop flag) with a last commit that fails exits non-zero.
TEST_F(ProcessorAbort, RunServeExitsNonZeroWhenTheLastCommitFails) {
  o_.commit_interval = std::chrono::hours(1);
  o_.listen = "127.0.0.1:0";
  std::atomic<bool> stop{false};
  std::atomic<int> port{0};
  auto run = std::async(std::launch::async, [&] {
    return run_serve(o_, stop, [] { return kNow; }, [&](int p) { port = p; });
  });
  // Event-driven: poll /v1/topics until every record is counted (or serve ended).
  const auto deadline = Clock::now() + 60s;
  std::uint64_t consumed = 0;
  while (consumed < kRecords) {
    ASSERT_LT(Clock::now(), deadline) << "serve never counted the records";
    ASSERT_NE(run.wait_for(10ms), std::future_status::ready) << "serve ended early";
    if (port == 0) continue;
    httplib::Client client("127.0.0.1", port);
    auto res = client.Get("/v1/topics");
    if (!res || res->status != 200) continue;
    auto doc = nlohmann::json::parse(res->body, nullptr, false);
    for (const auto& t : doc["topics"])
      if (t["topic"] == kTopic) consumed = t["consumed"].get<std::uint64_t>();
  }
  cluster_->push_request_errors(kafka::kApiEndTxn, {RD_KAFKA_RESP_ERR_UNKNOWN});
  stop = true;
  ASSERT_EQ(run.wait_for(60s), std::future_status::ready);
  EXPECT_EQ(run.get(), 1) << "a failed last commit exited 0";
}

}  // namespace
}  // namespace speedlayer::serve
