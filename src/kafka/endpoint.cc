#include "kafka/endpoint.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace speedlayer::kafka {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string connect_error_text(int err, std::chrono::milliseconds timeout) {
  switch (err) {
    case ECONNREFUSED:
      return "connection refused (nothing listens on that port, or a firewall rejects it)";
    case ETIMEDOUT:
      return "no answer within " + std::to_string(timeout.count()) +
             " ms (a firewall dropping packets, or an address not routable from here)";
    case EHOSTUNREACH:
      return "no route to host";
    case ENETUNREACH:
      return "network unreachable from here";
    default:
      return std::strerror(err);
  }
}

// Non-blocking connect of an already created socket; 0 or an errno.
int connect_with_timeout(int fd, const sockaddr* addr, socklen_t len, Clock::time_point deadline) {
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  if (::connect(fd, addr, len) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return ETIMEDOUT;
    pollfd p{fd, POLLOUT, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return ETIMEDOUT;
    int err = 0;
    socklen_t err_len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
    return err;
  }
}

std::string ip_text(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

}  // namespace

std::string Endpoint::text() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<std::vector<Endpoint>> parse_bootstrap(std::string_view list, std::string_view origin) {
  std::vector<Endpoint> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    auto comma = list.find(',', start);
    std::string entry =
        trim(list.substr(start, comma == std::string_view::npos ? list.npos : comma - start));
    start = comma == std::string_view::npos ? list.size() + 1 : comma + 1;
    if (entry.empty()) continue;
    if (auto scheme = entry.find("://"); scheme != std::string::npos)
      entry = entry.substr(scheme + 3);
    Endpoint ep;
    std::string port_text;
    if (!entry.empty() && entry[0] == '[') {
      auto close = entry.find(']');
      if (close == std::string::npos) {
        return fail(ErrorKind::usage, "unterminated IPv6 address in '" + entry + "'",
                    std::string(origin), "write IPv6 brokers as [::1]:9092");
      }
      ep.host = entry.substr(1, close - 1);
      if (close + 1 < entry.size()) {
        if (entry[close + 1] != ':') {
          return fail(ErrorKind::usage, "expected ':port' after ']' in '" + entry + "'",
                      std::string(origin));
        }
        port_text = entry.substr(close + 2);
      }
    } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
      auto colon = entry.find(':');
      ep.host = entry.substr(0, colon);
      port_text = entry.substr(colon + 1);
    } else {
      ep.host = entry;  // no port, or a bare IPv6 address
    }
    if (ep.host.empty()) {
      return fail(ErrorKind::usage, "no host in '" + entry + "'", std::string(origin),
                  "bootstrap servers are host:port,host:port");
    }
    ep.port = 9092;
    if (!port_text.empty()) {
      int port = 0;
      bool digits = std::all_of(port_text.begin(), port_text.end(),
                                [](char c) { return c >= '0' && c <= '9'; });
      if (digits && port_text.size() <= 5) port = std::stoi(port_text);
      if (port < 1 || port > 65535) {
        return fail(ErrorKind::usage, "bad port '" + port_text + "' in '" + entry + "'",
                    std::string(origin), "ports are 1-65535, e.g. my-cluster-kafka-bootstrap:9092");
      }
      ep.port = port;
    }
    out.push_back(std::move(ep));
  }
  if (out.empty()) {
    return fail(ErrorKind::usage, "no bootstrap servers given", std::string(origin),
                "pass --brokers host:port or set KAFKA_BROKERS");
  }
  return out;
}

AddressScope classify_ip(std::string_view ip_view) {
  std::string ip(ip_view);
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    std::uint32_t a = ntohl(v4.s_addr);
    auto in = [&](std::uint32_t net, int bits) {
      std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
      return (a & mask) == net;
    };
    if (in(0x7f000000, 8)) return AddressScope::loopback;
    if (in(0x0a000000, 8) || in(0xac100000, 12) || in(0xc0a80000, 16)) {
      return AddressScope::private_network;
    }
    if (in(0x64400000, 10)) return AddressScope::shared;
    if (in(0xa9fe0000, 16)) return AddressScope::link_local;
    if (in(0x00000000, 8)) return AddressScope::unspecified;
    return AddressScope::public_internet;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    const unsigned char* b = v6.s6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return AddressScope::loopback;
    if (IN6_IS_ADDR_UNSPECIFIED(&v6)) return AddressScope::unspecified;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      char text[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, b + 12, text, sizeof text);
      return classify_ip(text);
    }
    if ((b[0] & 0xfe) == 0xfc) return AddressScope::private_network;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressScope::link_local;
    return AddressScope::public_internet;
  }
  return AddressScope::not_an_ip;
}

