#include "http/server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <httplib.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

namespace speedlayer::http {
namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kListenHint =
    "expected HOST:PORT, e.g. 0.0.0.0:8080, :8080 or [::1]:8080";
constexpr const char* kRequestsMetric = "speedlayer_http_requests_total";
constexpr const char* kRequestsHelp = "HTTP requests served, by endpoint and status code";

struct Route {
  const char* path;
  const char* method;  // the one method it answers (GET also answers HEAD)
};
constexpr Route kRoutes[] = {
    {"/healthz", "GET"},   {"/readyz", "GET"},    {"/metrics", "GET"},
    {"/v1/views", "GET"},  {"/v1/topics", "GET"}, {"/v1/expire", "POST"},
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

void send_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, kJson);
}

// {"error": what, key: value, ...} with string values.
std::string error_json(std::string_view what,
                       std::initializer_list<std::pair<std::string_view, std::string_view>> extra) {
  std::string out = "{\"error\": " + json_quote(what);
  for (const auto& [k, v] : extra) {
    out += ", " + json_quote(k) + ": " + json_quote(v);
  }
  out += "}";
  return out;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "bad request";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 408: return "request timeout";
    case 413: return "payload too large";
    case 414: return "URI too long";
    case 416: return "range not satisfiable";
    case 417: return "expectation failed";
    case 431: return "request header fields too large";
    case 500: return "internal error";
    case 503: return "service unavailable";
    default: return status < 500 ? "bad request" : "server error";
  }
}

std::string strip_brackets(std::string_view host) {
  if (host.size() >= 2 && host.starts_with('[') && host.ends_with(']')) {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

}  // namespace

// ---- JSON string ------------------------------------------------------------------------

std::string json_quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // Multi-byte UTF-8: validate (no overlongs, surrogates or > U+10FFFF).
    std::size_t len = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    }
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (p[i + k] & 0x3f);
      }
    }
    ok = ok && cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    if (ok) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
  return out;
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

std::expected<std::int64_t, QueryError> parse_expire_query(const QueryParams& params) {
  auto before = millis_param(params, "before");
  if (!before) return std::unexpected(before.error());
  if (!*before) {
    return std::unexpected(QueryError{
        "missing parameter before: use /v1/expire?before=MS (ms since the epoch)", "before"});
  }
  return **before;
}

Result<ListenAddress> parse_listen(std::string_view text) {
  const std::string shown = "'" + std::string(text) + "'";
  if (text.empty()) return fail(ErrorKind::usage, "empty address", "--listen", kListenHint);
  ListenAddress out;
  std::string_view port_text;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos)
      return fail(ErrorKind::usage, "missing ']' in " + shown, "--listen", kListenHint);
    out.host = std::string(text.substr(1, close - 1));
    if (out.host.empty())
      return fail(ErrorKind::usage, "empty host in " + shown, "--listen", kListenHint);
    const auto rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':')
      return fail(ErrorKind::usage, "missing :PORT after ']' in " + shown, "--listen",
                  kListenHint);
    port_text = rest.substr(1);
  } else {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
      if (!parse_port(text))
        return fail(ErrorKind::usage, "missing :PORT in " + shown, "--listen", kListenHint);
      out.host = "0.0.0.0";
      port_text = text;
    } else if (text.find(':', colon + 1) != std::string_view::npos) {
      return fail(ErrorKind::usage, "IPv6 address without brackets in " + shown, "--listen",
                  "write it as [::1]:8080");
    } else {
      out.host = colon == 0 ? "0.0.0.0" : std::string(text.substr(0, colon));
      port_text = text.substr(colon + 1);
    }
  }
  const auto port = parse_port(port_text);
  if (!port)
    return fail(ErrorKind::usage,
                "invalid port '" + std::string(port_text) + "' in " + shown +
                    " (a number from 0 to 65535)",
                "--listen", kListenHint);
  out.port = *port;
  return out;
}

// ---- Server -----------------------------------------------------------------------------

Server::Server(std::string host, int port)
    : host_(strip_brackets(host)), port_(port), bound_port_(port) {}

Server::~Server() { stop(); }

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

bool Server::running() const { return svr_ && svr_->is_running(); }

