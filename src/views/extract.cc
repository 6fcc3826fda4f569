// Text extraction (extract.h): simdjson first, nlohmann for what it turns down.
#include "views/extract.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <simdjson.h>

#include <nlohmann/json.hpp>

#include "json/python_json.h"

namespace speedlayer::views {
namespace {

using nlohmann::json;

// Bytes < 0x20 other than \t \n \r, and DEL.
bool has_control(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return true;
  }
  return false;
}

bool is_json_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return kDays[m - 1];
}

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return i_ == s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  // Exactly n digits.
  bool digits(int n, int& out) {
    out = 0;
    for (int k = 0; k < n; ++k) {
      if (done() || s_[i_] < '0' || s_[i_] > '9') return false;
      out = out * 10 + (s_[i_++] - '0');
    }
    return true;
  }
  bool is_digit() const { return !done() && s_[i_] >= '0' && s_[i_] <= '9'; }
  void skip() { ++i_; }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

// "YYYY-MM-DD[(T|t| )hh:mm[:ss[(.|,)fff...]]][Z|z|+hh[:mm]|-hh[:mm]|+hhmm]".
std::optional<Millis> parse_iso8601(std::string_view s) {
  Cursor c(s);
  int year, month, day, hour = 0, minute = 0, second = 0, millis = 0;
  if (!c.digits(4, year) || !c.eat('-') || !c.digits(2, month) || !c.eat('-') || !c.digits(2, day))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 ||
      day > static_cast<int>(days_in_month(year, static_cast<unsigned>(month))))
    return std::nullopt;
  Millis offset_ms = 0;
  if (c.eat('T') || c.eat('t') || c.eat(' ')) {
    if (!c.digits(2, hour) || !c.eat(':') || !c.digits(2, minute)) return std::nullopt;
    if (c.eat(':')) {
      if (!c.digits(2, second)) return std::nullopt;
      if (c.eat('.') || c.eat(',')) {
        if (!c.is_digit()) return std::nullopt;
        int scale = 100;
        for (int k = 0; c.is_digit(); ++k) {
          if (k < 3) millis += (c.peek() - '0') * scale, scale /= 10;
          if (k >= 9) return std::nullopt;
          c.skip();
        }
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    if (c.eat('Z') || c.eat('z')) {
    } else if (c.peek() == '+' || c.peek() == '-') {
      const bool negative = c.peek() == '-';
      c.skip();
      int oh, om = 0;
      if (!c.digits(2, oh)) return std::nullopt;
      if (c.eat(':')) {
        if (!c.digits(2, om)) return std::nullopt;
      } else if (c.is_digit()) {
        if (!c.digits(2, om)) return std::nullopt;
      }
      if (oh > 23 || om > 59) return std::nullopt;
      offset_ms = (oh * 60 + om) * 60'000LL * (negative ? -1 : 1);
    }
  }
  if (!c.done()) return std::nullopt;
  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return days * 86'400'000LL + hour * 3'600'000LL + minute * 60'000LL + second * 1'000LL + millis -
         offset_ms;
}

constexpr double kMaxExactMillis = 9007199254740992.0;  // 2^53

// An event time from a JSON number or string: integers are epoch milliseconds, fractions are
// floored, strings are digits or ISO 8601. Beyond 2^53 (no double holds it exactly): none.
std::optional<Millis> time_from_unsigned(std::uint64_t u) {
  if (u >= static_cast<std::uint64_t>(kMaxExactMillis)) return std::nullopt;
  return static_cast<Millis>(u);
}
std::optional<Millis> time_from_signed(std::int64_t i) {
  if (i <= -static_cast<std::int64_t>(kMaxExactMillis) ||
      i >= static_cast<std::int64_t>(kMaxExactMillis))
    return std::nullopt;
  return i;
}
std::optional<Millis> time_from_double(double d) {
  if (!std::isfinite(d) || std::fabs(d) >= kMaxExactMillis) return std::nullopt;
  return static_cast<Millis>(std::floor(d));
}
std::optional<Millis> time_from_string(std::string_view s) {
  if (!s.empty() && s.size() <= 16 &&
      std::all_of(s.begin() + (s[0] == '-' ? 1 : 0), s.end(),
                  [](char ch) { return ch >= '0' && ch <= '9'; }) &&
      s != "-") {
    Millis ms = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), ms);
    if (ec == std::errc() && ptr == s.data() + s.size()) return ms;
    return std::nullopt;
  }
  return parse_iso8601(s);
}

