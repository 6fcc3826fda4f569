#include "kafka/diagnosis.h"

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
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "kafka/tls_probe.h"

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

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string seconds_text(int ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return fixed(ms / 1000.0, 1) + " s";
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

// "sasl_ssl://127.0.0.1:9093/1: SSL handshake failed..." -> 127.0.0.1:9093
std::optional<Endpoint> endpoint_in_error(std::string_view text) {
  auto scheme = text.find("://");
  if (scheme == std::string_view::npos) return std::nullopt;
  auto rest = text.substr(scheme + 3);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto parsed = parse_bootstrap(rest.substr(0, slash));
  if (!parsed || parsed->size() != 1) return std::nullopt;
  return parsed->front();
}

std::string broker_list(const std::vector<AdvertisedBroker>& brokers) {
  std::string out;
  for (std::size_t i = 0; i < brokers.size(); ++i) {
    if (i > 0) out += i + 1 == brokers.size() ? " and " : ", ";
    out += std::to_string(brokers[i].id);
  }
  return out;
}

}  // namespace

std::optional<AdvertisedBroker> learned_broker_in_error(std::string_view text) {
  const auto colon_space = text.find(": ");
  if (colon_space == std::string_view::npos) return std::nullopt;
  std::string_view name = text.substr(0, colon_space);
  if (auto scheme = name.find("://"); scheme != std::string_view::npos)
    name.remove_prefix(scheme + 3);
  const auto slash = name.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == name.size()) return std::nullopt;
  const std::string_view id_text = name.substr(slash + 1);
  std::int32_t id = -1;
  auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size() || id < 0) return std::nullopt;
  auto endpoints = parse_bootstrap(name.substr(0, slash));
  if (!endpoints || endpoints->size() != 1) return std::nullopt;
  return AdvertisedBroker{id, endpoints->front()};
}

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

std::optional<std::string> advertised_scope_problem(AddressScope advertised,
                                                    AddressScope bootstrap) {
  if (advertised == AddressScope::unspecified) {
    return "it advertises an unspecified address (0.0.0.0 or ::), which is where a broker "
           "listens, not an address a client can connect to";
  }
  if (advertised == AddressScope::loopback && bootstrap != AddressScope::loopback &&
      bootstrap != AddressScope::not_an_ip) {
    return "it advertises a loopback address, which on any other machine means that machine "
           "itself: only clients on the broker's own host can use it";
  }
  if (is_internal(advertised) && advertised != AddressScope::loopback &&
      bootstrap == AddressScope::public_internet) {
    return "it advertises a " + std::string(to_string(advertised)) +
           " address while the bootstrap servers were reached over a public one: clients "
           "outside the broker's network usually cannot reach it";
  }
  return std::nullopt;
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
  std::string errors;
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

std::vector<AdvertisedBroker> advertised_brokers(const rd_kafka_metadata_t& md) {
  std::vector<AdvertisedBroker> out;
  out.reserve(static_cast<std::size_t>(md.broker_cnt));
  for (int i = 0; i < md.broker_cnt; ++i) {
    const auto& b = md.brokers[i];
    out.push_back(AdvertisedBroker{b.id, Endpoint{b.host ? b.host : "", b.port}});
  }
  std::sort(out.begin(), out.end(),
            [](const AdvertisedBroker& a, const AdvertisedBroker& b) { return a.id < b.id; });
  return out;
}

std::string advertised_listeners_explanation(const std::vector<AdvertisedBroker>& unreachable,
                                             std::string_view bootstrap) {
  std::string out =
      "a client uses the bootstrap servers (" + std::string(bootstrap) +
      ") only for its first metadata request; it then connects to every broker at the "
      "address that broker advertises (its listener's advertised.listeners), so each "
      "advertised address must be reachable from the client, not only the bootstrap one.";
  for (const auto& b : unreachable) {
    out += " Broker " + std::to_string(b.id) + " advertises " + b.endpoint.text() + ".";
  }
  return out;
}

std::string advertised_listeners_fix(const std::vector<AdvertisedBroker>& unreachable,
                                     std::string_view bootstrap_host) {
  std::string ids = broker_list(unreachable);
  bool plural = unreachable.size() > 1;
  std::string first_id = unreachable.empty() ? "<id>" : std::to_string(unreachable.front().id);
  return "make broker" + std::string(plural ? "s " : " ") + ids +
         " advertise an address this host can reach. With Strimzi, in the Kafka resource's "
         "external listener: `configuration.brokers: [{broker: " +
         first_id + ", advertisedHost: <address reachable from here>}]` (" +
         "`broker` is the KRaft node id shown here, not a list index; add advertisedPort when "
         "the port differs); put the bootstrap host (" +
         std::string(bootstrap_host) +
         ") in `configuration.bootstrap.alternativeNames` so that TLS hostname verification "
         "accepts it; and open the firewall for every broker's nodePort (`kubectl get svc -n "
         "<namespace>` lists them), not only the bootstrap's. Without Strimzi: fix "
         "advertised.listeners of broker" +
         std::string(plural ? "s " : " ") + ids + ".";
}

// ---------------------------------------------------------------------------------------

void ClientErrorLog::record(rd_kafka_resp_err_t code, std::string_view text) noexcept {
  try {
    Entry e{code, std::string(text), Clock::now()};
    switch (classify(code, text)) {
      case FailureClass::authentication:
        auth_ = e;
        break;
      case FailureClass::tls:
        tls_ = e;
        break;
      case FailureClass::transport:
        if (code != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) transport_ = e;
        if (auto b = learned_broker_in_error(text);
            b && learned_.size() < 1024 &&
            std::none_of(learned_.begin(), learned_.end(),
                         [&](const AdvertisedBroker& k) { return k.id == b->id; })) {
          learned_.push_back(std::move(*b));
        }
        break;
      case FailureClass::none:
        break;
    }
    last_ = std::move(e);
  } catch (...) {
  }
}

FailureClass classify(rd_kafka_resp_err_t code, std::string_view text) {
  switch (code) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
      return FailureClass::authentication;
    case RD_KAFKA_RESP_ERR__SSL:
      return FailureClass::tls;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
      // librdkafka reports a TLS handshake that the peer dropped as a transport error.
      if (text.find("SSL handshake failed") != std::string_view::npos) return FailureClass::tls;
      return FailureClass::transport;
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__FAIL:
      return FailureClass::transport;
    default:
      return FailureClass::none;
  }
}

