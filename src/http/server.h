// The HTTP API of `speedlayer serve` (cpp-httplib underneath): health, readiness, Prometheus
// metrics and the real-time views, served from a background thread.
//
//   auto listen = parse_listen(flag_value);            // "0.0.0.0:8080", ":8080", "[::1]:8080"
//   if (!listen) { print_error(listen.error()); return exit_code(listen.error()); }
//   Registry metrics;
//   Server server(listen->host, listen->port);          // port 0: any free port
//   server.on_healthz([&] { return Health{true, ""}; });
//   server.on_readyz([&] { return restored ? Health{true, ""} : Health{false, "restoring"}; });
//   server.on_metrics(metrics);
//   server.on_views([&](const std::string& topic, std::optional<std::int64_t> from,
//                       std::optional<std::int64_t> to) -> std::optional<std::string> {
//     auto v = store.view(topic, from, to, now_ms());
//     if (!v) return std::nullopt;                      // -> 404 {"error":..., "topic": T}
//     return views::to_json(*v);
//   });
//   server.on_topics([&] { return views::to_json(store.totals()); });
//   server.on_expire([&](std::int64_t before) {
//     return "{\"expired\": " + std::to_string(store.expire_before(before)) + "}";
//   });
//   if (auto st = server.start(); !st) { print_error(st.error()); return exit_code(st.error()); }
//   std::cout << "serving on " << server.url() << "\n";
//   ...                                                 // ~Server stops and joins
//
// Endpoints (every body is JSON, `application/json`, except /metrics and the plain "ok"):
//   GET  /healthz                  200 "ok" (text/plain) | 503 {"healthy":false,"reason":R}
//   GET  /readyz                   200 {"ready":true}    | 503 {"ready":false,"reason":R}
//   GET  /metrics                  registry.render(), text/plain; version=0.0.4; charset=utf-8
//   GET  /v1/views?topic=T[&from=MS&to=MS]   the callback's JSON | 404 {"error","topic"}
//   GET  /v1/topics                the callback's JSON
//   POST /v1/expire?before=MS      the callback's JSON, e.g. {"expired": N}
// Bad or missing parameters: 400 {"error": ..., "parameter": NAME}. Unknown path or an endpoint
// without a callback: 404 {"error","path"}. Known path, other method: 405 with an Allow header.
// A callback that throws: 500 {"error": "internal error: ...", "path": P}; nothing escapes.
// Without on_healthz / on_readyz the process counts as healthy and ready. With on_metrics, every
// request is counted in speedlayer_http_requests_total{path,code} (path is the endpoint, or
// "other" for unknown paths, so scanners cannot blow up the label set).
//
// Threads: callbacks run on httplib's worker threads, several at once; they must be
// thread-safe. Register every callback before start(); registering later throws
// std::logic_error. The registry given to on_metrics must outlive the Server.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "core/error.h"
#include "http/metrics.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace speedlayer::http {

// --listen HOST:PORT
struct ListenAddress {
  std::string host;  // no brackets: "0.0.0.0", "::1", "localhost"
  int port = 0;
  std::string to_string() const;  // "0.0.0.0:8080", "[::1]:8080"
};
// Accepts "HOST:PORT", ":PORT" (0.0.0.0), "PORT" (0.0.0.0), "[IPV6]:PORT". Errors are
// ErrorKind::usage with where "--listen".
Result<ListenAddress> parse_listen(std::string_view text);

// A query's parameters once decoded: name -> value, a repeated name once per value (the
// first counts, as cpp-httplib's get_param_value). Same type as httplib::Params.
using QueryParams = std::multimap<std::string, std::string>;
// A missing or bad parameter: the handler answers 400 {"error": message, "parameter": name}.
struct QueryError {
  std::string message;
  std::string parameter;
};
// GET /v1/views?topic=T[&from=MS][&to=MS]: topic non-empty; from and to integers (ms since
// the epoch), from <= to.
struct ViewsQuery {
  std::string topic;
  std::optional<std::int64_t> from, to;
};
std::expected<ViewsQuery, QueryError> parse_views_query(const QueryParams& params);
// POST /v1/expire?before=MS
std::expected<std::int64_t, QueryError> parse_expire_query(const QueryParams& params);

struct Health {
  bool ok = true;
  std::string reason;  // why not, shown in the 503 body
};
using HealthFn = std::function<Health()>;
using ViewsFn = std::function<std::optional<std::string>(
    const std::string& topic, std::optional<std::int64_t> from_ms,
    std::optional<std::int64_t> to_ms)>;
using TopicsFn = std::function<std::string()>;
using ExpireFn = std::function<std::string(std::int64_t before_ms)>;

class Server {
 public:
  // `host` may carry brackets ("[::1]"); port 0 binds any free port (see port()).
  Server(std::string host, int port);
  explicit Server(const ListenAddress& address) : Server(address.host, address.port) {}
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Server& on_healthz(HealthFn fn);
  Server& on_readyz(HealthFn fn);
  Server& on_metrics(Registry& registry);
  Server& on_views(ViewsFn fn);
  Server& on_topics(TopicsFn fn);
  Server& on_expire(ExpireFn fn);

  // Binds and serves from a background thread; returns once requests are accepted. Errors
  // (ErrorKind::usage, where "--listen HOST:PORT"): address already in use, address not
  // available on this machine, permission denied, host not resolvable. Calling it twice is
  // an ErrorKind::internal error.
  Status start();
  // Stops accepting, waits for requests in progress, joins the thread. Idempotent. Returns at
  // once when no connection is open; a client holding an idle keep-alive connection delays it
  // by up to the 1 s keep-alive timeout (httplib does not interrupt idle connections), one
  // stuck mid-request by up to the 5 s read timeout.
  void stop();

  bool running() const;
  int port() const { return bound_port_; }  // the actual port once started, else as given
  const std::string& host() const { return host_; }
  // "http://HOST:PORT" to print; a wildcard host (0.0.0.0, ::) shows as 127.0.0.1 / [::1].
  std::string url() const;

 private:
  void install_routes();
  void respond(const char* route, const httplib::Request& req, httplib::Response& res,
               const std::function<void(const httplib::Request&, httplib::Response&)>& fn);
  void check_not_started(const char* what) const;

  std::string host_;
  int port_;
  int bound_port_;
  HealthFn healthz_;
  HealthFn readyz_;
  Registry* registry_ = nullptr;
  ViewsFn views_;
  TopicsFn topics_;
  ExpireFn expire_;

  std::unique_ptr<httplib::Server> svr_;
  std::thread thread_;
  std::atomic<bool> thread_done_{false};
  bool started_ = false;
};

// `s` as a JSON string literal, quotes included: escapes " \ and control characters, and
// replaces each byte of invalid UTF-8 with U+FFFD. For small JSON bodies in callbacks.
std::string json_quote(std::string_view s);

}  // namespace speedlayer::http
