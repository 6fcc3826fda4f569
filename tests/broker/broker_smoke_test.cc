// Smoke test of the kafka_single fixture: the real broker is up, answers metadata with
// one broker, and a line produced with kcat comes back. Uses only kcat (a client no one
// here wrote) so it checks the fixture, not speedlayer.
#include <gtest/gtest.h>

#include <string>

#include "broker/test_broker.h"

namespace st = speedlayer::testing;

namespace {

TEST(BrokerSmoke, MetadataListsOneBroker) {
  const std::string bootstrap = st::bootstrap("single");
  std::string out;
  const int rc = st::run_command({"kcat", "-L", "-b", bootstrap, "-m", "10"}, &out);
  ASSERT_EQ(rc, 0) << "kcat -L -b " << bootstrap << " failed (is kcat installed? "
                   << "scripts/install-deps.sh --test)\n"
                   << out;
  EXPECT_NE(out.find("\n 1 brokers:\n"), std::string::npos) << out;
  EXPECT_NE(out.find("broker 1 at " + bootstrap), std::string::npos) << out;
}

TEST(BrokerSmoke, CreateTopicProduceConsume) {
  const std::string bootstrap = st::bootstrap("single");
  const std::string topic = st::unique_topic("smoke");
  ASSERT_EQ(st::create_topic("single", topic, 2, 1), 0);

  std::string out;
  ASSERT_EQ(st::run_command({"kcat", "-L", "-b", bootstrap, "-t", topic, "-m", "10"}, &out), 0);
  EXPECT_NE(out.find("topic \"" + topic + "\" with 2 partitions"), std::string::npos) << out;

  // kcat -P with a file argument sends the whole file as one message.
  const std::string file = ::testing::TempDir() + topic + ".txt";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("hello speedlayer", f);
    std::fclose(f);
  }
  ASSERT_EQ(st::run_command({"kcat", "-P", "-b", bootstrap, "-t", topic, "-p", "1", "-X",
                             "enable.idempotence=true", file}),
            0);
  std::remove(file.c_str());

  out.clear();
  ASSERT_EQ(st::run_command({"kcat", "-C", "-b", bootstrap, "-t", topic, "-p", "1", "-o",
                             "beginning", "-c", "1", "-e", "-q", "-f", "%s\\n"},
                            &out),
            0);
  EXPECT_EQ(out, "hello speedlayer\n");
}

}  // namespace
