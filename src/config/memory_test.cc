#include "config/memory.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace speedlayer::config {
namespace {

namespace fs = std::filesystem;

class FakeRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("speedlayer-cgroup-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "proc/self");
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  fs::path root_;
};

TEST_F(FakeRoot, CgroupV2Limit) {
  write("proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
  write("sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "134217728\n");
  EXPECT_EQ(container_memory_limit(root_.string()), 134217728u);
}

TEST_F(FakeRoot, CgroupV2MaxMeansNoLimit) {
  write("proc/self/cgroup", "0::/\n");
  write("sys/fs/cgroup/memory.max", "max\n");
  EXPECT_FALSE(container_memory_limit(root_.string()));
}

TEST_F(FakeRoot, CgroupV2ParentLimitApplies) {
  write("proc/self/cgroup", "0::/pod/ctr\n");
  write("sys/fs/cgroup/pod/ctr/memory.max", "max\n");
  write("sys/fs/cgroup/pod/memory.max", "67108864\n");
  EXPECT_EQ(container_memory_limit(root_.string()), 67108864u);
}

TEST_F(FakeRoot, CgroupV1Limit) {
  write("proc/self/cgroup", "12:cpu,cpuacct:/x\n9:memory:/docker/abc\n0::/\n");
  write("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "134217728\n");
  EXPECT_EQ(container_memory_limit(root_.string()), 134217728u);
}

TEST_F(FakeRoot, CgroupV1HugeValueMeansNoLimit) {
  write("proc/self/cgroup", "9:memory:/\n");
  write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  EXPECT_FALSE(container_memory_limit(root_.string()));
}

TEST_F(FakeRoot, NoCgroupFileMeansNoLimit) {
  EXPECT_FALSE(container_memory_limit(root_.string()));
}

TEST(ProducerBudget, FitsA128MiPodWithHeadroom) {
  constexpr std::uint64_t kLimit = 128ull << 20;
  auto b = producer_budget(kLimit, 1'000'000);
  std::uint64_t worst_queue = b.queue_kbytes * 1024 + b.queue_messages * 320;
  EXPECT_LT(worst_queue + (24ull << 20), kLimit * 3 / 4);
  EXPECT_GE(b.queue_messages, 1000u);
  EXPECT_LE(b.max_message_bytes, 1'000'000u);
  EXPECT_GE(b.queue_kbytes * 1024, 2 * b.max_message_bytes);
}

TEST(ProducerBudget, DefaultsAreFarBelowLibrdkafkas1GiB) {
  auto b = producer_budget(0, 1'000'000);
  EXPECT_LT(b.queue_kbytes, 1024u * 1024u);
  EXPECT_LE(b.queue_messages, 100000u);
}

TEST(ProducerBudget, TinyLimitStillWorks) {
  auto b = producer_budget(32ull << 20, 1'000'000);
  EXPECT_GE(b.queue_kbytes, 1024u);
  EXPECT_LE(b.max_message_bytes, b.queue_kbytes * 1024 / 2);
}

}  // namespace
}  // namespace speedlayer::config
