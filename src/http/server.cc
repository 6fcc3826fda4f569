#include "http/server.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <chrono>
#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

#include "http/internal.h"
#include "json/python_json.h"

namespace speedlayer::http {
namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kRequestsMetric = "speedlayer_http_requests_total";
constexpr const char* kRequestsHelp = "HTTP requests served, by endpoint and status code";

struct Route {
  const char* path;
  const char* method;  // the one method it answers (GET also answers HEAD)
};
constexpr Route kRoutes[] = {
    {"/healthz", "GET"},   {"/readyz", "GET"},    {"/metrics", "GET"},    {"/v1/views", "GET"},
    {"/v1/topics", "GET"}, {"/v1/stream", "GET"}, {"/v1/expire", "POST"},
};

const Route* find_route(const std::string& path) {
  for (const Route& r : kRoutes) {
    if (path == r.path) return &r;
  }
  return nullptr;
}

std::optional<std::int64_t> parse_int64(std::string_view s) {
  std::int64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

const std::string* first_value(const QueryParams& params, const std::string& name) {
  auto it = params.find(name);
  return it == params.end() ? nullptr : &it->second;
}

// A request's value as quoted back in an error body: at most 64 bytes of it.
std::string shown_value(const std::string& value) {
  return value.size() <= 64 ? value : value.substr(0, 64) + "...";
}

std::optional<int> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  if (v > 65535) return std::nullopt;
  return v;
}

// {"error": what, key: value, ...} with string values.
std::string error_json(std::string_view what,
                       std::initializer_list<std::pair<std::string_view, std::string_view>> extra) {
  std::string out = "{\"error\": " + json::json_string(what);
  for (const auto& [k, v] : extra) {
    out += ", " + json::json_string(k) + ": " + json::json_string(v);
  }
  out += "}";
  return out;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 408:
      return "request timeout";
    case 413:
      return "payload too large";
    case 414:
      return "URI too long";
    case 416:
      return "range not satisfiable";
    case 417:
      return "expectation failed";
    case 431:
      return "request header fields too large";
    case 500:
      return "internal error";
    case 503:
      return "service unavailable";
    default:
      return status < 500 ? "bad request" : "server error";
  }
}

}  // namespace

const char* const internal::kListenHint =
    "expected HOST:PORT, e.g. 0.0.0.0:8080, :8080 or [::1]:8080";