std::string conf_value(rd_kafka_t* rk, const char* name) {
  const rd_kafka_conf_t* conf = rd_kafka_conf(rk);
  if (!conf) return "";
  std::size_t size = 0;
  if (rd_kafka_conf_get(conf, name, nullptr, &size) != RD_KAFKA_CONF_OK || size == 0) return "";
  std::string value(size, '\0');
  if (rd_kafka_conf_get(conf, name, value.data(), &size) != RD_KAFKA_CONF_OK) return "";
  while (!value.empty() && value.back() == '\0') value.pop_back();
  return value;
}

SecuritySummary security_of(rd_kafka_t* rk) {
  SecuritySummary s;
  s.protocol = lower(conf_value(rk, "security.protocol"));
  if (s.protocol.empty()) s.protocol = "plaintext";
  s.mechanism = conf_value(rk, "sasl.mechanisms");
  s.username = conf_value(rk, "sasl.username");
  return s;
}

bool librdkafka_has_scram_nonce_bug() {
  return rd_kafka_version() < 0x02060100;
}

std::string authentication_hint(const SecuritySummary& s, std::optional<bool> kafka4) {
  bool scram_bug = librdkafka_has_scram_nonce_bug() && lower(s.mechanism).rfind("scram", 0) == 0;
  std::string version = rd_kafka_version_str();
  std::string hint;
  if (scram_bug && kafka4.value_or(false)) {
    hint = "this broker is Apache Kafka 4.0 or later and this program runs librdkafka " + version +
           ", whose SCRAM login Kafka 4 rejects as invalid credentials even with the right "
           "password (fixed in librdkafka 2.6.1, confluentinc/librdkafka#4895): use a speedlayer "
           "built with librdkafka 2.6.1 or later. Otherwise ";
  }
  hint += std::string("check") +
          " the user name (--sasl-username, KAFKA_SASL_USERNAME) and its password "
          "(--sasl-password-file, KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD); that the user "
          "exists on the cluster (Strimzi: a KafkaUser with authentication type scram-sha-512, "
          "whose password is in the Secret of the same name, key `password`); and that "
          "--sasl-mechanism (" +
          (s.mechanism.empty() ? std::string("unset") : s.mechanism) +
          ") is one the listener enables";
  if (scram_bug && !kafka4) {
    hint +=
        ". If all of that is right and the broker runs Apache Kafka 4.0 or later: this "
        "program's librdkafka " +
        version +
        " has a SCRAM bug Kafka 4 rejects as invalid credentials (fixed in librdkafka "
        "2.6.1, confluentinc/librdkafka#4895)";
  }
  return hint;
}

