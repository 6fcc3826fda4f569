// http::Server against hostile and slow clients, over real sockets (raw, so that the test
// controls every byte): body, header and connection limits, the request deadline, the probe
// listener under abuse, and the SSE stream's contract.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"

namespace speedlayer::http {
namespace {

using namespace std::chrono_literals;

// A raw client socket to 127.0.0.1:port.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Waits up to `timeout` for readable data; appends it to received(). false on close or
  // timeout.
  bool read_some(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    received_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  // Reads until `needle` was received (true), the peer closed, or `timeout` passed.
  bool read_until(std::string_view needle, std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (received_.find(needle) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms || !read_some(left)) return received_.find(needle) != std::string::npos;
    }
    return true;
  }
  // Reads until the peer closes (true) or `timeout` passes.
  bool read_to_close(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!closed_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      read_some(left);
    }
    return true;
  }
  const std::string& received() const { return received_; }
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string received_;
};

// One GET on a fresh connection; the whole response (Connection: close), or "" on failure.
std::string get(int port, const std::string& path, std::chrono::milliseconds timeout = 5000ms,
                const std::string& extra_headers = "") {
  RawClient c(port);
  if (!c.connected()) return "";
  c.send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers +
         "\r\n");
  c.read_to_close(timeout);
  return c.received();
}

std::size_t rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

class LimitsTest : public ::testing::Test {
 protected:
  void start(ServerLimits limits = {}, bool probe = false) {
    server_ = std::make_unique<Server>(
        ListenAddress{"127.0.0.1", 0},
        probe ? std::optional<ListenAddress>(ListenAddress{"127.0.0.1", 0}) : std::nullopt, limits);
    server_->on_metrics(registry_)
        .on_topics([] { return std::string(R"({"topics": []})"); })
        .on_views([](const std::string& topic, auto, auto) -> std::optional<std::string> {
          return "{\"topic\": \"" + topic + "\"}";
        })
        .on_expire([](std::int64_t) { return std::string(R"({"expired": 0})"); })
        .on_stream(hub_)
        .admin_token("0123456789abcdef-token");
    auto st = server_->start();
    ASSERT_TRUE(st) << st.error().message();
  }
  int port() const { return server_->port(); }
  // A sample's value from /metrics' text, e.g. sample("speedlayer_http_streams"); -1: absent.
  double sample(const std::string& name_and_labels) const {
    const std::string text = registry_.render();
    const auto at = text.find("\n" + name_and_labels + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + name_and_labels.size() + 2));
  }

  Registry registry_;
  StreamHub hub_;
  std::unique_ptr<Server> server_;
};

