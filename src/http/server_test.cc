#include "http/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace speedlayer::http {
namespace {

constexpr const char* kToken = "an-admin-token-of-32-characters!";

// A server on 127.0.0.1 with a free port and fake callbacks that record their arguments.
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.on_healthz([this] { return Health{healthy_, "consumer thread died"}; })
        .on_readyz([this] { return Health{ready_, "restoring state"}; })
        .on_metrics(registry_)
        .on_views([this](const std::string& topic, std::optional<std::int64_t> from,
                         std::optional<std::int64_t> to) -> std::optional<std::string> {
          std::lock_guard lock(mu_);
          last_topic_ = topic;
          last_from_ = from;
          last_to_ = to;
          if (topic == "boom") throw std::runtime_error("store exploded");
          if (topic != "Sport") return std::nullopt;
          return std::string(R"({"topic": "Sport", "window_ms": 60000, "late": 0, "windows": []})");
        })
        .on_topics([] { return std::string(R"([{"topic": "Sport", "count": 3}])"); })
        .on_expire([this](std::int64_t before) {
          std::lock_guard lock(mu_);
          last_before_ = before;
          return std::string(R"({"expired": 2})");
        })
        .admin_token(kToken)
        .clock([] { return std::int64_t{1'800'000'000'000}; });
    auto st = server_.start();
    ASSERT_TRUE(st) << st.error().message();
    ASSERT_GT(server_.port(), 0);
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", server_.port());
    c.set_connection_timeout(std::chrono::seconds(2));
    c.set_read_timeout(std::chrono::seconds(5));
    return c;
  }

  Registry registry_;
  Server server_{"127.0.0.1", 0};
  std::atomic<bool> healthy_{true};
  std::atomic<bool> ready_{false};
  std::mutex mu_;
  std::string last_topic_;
  std::optional<std::int64_t> last_from_, last_to_;
  std::int64_t last_before_ = 0;
};

constexpr const char* kJson = "application/json";

TEST_F(ServerTest, HealthzIsPlainOkOr503WithReason) {
  auto c = client();
  auto res = c.Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok");
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; charset=utf-8");

  healthy_ = false;
  res = c.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, R"({"healthy": false, "reason": "consumer thread died"})");
  EXPECT_EQ(res->get_header_value("Content-Type"), kJson);
}

TEST_F(ServerTest, ReadyzFollowsTheCallback) {
  auto c = client();
  auto res = c.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, R"({"ready": false, "reason": "restoring state"})");
  EXPECT_EQ(res->get_header_value("Content-Type"), kJson);
  ready_ = true;
  res = c.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"ready": true})");
}

TEST_F(ServerTest, ViewsPassesTopicAndRange) {
  auto c = client();
  auto res = c.Get("/v1/views?topic=Sport&from=1000&to=-5");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << "from after to";
  EXPECT_EQ(res->body, R"({"error": "parameter from is after to", "parameter": "from"})");

  res = c.Get("/v1/views?topic=Sport&from=60000&to=180000");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"topic": "Sport", "window_ms": 60000, "late": 0, "windows": []})");
  EXPECT_EQ(res->get_header_value("Content-Type"), kJson);
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(last_topic_, "Sport");
    EXPECT_EQ(last_from_, 60000);
    EXPECT_EQ(last_to_, 180000);
  }
  res = c.Get("/v1/views?topic=Sport");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  std::lock_guard lock(mu_);
  EXPECT_EQ(last_from_, std::nullopt);
  EXPECT_EQ(last_to_, std::nullopt);
}

TEST_F(ServerTest, ViewsOfUnknownTopicIs404WithTopic) {
  auto c = client();
  auto res = c.Get("/v1/views?topic=a%22b");  // a"b: escaped in the JSON
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, R"({"error": "no view for this topic", "topic": "a\"b"})");
  EXPECT_EQ(res->get_header_value("Content-Type"), kJson);
}