std::string_view to_string(AddressScope scope) {
  switch (scope) {
    case AddressScope::loopback:
      return "loopback";
    case AddressScope::private_network:
      return "private";
    case AddressScope::shared:
      return "shared/CGNAT";
    case AddressScope::link_local:
      return "link-local";
    case AddressScope::unspecified:
      return "unspecified";
    case AddressScope::public_internet:
      return "public";
    case AddressScope::not_an_ip:
      return "name";
  }
  return "name";
}

AddressScope TcpProbe::scope() const {
  if (!connected_ip.empty()) return classify_ip(connected_ip);
  if (!addresses.empty()) return classify_ip(addresses.front());
  return classify_ip(endpoint.host);
}

Result<int> connect_ip(const std::string& ip, int port, std::chrono::milliseconds timeout) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof *v6;
  } else {
    return fail(ErrorKind::usage, "not an IP address: " + ip, ip);
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(ErrorKind::io, std::string("socket: ") + std::strerror(errno), ip);
  int err = connect_with_timeout(fd, reinterpret_cast<sockaddr*>(&ss), len, Clock::now() + timeout);
  if (err != 0) {
    ::close(fd);
    return fail(ErrorKind::unreachable, connect_error_text(err, timeout),
                Endpoint{ip, port}.text());
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

TcpProbe probe_tcp(const Endpoint& endpoint, std::chrono::milliseconds timeout) {
  TcpProbe p;
  p.endpoint = endpoint;
  auto started = Clock::now();
  auto deadline = started + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(endpoint.port);
  int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &res);
  p.resolve_ms = ms_since(started);
  if (rc != 0) {
    p.error = std::string("does not resolve from here (") + gai_strerror(rc) + ")";
    return p;
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(res, &::freeaddrinfo);
  p.resolved = true;
  for (auto* ai = res; ai; ai = ai->ai_next) {
    std::string ip = ip_text(ai->ai_addr);
    if (std::find(p.addresses.begin(), p.addresses.end(), ip) == p.addresses.end()) {
      p.addresses.push_back(ip);
    }
  }
  for (auto* ai = res; ai; ai = ai->ai_next) {
    if (Clock::now() >= deadline) break;
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    auto t0 = Clock::now();
    int err = connect_with_timeout(fd, ai->ai_addr, ai->ai_addrlen, deadline);
    ::close(fd);
    if (err == 0) {
      p.connected = true;
      p.connected_ip = ip_text(ai->ai_addr);
      p.connect_ms = ms_since(t0);
      p.error.clear();
      return p;
    }
    std::string text = connect_error_text(err, timeout);
    if (p.error.empty())
      p.error = text;
    else if (p.error.find(text) == std::string::npos)
      p.error += "; " + ip_text(ai->ai_addr) + ": " + text;
  }
  if (p.error.empty()) p.error = connect_error_text(ETIMEDOUT, timeout);
  return p;
}

std::vector<TcpProbe> probe_tcp_all(const std::vector<Endpoint>& endpoints,
                                    std::chrono::milliseconds timeout) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::optional<TcpProbe>> results;
    std::size_t done = 0;
  };
  auto shared = std::make_shared<Shared>();
  shared->results.resize(endpoints.size());
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    // Detached: a resolver that hangs past the deadline must not hold the caller.
    std::thread([shared, i, ep = endpoints[i], timeout] {
      TcpProbe p = probe_tcp(ep, timeout);
      std::lock_guard lock(shared->mu);
      shared->results[i] = std::move(p);
      ++shared->done;
      shared->cv.notify_all();
    }).detach();
  }
  std::unique_lock lock(shared->mu);
  shared->cv.wait_for(lock, timeout + std::chrono::milliseconds(200),
                      [&] { return shared->done == endpoints.size(); });
  std::vector<TcpProbe> out;
  out.reserve(endpoints.size());
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    if (shared->results[i]) {
      out.push_back(*shared->results[i]);
    } else {
      TcpProbe p;
      p.endpoint = endpoints[i];
      p.error = "no answer within " + std::to_string(timeout.count()) +
                " ms (name resolution or connection still pending)";
      out.push_back(std::move(p));
    }
  }
  return out;
}

std::string describe(const TcpProbe& p) {
  std::string out = p.endpoint.text() + ": ";
  if (!p.resolved) return out + p.error;
  std::string ips;
  for (const auto& a : p.addresses) {
    ips += (ips.empty() ? "" : ", ") + a + " (" + std::string(to_string(classify_ip(a))) + ")";
  }
  bool literal = classify_ip(p.endpoint.host) != AddressScope::not_an_ip;
  if (!literal)
    out += "resolves to " + ips + " in " + fixed(p.resolve_ms, 1) + " ms, ";
  else
    out += std::string(to_string(classify_ip(p.endpoint.host))) + " address, ";
  if (p.connected) {
    out += "TCP connected";
    if (!literal && p.addresses.size() > 1) out += " to " + p.connected_ip;
    out += " in " + fixed(p.connect_ms, 1) + " ms";
  } else {
    out += "TCP: " + p.error;
  }
  return out;
}

}  // namespace speedlayer::kafka