TEST_F(LimitsTest, ChunkedUploadOverTheBodyLimitIs413AndMemoryStaysFlat) {
  start();
  const std::size_t before = rss_bytes();
  RawClient c(port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.send("POST /v1/expire?before=1 HTTP/1.1\r\nHost: x\r\n"
             "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
  // 64 MiB in 64 KiB chunks, as long as the server keeps reading; its answer ends the upload.
  const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
  std::size_t sent = 0;
  while (sent < (64u << 20)) {
    pollfd p{c.fd(), POLLIN | POLLOUT, 0};
    ASSERT_GT(::poll(&p, 1, 5000), 0) << "the server neither reads nor answers";
    if (p.revents & POLLIN) break;
    if (!c.send(chunk)) break;
    sent += 0x10000;
  }
  ASSERT_TRUE(c.read_until("\r\n\r\n"));
  EXPECT_EQ(status_line(c.received()), "HTTP/1.1 413 Payload Too Large");
  EXPECT_LT(sent, 8u << 20) << "the server read far past its 64 KiB body limit";
  EXPECT_LT(rss_bytes(), before + (16u << 20));
}

TEST_F(LimitsTest, ContentLengthOverTheBodyLimitIs413) {
  start();
  RawClient c(port());
  c.send("POST /v1/expire?before=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n");
  ASSERT_TRUE(c.read_until("\r\n\r\n"));
  EXPECT_EQ(status_line(c.received()), "HTTP/1.1 413 Payload Too Large");
}

TEST_F(LimitsTest, TooManyOrTooLargeHeadersAre431) {
  start();
  std::string many;
  for (int i = 0; i < 100; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(status_line(get(port(), "/healthz", 5000ms, many)),
            "HTTP/1.1 431 Request Header Fields Too Large");
  const std::string large = "X-Big: " + std::string(20000, 'a') + "\r\n";
  EXPECT_EQ(status_line(get(port(), "/healthz", 5000ms, large)),
            "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(status_line(get(port(), "/healthz")), "HTTP/1.1 200 OK");
}

TEST_F(LimitsTest, NotHttpIs400) {
  start();
  RawClient c(port());
  c.send("\x16\x03\x01 hello, this is not HTTP\r\n\r\n");
  ASSERT_TRUE(c.read_to_close(5000ms));
  EXPECT_EQ(status_line(c.received()), "HTTP/1.1 400 Bad Request");
}

TEST_F(LimitsTest, AClientTricklingHeadersIsCutAtTheRequestDeadline) {
  ServerLimits limits;
  limits.request_timeout = 300ms;
  start(limits);
  RawClient c(port());
  ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\n"));
  // One header line every 50 ms: each read is quick, the request never completes. The server
  // closes once the whole request has taken longer than its deadline.
  bool closed = false;
  for (int i = 0; i < 200 && !closed; ++i) {
    if (!c.send("X-Slow-" + std::to_string(i) + ": 1\r\n")) {
      closed = true;
      break;
    }
    closed = !c.read_some(50ms) && c.closed();
  }
  EXPECT_TRUE(closed) << "still open after 200 header lines over ~10 s";
}

TEST_F(LimitsTest, ConnectionsOverTheLimitGet503AndAcceptingGoesOn) {
  ServerLimits limits;
  limits.max_connections = 10;
  start(limits);
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 10; ++i) {
    idle.push_back(std::make_unique<RawClient>(port()));
    ASSERT_TRUE(idle.back()->connected());
  }
  // The server counts a connection once it accepted it: wait until all ten are counted.
  const std::string open = "speedlayer_http_connections{listener=\"api\"}";
  for (int i = 0; i < 500 && sample(open) < 10; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(sample(open), 10);
  const std::string refused = get(port(), "/healthz");
  EXPECT_EQ(status_line(refused), "HTTP/1.1 503 Service Unavailable");
  EXPECT_NE(refused.find("too many connections"), std::string::npos);
  idle.pop_back();  // one closes: the next client is served
  for (int i = 0; i < 500 && sample(open) > 9; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(status_line(get(port(), "/healthz")), "HTTP/1.1 200 OK");
  EXPECT_EQ(sample("speedlayer_http_connections_refused_total{listener=\"api\"}"), 1);
}

TEST_F(LimitsTest, KeepAliveEndsAfterTheMaximumRequests) {
  ServerLimits limits;
  limits.max_requests_per_connection = 3;
  start(limits);
  RawClient c(port());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(c.read_to_close(5000ms)) << c.received();
  std::size_t answers = 0;
  for (std::size_t at = 0; (at = c.received().find("HTTP/1.1 200 OK", at)) != std::string::npos;
       ++at) {
    ++answers;
  }
  EXPECT_EQ(answers, 3u);
  EXPECT_NE(c.received().find("Connection: close"), std::string::npos);
}

TEST_F(LimitsTest, ProbesAnswerWhileSlowAndIdleClientsHoldTheApi) {
  start({}, /*probe=*/true);
  std::vector<std::unique_ptr<RawClient>> abusers;
  for (int i = 0; i < 50; ++i) {  // slow headers: a request line, then nothing
    abusers.push_back(std::make_unique<RawClient>(port()));
    abusers.back()->send("GET /v1/topics HTTP/1.1\r\nX-Slow: 1\r\n");
  }
  for (int i = 0; i < 500; ++i) abusers.push_back(std::make_unique<RawClient>(port()));  // idle
  for (const auto& a : abusers) ASSERT_TRUE(a->connected());
  for (int port_ : {server_->probe_port(), port()}) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string res = get(port_, "/healthz", 1000ms);
    EXPECT_EQ(status_line(res), "HTTP/1.1 200 OK") << "port " << port_;
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  }
  EXPECT_EQ(status_line(get(server_->probe_port(), "/readyz", 1000ms)), "HTTP/1.1 200 OK");
  EXPECT_EQ(status_line(get(server_->probe_port(), "/metrics", 1000ms)), "HTTP/1.1 200 OK");
  // The probe listener serves probes only.
  EXPECT_EQ(status_line(get(server_->probe_port(), "/v1/topics", 1000ms)),
            "HTTP/1.1 404 Not Found");
}

// ---- admin ----------------------------------------------------------------------------------

std::string post_expire(int port, const std::string& headers) {
  RawClient c(port);
  c.send("POST /v1/expire?before=1000 HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nConnection: close\r\nContent-Length: 0\r\n" + headers + "\r\n");
  c.read_to_close(5000ms);
  return c.received();
}

TEST_F(LimitsTest, AdminNeedsTheBearerTokenJsonAndNoForeignOrigin) {
  start();
  const std::string json = "Content-Type: application/json\r\n";
  const std::string good = "Authorization: Bearer 0123456789abcdef-token\r\n";
  std::string res = post_expire(port(), json);
  EXPECT_EQ(status_line(res), "HTTP/1.1 401 Unauthorized");
  EXPECT_NE(res.find("WWW-Authenticate: Bearer realm=\"speedlayer\""), std::string::npos) << res;
  res = post_expire(port(), json + "Authorization: Bearer 0123456789abcdef-tokem\r\n");
  EXPECT_EQ(status_line(res), "HTTP/1.1 401 Unauthorized");
  EXPECT_NE(res.find("wrong admin token"), std::string::npos);
  res = post_expire(port(), json + "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\r\n");
  EXPECT_EQ(status_line(res), "HTTP/1.1 401 Unauthorized");
  // A CORS "simple request" from another page: text/plain, or a foreign Origin.
  res = post_expire(port(), good + "Content-Type: text/plain\r\n");
  EXPECT_EQ(status_line(res), "HTTP/1.1 415 Unsupported Media Type");
  res = post_expire(port(), good + json + "Origin: http://evil.example\r\n");
  EXPECT_EQ(status_line(res), "HTTP/1.1 403 Forbidden");
  EXPECT_NE(res.find("cross-origin request refused"), std::string::npos);
  // Its own origin (the live page) and no origin (curl) are fine.
  res = post_expire(port(),
                    good + json + "Origin: http://127.0.0.1:" + std::to_string(port()) + "\r\n");
  EXPECT_EQ(status_line(res), "HTTP/1.1 200 OK") << res;
  res = post_expire(port(), good + "Content-Type: application/json; charset=utf-8\r\n");
  EXPECT_EQ(status_line(res), "HTTP/1.1 200 OK") << res;
}

TEST(Admin, OffWithoutAToken) {
  Server server("127.0.0.1", 0);
  server.on_expire([](std::int64_t) { return std::string("{}"); });
  ASSERT_TRUE(server.start());
  const std::string res =
      post_expire(server.port(), "Content-Type: application/json\r\nAuthorization: Bearer x\r\n");
  EXPECT_EQ(status_line(res), "HTTP/1.1 403 Forbidden");
  EXPECT_NE(res.find("--admin-token-file"), std::string::npos) << res;
}

TEST(Admin, BeforeInTheFutureIsRefused) {
  Server server("127.0.0.1", 0);
  std::atomic<std::int64_t> expired_before{-1};
  server.on_expire([&](std::int64_t before) {
    expired_before = before;
    return std::string("{}");
  });
  server.admin_token("0123456789abcdef-token").clock([] { return std::int64_t{500}; });
  ASSERT_TRUE(server.start());
  const std::string res = post_expire(
      server.port(),
      "Content-Type: application/json\r\nAuthorization: Bearer 0123456789abcdef-token\r\n");
  EXPECT_EQ(status_line(res), "HTTP/1.1 400 Bad Request");  // before=1000 > now=500
  EXPECT_NE(res.find("in the future"), std::string::npos) << res;
  EXPECT_EQ(expired_before.load(), -1);
}

// ---- GET /v1/stream ------------------------------------------------------------------------

std::string stream_request(const std::string& query, const std::string& headers = "") {
  return "GET /v1/stream" + query + " HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n" +
         headers + "\r\n";
}

TEST_F(LimitsTest, StreamSendsEventsWithIdsAndResumesAfterLastEventId) {
  start();
  hub_.publish_topic("Sport", R"({"d":1})", R"({"s":1})");
  RawClient c(port());
  c.send(stream_request("?topic=Sport"));
  ASSERT_TRUE(c.read_until("data: {\"s\":1}\n\n")) << c.received();
  EXPECT_EQ(status_line(c.received()), "HTTP/1.1 200 OK");
  EXPECT_NE(c.received().find("Content-Type: text/event-stream; charset=utf-8\r\n"),
            std::string::npos);
  EXPECT_NE(c.received().find("Cache-Control: no-store\r\n"), std::string::npos);
  EXPECT_NE(c.received().find("\r\n\r\nretry: 2000\n\n"), std::string::npos);
  hub_.publish_topic("AI", R"({"d":"ai"})", "{}");  // not asked for
  hub_.publish_topic("Sport", R"({"d":2})", R"({"s":2})");
  ASSERT_TRUE(c.read_until("data: {\"d\":2}\n\n")) << c.received();
  EXPECT_EQ(c.received().find("ai"), std::string::npos);
  // The id of the event just read; then two more events while disconnected.
  const std::string& got = c.received();
  const auto id_at = got.rfind("id: ");
  const std::string last_id = got.substr(id_at + 4, got.find('\n', id_at) - id_at - 4);
  hub_.publish_topic("Sport", R"({"d":3})", R"({"s":3})");
  hub_.publish_topic("Sport", R"({"d":4})", R"({"s":4})");
  RawClient again(port());
  again.send(stream_request("?topic=Sport", "Last-Event-ID: " + last_id + "\r\n"));
  ASSERT_TRUE(again.read_until("data: {\"d\":4}\n\n")) << again.received();
  EXPECT_NE(again.received().find("data: {\"d\":3}\n\n"), std::string::npos);
  EXPECT_EQ(again.received().find("data: {\"d\":2}"), std::string::npos);  // nothing twice
  EXPECT_EQ(again.received().find("{\"s\":"), std::string::npos);          // no snapshot
}

TEST_F(LimitsTest, AStreamClientThatDoesNotReadIsDroppedAndCounted) {
  ServerLimits limits;
  limits.stream_buffer_bytes = 256 << 10;
  start(limits);
  RawClient slow(port());
  ::setsockopt(slow.fd(), SOL_SOCKET, SO_RCVBUF, &(const int&)4096, sizeof(int));
  slow.send(stream_request(""));
  for (int i = 0; i < 500 && hub_.subscribers() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(hub_.subscribers(), 1u);
  RawClient reader(port());
  reader.send(stream_request(""));
  for (int i = 0; i < 500 && hub_.subscribers() < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(hub_.subscribers(), 2u);
  // Up to 64 MiB of events, far more than the socket buffers and the 256 KiB queue hold; the
  // reader reads each one before the next is published, the slow client reads nothing.
  const std::string big(64 << 10, 'x');
  const std::string dropped = "speedlayer_http_stream_dropped_total";
  for (int i = 0; i < 1024 && sample(dropped) == 0; ++i) {
    hub_.publish_topic("T", big + "-" + std::to_string(i), "{}");
    ASSERT_TRUE(reader.read_until("-" + std::to_string(i) + "\n\n")) << i;
  }
  EXPECT_EQ(sample(dropped), 1);
  EXPECT_EQ(hub_.subscribers(), 1u);
  // The reader kept up and is still subscribed.
  hub_.publish_topic("T", "last", "{}");
  EXPECT_TRUE(reader.read_until("data: last\n\n", 5000ms))
      << "closed " << reader.closed() << " received " << reader.received().size() << " dropped "
      << sample(dropped) << " subscribers " << hub_.subscribers() << " tail "
      << reader.received().substr(reader.received().size() -
                                  std::min<std::size_t>(100, reader.received().size()));
}

TEST_F(LimitsTest, StopClosesOpenStreamsPromptly) {
  start();
  RawClient c(port());
  c.send(stream_request(""));
  ASSERT_TRUE(c.read_until("retry: 2000\n\n"));
  for (int i = 0; i < 500 && hub_.subscribers() == 0; ++i) std::this_thread::sleep_for(10ms);
  const auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(hub_.subscribers(), 0u);
  EXPECT_TRUE(c.read_to_close(2000ms));
}

TEST_F(LimitsTest, HeadAnswersHeadersOnly) {
  start();
  RawClient c(port());
  c.send("HEAD /v1/topics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(c.read_to_close(5000ms));
  EXPECT_EQ(status_line(c.received()), "HTTP/1.1 200 OK");
  EXPECT_NE(c.received().find("Content-Length: 14\r\n"), std::string::npos) << c.received();
  EXPECT_TRUE(c.received().ends_with("\r\n\r\n")) << c.received();
}

}  // namespace
}  // namespace speedlayer::http
