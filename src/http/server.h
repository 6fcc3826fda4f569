// The HTTP face of `speedlayer serve` (Boost.Beast on Asio underneath): health, readiness,
// Prometheus metrics, the real-time views, their live stream (SSE) and the live page, served
// from background threads, built for hostile clients.
//
//   auto listen = parse_listen(flag_value);            // "127.0.0.1:8080", ":8080", "[::1]:8080"
//   Registry metrics;
//   Server server(*listen, probe_listen);               // probe_listen: optional ListenAddress
//   server.on_healthz([&] { return Health{true, ""}; });
//   server.on_readyz([&] { return restored ? Health{true, ""} : Health{false, "restoring"}; });
//   server.on_metrics(metrics);
//   server.on_views([&](const std::string& topic, std::optional<std::int64_t> from,
//                       std::optional<std::int64_t> to) -> std::optional<std::string> { ... });
//   server.on_topics([&] { return views::to_json(store.totals()); });
//   server.on_expire([&](std::int64_t before) { ... }).admin_token(token_from_file);
//   server.on_stream(hub);                              // GET /v1/stream, see stream_hub.h
//   if (auto st = server.start(); !st) { print_error(st.error()); return exit_code(st.error()); }
//   ...                                                 // ~Server stops and joins
//
// Endpoints (JSON bodies are `application/json`):
//   GET  /                         the live page (and /app.js, /app.css), embedded
//   GET  /healthz                  200 "ok" (text/plain) | 503 {"healthy":false,"reason":R}
//   GET  /readyz                   200 {"ready":true}    | 503 {"ready":false,"reason":R}
//   GET  /metrics                  registry.render(), text/plain; version=0.0.4; charset=utf-8
//   GET  /v1/views?topic=T[&from=MS&to=MS]   the callback's JSON | 404 {"error","topic"}
//   GET  /v1/topics                the callback's JSON
//   GET  /v1/stream[?topic=T...]   text/event-stream (events "view" and "status")
//   POST /v1/expire?before=MS      admin: the callback's JSON, e.g. {"expired": N}
// Bad or missing parameters: 400 {"error": ..., "parameter": NAME}. Unknown path or an endpoint
// without a callback: 404 {"error","path"}. Known path, other method: 405 with an Allow header.
// A callback that throws: 500 {"error": "internal error: ...", "path": P}; nothing escapes.
//
// Admin endpoints (POST /v1/expire): 403 unless admin_token() was given; then, in this order,
// 403 when an Origin header is present and is not this server's own (http://<Host>), 415 unless
// Content-Type is application/json, 401 (WWW-Authenticate: Bearer) unless `Authorization:
// Bearer <token>` matches (compared in constant time), 400 for a `before` in the future.
//
// Limits (ServerLimits): header bytes and fields, body bytes (chunked or not: 413 as soon as
// the limit is crossed, nothing more is read), one deadline for a whole request (headers and
// body, from the connection's first byte or the previous response), requests per connection,
// connections per listener (beyond it: an immediate 503 and close; accepting goes on). Slow
// clients hold no thread: every connection is asynchronous.
//
// The probe listener (optional): its own thread and connection budget, serving only /healthz,
// /readyz and /metrics, so no API client (slow, idle, streaming or busy) can starve the
// kubelet's probes. The API listener answers those paths too.
//
// Threads: callbacks run on the API's threads (and the probe thread), several at once; they
// must be thread-safe. Register every callback before start(); registering later throws
// std::logic_error. The registry and hub must outlive the Server. With on_metrics, every request
// is counted in speedlayer_http_requests_total{path,code} (path is the endpoint, or "other").
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "http/metrics.h"
#include "http/stream_hub.h"

