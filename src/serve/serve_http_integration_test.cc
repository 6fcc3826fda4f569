// serve's HTTP face against a real broker, as a browser or curl meets it: GET /v1/stream
// (events coalesced to --stream-rate, ids increasing, the streamed view equal to /v1/views),
// the probe listener, and the admin token.
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>

#include "produce/produce_test_support.h"
#include "serve/serve_test_support.h"

namespace speedlayer::testing {
namespace {

using namespace std::chrono_literals;

// A raw HTTP/1.1 client reading a text/event-stream into frames.
class SseClient {
 public:
  struct Event {
    std::string id, event;
    Json data;
  };
  SseClient(int port, const std::string& target) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect failed");
    const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
      throw std::runtime_error("send failed");
  }
  ~SseClient() { ::close(fd_); }

  // The next event (comments and the retry field skipped), or nullopt after `timeout`.
  std::optional<Event> next(std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    while (true) {
      if (!header_done_) {
        const auto end = buffer_.find("\r\n\r\n");
        if (end != std::string::npos) {
          head_ = buffer_.substr(0, end);
          buffer_.erase(0, end + 4);
          header_done_ = true;
        }
      }
      if (header_done_) {
        const auto end = buffer_.find("\n\n");
        if (end != std::string::npos) {
          const std::string frame = buffer_.substr(0, end);
          buffer_.erase(0, end + 2);
          Event e;
          std::string data;
          std::istringstream lines(frame);
          for (std::string line; std::getline(lines, line);) {
            if (line.rfind("id: ", 0) == 0) e.id = line.substr(4);
            if (line.rfind("event: ", 0) == 0) e.event = line.substr(7);
            if (line.rfind("data: ", 0) == 0) data += line.substr(6);
          }
          if (e.event.empty()) continue;  // ": heartbeat", "retry: ..."
          e.data = Json::parse(data);
          return e;
        }
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (left <= 0ms) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return std::nullopt;
      buffer_.append(buf, static_cast<std::size_t>(n));
    }
  }
  const std::string& head() const { return head_; }

 private:
  int fd_ = -1;
  bool header_done_ = false;
  std::string head_, buffer_;
};

std::uint64_t sequence_of(const std::string& id) {
  return std::stoull(id.substr(id.find('-') + 1));
}

// The raw response of one request (Connection: close).
std::string request(int port, const std::string& head) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, n);
  }
  ::close(fd);
  return out;
}