Error authentication_error(rd_kafka_t* rk, const ClientErrorLog::Entry& e,
                           std::string_view bootstrap) {
  SecuritySummary s = security_of(rk);
  std::optional<bool> kafka4;
  if (librdkafka_has_scram_nonce_bug() && lower(s.mechanism).rfind("scram", 0) == 0) {
    // Which broker generation refused us decides whether the librdkafka bug is the cause.
    std::optional<Endpoint> target = endpoint_in_error(e.text);
    if (!target) {
      if (auto eps = parse_bootstrap(bootstrap); eps && !eps->empty()) target = eps->front();
    }
    if (target) {
      TcpProbe tcp = probe_tcp(*target, std::chrono::milliseconds(2000));
      if (tcp.connected) {
        kafka4 = broker_is_kafka4(tcp.connected_ip, target->port, target->host, s.tls(),
                                  tls_settings_of(rk), std::chrono::milliseconds(2000));
      }
    }
  }
  std::string who = s.username.empty() ? std::string("(no --sasl-username given)")
                                       : "for user '" + s.username + "'";
  return Error{ErrorKind::usage,
               "SASL authentication failed " + who +
                   (s.mechanism.empty() ? "" : " (" + s.mechanism + ")") + ": " + e.text,
               "bootstrap servers " + std::string(bootstrap), authentication_hint(s, kafka4)};
}

Error tls_error(rd_kafka_t* rk, const ClientErrorLog::Entry& e, std::string_view bootstrap) {
  std::string what = "TLS with the broker failed: " + e.text;
  std::string hint =
      "check that the port is the listener's TLS port and that --ssl-ca names the cluster's CA";
  std::optional<Endpoint> target = endpoint_in_error(e.text);
  if (!target) {
    auto eps = parse_bootstrap(bootstrap);
    if (eps && !eps->empty()) target = eps->front();
  }
  if (target) {
    TlsSettings settings = tls_settings_of(rk);
    TcpProbe tcp = probe_tcp(*target, std::chrono::milliseconds(2000));
    if (tcp.connected) {
      TlsCheck c = check_tls(tcp.connected_ip, target->port, target->host, settings,
                             std::chrono::milliseconds(2000));
      what += ". Own check of " + target->text() + ": " + describe(c, target->host, settings);
      if (!c.handshake) {
        if (!c.hint.empty()) hint = c.hint;
      } else if (!c.chain_ok) {
        hint = "the broker's certificate (issued by " + c.issuer + ") is not signed by " +
               settings.ca_source() +
               ": pass the cluster's CA certificate with --ssl-ca FILE, KAFKA_SSL_CA_LOCATION "
               "or KAFKA_SSL_CA_PEM (Strimzi: Secret <cluster>-cluster-ca-cert, key ca.crt)";
      } else if (!c.name_ok) {
        hint = "the certificate is not valid for " + target->host +
               ": connect with a name it lists, or add this address to it (Strimzi: "
               "`bootstrap.alternativeNames` for the bootstrap address, `advertisedHost` of "
               "each broker in the listener's `configuration.brokers`; both become "
               "certificate names). -X ssl.endpoint.identification.algorithm=none turns the "
               "check off (then anyone on the path can pose as the broker)";
      }
    }
  }
  return Error{ErrorKind::usage, what, "bootstrap servers " + std::string(bootstrap), hint};
}

Error unreachable_error(rd_kafka_t* rk, int timeout_ms, const ClientErrorLog& errors,
                        rd_kafka_resp_err_t last_request_error, std::string_view bootstrap) {
  std::string why = errors.transport() ? errors.transport().text
                    : errors.last()    ? errors.last().text
                                       : rd_kafka_err2str(last_request_error);
  std::string what = "no Kafka broker answered within " + seconds_text(timeout_ms) + ": " + why;
  std::string hint =
      "check --brokers/KAFKA_BROKERS, that the brokers run and that this host can reach them; "
      "`speedlayer doctor` tells which step fails";
  auto endpoints = parse_bootstrap(bootstrap);
  if (endpoints && !endpoints->empty()) {
    auto probes =
        probe_tcp_all(*endpoints, std::chrono::milliseconds(std::clamp(timeout_ms / 4, 200, 2000)));
    std::string seen;
    bool all_connected = true;
    for (const auto& p : probes) {
      seen += (seen.empty() ? "" : "; ") + describe(p);
      all_connected = all_connected && p.connected;
    }
    what += ". Bootstrap check: " + seen;
    if (all_connected) {
      auto sec = rk ? security_of(rk) : SecuritySummary{};
      hint =
          "the bootstrap address accepts TCP but gave no Kafka answer: check that "
          "--security-protocol (" +
          sec.protocol +
          ") matches the listener (a TLS listener needs ssl or sasl_ssl, a plaintext one "
          "plaintext or sasl_plaintext) and that this is a Kafka port; `speedlayer doctor` "
          "tells which step fails";
    }
  }
  return Error{ErrorKind::unreachable, what, "bootstrap servers " + std::string(bootstrap), hint};
}