std::optional<Millis> parse_time(const json& v) {
  if (v.is_number_unsigned()) return time_from_unsigned(v.get<std::uint64_t>());
  if (v.is_number_integer()) return time_from_signed(v.get<std::int64_t>());
  if (v.is_number_float()) return time_from_double(v.get<double>());
  if (v.is_string()) return time_from_string(v.get_ref<const std::string&>());
  return std::nullopt;
}

std::optional<Millis> parse_time(simdjson::dom::element v) {
  std::uint64_t u;
  std::int64_t i;
  double d;
  std::string_view s;
  if (v.get_uint64().get(u) == simdjson::SUCCESS) return time_from_unsigned(u);
  if (v.get_int64().get(i) == simdjson::SUCCESS) return time_from_signed(i);
  if (v.get_double().get(d) == simdjson::SUCCESS) return time_from_double(d);
  if (v.get_string().get(s) == simdjson::SUCCESS) return time_from_string(s);
  return std::nullopt;
}

}  // namespace

std::string_view malformed_name(Malformed m) {
  switch (m) {
    case Malformed::none:
      return "none";
    case Malformed::invalid_utf8:
      return "invalid_utf8";
    case Malformed::too_large:
      return "too_large";
    case Malformed::binary:
      return "binary";
    case Malformed::no_text:
      return "no_text";
    case Malformed::future_time:
      return "future_time";
    case Malformed::bad_time:
      return "bad_time";
    case Malformed::too_deep:
      return "too_deep";
  }
  return "unknown";
}

namespace {
// What kinds of bytes a value holds, in one pass (16 bytes at a time where SSE2 is there):
// the checks below then run only when a value has bytes they look for.
struct ByteKinds {
  bool low = false;   // < 0x20 (\t \n \r included) or 0x7f
  bool high = false;  // >= 0x80
  bool backslash = false;
  std::size_t quotes = 0;
};
ByteKinds scan_bytes(std::string_view s) {
  ByteKinds k;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
#ifdef __SSE2__
  unsigned low = 0, high = 0, backslash = 0;
  for (; end - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const unsigned h = static_cast<unsigned>(_mm_movemask_epi8(v));
    high |= h;
    low |= (static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)))) & ~h) |
           static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))));
    backslash |= static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    // Quotes are few: clear them bit by bit (a popcount is a libgcc call without -mpopcnt).
    for (unsigned q =
             static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"'))));
         q != 0; q &= q - 1) {
      ++k.quotes;
    }
  }
  k.low = low != 0;
  k.high = high != 0;
  k.backslash = backslash != 0;
#endif
  for (; p < end; ++p) {
    const unsigned char c = *p;
    k.low |= c < 0x20 || c == 0x7f;
    k.high |= c >= 0x80;
    k.backslash |= c == '\\';
    k.quotes += c == '"';
  }
  return k;
}

// simdjson's DOM parser validates the whole document as nlohmann's does, in a fraction of the
// time on the small objects of a stream (see views_bench BM_ExtractText/1). One per thread,
// reused: it keeps buffers sized for the largest document it parsed (about 14 bytes per input
// byte), so larger documents go to nlohmann only.
constexpr std::size_t kSimdjsonMaxBytes = 64 * 1024;
}  // namespace

