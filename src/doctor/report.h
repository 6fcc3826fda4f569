// What `speedlayer doctor` found: one Step per check, in order, with its timing, what it saw
// and what to change; every advertised broker; the optional probe message. Pure data plus
// its two renderings (human text, JSON for scripts) and the exit code.
//
//   doctor::Report r;
//   r.steps.push_back({.number = 1, .name = "bootstrap", .status = doctor::Status::ok, ...});
//   std::fputs(doctor::format_text(r).c_str(), stdout);    // or format_json(r)
//   return doctor::exit_code(r);                           // 0 healthy, 1 problems, 3 nothing
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace speedlayer::doctor {

enum class Status {
  ok,    // the check passed
  warn,  // passed, with something worth changing (does not change the exit code)
  fail,  // a problem: the exit code is 1 (3 when nothing at the bootstrap address answered)
  skip,  // not run (not applicable, not asked for, or an earlier step failed)
};
std::string_view to_string(Status s);

struct Step {
  int number = 0;
  std::string name;  // "bootstrap", "tls", "sasl", "metadata", "probe"
  Status status = Status::skip;
  double ms = 0;                     // how long the check took
  std::string summary;               // one line
  std::vector<std::string> details;  // what was seen, one item per line
  std::vector<std::string> fixes;    // what to change
};

// One broker of the metadata, as seen from here.
struct BrokerCheck {
  std::int32_t id = -1;
  std::string address;   // advertised host:port
  std::string resolved;  // IPs it resolves to ("" for a literal or when it does not resolve)
  std::string scope;     // "loopback", "private", "public", ...
  bool reachable = false;
  double connect_ms = 0;
  std::string tls;      // TLS check of this broker ("" when TLS is not used)
  std::string problem;  // "" when fine
};

struct ProbeResult {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  double produce_ms = 0;     // produce -> acknowledged (acks=all)
  double end_to_end_ms = 0;  // produce -> read back by a consumer
};

struct Report {
  std::string bootstrap;
  std::string security_protocol = "plaintext";
  std::string sasl_mechanism;
  std::string sasl_username;
  std::string password_source;  // where the password came from ("--sasl-password-file"), never it
  std::string ca_source;
  std::string librdkafka_version;
  std::vector<Step> steps;
  std::vector<BrokerCheck> brokers;
  std::optional<ProbeResult> probe;
  bool nothing_reachable = false;  // no bootstrap address accepted TCP
};

// 0 when no step failed, 3 when nothing at the bootstrap address accepted TCP, else 1.
int exit_code(const Report& r);
// "healthy", "problems found", "nothing reachable at the bootstrap address".
std::string verdict(const Report& r);

// Human-readable report: a header with the settings, one block per step (status, timing,
// summary, indented details and "fix:" lines, wrapped at `width` columns), the verdict.
std::string format_text(const Report& r, std::size_t width = 100);
nlohmann::json to_json(const Report& r);
std::string format_json(const Report& r);  // to_json(r), indented, with a final newline

// Word-wraps `text` to `width` columns; lines after the first start with `indent` spaces.
std::string wrap(std::string_view text, std::size_t width, std::size_t indent);

}  // namespace speedlayer::doctor
