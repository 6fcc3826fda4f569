// Helpers for `speedlayer serve` integration tests: free ports, a tiny HTTP client for the
// serve API (/readyz, /v1/topics, /v1/views, /metrics), a replica run as a child process,
// bounded polling, and reading topics back with kcat (read_committed).
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "broker/test_broker.h"
#include "support/child_process.h"

namespace speedlayer::testing {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// A TCP port that was free a moment ago (bound to 127.0.0.1:0, then released).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

struct HttpReply {
  int status = -1;  // -1: no connection / no answer
  std::string body;
};

inline HttpReply http_get(int port, const std::string& path) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(1, 0);
  cli.set_read_timeout(5, 0);
  cli.set_keep_alive(false);
  auto res = cli.Get(path);
  if (!res) return {};
  return {res->status, res->body};
}

// Polls `done` every `every` until it is true or `timeout` has passed; returns its last value.
inline bool wait_until(std::chrono::milliseconds timeout, const std::function<bool()>& done,
                       std::chrono::milliseconds every = std::chrono::milliseconds(100)) {
  auto deadline = SteadyClock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

// Wall-clock milliseconds since the epoch (event times of test records).
inline long long wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The pid of the fixture's (first) broker node, for SIGSTOP / SIGCONT.
inline int broker_pid(const std::string& fixture) {
  std::ifstream nodes(fixture_dir(fixture) + "/nodes");
  std::string id, port, pid_file;
  nodes >> id >> port >> pid_file;
  int pid = 0;
  std::ifstream(pid_file) >> pid;
  return pid;
}

inline double seconds_since(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

// One `speedlayer serve` process on its own port.
class ServeReplica {
 public:
  // `args`: everything after "serve" except --listen (added here).
  ServeReplica(std::string name, std::vector<std::string> args)
      : name_(std::move(name)), args_(std::move(args)) {}

  void start() {
    port_ = free_port();
    std::vector<std::string> argv{speedlayer_bin(), "serve"};
    argv.insert(argv.end(), args_.begin(), args_.end());
    argv.push_back("--listen");
    argv.push_back("127.0.0.1:" + std::to_string(port_));
    proc_ = std::make_unique<ChildProcess>(argv);
  }
  ChildProcess& proc() { return *proc_; }
  bool running() { return proc_ && !proc_->wait_for(std::chrono::milliseconds(0)); }
  int port() const { return port_; }
  const std::string& name() const { return name_; }

  // SIGKILL mid-stream: once `topic`'s consumed count is at least a quarter of `total` and not
  // yet all of it (some windows closed, most records still to come). `waited` is false when
  // nothing of the kind happened within `timeout`; it is true as well if the replica stopped
  // on its own (the caller's exit-code check tells the two apart).
  struct MidStreamKill {
    bool waited = false;
    std::uint64_t at_kill = 0;
  };
  MidStreamKill kill_mid_stream(const std::string& topic, std::uint64_t total,
                                std::chrono::milliseconds timeout) {
    MidStreamKill k;
    k.waited = wait_until(
        timeout,
        [&] {
          if (!running()) return true;
          k.at_kill = consumed(topic);
          if (k.at_kill >= total / 4 && k.at_kill < total) {
            proc().signal(SIGKILL);
            return true;
          }
          return false;
        },
        std::chrono::milliseconds(10));
    return k;
  }

  HttpReply get(const std::string& path) const { return http_get(port_, path); }

  bool ready() const { return get("/readyz").status == 200; }

  // Waits for /readyz 200; fails (with the child's stderr) on timeout or exit.
  ::testing::AssertionResult wait_ready(std::chrono::milliseconds timeout) {
    bool ok = wait_until(timeout, [&] { return !running() || ready(); });
    if (ok && running()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << name_ << " not ready within " << timeout.count() << " ms (running: " << running()
           << ", last /readyz: " << get("/readyz").body << ")\nstderr:\n"
           << (proc_ ? proc_->err() : "");
  }

  // The /v1/topics entry of `topic`, or nullopt (no answer, or topic not there yet).
  std::optional<Json> totals(const std::string& topic) const {
    auto r = get("/v1/topics");
    if (r.status != 200) return std::nullopt;
    auto j = Json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("topics")) return std::nullopt;
    for (const auto& t : j["topics"])
      if (t.value("topic", "") == topic) return t;
    return std::nullopt;
  }
  std::uint64_t consumed(const std::string& topic) const {
    auto t = totals(topic);
    return t ? t->value("consumed", std::uint64_t{0}) : 0;
  }
  // /v1/views?topic=T parsed, or nullopt.
  std::optional<Json> view(const std::string& topic, const std::string& extra = "") const {
    auto r = get("/v1/views?topic=" + topic + extra);
    if (r.status != 200) return std::nullopt;
    auto j = Json::parse(r.body, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
  }

  // Waits until /v1/topics shows `consumed` == n for `topic`.
  ::testing::AssertionResult wait_consumed(const std::string& topic, std::uint64_t n,
                                           std::chrono::milliseconds timeout) {
    std::uint64_t last = 0;
    bool ok = wait_until(timeout, [&] {
      if (!running()) return true;
      last = consumed(topic);
      return last >= n;
    });
    if (ok && running() && last == n) return ::testing::AssertionSuccess();
    auto t = totals(topic);
    return ::testing::AssertionFailure()
           << name_ << ": consumed " << last << ", expected " << n << " within " << timeout.count()
           << " ms (running: " << running() << ", /v1/topics entry: " << (t ? t->dump() : "none")
           << ")\nstderr:\n"
           << (proc_ ? proc_->err() : "");
  }

 private:
  std::string name_;
  std::vector<std::string> args_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> proc_;
};

// Sum of window counts of a /v1/views body.
inline std::uint64_t window_sum(const Json& view) {
  std::uint64_t n = 0;
  for (const auto& w : view["windows"]) n += w["count"].get<std::uint64_t>();
  return n;
}

// Terms summed over every window's top list (the top must hold every term: --top-k large).
inline std::map<std::string, std::uint64_t> term_sums(const Json& view) {
  std::map<std::string, std::uint64_t> sums;
  for (const auto& w : view["windows"])
    for (const auto& t : w["top"])
      sums[t["term"].get<std::string>()] += t["count"].get<std::uint64_t>();
  return sums;
}

struct KeyedRecord {
  int partition = -1;
  std::string key;
  std::string value;
  bool null_value = false;
};

// Every committed record of `topic` (kcat, isolation.level=read_committed, to the end of
// each partition). Keys must not contain tabs or newlines; values may hold any bytes
// (changelog partials are binary): each is read by its size.
inline std::vector<KeyedRecord> read_committed_with_kcat(const std::string& brokers,
                                                         const std::string& topic) {
  std::string out;
  int rc =
      run_command({"kcat", "-C", "-b", brokers, "-t", topic, "-X", "isolation.level=read_committed",
                   "-o", "beginning", "-e", "-q", "-f", "%p\t%k\t%S\t%s\n"},
                  &out);
  EXPECT_EQ(rc, 0) << "kcat failed reading " << topic;
  std::vector<KeyedRecord> records;
  std::size_t pos = 0;
  auto field = [&](char end) {
    const std::size_t stop = out.find(end, pos);
    if (stop == std::string::npos) throw std::runtime_error("kcat output cut short: " + topic);
    std::string f = out.substr(pos, stop - pos);
    pos = stop + 1;
    return f;
  };
  while (pos < out.size()) {
    KeyedRecord r;
    r.partition = std::stoi(field('\t'));
    r.key = field('\t');
    const long long size = std::stoll(field('\t'));
    r.null_value = size < 0;
    const std::size_t n = size < 0 ? 0 : static_cast<std::size_t>(size);
    if (pos + n >= out.size() || out[pos + n] != '\n')
      throw std::runtime_error("kcat record of unexpected size in " + topic);
    r.value = out.substr(pos, n);
    pos += n + 1;
    records.push_back(std::move(r));
  }
  return records;
}

// The founding document's interop client: the venv python (scripts/python-env.sh).
inline std::string venv_python() {
  std::string out;
  int rc = run_command({std::string(SPEEDLAYER_SOURCE_DIR) + "/scripts/python-env.sh"}, &out);
  EXPECT_EQ(rc, 0) << "scripts/python-env.sh failed";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  auto nl = out.rfind('\n');
  return nl == std::string::npos ? out : out.substr(nl + 1);
}

}  // namespace speedlayer::testing
