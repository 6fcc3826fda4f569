// Helpers for integration tests that run against the real Kafka broker fixtures
// (kafka_single, kafka_cluster3; see tests/CMakeLists.txt and scripts/kafka-broker.sh).
// Header-only; needs GoogleTest and the compile definitions speedlayer_test() sets
// (SPEEDLAYER_SOURCE_DIR, SPEEDLAYER_BINARY_DIR).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace speedlayer::testing {

// Directory holding the broker fixtures' state: $SPEEDLAYER_KAFKA_STATE (set by
// speedlayer_test), else <build>/kafka.
inline std::string kafka_state_dir() {
  if (const char* s = std::getenv("SPEEDLAYER_KAFKA_STATE"); s != nullptr && *s != '\0') {
    return s;
  }
#ifdef SPEEDLAYER_BINARY_DIR
  return std::string(SPEEDLAYER_BINARY_DIR) + "/kafka";
#else
  return "kafka";
#endif
}

// State directory of one fixture: "single" (kafka_single) or "cluster3" (kafka_cluster3).
inline std::string fixture_dir(const std::string& fixture) {
  return kafka_state_dir() + "/" + fixture;
}

// Bootstrap servers ("127.0.0.1:port,...") of a running fixture. Fails the test (and
// throws, which ends it) when the fixture is not running.
inline std::string bootstrap(const std::string& fixture,
                             std::source_location where = std::source_location::current()) {
  const std::string path = fixture_dir(fixture) + "/bootstrap";
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line.empty()) {
    const std::string msg =
        "no Kafka broker for fixture '" + fixture + "': " + path +
        " is missing or empty. Run this test through ctest so the kafka_" + fixture +
        " fixture starts the broker (e.g. ctest -L integration), or start one by hand: "
        "scripts/kafka-broker.sh start --dir " +
        fixture_dir(fixture) + (fixture == "cluster3" ? " --brokers 3" : " --brokers 1");
    ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line())) << msg;
    throw std::runtime_error(msg);
  }
  return line;
}

// A topic name no other test (or earlier run) uses: prefix-pid-counter-millis.
// Characters Kafka does not allow in topic names are replaced by '-'.
inline std::string unique_topic(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  std::string name;
  for (char c : prefix) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    name += ok ? c : '-';
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  name +=
      "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + std::to_string(ms);
  return name;
}

// Runs a program (looked up in PATH) with arguments, without a shell. stdout goes to
// *out when given (else to the test's stdout); stderr is inherited. Returns the exit
// status, 128+signal when killed, -1 when it could not run.
inline int run_command(const std::vector<std::string>& argv, std::string* out = nullptr) {
  if (argv.empty()) return -1;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  int pipefd[2] = {-1, -1};
  if (out != nullptr && ::pipe2(pipefd, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return -1;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (out != nullptr) {
    posix_spawn_file_actions_addclose(&actions, pipefd[0]);
    posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipefd[1]);
  }
  std::fflush(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (out != nullptr) {
    ::close(pipefd[1]);
    if (rc == 0) {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0) out->append(buf, static_cast<size_t>(n));
      }
    }
    ::close(pipefd[0]);
  }
  if (rc != 0) {
    ADD_FAILURE() << "cannot run " << argv[0] << ": " << std::strerror(rc);
    return -1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Runs scripts/kafka-broker.sh with the given arguments; returns its exit status.
inline int run_broker_script(const std::vector<std::string>& args, std::string* out = nullptr) {
#ifdef SPEEDLAYER_SOURCE_DIR
  std::vector<std::string> argv{std::string(SPEEDLAYER_SOURCE_DIR) + "/scripts/kafka-broker.sh"};
#else
  std::vector<std::string> argv{"scripts/kafka-broker.sh"};
#endif
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, out);
}

// kill -9 one broker node of a fixture (node ids 1..3 for "cluster3", 1 for "single").
inline void kill_node(const std::string& fixture, int id) {
  const int rc =
      run_broker_script({"kill-node", "--dir", fixture_dir(fixture), "--node", std::to_string(id)});
  EXPECT_EQ(rc, 0) << "kafka-broker.sh kill-node " << fixture << " node " << id;
}

// Restarts a node killed by kill_node (same ports, same data); returns once it serves
// metadata again.
inline void start_node(const std::string& fixture, int id) {
  const int rc = run_broker_script(
      {"start-node", "--dir", fixture_dir(fixture), "--node", std::to_string(id)});
  EXPECT_EQ(rc, 0) << "kafka-broker.sh start-node " << fixture << " node " << id;
}

// Creates a topic with Kafka's own TopicCommand; returns its exit status (0 = created).
inline int create_topic(const std::string& fixture, const std::string& topic, int partitions,
                        int replication) {
  return run_broker_script({"create-topic", "--dir", fixture_dir(fixture), "--topic", topic,
                            "--partitions", std::to_string(partitions), "--replication",
                            std::to_string(replication)});
}

}  // namespace speedlayer::testing
