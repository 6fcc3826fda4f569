#include "doctor/report.h"

#include <cmath>
#include <cstdio>

namespace speedlayer::doctor {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string ms_text(double ms) {
  char buf[32];
  if (ms >= 1000)
    std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000);
  else if (ms >= 100)
    std::snprintf(buf, sizeof buf, "%.0f ms", ms);
  else
    std::snprintf(buf, sizeof buf, "%.1f ms", ms);
  return buf;
}

double rounded(double ms) {
  return std::round(ms * 10) / 10;
}

}  // namespace

std::string_view to_string(Status s) {
  switch (s) {
    case Status::ok:
      return "ok";
    case Status::warn:
      return "warn";
    case Status::fail:
      return "fail";
    case Status::skip:
      return "skip";
  }
  return "skip";
}

int exit_code(const Report& r) {
  if (r.nothing_reachable) return 3;
  for (const auto& s : r.steps) {
    if (s.status == Status::fail) return 1;
  }
  return 0;
}

std::string verdict(const Report& r) {
  switch (exit_code(r)) {
    case 0:
      return "healthy";
    case 3:
      return "nothing reachable at the bootstrap address";
    default:
      return "problems found";
  }
}

std::string wrap(std::string_view text, std::size_t width, std::size_t indent) {
  // Breaks only at spaces; runs of spaces inside a line (column alignment) are kept.
  std::string out;
  std::size_t col = 0;
  std::size_t i = 0;
  bool line_has_word = false;
  while (i < text.size()) {
    std::size_t word = text.find_first_not_of(' ', i);
    if (word == std::string_view::npos) break;
    std::size_t end = text.find(' ', word);
    if (end == std::string_view::npos) end = text.size();
    std::size_t gap = word - i;
    std::size_t len = end - word;
    if (line_has_word && col + gap + len > width) {
      out += '\n';
      out.append(indent, ' ');
      col = indent;
    } else {
      out.append(gap, ' ');
      col += gap;
    }
    out.append(text.substr(word, len));
    col += len;
    line_has_word = true;
    i = end;
  }
  return out;
}

std::string format_text(const Report& r, std::size_t width) {
  std::string out = "speedlayer doctor: bootstrap " + r.bootstrap + ", " + r.security_protocol;
  if (!r.sasl_mechanism.empty()) {
    out += ", " + r.sasl_mechanism;
    if (!r.sasl_username.empty()) out += " user " + r.sasl_username;
    if (!r.password_source.empty()) out += " (password from " + r.password_source + ")";
  }
  if (!r.ca_source.empty()) out += ", " + r.ca_source;
  if (!r.librdkafka_version.empty()) out += "; librdkafka " + r.librdkafka_version;
  out = wrap(out, width, 4) + "\n\n";
  constexpr std::size_t kIndent = 5;
  for (const auto& s : r.steps) {
    char head[96];
    std::snprintf(head, sizeof head, "%d. %-9s %-4s %9s  ", s.number, s.name.c_str(),
                  upper(to_string(s.status)).c_str(),
                  s.status == Status::skip && s.ms == 0 ? "" : ms_text(s.ms).c_str());
    out += wrap(std::string(head) + s.summary, width, kIndent) + "\n";
    for (const auto& d : s.details)
      out += std::string(kIndent, ' ') + wrap(d, width, kIndent + 2) + "\n";
    for (const auto& f : s.fixes) {
      out += std::string(kIndent, ' ') + wrap("fix: " + f, width, kIndent + 5) + "\n";
    }
  }
  out += "\nresult: " + verdict(r) + " (exit " + std::to_string(exit_code(r)) + ")\n";
  return out;
}

nlohmann::json to_json(const Report& r) {
  using nlohmann::json;
  json steps = json::array();
  for (const auto& s : r.steps) {
    steps.push_back({{"step", s.number},
                     {"name", s.name},
                     {"status", std::string(to_string(s.status))},
                     {"ms", rounded(s.ms)},
                     {"summary", s.summary},
                     {"details", s.details},
                     {"fixes", s.fixes}});
  }
  json brokers = json::array();
  for (const auto& b : r.brokers) {
    json j = {{"id", b.id},
              {"address", b.address},
              {"scope", b.scope},
              {"reachable", b.reachable},
              {"connect_ms", rounded(b.connect_ms)},
              {"problem", b.problem.empty() ? json(nullptr) : json(b.problem)}};
    if (!b.resolved.empty()) j["resolved"] = b.resolved;
    if (!b.tls.empty()) j["tls"] = b.tls;
    brokers.push_back(std::move(j));
  }
  json probe = nullptr;
  if (r.probe) {
    probe = {{"topic", r.probe->topic},
             {"partition", r.probe->partition},
             {"offset", r.probe->offset},
             {"produce_ms", rounded(r.probe->produce_ms)},
             {"end_to_end_ms", rounded(r.probe->end_to_end_ms)}};
  }
  auto or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return {{"bootstrap", r.bootstrap},
          {"security_protocol", r.security_protocol},
          {"sasl_mechanism", or_null(r.sasl_mechanism)},
          {"sasl_username", or_null(r.sasl_username)},
          {"password_source", or_null(r.password_source)},
          {"ca", or_null(r.ca_source)},
          {"librdkafka", r.librdkafka_version},
          {"steps", std::move(steps)},
          {"brokers", std::move(brokers)},
          {"probe", std::move(probe)},
          {"result", verdict(r)},
          {"exit_code", exit_code(r)}};
}

std::string format_json(const Report& r) {
  // Replace, never throw, should a broker or resolver hand us invalid UTF-8.
  return to_json(r).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace speedlayer::doctor