std::string Server::url() const {
  std::string h = host_;
  if (h.empty() || h == "0.0.0.0") h = "127.0.0.1";
  if (h == "::") h = "::1";
  return "http://" + ListenAddress{h, bound_port_}.to_string();
}

void Server::respond(const char* route, const httplib::Request& req, httplib::Response& res,
                     const std::function<void(const httplib::Request&, httplib::Response&)>& fn) {
  try {
    fn(req, res);
  } catch (const std::exception& e) {
    res.headers.clear();
    send_json(res, 500, error_json(std::string("internal error: ") + e.what(),
                                   {{"path", req.path}}));
  } catch (...) {
    res.headers.clear();
    send_json(res, 500, error_json("internal error", {{"path", req.path}}));
  }
  if (registry_ != nullptr) {
    try {
      registry_->counter(kRequestsMetric, kRequestsHelp,
                         {{"path", route}, {"code", std::to_string(res.status)}})
          .inc();
    } catch (...) {
      // Counting must never turn a served request into a failure.
    }
  }
}

void Server::install_routes() {
  httplib::Server& s = *svr_;

  // SO_REUSEADDR only: restarts reuse a port in TIME_WAIT, but a port someone listens on is
  // refused (httplib's default SO_REUSEPORT would let two servers share it silently).
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  s.set_tcp_nodelay(true);
  s.set_keep_alive_timeout(1);  // bounds how long stop() waits for an idle keep-alive client
  s.set_read_timeout(5);
  s.set_write_timeout(5);
  s.set_payload_max_length(1 << 20);

  // Errors httplib produces itself (malformed request, payload too large...) get a JSON body
  // too; responses our handlers made already have one and are left alone.
  s.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        send_json(res, res.status, error_json(reason_phrase(res.status), {{"path", req.path}}));
        return httplib::Server::HandlerResponse::Handled;
      }));
  s.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        send_json(res, 500, error_json("internal error", {{"path", req.path}}));
      });

  auto not_enabled = [](const httplib::Request& req, httplib::Response& res) {
    send_json(res, 404, error_json("endpoint not enabled on this server", {{"path", req.path}}));
  };

  s.Get("/healthz", [this](const httplib::Request& req, httplib::Response& res) {
    respond("/healthz", req, res, [this](const httplib::Request&, httplib::Response& r) {
      const Health h = healthz_ ? healthz_() : Health{};
      if (h.ok) {
        r.status = 200;
        r.set_content("ok", "text/plain; charset=utf-8");
      } else {
        send_json(r, 503, "{\"healthy\": false, \"reason\": " + json_quote(h.reason) + "}");
      }
    });
  });

  s.Get("/readyz", [this](const httplib::Request& req, httplib::Response& res) {
    respond("/readyz", req, res, [this](const httplib::Request&, httplib::Response& r) {
      const Health h = readyz_ ? readyz_() : Health{};
      if (h.ok) {
        send_json(r, 200, "{\"ready\": true}");
      } else {
        send_json(r, 503, "{\"ready\": false, \"reason\": " + json_quote(h.reason) + "}");
      }
    });
  });

  s.Get("/metrics", [this, not_enabled](const httplib::Request& req, httplib::Response& res) {
    respond("/metrics", req, res, [this, not_enabled](const httplib::Request& q,
                                                      httplib::Response& r) {
      if (registry_ == nullptr) return not_enabled(q, r);
      r.status = 200;
      r.set_content(registry_->render(), std::string(kPrometheusContentType));
    });
  });

  s.Get("/v1/views", [this, not_enabled](const httplib::Request& req, httplib::Response& res) {
    respond("/v1/views", req, res, [this, not_enabled](const httplib::Request& q,
                                                       httplib::Response& r) {
      if (!views_) return not_enabled(q, r);
      auto query = parse_views_query(q.params);
      if (!query) {
        return send_json(r, 400, error_json(query.error().message,
                                            {{"parameter", query.error().parameter}}));
      }
      const std::string& topic = query->topic;
      auto body = views_(topic, query->from, query->to);
      if (!body) {
        return send_json(r, 404, error_json("no view for this topic", {{"topic", topic}}));
      }
      send_json(r, 200, *body);
    });
  });

  s.Get("/v1/topics", [this, not_enabled](const httplib::Request& req, httplib::Response& res) {
    respond("/v1/topics", req, res, [this, not_enabled](const httplib::Request& q,
                                                        httplib::Response& r) {
      if (!topics_) return not_enabled(q, r);
      send_json(r, 200, topics_());
    });
  });

  s.Post("/v1/expire", [this, not_enabled](const httplib::Request& req, httplib::Response& res) {
    respond("/v1/expire", req, res, [this, not_enabled](const httplib::Request& q,
                                                        httplib::Response& r) {
      if (!expire_) return not_enabled(q, r);
      auto before = parse_expire_query(q.params);
      if (!before) {
        return send_json(r, 400, error_json(before.error().message,
                                            {{"parameter", before.error().parameter}}));
      }
      send_json(r, 200, expire_(*before));
    });
  });

  // Everything else: 405 for a known path with another method, else 404.
  const httplib::Server::Handler fallback = [this](const httplib::Request& req,
                                                   httplib::Response& res) {
    const Route* route = find_route(req.path);
    respond(route ? route->path : "other", req, res,
            [route](const httplib::Request& q, httplib::Response& r) {
              if (route == nullptr) {
                return send_json(r, 404, error_json("no such endpoint", {{"path", q.path}}));
              }
              const std::string allow =
                  std::string(route->method) == "GET" ? "GET, HEAD" : route->method;
              send_json(r, 405, error_json("method not allowed",
                                           {{"method", q.method},
                                            {"path", q.path},
                                            {"allow", allow}}));
              r.set_header("Allow", allow);
            });
  };
  s.Get(".*", fallback);
  s.Post(".*", fallback);
  s.Put(".*", fallback);
  s.Patch(".*", fallback);
  s.Delete(".*", fallback);
  s.Options(".*", fallback);
}