TEST_F(ServerTest, ViewsBadParametersAre400NamingTheParameter) {
  auto c = client();
  auto res = c.Get("/v1/views");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body,
            R"({"error": "missing parameter topic: use /v1/views?topic=T", "parameter": "topic"})");
  EXPECT_EQ(res->get_header_value("Content-Type"), kJson);

  res = c.Get("/v1/views?topic=");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find(R"("parameter": "topic")"), std::string::npos) << res->body;

  res = c.Get("/v1/views?topic=Sport&from=abc");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body,
            R"({"error": "parameter from must be an integer (ms since the epoch), got 'abc'", )"
            R"("parameter": "from"})");

  for (const char* bad : {"1.5", "12x", "", "99999999999999999999"}) {
    res = c.Get(std::string("/v1/views?topic=Sport&to=") + bad);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << bad;
    EXPECT_NE(res->body.find(R"("parameter": "to")"), std::string::npos) << res->body;
  }
}

TEST_F(ServerTest, TopicsReturnsTheCallbackJson) {
  auto c = client();
  auto res = c.Get("/v1/topics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"([{"topic": "Sport", "count": 3}])");
  EXPECT_EQ(res->get_header_value("Content-Type"), kJson);
}

TEST_F(ServerTest, ExpirePostsTheWatermark) {
  auto c = client();
  c.set_bearer_token_auth(kToken);
  auto res = c.Post("/v1/expire?before=1700000000000", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"expired": 2})");
  EXPECT_EQ(res->get_header_value("Content-Type"), kJson);
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(last_before_, 1700000000000);
  }

  res = c.Post("/v1/expire", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find(R"("parameter": "before")"), std::string::npos) << res->body;
  res = c.Post("/v1/expire?before=soon", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("got 'soon'"), std::string::npos) << res->body;
}

