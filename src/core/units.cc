#include "core/units.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace speedlayer {
namespace {

struct NumberAndSuffix {
  double number = 0;
  std::string_view suffix;
};

std::expected<NumberAndSuffix, std::string> split(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) return std::unexpected("empty value");
  NumberAndSuffix out;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out.number);
  if (ec != std::errc{} || ptr == text.data()) return std::unexpected("not a number");
  if (out.number < 0 || !std::isfinite(out.number)) return std::unexpected("must be >= 0");
  out.suffix = text.substr(static_cast<std::size_t>(ptr - text.data()));
  return out;
}

}  // namespace

Result<std::chrono::milliseconds> parse_duration(std::string_view text, std::string_view where) {
  auto parts = split(text);
  auto bad = [&](const std::string& why) {
    return fail(ErrorKind::usage, "invalid duration '" + std::string(text) + "': " + why,
                std::string(where), "write it like 500ms, 10s, 5m or 1h");
  };
  if (!parts) return bad(parts.error());
  double factor = 0;
  if (parts->suffix.empty()) {
    // A bare number is ambiguous (Kafka's properties say the unit in their names: linger.ms,
    // session.timeout.ms); "--window 60" meaning 60 ms surprised users. Zero needs no unit.
    if (parts->number != 0) {
      const std::string n = fmt::format("{}", parts->number);
      return bad("a number needs a unit: write " + n + "s or " + n + "ms");
    }
    factor = 1;
  } else if (parts->suffix == "ms")
    factor = 1;
  else if (parts->suffix == "s")
    factor = 1000;
  else if (parts->suffix == "m" || parts->suffix == "min")
    factor = 60'000;
  else if (parts->suffix == "h")
    factor = 3'600'000;
  else if (parts->suffix == "d")
    factor = 86'400'000;
  else
    return bad("unknown unit '" + std::string(parts->suffix) + "'");
  double ms = parts->number * factor;
  // Durations end up as int milliseconds (librdkafka's and poll's timeouts): beyond that they
  // would wrap around.
  if (ms > static_cast<double>(kMaxDuration.count())) return bad("too large (at most 24d)");
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

Result<std::uint64_t> parse_bytes(std::string_view text, std::string_view where) {
  auto parts = split(text);
  auto bad = [&](const std::string& why) {
    return fail(ErrorKind::usage, "invalid size '" + std::string(text) + "': " + why,
                std::string(where), "write it like 128Mi, 64M, 512Ki or a number of bytes");
  };
  if (!parts) return bad(parts.error());
  static constexpr struct {
    std::string_view suffix;
    double factor;
  } kUnits[] = {{"", 1},
                {"B", 1},
                {"k", 1e3},
                {"K", 1e3},
                {"kB", 1e3},
                {"M", 1e6},
                {"MB", 1e6},
                {"G", 1e9},
                {"GB", 1e9},
                {"Ki", 1024.0},
                {"KiB", 1024.0},
                {"Mi", 1048576.0},
                {"MiB", 1048576.0},
                {"Gi", 1073741824.0},
                {"GiB", 1073741824.0}};
  for (const auto& unit : kUnits) {
    if (parts->suffix == unit.suffix) {
      double bytes = parts->number * unit.factor;
      // 2^63: llround's long long holds it, and no size here gets near it.
      if (bytes >= 9.2e18) return bad("too large");
      return static_cast<std::uint64_t>(std::llround(bytes));
    }
  }
  return bad("unknown unit '" + std::string(parts->suffix) + "'");
}

std::string format_bytes(std::uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ull << 30))
    std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / 1073741824.0);
  else if (bytes >= (1ull << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
  else if (bytes >= 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  return buf;
}

}  // namespace speedlayer
