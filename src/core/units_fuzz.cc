// Fuzz target: the human units of flags and config files (units.h: parse_duration,
// parse_bytes, format_bytes).
//
// Properties: no crash or undefined behaviour (the values go through double, llround and
// casts); errors are usage errors naming the place given; a duration is never negative nor
// over 2^31 - 1 ms (durations become int millisecond timeouts: units.h); and where the input is
// a plain count of digits the units scale it exactly (n s = 1000 n ms, n Ki = 1024 n bytes).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/fuzz_check.h"
#include "core/units.h"

namespace {

using speedlayer::fuzz::shown;
namespace sl = speedlayer;

constexpr std::uint64_t kMaxDurationMs = 2'147'483'647;

template <class T>
void check_error(const sl::Result<T>& r, std::string_view input) {
  if (r) return;
  SL_FUZZ_CHECK(r.error().kind == sl::ErrorKind::usage, r.error().message());
  SL_FUZZ_CHECK(r.error().where == "fuzz", r.error().message() + " for " + shown(input));
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const auto duration = sl::parse_duration(text, "fuzz");
  check_error(duration, text);
  if (duration) {
    const auto ms = duration->count();
    SL_FUZZ_CHECK(ms >= 0 && static_cast<std::uint64_t>(ms) <= kMaxDurationMs,
                  std::to_string(ms) + " ms from " + shown(text));
  }
  const auto bytes = sl::parse_bytes(text, "fuzz");
  check_error(bytes, text);
  if (bytes) SL_FUZZ_CHECK(!sl::format_bytes(*bytes).empty(), shown(text));

  // Digits only (at most 9: every product below stays below 2^53, exact in a double).
  if (all_digits(text) && text.size() <= 9) {
    const std::uint64_t n = std::stoull(std::string(text));
    const std::string d(text);
    SL_FUZZ_CHECK(bytes && *bytes == n, shown(text));
    const auto ki = sl::parse_bytes(d + "Ki", "fuzz");
    SL_FUZZ_CHECK(ki && *ki == n * 1024, d + "Ki");
    const auto mb = sl::parse_bytes(d + "MB", "fuzz");
    SL_FUZZ_CHECK(mb && *mb == n * 1'000'000, d + "MB");
    const auto in_ms = sl::parse_duration(d + "ms", "fuzz");
    SL_FUZZ_CHECK(in_ms.has_value() == (n <= kMaxDurationMs), d + "ms");
    if (in_ms) SL_FUZZ_CHECK(in_ms->count() == static_cast<std::int64_t>(n), d + "ms");
    const auto in_s = sl::parse_duration(d + "s", "fuzz");
    SL_FUZZ_CHECK(in_s.has_value() == (n * 1000 <= kMaxDurationMs), d + "s");
    if (in_s) SL_FUZZ_CHECK(in_s->count() == static_cast<std::int64_t>(n * 1000), d + "s");
  }
  return 0;
}