TEST_F(ServerTest, UnknownPathIs404AndWrongMethodIs405) {
  auto c = client();
  auto res = c.Get("/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, R"({"error": "no such endpoint", "path": "/nope"})");
  EXPECT_EQ(res->get_header_value("Content-Type"), kJson);

  res = c.Post("/nope", "x", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);

  res = c.Get("/v1/expire?before=1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "POST");
  EXPECT_EQ(res->get_header_value("Content-Type"), kJson);
  EXPECT_EQ(res->body, R"({"error": "method not allowed", "method": "GET", )"
                       R"("path": "/v1/expire", "allow": "POST"})");

  res = c.Post("/v1/views?topic=Sport", "", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "GET, HEAD");

  res = c.Delete("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  res = c.Put("/healthz", "", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
}

TEST_F(ServerTest, ThrowingCallbackIs500Json) {
  auto c = client();
  auto res = c.Get("/v1/views?topic=boom");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body, R"({"error": "internal error: store exploded", "path": "/v1/views"})");
  EXPECT_EQ(res->get_header_value("Content-Type"), kJson);
  // The server keeps serving.
  res = c.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(ServerTest, MetricsServesTheRegistryAndCountsRequests) {
  registry_.counter("speedlayer_records_consumed_total", "Records consumed", {{"topic", "Sport"}})
      .inc(5);
  auto c = client();
  ASSERT_TRUE(c.Get("/healthz"));
  ASSERT_TRUE(c.Get("/healthz"));
  ASSERT_TRUE(c.Get("/v1/views"));  // 400
  ASSERT_TRUE(c.Get("/wp-admin"));  // 404, path "other"
  auto res = c.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& body = res->body;
  EXPECT_NE(body.find("speedlayer_records_consumed_total{topic=\"Sport\"} 5\n"), std::string::npos)
      << body;
  EXPECT_NE(body.find("# TYPE speedlayer_http_requests_total counter\n"), std::string::npos);
  EXPECT_NE(body.find("speedlayer_http_requests_total{code=\"200\",path=\"/healthz\"} 2\n"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("speedlayer_http_requests_total{code=\"400\",path=\"/v1/views\"} 1\n"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("speedlayer_http_requests_total{code=\"404\",path=\"other\"} 1\n"),
            std::string::npos)
      << body;
  EXPECT_EQ(body.find("wp-admin"), std::string::npos);
}

TEST_F(ServerTest, UrlNamesTheBoundPort) {
  EXPECT_EQ(server_.url(), "http://127.0.0.1:" + std::to_string(server_.port()));
  EXPECT_TRUE(server_.running());
}

TEST_F(ServerTest, SecondServerOnTheSamePortFailsClearly) {
  Server second("127.0.0.1", server_.port());
  auto st = second.start();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::usage);
  const std::string want =
      "--listen 127.0.0.1:" + std::to_string(server_.port()) + ": address already in use";
  EXPECT_EQ(st.error().message().rfind(want, 0), 0u) << st.error().message();
  EXPECT_FALSE(second.running());
  // The first one is unaffected.
  auto res = client().Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(ServerTest, RegisteringAfterStartThrows) {
  EXPECT_THROW(server_.on_topics([] { return std::string("[]"); }), std::logic_error);
}

TEST(ServerLifecycle, DestructorStopsPromptly) {
  int port = 0;
  auto server = std::make_unique<Server>("127.0.0.1", 0);
  ASSERT_TRUE(server->start());
  port = server->port();
  {
    httplib::Client c("127.0.0.1", port);
    for (int i = 0; i < 3; ++i) {
      auto res = c.Get("/healthz");
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 200);
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  server.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));

  // Nothing listens any more, and the port can be bound again at once (SO_REUSEADDR).
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(std::chrono::seconds(1));
  EXPECT_FALSE(c.Get("/healthz"));
  Server again("127.0.0.1", port);
  auto st = again.start();
  EXPECT_TRUE(st) << st.error().message();
}

TEST(ServerLifecycle, IdleKeepAliveClientDoesNotDelayStop) {
  Server server("127.0.0.1", 0);
  ASSERT_TRUE(server.start());
  httplib::Client c("127.0.0.1", server.port());
  c.set_keep_alive(true);  // the connection stays open and idle after the response
  auto res = c.Get("/healthz");
  ASSERT_TRUE(res);
  const auto t0 = std::chrono::steady_clock::now();
  server.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  EXPECT_FALSE(server.running());
  server.stop();  // idempotent
}

TEST(ServerLifecycle, DefaultsWithoutCallbacks) {
  Server server("127.0.0.1", 0);
  ASSERT_TRUE(server.start());
  httplib::Client c("127.0.0.1", server.port());
  auto res = c.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = c.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = c.Get("/v1/topics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, R"({"error": "endpoint not enabled on this server", "path": "/v1/topics"})");
  res = c.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST(ServerLifecycle, AddressNotOnThisMachineIsAUsageError) {
  Server server("192.0.2.1", 0);  // TEST-NET-1: not a local address
  auto st = server.start();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::usage);
  EXPECT_EQ(st.error().where, "--listen 192.0.2.1:0");
  EXPECT_EQ(st.error().what, "address not available on this machine");
}

TEST(ServerLifecycle, StartTwiceIsAnError) {
  Server server("127.0.0.1", 0);
  ASSERT_TRUE(server.start());
  auto st = server.start();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::internal);
}

TEST(ServerLifecycle, ListensOnIpv6Loopback) {
  Server server("[::1]", 0);
  auto st = server.start();
  if (!st) GTEST_SKIP() << "no IPv6 loopback here: " << st.error().message();
  EXPECT_EQ(server.url(), "http://[::1]:" + std::to_string(server.port()));
  httplib::Client c("::1", server.port());
  auto res = c.Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->body, "ok");
}

// ---- parse_listen -----------------------------------------------------------------------

TEST(ParseListen, AcceptsTheDocumentedForms) {
  struct Case {
    const char* text;
    const char* host;
    int port;
  };
  for (const Case& c : {Case{"0.0.0.0:8080", "0.0.0.0", 8080}, Case{":8080", "0.0.0.0", 8080},
                        Case{"8080", "0.0.0.0", 8080}, Case{"[::1]:8080", "::1", 8080},
                        Case{"[::]:9000", "::", 9000}, Case{"localhost:0", "localhost", 0},
                        Case{"127.0.0.1:65535", "127.0.0.1", 65535}}) {
    auto r = parse_listen(c.text);
    ASSERT_TRUE(r) << c.text << ": " << r.error().message();
    EXPECT_EQ(r->host, c.host) << c.text;
    EXPECT_EQ(r->port, c.port) << c.text;
  }
  EXPECT_EQ(parse_listen("[::1]:8080")->to_string(), "[::1]:8080");
  EXPECT_EQ(parse_listen(":8080")->to_string(), "0.0.0.0:8080");
}

TEST(ParseListen, RejectsBadFormsNamingTheFlag) {
  for (const char* bad : {"", "localhost", "host:", "host:http", "host:65536", "host:-1",
                          "::1:8080", "[::1]", "[::1]8080", "[::1:8080", "[]:80", "h:8080x"}) {
    auto r = parse_listen(bad);
    ASSERT_FALSE(r) << "'" << bad << "' parsed";
    EXPECT_EQ(r.error().kind, ErrorKind::usage) << bad;
    EXPECT_EQ(r.error().where, "--listen") << bad;
    EXPECT_EQ(r.error().message().rfind("--listen: ", 0), 0u) << r.error().message();
  }
  EXPECT_EQ(parse_listen("::1:8080").error().hint, "write it as [::1]:8080");
  EXPECT_NE(parse_listen("host:99999").error().what.find("invalid port '99999'"),
            std::string::npos);
}

TEST(ParseViewsQuery, TopicAndRange) {
  auto q = parse_views_query({{"topic", "Sport"}, {"from", "-5"}, {"to", "10"}});
  ASSERT_TRUE(q);
  EXPECT_EQ(q->topic, "Sport");
  EXPECT_EQ(q->from, -5);
  EXPECT_EQ(q->to, 10);
  auto only_topic = parse_views_query({{"topic", "AI"}, {"topic", "ignored"}});
  ASSERT_TRUE(only_topic);
  EXPECT_EQ(only_topic->topic, "AI");  // the first of a repeated name, as get_param_value
  EXPECT_FALSE(only_topic->from);
  EXPECT_FALSE(only_topic->to);
}

TEST(ParseViewsQuery, EachBadParameterIsNamed) {
  EXPECT_EQ(parse_views_query({}).error().parameter, "topic");
  EXPECT_EQ(parse_views_query({{"topic", ""}}).error().parameter, "topic");
  EXPECT_EQ(parse_views_query({{"topic", "t"}, {"from", "x"}}).error().parameter, "from");
  EXPECT_EQ(parse_views_query({{"topic", "t"}, {"to", "9223372036854775808"}}).error().parameter,
            "to");
  auto reversed = parse_views_query({{"topic", "t"}, {"from", "2"}, {"to", "1"}});
  EXPECT_EQ(reversed.error().message, "parameter from is after to");
  // A hostile value is quoted back bounded.
  auto long_value = parse_views_query({{"topic", "t"}, {"from", std::string(10'000, 'x')}});
  ASSERT_FALSE(long_value);
  EXPECT_LT(long_value.error().message.size(), 200u);
}

TEST(ParseExpireQuery, BeforeIsRequiredAnIntegerAndNotInTheFuture) {
  constexpr std::int64_t now = 1'800'000'000'000;
  EXPECT_EQ(*parse_expire_query({{"before", "1700000000000"}}, now), 1'700'000'000'000);
  EXPECT_EQ(*parse_expire_query({{"before", "1800000000000"}}, now), now);
  EXPECT_EQ(parse_expire_query({}, now).error().parameter, "before");
  EXPECT_EQ(parse_expire_query({{"before", "1e3"}}, now).error().message,
            "parameter before must be an integer (ms since the epoch), got '1e3'");
  EXPECT_EQ(parse_expire_query({{"before", "1800000000001"}}, now).error().message,
            "parameter before is in the future (1800000000001 > now 1800000000000)");
}

TEST(ParseTarget, SplitsPathAndDecodesParameters) {
  auto t = parse_target("/v1/views?topic=a%20b&from=1&topic=c+d&flag");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/v1/views");
  const QueryParams want{{"topic", "a b"}, {"topic", "c d"}, {"from", "1"}, {"flag", ""}};
  EXPECT_EQ(t->params, want);
  EXPECT_EQ(parse_target("/a%2Fb")->path, "/a/b");
  EXPECT_FALSE(parse_target("/v1/views?topic=%zz"));
  EXPECT_FALSE(parse_target("http://other.example/"));  // absolute-form: not ours to proxy
  EXPECT_FALSE(parse_target("*"));
  EXPECT_FALSE(parse_target(""));
}

}  // namespace
}  // namespace speedlayer::http
