#include "config/values.h"

#include <charconv>

#include "core/units.h"

namespace speedlayer::config {

Result<std::optional<std::uint64_t>> to_uint(const std::optional<Setting>& s) {
  if (!s) return std::optional<std::uint64_t>{};
  std::uint64_t v = 0;
  const auto& t = s->value;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc{} || ptr != t.data() + t.size()) {
    return fail(ErrorKind::usage, "expected a whole number >= 0, got '" + t + "'", s->origin);
  }
  return std::optional<std::uint64_t>{v};
}

Result<std::optional<double>> to_double(const std::optional<Setting>& s) {
  if (!s) return std::optional<double>{};
  double v = 0;
  const auto& t = s->value;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc{} || ptr != t.data() + t.size() || v < 0) {
    return fail(ErrorKind::usage, "expected a number >= 0, got '" + t + "'", s->origin);
  }
  return std::optional<double>{v};
}

Result<std::optional<std::chrono::milliseconds>> to_duration(const std::optional<Setting>& s) {
  if (!s) return std::optional<std::chrono::milliseconds>{};
  auto d = parse_duration(s->value, s->origin);
  if (!d) return std::unexpected(d.error());
  return std::optional<std::chrono::milliseconds>{*d};
}

Result<std::optional<std::uint64_t>> to_bytes(const std::optional<Setting>& s) {
  if (!s) return std::optional<std::uint64_t>{};
  auto b = parse_bytes(s->value, s->origin);
  if (!b) return std::unexpected(b.error());
  return std::optional<std::uint64_t>{*b};
}

Result<std::optional<std::string>> to_choice(const std::optional<Setting>& s,
                                             const std::vector<std::string>& allowed) {
  if (!s) return std::optional<std::string>{};
  for (const auto& a : allowed) {
    if (a == s->value) return std::optional<std::string>{a};
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  return fail(ErrorKind::usage, "invalid value '" + s->value + "'", s->origin,
              "expected one of: " + list);
}

}  // namespace speedlayer::config