namespace speedlayer::http {

// --listen HOST:PORT
struct ListenAddress {
  std::string host;  // no brackets: "0.0.0.0", "::1", "localhost"
  int port = 0;
  std::string to_string() const;  // "0.0.0.0:8080", "[::1]:8080"
};
// Accepts "HOST:PORT", ":PORT" (0.0.0.0), "PORT" (0.0.0.0), "[IPV6]:PORT". Errors are
// ErrorKind::usage with where `flag`.
Result<ListenAddress> parse_listen(std::string_view text, std::string_view flag = "--listen");

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
// POST /v1/expire?before=MS: before an integer, not after `now_ms`.
std::expected<std::int64_t, QueryError> parse_expire_query(const QueryParams& params,
                                                           std::int64_t now_ms);
// A request target ("/v1/views?topic=a%20b&from=1") split into its path and decoded query
// parameters ('+' is a space, as browsers send forms). nullopt: not an origin-form target or
// bad percent-encoding (the server answers 400).
struct Target {
  std::string path;
  QueryParams params;
};
std::optional<Target> parse_target(std::string_view target);

// The server's bounds; the defaults suit serve in its 256Mi pod.
struct ServerLimits {
  std::size_t max_header_bytes = 16 << 10;            // request line and headers: 431 beyond
  std::size_t max_header_fields = 64;                 // 431 beyond
  std::size_t max_body_bytes = 64 << 10;              // 413 beyond, chunked or not
  std::chrono::milliseconds request_timeout{10'000};  // idle keep-alive + one whole request
  std::size_t max_requests_per_connection = 1000;
  std::size_t max_connections = 2000;                      // API listener (streams included)
  std::size_t max_probe_connections = 32;                  // probe listener
  std::size_t max_streams = 1000;                          // GET /v1/stream at once
  std::size_t stream_buffer_bytes = 1 << 20;               // queued for one stream: dropped beyond
  std::chrono::milliseconds stream_write_timeout{10'000};  // one write to a stream client
  std::chrono::milliseconds heartbeat{15'000};             // ": heartbeat" comment
  int api_threads = 2;
};

struct Health {
  bool ok = true;
  std::string reason;  // why not, shown in the 503 body
};
using HealthFn = std::function<Health()>;
using ViewsFn = std::function<std::optional<std::string>(const std::string& topic,
                                                         std::optional<std::int64_t> from_ms,
                                                         std::optional<std::int64_t> to_ms)>;
using TopicsFn = std::function<std::string()>;
using ExpireFn = std::function<std::string(std::int64_t before_ms)>;
// A file of the live page: "/" -> index.html... nullopt: no such file.
struct StaticFile {
  std::string_view content_type;
  std::string_view body;  // must outlive the Server (embedded in the binary)
};
using StaticFn = std::function<std::optional<StaticFile>(std::string_view path)>;

class Server {
 public:
  // `api` port 0 binds any free port (see port()); the probe listener likewise.
  explicit Server(ListenAddress api, std::optional<ListenAddress> probe = std::nullopt,
                  ServerLimits limits = {});
  // `host` may carry brackets ("[::1]").
  Server(std::string host, int port);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Server& on_healthz(HealthFn fn);
  Server& on_readyz(HealthFn fn);
  Server& on_metrics(Registry& registry);
  Server& on_views(ViewsFn fn);
  Server& on_topics(TopicsFn fn);
  Server& on_expire(ExpireFn fn);
  Server& on_stream(StreamHub& hub);
  // GET paths that are no endpoint: served from `fn` with a strict Content-Security-Policy.
  Server& on_static(StaticFn fn);
  // Turns the admin endpoints on: requests need `Authorization: Bearer <token>`.
  Server& admin_token(std::string token);
  // Milliseconds since the epoch, for refusing a `before` in the future (default: system clock).
  Server& clock(std::function<std::int64_t()> now_ms);

  // Binds both listeners and serves from background threads; returns once connections are
  // accepted. Errors (ErrorKind::usage, where "--listen HOST:PORT" or "--probe-listen ..."):
  // address already in use, address not available on this machine, permission denied, host not
  // resolvable. Calling it twice is an ErrorKind::internal error.
  Status start();
  // Stops accepting, closes every connection (streams included), joins the threads.
  // Idempotent; returns within the time a callback in progress takes.
  void stop();

  bool running() const { return running_.load(); }
  int port() const { return bound_port_; }              // once started, else as given
  int probe_port() const { return bound_probe_port_; }  // 0 without a probe listener
  const std::string& host() const { return api_.host; }
  // "http://HOST:PORT" to print; a wildcard host (0.0.0.0, ::) shows as 127.0.0.1 / [::1].
  std::string url() const;
  std::string probe_url() const;  // empty without a probe listener

  const ServerLimits& limits() const { return limits_; }

  // The answer to one request, without any socket: what the connection code calls (public for
  // tests). `probe`: the request came in on the probe listener.
  struct Request {
    std::string method;
    std::string target;
    std::function<std::optional<std::string>(std::string_view name)> header;
    bool probe = false;
  };
  struct Reply {
    int status = 200;
    std::string content_type;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    // GET /v1/stream accepted: the connection subscribes these topics (empty: all) to the hub.
    std::optional<std::vector<std::string>> stream_topics;
  };
  Reply handle(const Request& request);

  struct Impl;  // the listeners and connections (server.cc)

 private:
  Reply route(const Request& request, const std::string& path, const QueryParams& params,
              const char*& metric_path);
  Reply expire(const Request& request, const QueryParams& params);
  void check_not_started(const char* what) const;
  void count(const char* path, int status);

  ListenAddress api_;
  std::optional<ListenAddress> probe_;
  ServerLimits limits_;
  int bound_port_ = 0;
  int bound_probe_port_ = 0;
  HealthFn healthz_;
  HealthFn readyz_;
  Registry* registry_ = nullptr;
  ViewsFn views_;
  TopicsFn topics_;
  ExpireFn expire_;
  StreamHub* hub_ = nullptr;
  StaticFn static_;
  std::string admin_token_;
  std::function<std::int64_t()> now_ms_;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> running_{false};
  bool started_ = false;
};

}  // namespace speedlayer::http
