// Broker addresses without librdkafka: bootstrap parsing, address classification ("can a
// client elsewhere reach it?") and bounded TCP probes, for `speedlayer doctor` and every
// client's start-up check (kafka/cluster_wait.h).
//
//   auto endpoints = kafka::parse_bootstrap("broker-0.example:9094,10.0.0.7:9094");
//   auto probes = kafka::probe_tcp_all(*endpoints, std::chrono::seconds(2));
//   for (const auto& p : probes) std::puts(kafka::describe(p).c_str());
//   // "broker-0.example:9094: resolves to 203.0.113.9 (public), TCP connected in 12.1 ms"
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace speedlayer::kafka {

// One host:port, as written in bootstrap.servers or advertised by a broker.
struct Endpoint {
  std::string host;  // name or IP literal, without IPv6 brackets
  int port = 0;
  std::string text() const;  // "host:port", "[v6]:port"
  bool operator==(const Endpoint&) const = default;
};

// Parses a bootstrap list: "host:port,host:port", entries may carry a "proto://" prefix
// (librdkafka accepts it), IPv6 as "[::1]:9092"; a missing port means 9092. Blank entries are
// skipped; an empty list or a bad port is a usage error naming `origin`.
Result<std::vector<Endpoint>> parse_bootstrap(std::string_view list,
                                              std::string_view origin = "bootstrap.servers");

// Where an IP address lives, as far as "can a client elsewhere reach it" goes.
enum class AddressScope {
  loopback,         // 127.0.0.0/8, ::1: only the machine itself
  private_network,  // RFC 1918 (10/8, 172.16/12, 192.168/16), IPv6 ULA fc00::/7
  shared,           // 100.64.0.0/10 (carrier-grade NAT; also many Kubernetes pod networks)
  link_local,       // 169.254.0.0/16, fe80::/10
  unspecified,      // 0.0.0.0, ::  (a listener address, never a place to connect to)
  public_internet,  // anything else
  not_an_ip,        // a host name, or text that is no address
};
AddressScope classify_ip(std::string_view ip);
std::string_view to_string(AddressScope scope);  // "loopback", "private (RFC 1918)", ...
// Reachable only from the same machine or the same private network.
inline bool is_internal(AddressScope s) {
  return s == AddressScope::loopback || s == AddressScope::private_network ||
         s == AddressScope::shared || s == AddressScope::link_local ||
         s == AddressScope::unspecified;
}

// A bounded TCP connection attempt: name resolution (getaddrinfo) then a non-blocking connect
// to each resolved address until one accepts.
struct TcpProbe {
  Endpoint endpoint;
  bool resolved = false;
  std::vector<std::string> addresses;  // resolved IPs, in getaddrinfo order
  double resolve_ms = 0;
  bool connected = false;
  std::string connected_ip;  // the address that accepted
  double connect_ms = 0;
  std::string error;  // why not: "does not resolve (...)", "connection refused (...)", ...
  // Scope of the address that accepted, else of the first resolved one, else not_an_ip.
  AddressScope scope() const;
};
TcpProbe probe_tcp(const Endpoint& endpoint, std::chrono::milliseconds timeout);
// All endpoints at once (one thread each); returns within `timeout` plus a few ms even when a
// resolver hangs (such a probe reports that it got no answer in time). Same order as input.
std::vector<TcpProbe> probe_tcp_all(const std::vector<Endpoint>& endpoints,
                                    std::chrono::milliseconds timeout);
// "host:port: resolves to 1.2.3.4 (public), TCP connected in 0.3 ms" or "host:port: <error>".
std::string describe(const TcpProbe& probe);

// A connected blocking-mode TCP socket to one IP (no resolution), or an error text. The
// caller owns the fd.
Result<int> connect_ip(const std::string& ip, int port, std::chrono::milliseconds timeout);

}  // namespace speedlayer::kafka