namespace detail {
bool extract_json_with_simdjson(std::string_view json_text, const std::string& text_field,
                                const std::string& time_field, std::string& scratch,
                                ExtractedView& out) {
  // Nesting bounded as everywhere else JSON is read (simdjson's own default is 1,024 levels).
  thread_local simdjson::dom::parser parser = [] {
    simdjson::dom::parser p;
    // On failure (out of memory) parse() allocates later with the default depth, and the
    // nlohmann fallback's own depth check still applies.
    [[maybe_unused]] const auto allocated = p.allocate(4096, speedlayer::json::kMaxJsonDepth);
    return p;
  }();
  simdjson::dom::element root;
  if (parser.parse(json_text.data(), json_text.size()).get(root) != simdjson::SUCCESS) return false;
  std::string_view text;
  if (root.get_string().get(text) != simdjson::SUCCESS) {  // not a JSON string: an object?
    simdjson::dom::object object;
    if (root.get_object().get(object) != simdjson::SUCCESS) return false;
    simdjson::dom::element text_value, time_value;
    bool has_text = false, has_time = false;
    for (const simdjson::dom::key_value_pair field : object) {
      if (!text_field.empty() && field.key == text_field) {
        text_value = field.value;
        has_text = true;
      }
      if (!time_field.empty() && field.key == time_field) {
        time_value = field.value;
        has_time = true;
      }
    }
    if (!has_text || text_value.get_string().get(text) != simdjson::SUCCESS) {
      out.problem = Malformed::no_text;
      return true;
    }
    if (has_time) out.event_time = parse_time(time_value);
  }
  scratch.assign(text);  // the parser's string buffer is reused by the next value
  if (has_control(scratch)) {
    out.problem = Malformed::binary;
    out.event_time.reset();
    return true;
  }
  out.text = scratch;
  return true;
}

bool extract_json_with_nlohmann(std::string_view json_text, const std::string& text_field,
                                const std::string& time_field, std::string& scratch,
                                ExtractedView& out) {
  try {
    json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_string()) {
      scratch = std::move(doc.get_ref<std::string&>());
      if (has_control(scratch)) {
        out.problem = Malformed::binary;
        return true;
      }
      out.text = scratch;
      return true;
    }
    if (doc.is_object()) {
      auto t = text_field.empty() ? doc.end() : doc.find(text_field);
      if (t == doc.end() || !t->is_string()) {
        out.problem = Malformed::no_text;
        return true;
      }
      scratch = std::move(t->get_ref<std::string&>());
      if (has_control(scratch)) {
        out.problem = Malformed::binary;
        return true;
      }
      out.text = scratch;
      if (!time_field.empty()) {
        auto tf = doc.find(time_field);
        if (tf != doc.end()) out.event_time = parse_time(*tf);
      }
      return true;
    }
  } catch (const std::exception&) {
    // swallowed: not JSON after all; the caller treats the value as text.
  }
  return false;
}
}  // namespace detail

ExtractedView extract_text_view(std::string_view value, const std::string& text_field,
                                const std::string& time_field, std::size_t max_bytes,
                                std::string& scratch) {
  ExtractedView out;
  if (value.size() > max_bytes) {
    out.problem = Malformed::too_large;
    return out;
  }
  const ByteKinds kinds = scan_bytes(value);
  if (kinds.low && has_control(value)) {
    out.problem = Malformed::binary;
    return out;
  }
  if (kinds.high && speedlayer::json::find_invalid_utf8(value) != std::string_view::npos) {
    out.problem = Malformed::invalid_utf8;
    return out;
  }
  std::size_t b = 0, e = value.size();
  while (b < e && is_json_ws(value[b])) ++b;
  while (e > b && is_json_ws(value[e - 1])) --e;
  const std::string_view trimmed = value.substr(b, e - b);
  // A JSON string without escapes (its two quotes the value's only ones): the text as is.
  if (trimmed.size() >= 2 && trimmed.front() == '"' && trimmed.back() == '"' && kinds.quotes == 2 &&
      !kinds.backslash) {
    out.text = trimmed.substr(1, trimmed.size() - 2);
    return out;
  }
  if (!trimmed.empty() && (trimmed.front() == '"' || trimmed.front() == '{')) {
    if (trimmed.size() <= kSimdjsonMaxBytes &&
        detail::extract_json_with_simdjson(trimmed, text_field, time_field, scratch, out))
      return out;
    // Only here, off the hot path: simdjson refuses documents deeper than 1,024 levels itself.
    if (speedlayer::json::find_excess_nesting(trimmed) != std::string_view::npos) {
      out.problem = Malformed::too_deep;
      return out;
    }
    if (detail::extract_json_with_nlohmann(trimmed, text_field, time_field, scratch, out))
      return out;
  }
  out.text = value;
  return out;
}

Extracted extract_text(std::string_view value, const std::string& text_field,
                       const std::string& time_field, std::size_t max_bytes) {
  std::string scratch;
  const ExtractedView v = extract_text_view(value, text_field, time_field, max_bytes, scratch);
  Extracted out;
  out.text.assign(v.text);
  out.problem = v.problem;
  out.event_time = v.event_time;
  return out;
}

}  // namespace speedlayer::views