Status Server::start() {
  if (started_) return fail(ErrorKind::internal, "http server started twice", "--listen");
  const std::string where = "--listen " + ListenAddress{host_, port_}.to_string();
  if (port_ < 0 || port_ > 65535)
    return fail(ErrorKind::usage, "invalid port " + std::to_string(port_), where, kListenHint);

  // Resolve first, for a precise message (httplib only says "failed").
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const int gai = ::getaddrinfo(host_.empty() ? nullptr : host_.c_str(), "0", &hints, &found);
  if (gai != 0) {
    return fail(ErrorKind::usage, "cannot resolve host '" + host_ + "': " + gai_strerror(gai),
                where, "use an IP address or a resolvable name, e.g. 0.0.0.0:8080");
  }
  ::freeaddrinfo(found);

  svr_ = std::make_unique<httplib::Server>();
  install_routes();
  started_ = true;

  errno = 0;
  bool bound = false;
  if (port_ == 0) {
    const int p = svr_->bind_to_any_port(host_);
    bound = p > 0;
    if (bound) bound_port_ = p;
  } else {
    bound = svr_->bind_to_port(host_, port_);
  }
  if (!bound) {
    const int err = errno;
    svr_.reset();
    switch (err) {
      case EADDRINUSE:
        return fail(ErrorKind::usage, "address already in use", where,
                    "another process listens there; stop it or choose another --listen port");
      case EADDRNOTAVAIL:
        return fail(ErrorKind::usage, "address not available on this machine", where,
                    "use an address of a local interface, or 0.0.0.0 for all of them");
      case EACCES:
      case EPERM:
        return fail(ErrorKind::usage, "permission denied", where,
                    "ports below 1024 need privileges; choose a port from 1024 up");
      default:
        return fail(ErrorKind::usage,
                    std::string("cannot listen") + (err ? std::string(": ") + std::strerror(err)
                                                        : std::string()),
                    where, "check the address and port");
    }
  }

  thread_done_ = false;
  thread_ = std::thread([this] {
    svr_->listen_after_bind();
    thread_done_ = true;
  });
  // stop() only works once the accept loop runs: wait for it.
  while (!svr_->is_running() && !thread_done_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!svr_->is_running()) {
    thread_.join();
    svr_.reset();
    return fail(ErrorKind::usage, "the HTTP server stopped right after starting", where,
                "check the address and port");
  }
  return {};
}

void Server::stop() {
  if (svr_) svr_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace speedlayer::http
