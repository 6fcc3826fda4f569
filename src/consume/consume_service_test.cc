// run_consume() in-process against librdkafka's mock cluster (no broker needed; the mock's
// first group join takes ~3 s).
#include "consume/consume_service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <thread>

#include "kafka/mock_cluster.h"
#include "kafka/producer.h"

namespace speedlayer::consume {
namespace {

using Clock = std::chrono::steady_clock;

struct NoEvents : kafka::ProducerEvents {
  void on_delivery(const kafka::DeliveryReport&) noexcept override {}
  void on_client_error(rd_kafka_resp_err_t, std::string_view, bool) noexcept override {}
};

// A FILE* backed by a temporary file; text() reads it through its own descriptor, so another
// thread may keep writing (run_consume flushes whenever it is idle).
class Capture {
 public:
  Capture() {
    path_ = ::testing::TempDir() + "consume_service_test_XXXXXX";
    int fd = ::mkstemp(path_.data());
    file_ = ::fdopen(fd, "w");
  }
  ~Capture() {
    std::fclose(file_);
    std::remove(path_.c_str());
  }
  std::FILE* file() { return file_; }
  std::string text() const {
    std::fflush(file_);  // stdio locks the FILE: safe while another thread writes
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

ConsumeOptions options_for(const kafka::MockCluster& cluster, const std::string& topic,
                           Capture& out, Capture& err) {
  ConsumeOptions o;
  o.bootstrap = cluster.bootstraps();
  o.kafka.set("bootstrap.servers", o.bootstrap, "test");
  o.kafka.set("log_level", "2", "test");
  o.kafka.set("fetch.wait.max.ms", "10", "test");  // the mock holds empty fetches this long
  o.group = "throwaway-" + topic;
  o.kafka.set("group.id", o.group, "test");
  o.kafka.set("enable.auto.commit", "false", "test");
  o.topics = {topic};
  o.out = out.file();
  o.err = err.file();
  return o;
}

void produce(const kafka::MockCluster& cluster, const std::string& topic,
             const std::vector<std::string>& values) {
  kafka::Properties props;
  props.set("bootstrap.servers", cluster.bootstraps(), "test");
  NoEvents events;
  auto producer = kafka::Producer::create(props, &events);
  ASSERT_TRUE(producer);
  for (const auto& v : values) {
    ASSERT_EQ((*producer)->produce(topic, {}, v, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  ASSERT_EQ((*producer)->flush(10'000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

TEST(RunConsume, PrintsDecodedValuesAndStopsAtEnd) {
  auto cluster = kafka::MockCluster::create(1);
  ASSERT_TRUE(cluster);
  ASSERT_TRUE((*cluster)->create_topic("Sport", 1, 1));
  produce(**cluster, "Sport", {"\"messi\"", "{\"a\": 1}", "raw"});
  Capture out, err;
  auto o = options_for(**cluster, "Sport", out, err);
  o.exit_at_end = true;
  std::atomic<bool> stop{false};
  ConsumeSummary summary;
  EXPECT_EQ(run_consume(o, stop, summary), ExitCode::ok) << err.text();
  EXPECT_EQ(out.text(), "messi\n{\"a\":1}\nraw\n");
  EXPECT_EQ(summary.messages, 3u);
  EXPECT_EQ(summary.stop_reason, "all partitions at end");
  EXPECT_NE(err.text().find("consume: assigned Sport[0]"), std::string::npos) << err.text();
}

TEST(RunConsume, StopFlagEndsTheRun) {
  auto cluster = kafka::MockCluster::create(1);
  ASSERT_TRUE(cluster);
  ASSERT_TRUE((*cluster)->create_topic("idle", 1, 1));
  Capture out, err;
  auto o = options_for(**cluster, "idle", out, err);
  std::atomic<bool> stop{false};
  ConsumeSummary summary;
  auto run = std::async(std::launch::async, [&] { return run_consume(o, stop, summary); });
  std::this_thread::sleep_for(std::chrono::seconds(1));
  stop = true;
  ASSERT_EQ(run.wait_for(std::chrono::seconds(15)), std::future_status::ready);
  EXPECT_EQ(run.get(), ExitCode::ok);
  EXPECT_EQ(summary.stop_reason, "signal");
}

// All brokers go away mid-run: exit 3 after --connect-timeout, not a hang.
TEST(RunConsume, ClusterGoneMidRunIsUnreachable) {
  auto cluster = kafka::MockCluster::create(1);
  ASSERT_TRUE(cluster);
  ASSERT_TRUE((*cluster)->create_topic("gone", 1, 1));
  produce(**cluster, "gone", {"\"one\""});
  Capture out, err;
  auto o = options_for(**cluster, "gone", out, err);
  o.connect_timeout = std::chrono::seconds(2);
  o.count = 2;  // never reached: only one message exists
  std::atomic<bool> stop{false};
  ConsumeSummary summary;
  auto run = std::async(std::launch::async, [&] { return run_consume(o, stop, summary); });
  // Wait for the first message (after the mock's ~3 s group join), then take the broker down.
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (out.text().empty() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(out.text(), "one\n");
  auto down_at = Clock::now();
  ASSERT_TRUE((*cluster)->set_broker_down(-1));
  ASSERT_EQ(run.wait_for(std::chrono::seconds(30)), std::future_status::ready)
      << "consume did not give up";
  EXPECT_EQ(run.get(), ExitCode::unreachable) << err.text();
  EXPECT_LT(Clock::now() - down_at, std::chrono::seconds(15));
  EXPECT_NE(err.text().find("all brokers down for 2 s"), std::string::npos) << err.text();
}

// With a group, the offsets are committed at the end; when that last commit fails, the run
// exits non-zero (partial), not 0: the next run would read the messages again.
TEST(RunConsume, FailedLastCommitIsNotASuccess) {
  auto cluster = kafka::MockCluster::create(1);
  ASSERT_TRUE(cluster);
  ASSERT_TRUE((*cluster)->create_topic("committed", 1, 1));
  produce(**cluster, "committed", {"\"one\"", "\"two\""});
  Capture out, err;
  auto o = options_for(**cluster, "committed", out, err);
  o.commit = true;
  o.from = kafka::StartFrom::stored;  // as consume --group: the committed offsets
  o.group = "consume-commit-fails";
  o.kafka.set("group.id", o.group, "test");
  o.kafka.set("enable.auto.offset.store", "false", "test");  // as consume --group sets it
  o.kafka.set("session.timeout.ms", "6000", "test");  // the mock's rejoin waits this less 1 s
  o.exit_at_end = true;
  // Only the last commit commits (no auto-commit here): it meets the error.
  (*cluster)->push_request_errors(kafka::kApiOffsetCommit,
                                  {RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED});
  std::atomic<bool> stop{false};
  ConsumeSummary summary;
  EXPECT_EQ(run_consume(o, stop, summary), ExitCode::partial) << err.text();
  EXPECT_EQ(out.text(), "one\ntwo\n");
  EXPECT_NE(err.text().find("offset commit failed"), std::string::npos) << err.text();

  // Nothing was committed: the next run reads both again, commits, and the one after reads
  // nothing.
  Capture out2, err2;
  auto o2 = o;
  o2.out = out2.file();
  o2.err = err2.file();
  ConsumeSummary again;
  EXPECT_EQ(run_consume(o2, stop, again), ExitCode::ok) << err2.text();
  EXPECT_EQ(out2.text(), "one\ntwo\n");
  Capture out3, err3;
  auto o3 = o;
  o3.out = out3.file();
  o3.err = err3.file();
  ConsumeSummary last;
  EXPECT_EQ(run_consume(o3, stop, last), ExitCode::ok) << err3.text();
  EXPECT_EQ(out3.text(), "");
}

}  // namespace
}  // namespace speedlayer::consume