Status wait_until_usable(rd_kafka_t* rk, int timeout_ms, std::string_view bootstrap,
                         const ClientErrorLog& errors,
                         const std::function<void()>& serve_callbacks) {
  auto started = Clock::now();
  auto deadline = started + std::chrono::milliseconds(timeout_ms);
  auto fresh = [&](const ClientErrorLog::Entry& e) { return e && e.at >= started; };
  rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR__TRANSPORT;
  std::vector<AdvertisedBroker> bad;
  std::vector<TcpProbe> bad_probes;
  bool fatal = false;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    const rd_kafka_metadata_t* md = nullptr;
    int step = static_cast<int>(std::min<std::int64_t>(left.count(), 1000));
    last = rd_kafka_metadata(rk, 0, nullptr, &md, step);
    MetadataPtr owned(last == RD_KAFKA_RESP_ERR_NO_ERROR ? md : nullptr);
    if (serve_callbacks) serve_callbacks();
    if (fresh(errors.authentication())) {
      return std::unexpected(authentication_error(rk, errors.authentication(), bootstrap));
    }
    if (fresh(errors.tls())) return std::unexpected(tls_error(rk, errors.tls(), bootstrap));
    if (rd_kafka_fatal_error(rk, nullptr, 0)) {
      fatal = true;
      break;
    }
    if (!owned || owned->broker_cnt <= 0) continue;
    // A broker answered. Every broker it advertises must accept TCP from here, or producing
    // to (or reading from) its partitions hangs until librdkafka's own timeouts.
    auto brokers = advertised_brokers(*owned);
    std::vector<Endpoint> endpoints;
    for (const auto& b : brokers) endpoints.push_back(b.endpoint);
    left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto probe_timeout = std::clamp<std::chrono::milliseconds>(left, std::chrono::milliseconds(100),
                                                               std::chrono::milliseconds(2000));
    auto probes = probe_tcp_all(endpoints, probe_timeout);
    bad.clear();
    bad_probes.clear();
    for (std::size_t i = 0; i < probes.size(); ++i) {
      if (probes[i].connected) continue;
      bad.push_back(brokers[i]);
      bad_probes.push_back(probes[i]);
    }
    if (bad.empty()) return {};
    // Brokers that just died stay in the metadata until their session times out; ask again.
    auto pause = std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(250),
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
  if (bad.empty() && fresh(errors.transport())) {
    // librdkafka (2.10 and later) leaves the bootstrap connection once metadata named the
    // brokers, so when every named broker is unreachable no later metadata request is answered
    // and the loop above never saw one. The connection errors still name the learned broker.
    auto learned = learned_broker_in_error(errors.transport().text);
    auto bootstrap_endpoints = parse_bootstrap(bootstrap);
    const bool is_bootstrap = learned && bootstrap_endpoints &&
                              std::find(bootstrap_endpoints->begin(), bootstrap_endpoints->end(),
                                        learned->endpoint) != bootstrap_endpoints->end();
    if (learned && !is_bootstrap) {
      TcpProbe probe = probe_tcp(learned->endpoint, std::chrono::milliseconds(1000));
      if (!probe.connected) {
        bad.push_back(*learned);
        bad_probes.push_back(std::move(probe));
      }
    }
  }
  if (!bad.empty()) {
    std::string what = "the bootstrap servers answered, but ";
    for (std::size_t i = 0; i < bad.size(); ++i) {
      if (i > 0) what += "; ";
      what += "broker " + std::to_string(bad[i].id) + " advertises " + bad[i].endpoint.text() +
              ", which this host cannot reach: " + bad_probes[i].error;
    }
    std::string why = advertised_listeners_explanation({}, bootstrap);
    if (!why.empty()) why[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(why[0])));
    what += " (for " + seconds_text(timeout_ms) + "). " + why;
    std::string host;
    if (auto eps = parse_bootstrap(bootstrap); eps && !eps->empty()) host = eps->front().host;
    return fail(ErrorKind::unreachable, what, "bootstrap servers " + std::string(bootstrap),
                advertised_listeners_fix(bad, host) + " `speedlayer doctor` checks every broker");
  }
  if (fatal) {
    char buf[512] = {};
    rd_kafka_fatal_error(rk, buf, sizeof buf);
    return fail(ErrorKind::kafka, std::string("fatal Kafka client error: ") + buf,
                "bootstrap servers " + std::string(bootstrap));
  }
  return std::unexpected(unreachable_error(rk, timeout_ms, errors, last, bootstrap));
}

}  // namespace speedlayer::kafka