std::string internal::strip_brackets(std::string_view host) {
  if (host.size() >= 2 && host.starts_with('[') && host.ends_with(']')) {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

std::string internal::error_body(int status, std::string_view path) {
  return error_json(reason_phrase(status), {{"path", path}});
}

// ---- --listen ---------------------------------------------------------------------------

std::string ListenAddress::to_string() const {
  const std::string p = std::to_string(port);
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + p;
  return host + ":" + p;
}

namespace {
// The parameter `name` as ms since the epoch: nullopt when absent, an error when not an integer.
std::expected<std::optional<std::int64_t>, QueryError> millis_param(const QueryParams& params,
                                                                    const std::string& name) {
  const std::string* text = first_value(params, name);
  if (text == nullptr) return std::nullopt;
  auto ms = parse_int64(*text);
  if (!ms) {
    return std::unexpected(QueryError{"parameter " + name +
                                          " must be an integer (ms since the epoch), got '" +
                                          shown_value(*text) + "'",
                                      name});
  }
  return ms;
}
}  // namespace

std::expected<ViewsQuery, QueryError> parse_views_query(const QueryParams& params) {
  const std::string* topic = first_value(params, "topic");
  if (topic == nullptr) {
    return std::unexpected(QueryError{"missing parameter topic: use /v1/views?topic=T", "topic"});
  }
  if (topic->empty()) return std::unexpected(QueryError{"parameter topic is empty", "topic"});
  auto from = millis_param(params, "from");
  if (!from) return std::unexpected(from.error());
  auto to = millis_param(params, "to");
  if (!to) return std::unexpected(to.error());
  if (*from && *to && **from > **to) {
    return std::unexpected(QueryError{"parameter from is after to", "from"});
  }
  ViewsQuery query;
  query.topic = *topic;
  query.from = *from;
  query.to = *to;
  return query;
}

std::expected<std::int64_t, QueryError> parse_expire_query(const QueryParams& params,
                                                           std::int64_t now_ms) {
  auto before = millis_param(params, "before");
  if (!before) return std::unexpected(before.error());
  if (!*before) {
    return std::unexpected(QueryError{
        "missing parameter before: use /v1/expire?before=MS (ms since the epoch)", "before"});
  }
  if (**before > now_ms) {
    // A watermark ahead of the clock would wipe windows that are still being counted.
    return std::unexpected(QueryError{"parameter before is in the future (" +
                                          std::to_string(**before) + " > now " +
                                          std::to_string(now_ms) + ")",
                                      "before"});
  }
  return **before;
}

std::optional<Target> parse_target(std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return std::nullopt;
  Target out;
  try {
    out.path = url->path();
    for (auto param : url->params()) out.params.emplace(param.key, param.value);
  } catch (const std::exception&) {
    return std::nullopt;  // bad percent-encoding
  }
  return out;
}

Result<ListenAddress> parse_listen(std::string_view text, std::string_view flag) {
  const std::string shown = "'" + std::string(text) + "'";
  const std::string where(flag);
  if (text.empty()) return fail(ErrorKind::usage, "empty address", where, internal::kListenHint);
  ListenAddress out;
  std::string_view port_text;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos)
      return fail(ErrorKind::usage, "missing ']' in " + shown, where, internal::kListenHint);
    out.host = std::string(text.substr(1, close - 1));
    if (out.host.empty())
      return fail(ErrorKind::usage, "empty host in " + shown, where, internal::kListenHint);
    const auto rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':')
      return fail(ErrorKind::usage, "missing :PORT after ']' in " + shown, where,
                  internal::kListenHint);
    port_text = rest.substr(1);
  } else {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
      if (!parse_port(text))
        return fail(ErrorKind::usage, "missing :PORT in " + shown, where, internal::kListenHint);
      out.host = "0.0.0.0";
      port_text = text;
    } else if (text.find(':', colon + 1) != std::string_view::npos) {
      return fail(ErrorKind::usage, "IPv6 address without brackets in " + shown, where,
                  "write it as [::1]:8080");
    } else {
      out.host = colon == 0 ? "0.0.0.0" : std::string(text.substr(0, colon));
      port_text = text.substr(colon + 1);
    }
  }
  const auto port = parse_port(port_text);
  if (!port)
    return fail(
        ErrorKind::usage,
        "invalid port '" + std::string(port_text) + "' in " + shown + " (a number from 0 to 65535)",
        where, internal::kListenHint);
  out.port = *port;
  return out;
}

// ---- Server: what to answer ---------------------------------------------------------------

