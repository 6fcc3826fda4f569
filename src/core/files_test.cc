#include "core/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace speedlayer {
namespace {

namespace fs = std::filesystem;

class ReadSmallFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sl-files-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(ReadSmallFile, ReadsARegularFileAndASymlinkToOne) {
  const std::string path = write("routes.yaml", "a: 1\n");
  EXPECT_EQ(*read_small_file(path, 100, "routing file"), "a: 1\n");
  fs::create_symlink(path, dir_ / "link.yaml");  // how Kubernetes mounts a ConfigMap
  EXPECT_EQ(*read_small_file((dir_ / "link.yaml").string(), 100, "routing file"), "a: 1\n");
  EXPECT_EQ(*read_small_file(write("empty", ""), 100, "x"), "");
}

TEST_F(ReadSmallFile, RefusesDirectoriesNamingRoleAndPath) {
  auto r = read_small_file(dir_.string(), 100, "config file");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::io);
  EXPECT_EQ(r.error().where, dir_.string());
  EXPECT_EQ(r.error().what, "config file is a directory, not a file");
}

TEST_F(ReadSmallFile, RefusesFifosAndDevicesWithoutBlocking) {
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto r = read_small_file(fifo, 100, "password file");  // would block forever if opened plainly
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, "password file is a pipe, not a file");
  auto z = read_small_file("/dev/zero", 100, "config file");  // would never end
  ASSERT_FALSE(z);
  EXPECT_EQ(z.error().what, "config file is a device, not a file");
}

TEST_F(ReadSmallFile, RefusesFilesOverTheLimit) {
  const std::string path = write("big", std::string(101, 'x'));
  auto r = read_small_file(path, 100, "config file");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, "config file is larger than the limit of 100 bytes");
  EXPECT_TRUE(read_small_file(write("exact", std::string(100, 'x')), 100, "config file"));
}

TEST_F(ReadSmallFile, MissingFileSaysWhy) {
  auto r = read_small_file((dir_ / "nope").string(), 100, "config file");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, "cannot read config file: No such file or directory");
}

}  // namespace
}  // namespace speedlayer