TEST(ServeHttpIntegration, StreamIsCoalescedAndAgreesWithTheViews) {
  const std::string brokers = bootstrap("single");
  const std::string dir = temp_dir("serve-http-stream");
  const std::string topic = unique_topic("stream");
  ASSERT_EQ(create_topic("single", topic, 2, 1), 0);
  const std::string token = "0123456789abcdef0123456789abcdef";
  const std::string token_file = dir + "/admin-token";
  std::ofstream(token_file) << token << "\n";  // a Secret made with --from-file ends in \n
  ::chmod(token_file.c_str(), 0600);
  const int probe_port = free_port();
  ServeReplica serve(
      "serve", {"--brokers", brokers, "--topic", topic, "--group", unique_topic("stream-group"),
                "--window", "1s", "--grace", "0s", "--stream-rate", "2", "--admin-token-file",
                token_file, "--probe-listen", "127.0.0.1:" + std::to_string(probe_port)});
  serve.start();
  ASSERT_TRUE(serve.wait_ready(60s));
  EXPECT_EQ(http_get(probe_port, "/healthz").status, 200);
  EXPECT_EQ(http_get(probe_port, "/readyz").status, 200);
  EXPECT_EQ(http_get(probe_port, "/v1/topics").status, 404);  // probes only

  // The rate bound counts from before the connection: events the server sent while the
  // batches were produced may wait in the socket and be read here in a burst.
  const auto connected = SteadyClock::now();
  SseClient sse(serve.port(), "/v1/stream?topic=" + topic);
  // Three batches of records while the stream is open.
  const std::string no_routes = dir + "/no-routes.yaml";
  std::ofstream(no_routes) << "routes: []\n";
  constexpr int kBatches = 3, kPerBatch = 1000;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<std::string> lines;
    for (int i = 0; i < kPerBatch; ++i) lines.push_back("batch " + std::to_string(b) + " word");
    ChildProcess p({speedlayer_bin(), "produce", "--brokers", brokers, "--topic", topic, "--format",
                    "text", "--routes", no_routes, "--input",
                    write_lines(dir + "/in" + std::to_string(b) + ".txt", lines)});
    auto code = p.wait_for(120s);
    ASSERT_TRUE(code && *code == 0) << p.err();
  }

  // Merge the stream's view events (by window start) until they count every record.
  std::map<long long, Json> windows;
  std::uint64_t last_seq = 0;
  int view_events = 0;
  auto total = [&] {
    std::uint64_t n = 0;
    for (const auto& [start, w] : windows) n += w["count"].get<std::uint64_t>();
    return n;
  };
  while (total() < kBatches * kPerBatch) {
    auto e = sse.next(60s);
    ASSERT_TRUE(e) << "no event for 60 s; the stream counted " << total() << "\n"
                   << serve.proc().err();
    const std::uint64_t seq = sequence_of(e->id);
    EXPECT_GT(seq, last_seq) << "ids must increase";
    last_seq = seq;
    if (e->event != "view") continue;
    ASSERT_EQ(e->data["topic"], topic);
    ++view_events;
    if (e->data["snapshot"].get<bool>()) windows.clear();
    for (const auto& w : e->data["windows"]) windows[w["start"].get<long long>()] = w;
    if (!e->data["oldest"].is_null()) {
      std::erase_if(windows,
                    [&](const auto& kv) { return kv.first < e->data["oldest"].get<long long>(); });
    }
  }
  EXPECT_EQ(sse.head().rfind("HTTP/1.1 200 OK", 0), 0u) << sse.head();
  // At most --stream-rate view events per second for the topic (+1 for the first snapshot).
  const double seconds = seconds_since(connected);
  EXPECT_LE(view_events, 2 * seconds + 2) << view_events << " events in " << seconds << " s";
  // The streamed windows are the /v1/views windows.
  auto view = serve.view(topic);
  ASSERT_TRUE(view);
  EXPECT_EQ(window_sum(*view), static_cast<std::uint64_t>(kBatches * kPerBatch));
  for (const auto& w : (*view)["windows"]) {
    const long long start = w["start"].get<long long>();
    ASSERT_TRUE(windows.count(start)) << start;
    EXPECT_EQ(windows[start]["count"], w["count"]) << start;
  }

  // Admin: POST /v1/expire needs the token (the file's trailing newline is not part of it).
  const std::string expire =
      "POST /v1/expire?before=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Content-Type: application/json\r\nContent-Length: 0\r\n";
  EXPECT_EQ(request(serve.port(), expire + "\r\n").rfind("HTTP/1.1 401", 0), 0u);
  const std::string ok =
      request(serve.port(), expire + "Authorization: Bearer " + token + "\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_NE(ok.find("\"expired\":0"), std::string::npos) << ok;
  serve.proc().signal(SIGTERM);
  auto code = serve.proc().wait_for(60s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << serve.proc().err();
}

TEST(ServeHttpIntegration, AShortAdminTokenIsAUsageError) {
  const std::string dir = temp_dir("serve-http-token");
  const std::string token_file = dir + "/admin-token";
  std::ofstream(token_file) << "secret\n";
  ChildProcess p({speedlayer_bin(), "serve", "--brokers", bootstrap("single"), "--topic", "t",
                  "--admin-token-file", token_file, "--listen", "127.0.0.1:0"});
  auto code = p.wait_for(30s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 2) << p.err();
  EXPECT_NE(p.err().find("admin token is 6 characters long: at least 16 are needed"),
            std::string::npos)
      << p.err();
  EXPECT_EQ(p.err().find("secret"), std::string::npos) << "the token was printed: " << p.err();
}

}  // namespace
}  // namespace speedlayer::testing