namespace {

// The live page runs only its own files: no inline script or style, no other origin.
constexpr const char* kPageSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

using Reply = Server::Reply;

Reply json_reply(int status, std::string body) {
  Reply r;
  r.status = status;
  r.content_type = kJson;
  r.body = std::move(body);
  return r;
}

Reply error_reply(int status, std::string_view what,
                  std::initializer_list<std::pair<std::string_view, std::string_view>> extra) {
  return json_reply(status, error_json(what, extra));
}

std::array<unsigned char, SHA256_DIGEST_LENGTH> sha256(std::string_view s) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> out{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
  return out;
}

// Equal digests, compared in constant time: the time taken says nothing about the token, not
// even its length.
bool token_matches(std::string_view given, std::string_view expected) {
  const auto a = sha256(given);
  const auto b = sha256(expected);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool ascii_iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "application/json" or "application/json; charset=utf-8".
bool is_json_content_type(std::string_view value) {
  return ascii_iequal(trim(value.substr(0, value.find(';'))), "application/json");
}

}  // namespace

void Server::check_not_started(const char* what) const {
  if (started_)
    throw std::logic_error(std::string("http::Server::") + what + " called after start()");
}

Server& Server::on_healthz(HealthFn fn) {
  check_not_started("on_healthz");
  healthz_ = std::move(fn);
  return *this;
}
Server& Server::on_readyz(HealthFn fn) {
  check_not_started("on_readyz");
  readyz_ = std::move(fn);
  return *this;
}
Server& Server::on_metrics(Registry& registry) {
  check_not_started("on_metrics");
  registry_ = &registry;
  return *this;
}
Server& Server::on_views(ViewsFn fn) {
  check_not_started("on_views");
  views_ = std::move(fn);
  return *this;
}
Server& Server::on_topics(TopicsFn fn) {
  check_not_started("on_topics");
  topics_ = std::move(fn);
  return *this;
}
Server& Server::on_expire(ExpireFn fn) {
  check_not_started("on_expire");
  expire_ = std::move(fn);
  return *this;
}
Server& Server::on_stream(StreamHub& hub) {
  check_not_started("on_stream");
  hub_ = &hub;
  return *this;
}
Server& Server::on_static(StaticFn fn) {
  check_not_started("on_static");
  static_ = std::move(fn);
  return *this;
}
Server& Server::admin_token(std::string token) {
  check_not_started("admin_token");
  admin_token_ = std::move(token);
  return *this;
}
Server& Server::clock(std::function<std::int64_t()> now_ms) {
  check_not_started("clock");
  now_ms_ = std::move(now_ms);
  return *this;
}

namespace {
// "http://HOST:PORT" to print: a wildcard host shows as the loopback address of its family.
std::string printable_url(std::string host, int port) {
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  return "http://" + ListenAddress{std::move(host), port}.to_string();
}
}  // namespace

std::string Server::url() const {
  return printable_url(api_.host, bound_port_);
}

std::string Server::probe_url() const {
  return probe_ ? printable_url(probe_->host, bound_probe_port_) : "";
}

void Server::count(const char* path, int status) {
  if (registry_ == nullptr) return;
  try {
    registry_
        ->counter(kRequestsMetric, kRequestsHelp,
                  {{"path", path}, {"code", std::to_string(status)}})
        .inc();
  } catch (...) {
    // swallowed: counting must never turn a served request into a failure.
  }
}

Server::Reply Server::handle(const Request& request) {
  const char* metric_path = "other";
  Reply reply;
  auto target = parse_target(request.target);
  if (!target) {
    reply = error_reply(400, "bad request target (not a path, or bad percent-encoding)", {});
  } else {
    try {
      reply = route(request, target->path, target->params, metric_path);
    } catch (const std::exception& e) {
      reply =
          error_reply(500, std::string("internal error: ") + e.what(), {{"path", target->path}});
    } catch (...) {
      reply = error_reply(500, "internal error", {{"path", target->path}});
    }
  }
  count(metric_path, reply.status);
  return reply;
}

Server::Reply Server::route(const Request& request, const std::string& path,
                            const QueryParams& params, const char*& metric_path) {
  const Route* known = find_route(path);
  const bool get = request.method == "GET" || request.method == "HEAD";
  auto not_enabled = [&] {
    return error_reply(404, "endpoint not enabled on this server", {{"path", path}});
  };
  const bool probe_path = path == "/healthz" || path == "/readyz" || path == "/metrics";
  if (request.probe && !probe_path) {
    return error_reply(404, "the probe listener serves only /healthz, /readyz and /metrics",
                       {{"path", path}});
  }
  if (known == nullptr) {
    if (get && static_) {
      if (auto file = static_(path)) {
        metric_path = "/";
        Reply r;
        r.content_type = std::string(file->content_type);
        r.body = std::string(file->body);
        r.headers = {{"Content-Security-Policy", kPageSecurityPolicy},
                     {"X-Content-Type-Options", "nosniff"},
                     {"Referrer-Policy", "no-referrer"},
                     {"Cache-Control", "no-cache"}};
        return r;
      }
    }
    return error_reply(404, "no such endpoint", {{"path", path}});
  }
  metric_path = known->path;
  const bool method_ok =
      std::string_view(known->method) == "GET" ? get : request.method == known->method;
  if (!method_ok) {
    const std::string allow =
        std::string_view(known->method) == "GET" ? "GET, HEAD" : known->method;
    Reply r = error_reply(405, "method not allowed",
                          {{"method", request.method}, {"path", path}, {"allow", allow}});
    r.headers.emplace_back("Allow", allow);
    return r;
  }

  if (path == "/healthz") {
    const Health h = healthz_ ? healthz_() : Health{};
    if (!h.ok)
      return json_reply(503,
                        "{\"healthy\": false, \"reason\": " + json::json_string(h.reason) + "}");
    Reply r;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "ok";
    return r;
  }
  if (path == "/readyz") {
    const Health h = readyz_ ? readyz_() : Health{};
    if (h.ok) return json_reply(200, "{\"ready\": true}");
    return json_reply(503, "{\"ready\": false, \"reason\": " + json::json_string(h.reason) + "}");
  }
  if (path == "/metrics") {
    if (registry_ == nullptr) return not_enabled();
    Reply r;
    r.content_type = std::string(kPrometheusContentType);
    r.body = registry_->render();
    return r;
  }
  if (path == "/v1/views") {
    if (!views_) return not_enabled();
    auto query = parse_views_query(params);
    if (!query) {
      return error_reply(400, query.error().message, {{"parameter", query.error().parameter}});
    }
    auto body = views_(query->topic, query->from, query->to);
    if (!body) return error_reply(404, "no view for this topic", {{"topic", query->topic}});
    return json_reply(200, std::move(*body));
  }
  if (path == "/v1/topics") {
    if (!topics_) return not_enabled();
    return json_reply(200, topics_());
  }
  if (path == "/v1/stream") {
    if (hub_ == nullptr) return not_enabled();
    std::vector<std::string> topics;
    for (auto [it, end] = params.equal_range("topic"); it != end; ++it) {
      if (it->second.empty()) {
        return error_reply(400, "parameter topic is empty", {{"parameter", "topic"}});
      }
      topics.push_back(it->second);
    }
    Reply r;
    r.content_type = "text/event-stream; charset=utf-8";
    r.headers = {{"Cache-Control", "no-store"}, {"X-Accel-Buffering", "no"}};
    r.stream_topics = std::move(topics);
    return r;
  }
  if (path == "/v1/expire") return expire(request, params);
  return error_reply(404, "no such endpoint", {{"path", path}});
}

Server::Reply Server::expire(const Request& request, const QueryParams& params) {
  if (!expire_) {
    return error_reply(404, "endpoint not enabled on this server", {{"path", "/v1/expire"}});
  }
  if (admin_token_.empty()) {
    return error_reply(403,
                       "admin endpoints are off: start serve with --admin-token-file FILE and "
                       "send Authorization: Bearer <token>",
                       {{"path", "/v1/expire"}});
  }
  // A browser page of another origin (e.g. through a user's kubectl port-forward) is refused
  // even before credentials are looked at.
  if (auto origin = request.header("Origin")) {
    const auto host = request.header("Host");
    if (!host || *origin != "http://" + *host) {
      return error_reply(403, "cross-origin request refused",
                         {{"origin", shown_value(*origin)}, {"path", "/v1/expire"}});
    }
  }
  const auto type = request.header("Content-Type");
  if (!type || !is_json_content_type(*type)) {
    return error_reply(415, "Content-Type must be application/json", {{"path", "/v1/expire"}});
  }
  const auto auth = request.header("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  const bool has_bearer = auth && auth->size() > kBearer.size() &&
                          ascii_iequal(std::string_view(*auth).substr(0, kBearer.size()), kBearer);
  if (!has_bearer ||
      !token_matches(trim(std::string_view(*auth).substr(kBearer.size())), admin_token_)) {
    Reply r = error_reply(401,
                          has_bearer ? "wrong admin token"
                                     : "missing credentials: send Authorization: Bearer <token>",
                          {{"path", "/v1/expire"}});
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"speedlayer\"");
    return r;
  }
  auto before = parse_expire_query(params, now_ms_());
  if (!before) {
    return error_reply(400, before.error().message, {{"parameter", before.error().parameter}});
  }
  return json_reply(200, expire_(*before));
}

}  // namespace speedlayer::http
