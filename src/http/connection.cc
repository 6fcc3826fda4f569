// The sockets of http::Server: listeners and connections on Boost.Beast / Asio. What to answer
// is Server::handle (server.cc); this file bounds what a client can make the server hold.
//
// Every connection is asynchronous on a strand, so a slow or idle client costs a socket and a
// few KiB, never a thread. The API listener runs on ServerLimits::api_threads threads, the probe
// listener on a thread of its own.
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdio>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "http/internal.h"
#include "http/server.h"

namespace speedlayer::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// The answer to a connection over the limit, written without waiting (it fits any socket buffer).
std::string refusal() {
  const std::string body = R"({"error": "too many connections", "path": ""})";
  return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

struct Server::Impl {
  struct Listener;
  class Connection;

  // Metrics: the registry's when there is one, else these.
  struct Meters {
    Gauge* connections = nullptr;
    Counter* refused = nullptr;
    Gauge own_connections;
    Counter own_refused;
  };

  Server& server;
  const ServerLimits limits;
  std::unique_ptr<asio::io_context> api_ioc;
  std::unique_ptr<asio::io_context> probe_ioc;
  std::shared_ptr<Listener> api;
  std::shared_ptr<Listener> probe;
  std::vector<std::thread> threads;

  std::atomic<std::size_t> streams{0};
  Gauge* streams_gauge = nullptr;
  Counter* streams_dropped = nullptr;
  Gauge own_streams_gauge;
  Counter own_streams_dropped;

  std::mutex subscriptions_mu;
  std::map<std::uint64_t, bool> subscriptions;  // live hub subscriptions, to end at stop()

  Impl(Server& s, ServerLimits l) : server(s), limits(l) {}
  Status listen(Listener& listener, const ListenAddress& address, const std::string& flag);
  void stop();
};

struct Server::Impl::Listener : std::enable_shared_from_this<Listener> {
  Impl& impl;
  asio::io_context& ioc;
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  const bool probe;
  const std::size_t max_connections;
  std::atomic<std::size_t> active{0};
  Meters meters;

  Listener(Impl& i, asio::io_context& c, bool is_probe, std::size_t max)
      : impl(i), ioc(c), acceptor(c), retry(c), probe(is_probe), max_connections(max) {}

  void accept();
  void on_accept(const error_code& ec, tcp::socket socket);
};

class Server::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Impl& impl, std::shared_ptr<Listener> listener, tcp::socket socket)
      : impl_(impl),
        listener_holder_(std::move(listener)),
        listener_(*listener_holder_),
        limits_(impl.limits),
        stream_(std::move(socket)),
        timer_(stream_.get_executor()) {
    ++listener_.active;
    listener_.meters.connections->inc();
  }
  ~Connection() {
    end_subscription();
    if (streaming_) {
      --impl_.streams;
      impl_.streams_gauge->dec();
    }
    --listener_.active;
    listener_.meters.connections->dec();
  }

  void start() { read_request(); }

  // Called by the hub (any thread, hub lock held): queue a frame, or refuse when too far behind.
  bool offer(const Frame& frame) {
    const std::size_t queued = queued_bytes_.fetch_add(frame->size()) + frame->size();
    if (queued > limits_.stream_buffer_bytes) {
      impl_.streams_dropped->inc();
      asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
      return false;
    }
    asio::post(stream_.get_executor(), [self = shared_from_this(), frame] {
      self->pending_.push_back(frame);
      if (!self->writing_) self->write_pending();
    });
    return true;
  }

 private:
  void read_request() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    parser_->body_limit(limits_.max_body_bytes);
    // One deadline for the idle wait and the whole request: a client sending a header line now
    // and then cannot hold the connection longer than this.
    stream_.expires_after(limits_.request_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(const error_code& ec) {
    if (ec) return on_read_error(ec);
    const auto& req = parser_->get();
    const auto fields = static_cast<std::size_t>(std::distance(req.begin(), req.end()));
    if (fields > limits_.max_header_fields) return answer_error(431, req.target());
    if (parser_->is_done()) return on_request();
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](const error_code& e, std::size_t) {
                        if (e) return self->on_read_error(e);
                        self->on_request();
                      });
  }

  void on_read_error(const error_code& ec) {
    if (ec == bhttp::error::body_limit) return answer_error(413, target());
    if (ec == bhttp::error::header_limit) return answer_error(431, target());
    if (ec == beast::error::timeout) return close();  // tcp_stream closed the socket already
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      return close();
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) {
      return answer_error(400, target());  // not HTTP, or not HTTP/1.x as we speak it
    }
    close();
  }

  std::string target() const {
    if (!parser_ || !parser_->is_header_done()) return "";
    const auto t = parser_->get().target();
    return std::string(t.substr(0, 64));
  }

  void on_request() {
    auto& req = parser_->get();
    Server::Request request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.probe = listener_.probe;
    request.header = [&req](std::string_view name) -> std::optional<std::string> {
      auto it = req.find(beast::string_view(name.data(), name.size()));
      if (it == req.end()) return std::nullopt;
      return std::string(it->value());
    };
    Reply reply = impl_.server.handle(request);
    if (reply.stream_topics && !listener_.probe && req.method() == bhttp::verb::get) {
      return start_stream(std::move(*reply.stream_topics), req);
    }
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(reply.status), req.version());
    res->set(bhttp::field::server, "speedlayer");
    if (!reply.content_type.empty()) res->set(bhttp::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) res->set(name, value);
    const std::size_t length = reply.body.size();
    if (req.method() != bhttp::verb::head) res->body() = std::move(reply.body);
    res->content_length(length);
    ++requests_;
    res->keep_alive(req.keep_alive() && requests_ < limits_.max_requests_per_connection);
    write(res);
  }

  void write(const std::shared_ptr<bhttp::response<bhttp::string_body>>& res) {
    stream_.expires_after(limits_.request_timeout);
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res](const error_code& ec, std::size_t) {
                         if (ec) return self->close();
                         if (!res->keep_alive()) return self->linger();
                         self->read_request();
                       });
  }

  // Answers an error the server found before any handler ran, then closes.
  void answer_error(int status, std::string_view path) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(status), 11);
    res->set(bhttp::field::server, "speedlayer");
    res->set(bhttp::field::content_type, "application/json");
    res->body() = internal::error_body(status, path);
    res->prepare_payload();
    res->keep_alive(false);
    impl_.server.count("other", status);
    write(res);
  }

  // After a response with Connection: close: stop sending, then read and drop what the client
  // still sends (e.g. the rest of a refused upload) for a moment, so that closing does not reset
  // the connection before the client has read our answer.
  void linger() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(2));
    drain();
  }
  void drain() {
    stream_.async_read_some(asio::buffer(drain_buffer_),
                            [self = shared_from_this()](const error_code& ec, std::size_t) {
                              if (ec) return self->close();
                              self->drain();
                            });
  }

  // ---- GET /v1/stream ----

  void start_stream(std::vector<std::string> topics,
                    const bhttp::request<bhttp::string_body>& req) {
    if (impl_.streams.load() >= limits_.max_streams || impl_.server.hub_ == nullptr) {
      return answer_error(503, "/v1/stream");
    }
    ++impl_.streams;
    impl_.streams_gauge->inc();
    streaming_ = true;
    stream_.expires_never();
    std::string last_event_id;
    if (auto it = req.find("Last-Event-ID"); it != req.end()) {
      last_event_id = std::string(it->value().substr(0, 128));
    }
    const std::string head =
        "HTTP/1.1 200 OK\r\nServer: speedlayer\r\nContent-Type: text/event-stream; "
        "charset=utf-8\r\nCache-Control: no-store\r\nX-Accel-Buffering: no\r\n"
        "Connection: close\r\n\r\nretry: 2000\n\n";
    offer(std::make_shared<const std::string>(head));
    std::weak_ptr<Connection> weak = weak_from_this();
    subscription_ =
        impl_.server.hub_->subscribe(std::move(topics), last_event_id, [weak](const Frame& frame) {
          auto self = weak.lock();
          return self && self->offer(frame);
        });
    {
      std::lock_guard lock(impl_.subscriptions_mu);
      impl_.subscriptions[subscription_] = true;
    }
    watch_for_close();
    heartbeat();
  }

  // A stream client sends nothing more; anything it sends is dropped, its close ends the stream.
  void watch_for_close() {
    stream_.socket().async_read_some(
        asio::buffer(drain_buffer_),
        [self = shared_from_this()](const error_code& ec, std::size_t) {
          if (ec) return self->close();
          self->watch_for_close();
        });
  }

  void heartbeat() {
    timer_.expires_after(limits_.heartbeat);
    timer_.async_wait([weak = weak_from_this()](const error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->closed_) return;
      static const Frame beat = std::make_shared<const std::string>(": heartbeat\n\n");
      if (self->offer(beat)) self->heartbeat();
    });
  }

  void write_pending() {
    if (closed_ || pending_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    auto batch = std::make_shared<std::vector<Frame>>();
    std::vector<asio::const_buffer> buffers;
    std::size_t bytes = 0;
    while (!pending_.empty() && batch->size() < 64) {
      batch->push_back(std::move(pending_.front()));
      pending_.pop_front();
      buffers.emplace_back(asio::buffer(*batch->back()));
      bytes += batch->back()->size();
    }
    // A client that does not read gets dropped: the write has a deadline of its own.
    stream_.expires_after(limits_.stream_write_timeout);
    asio::async_write(stream_, buffers,
                      [self = shared_from_this(), batch, bytes](const error_code& ec, std::size_t) {
                        self->queued_bytes_ -= bytes;
                        if (ec) {
                          if (ec == beast::error::timeout) self->impl_.streams_dropped->inc();
                          return self->close();
                        }
                        self->stream_.expires_never();
                        self->write_pending();
                      });
  }

  void end_subscription() {
    if (subscription_ == 0) return;
    impl_.server.hub_->unsubscribe(subscription_);
    std::lock_guard lock(impl_.subscriptions_mu);
    impl_.subscriptions.erase(subscription_);
    subscription_ = 0;
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    end_subscription();
    timer_.cancel();
    pending_.clear();
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  Impl& impl_;
  const std::shared_ptr<Listener> listener_holder_;  // outlives us even while stop() tears down
  Listener& listener_;
  const ServerLimits& limits_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  asio::steady_timer timer_;
  std::size_t requests_ = 0;
  std::array<char, 16 << 10> drain_buffer_{};

  bool streaming_ = false;
  std::uint64_t subscription_ = 0;
  std::deque<Frame> pending_;
  bool writing_ = false;
  bool closed_ = false;
  std::atomic<std::size_t> queued_bytes_{0};
};

void Server::Impl::Listener::accept() {
  acceptor.async_accept(asio::make_strand(ioc),
                        [self = shared_from_this()](const error_code& ec, tcp::socket socket) {
                          self->on_accept(ec, std::move(socket));
                        });
}

void Server::Impl::Listener::on_accept(const error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
  if (ec) {
    // Out of descriptors (EMFILE) or a connection reset before accept: try again shortly,
    // never stop accepting.
    retry.expires_after(std::chrono::milliseconds(50));
    retry.async_wait([self = shared_from_this()](const error_code& e) {
      if (!e) self->accept();
    });
    return;
  }
  if (active.load() >= max_connections) {
    static const std::string answer = refusal();
    ::send(socket.native_handle(), answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    meters.refused->inc();
  } else {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<Connection>(impl, shared_from_this(), std::move(socket))->start();
  }
  accept();
}

Status Server::Impl::listen(Listener& listener, const ListenAddress& address,
                            const std::string& flag) {
  const std::string where = flag + " " + address.to_string();
  if (address.port < 0 || address.port > 65535)
    return fail(ErrorKind::usage, "invalid port " + std::to_string(address.port), where,
                internal::kListenHint);
  error_code ec;
  tcp::resolver resolver(listener.ioc);
  auto found = resolver.resolve(address.host.empty() ? "0.0.0.0" : address.host,
                                std::to_string(address.port), tcp::resolver::passive, ec);
  if (ec || found.empty()) {
    return fail(ErrorKind::usage,
                "cannot resolve host '" + address.host + "': " + (ec ? ec.message() : "no address"),
                where, "use an IP address or a resolvable name, e.g. 127.0.0.1:8080");
  }
  const tcp::endpoint endpoint = found.begin()->endpoint();
  auto& acceptor = listener.acceptor;
  acceptor.open(endpoint.protocol(), ec);
  // SO_REUSEADDR only: restarts reuse a port in TIME_WAIT, but a port someone listens on is
  // refused (SO_REUSEPORT would let two servers share it silently).
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error_code ignored;
    acceptor.close(ignored);
    if (ec == boost::system::errc::address_in_use)
      return fail(ErrorKind::usage, "address already in use", where,
                  "another process listens there; stop it or choose another port");
    if (ec == boost::system::errc::address_not_available)
      return fail(ErrorKind::usage, "address not available on this machine", where,
                  "use an address of a local interface, or 0.0.0.0 for all of them");
    if (ec == boost::system::errc::permission_denied ||
        ec == boost::system::errc::operation_not_permitted)
      return fail(ErrorKind::usage, "permission denied", where,
                  "ports below 1024 need privileges; choose a port from 1024 up");
    return fail(ErrorKind::usage, "cannot listen: " + ec.message(), where,
                "check the address and port");
  }
  return {};
}

void Server::Impl::stop() {
  auto close_acceptor = [](const std::shared_ptr<Listener>& l) {
    if (!l) return;
    asio::dispatch(l->ioc, [l] {
      error_code ignored;
      l->acceptor.close(ignored);
      l->retry.cancel();
    });
  };
  close_acceptor(api);
  close_acceptor(probe);
  if (api_ioc) api_ioc->stop();
  if (probe_ioc) probe_ioc->stop();
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
  threads.clear();
  // No sink may run once the connections go: end every subscription first.
  if (server.hub_ != nullptr) {
    std::lock_guard lock(subscriptions_mu);
    for (const auto& [id, unused] : subscriptions) server.hub_->unsubscribe(id);
  }
  // Destroying the contexts destroys the pending handlers, so the connections they hold.
  api.reset();
  probe.reset();
  api_ioc.reset();
  probe_ioc.reset();
}

Status Server::start() {
  if (started_) return fail(ErrorKind::internal, "http server started twice", "--listen");
  started_ = true;
  impl_ = std::make_unique<Impl>(*this, limits_);
  Impl& impl = *impl_;
  impl.api_ioc = std::make_unique<asio::io_context>(limits_.api_threads);
  impl.api = std::make_shared<Impl::Listener>(impl, *impl.api_ioc, false, limits_.max_connections);
  if (probe_) {
    impl.probe_ioc = std::make_unique<asio::io_context>(1);
    impl.probe = std::make_shared<Impl::Listener>(impl, *impl.probe_ioc, true,
                                                  limits_.max_probe_connections);
  }
  auto meter = [this](Impl::Meters& m, const char* listener) {
    if (registry_ == nullptr) {
      m.connections = &m.own_connections;
      m.refused = &m.own_refused;
      return;
    }
    m.connections =
        &registry_->gauge("speedlayer_http_connections", "Open HTTP connections, by listener",
                          {{"listener", listener}});
    m.refused = &registry_->counter("speedlayer_http_connections_refused_total",
                                    "Connections answered 503 and closed at once because the "
                                    "listener had its maximum open",
                                    {{"listener", listener}});
  };
  meter(impl.api->meters, "api");
  if (impl.probe) meter(impl.probe->meters, "probe");
  if (registry_ != nullptr) {
    impl.streams_gauge = &registry_->gauge("speedlayer_http_streams", "Open /v1/stream clients");
    impl.streams_dropped =
        &registry_->counter("speedlayer_http_stream_dropped_total",
                            "Stream clients dropped because they did not read fast enough");
  } else {
    impl.streams_gauge = &impl.own_streams_gauge;
    impl.streams_dropped = &impl.own_streams_dropped;
  }

  if (auto st = impl.listen(*impl.api, api_, "--listen"); !st) {
    impl_.reset();
    return st;
  }
  bound_port_ = impl.api->acceptor.local_endpoint().port();
  if (impl.probe) {
    if (auto st = impl.listen(*impl.probe, *probe_, "--probe-listen"); !st) {
      impl_.reset();
      return st;
    }
    bound_probe_port_ = impl.probe->acceptor.local_endpoint().port();
  }
  impl.api->accept();
  for (int i = 0; i < std::max(1, limits_.api_threads); ++i) {
    impl.threads.emplace_back([&impl] { impl.api_ioc->run(); });
  }
  if (impl.probe) {
    impl.probe->accept();
    impl.threads.emplace_back([&impl] { impl.probe_ioc->run(); });
  }
  running_ = true;
  return {};
}

void Server::stop() {
  if (impl_) impl_->stop();
  impl_.reset();
  running_ = false;
}

Server::Server(ListenAddress api, std::optional<ListenAddress> probe, ServerLimits limits)
    : api_(std::move(api)), probe_(std::move(probe)), limits_(limits) {
  api_.host = internal::strip_brackets(api_.host);
  bound_port_ = api_.port;
  if (probe_) {
    probe_->host = internal::strip_brackets(probe_->host);
    bound_probe_port_ = probe_->port;
  }
  now_ms_ = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
}

Server::Server(std::string host, int port) : Server(ListenAddress{std::move(host), port}) {}

Server::~Server() {
  try {
    stop();
  } catch (const std::exception& e) {
    // A destructor must not throw; joining the server's threads can (std::system_error).
    std::fprintf(stderr, "speedlayer: stopping the HTTP server failed: %s\n", e.what());
  }
}

}  // namespace speedlayer::http
