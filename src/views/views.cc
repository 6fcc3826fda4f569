// Tumbling-window partials, their changelog encoding, and the merged views (see views.h).
#include "views/views.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <exception>
#include <functional>
#include <limits>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "json/python_json.h"

namespace speedlayer::views {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr Millis kMaxMillis = std::numeric_limits<Millis>::max();
constexpr Millis kMinMillis = std::numeric_limits<Millis>::min();

// a + b, saturated (event times come from outside: a JSON field can say anything).
Millis sat_add(Millis a, Millis b) {
  Millis r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMaxMillis : kMinMillis;
  return r;
}

template <class J>
std::string dump(const J& j) {
  // Never throws: invalid UTF-8 in a term (only possible for unvalidated input) is replaced.
  return j.dump(-1, ' ', false, J::error_handler_t::replace);
}

// ---- text extraction ------------------------------------------------------------------------

// Bytes < 0x20 other than \t \n \r, and DEL.
bool has_control(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return true;
  }
  return false;
}

bool is_json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

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
  if (!c.digits(4, year) || !c.eat('-') || !c.digits(2, month) || !c.eat('-') ||
      !c.digits(2, day))
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
  const std::int64_t days = days_from_civil(year, static_cast<unsigned>(month),
                                            static_cast<unsigned>(day));
  return days * 86'400'000LL + hour * 3'600'000LL + minute * 60'000LL + second * 1'000LL +
         millis - offset_ms;
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

// ---- top terms --------------------------------------------------------------------------------

template <class Map>
std::vector<TermCount> top_terms(const Map& terms, std::size_t k) {
  std::vector<std::pair<std::string_view, std::uint64_t>> all;
  all.reserve(terms.size());
  for (const auto& [term, count] : terms) all.emplace_back(term, count);
  auto before = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  const std::size_t n = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), before);
  std::vector<TermCount> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back({std::string(all[i].first), all[i].second});
  return out;
}

}  // namespace

// ---- windows ----------------------------------------------------------------------------------

Millis window_start(Millis event_time, Millis size_ms) {
  if (size_ms <= 0) return event_time;
  Millis r = event_time % size_ms;
  if (r < 0) r += size_ms;
  return event_time - r;
}

std::string_view malformed_name(Malformed m) {
  switch (m) {
    case Malformed::none: return "none";
    case Malformed::invalid_utf8: return "invalid_utf8";
    case Malformed::too_large: return "too_large";
    case Malformed::binary: return "binary";
    case Malformed::no_text: return "no_text";
    case Malformed::future_time: return "future_time";
    case Malformed::bad_time: return "bad_time";
    case Malformed::too_deep: return "too_deep";
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
    // Not JSON after all.
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

// ---- TermCounts ------------------------------------------------------------------------------

TermCounts::TermCounts(std::initializer_list<value_type> items) { *this = items; }

TermCounts& TermCounts::operator=(std::initializer_list<value_type> items) {
  entries_.clear();
  slots_.clear();
  reserve(items.size());
  for (const auto& [term, count] : items) emplace(term, count);
  return *this;
}

namespace {
std::uint64_t load64(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
std::uint32_t load32(const char* p) {
  std::uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}
// a[0, n) == b[0, n), inline for words (a call to memcmp per probe showed in profiles).
bool same_bytes(const char* a, const char* b, std::size_t n) {
  if (n >= 8) {
    if (n > 16) return std::memcmp(a, b, n) == 0;
    return load64(a) == load64(b) && load64(a + n - 8) == load64(b + n - 8);
  }
  if (n >= 4) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
  if (n == 0) return true;
  return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
}
}  // namespace

void TermCounts::reserve(std::size_t n) {
  entries_.reserve(n);
  if (2 * n >= slots_.size()) grow_slots(n);
}

void TermCounts::grow_slots(std::size_t min_entries) {
  std::size_t size = 16;
  while (size <= 2 * std::max(min_entries, entries_.size())) size *= 2;
  std::vector<std::uint64_t> old(size, 0);
  old.swap(slots_);
  const std::size_t mask = size - 1;
  for (const std::uint64_t v : old) {
    if (v == 0) continue;
    std::size_t s = (v >> 32) & mask;  // the hash's low bits: the home slot
    while (slots_[s] != 0) s = (s + 1) & mask;
    slots_[s] = v;
  }
}

std::size_t TermCounts::slot_of(std::string_view term, std::uint64_t hash) const {
  const std::size_t mask = slots_.size() - 1;
  const std::uint64_t tag = (hash & 0xffffffffu) << 32;
  std::size_t s = hash & mask;
  for (std::uint64_t v; (v = slots_[s]) != 0; s = (s + 1) & mask) {
    if ((v & ~std::uint64_t{0xffffffffu}) != tag) continue;
    const std::string& kept = entries_[(v & 0xffffffffu) - 1].first;
    if (kept.size() == term.size() && same_bytes(kept.data(), term.data(), term.size())) return s;
  }
  return s;
}

std::size_t TermCounts::index_of(std::string_view term, std::uint64_t hash) const {
  if (slots_.empty()) return npos;
  const std::uint64_t v = slots_[slot_of(term, hash)];
  return v == 0 ? npos : (v & 0xffffffffu) - 1;
}

std::size_t TermCounts::insert_new(std::string_view term, std::uint64_t hash,
                                   std::uint64_t count) {
  if (2 * (entries_.size() + 1) >= slots_.size()) grow_slots(entries_.size() + 1);
  const std::size_t i = entries_.size();
  entries_.emplace_back(std::string(term), count);
  slots_[slot_of(term, hash)] = slot_value(i, hash);
  return i;
}

void TermCounts::rekey(std::size_t i, std::string_view term, std::uint64_t hash,
                       std::uint64_t count) {
  // Unindex entry i (backward-shift deletion keeps linear probing valid).
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = TermHash{}(entries_[i].first) & mask;
  while ((slots_[hole] & 0xffffffffu) != i + 1) hole = (hole + 1) & mask;
  for (std::size_t j = hole;;) {
    j = (j + 1) & mask;
    if (slots_[j] == 0) break;
    const std::size_t home = (slots_[j] >> 32) & mask;
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!stays) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = 0;
  entries_[i].first.assign(term);
  entries_[i].second = count;
  slots_[slot_of(term, hash)] = slot_value(i, hash);
}

TermCounts::const_iterator TermCounts::find(std::string_view term) const {
  const std::size_t i = index_of(term, TermHash{}(term));
  return i == npos ? end() : begin() + static_cast<std::ptrdiff_t>(i);
}

TermCounts::iterator TermCounts::find(std::string_view term) {
  const std::size_t i = index_of(term, TermHash{}(term));
  return i == npos ? end() : begin() + static_cast<std::ptrdiff_t>(i);
}

std::uint64_t& TermCounts::operator[](std::string_view term) {
  return emplace(term, 0).first->second;
}

std::uint64_t TermCounts::at(std::string_view term) const {
  auto it = find(term);
  if (it == end()) throw std::out_of_range("TermCounts::at: no term \"" + std::string(term) + "\"");
  return it->second;
}

std::pair<TermCounts::iterator, bool> TermCounts::emplace(std::string_view term,
                                                          std::uint64_t count) {
  const std::uint64_t h = TermHash{}(term);
  if (std::size_t i = index_of(term, h); i != npos) {
    return {begin() + static_cast<std::ptrdiff_t>(i), false};
  }
  const std::size_t i = insert_new(term, h, count);
  return {begin() + static_cast<std::ptrdiff_t>(i), true};
}

bool operator==(const TermCounts& a, const TermCounts& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::size_t j = b.index_of(a.entries_[i].first, TermHash{}(a.entries_[i].first));
    if (j == TermCounts::npos || b.entries_[j].second != a.entries_[i].second) return false;
  }
  return true;
}

// ---- PartitionAggregator ----------------------------------------------------------------------

namespace {
std::uint64_t next_aggregator_id() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

PartitionAggregator::PartitionAggregator(std::string topic, std::int32_t partition,
                                         const WindowConfig& config, ChangelogKeys keys)
    : topic_(std::move(topic)),
      partition_(partition),
      config_(config),
      keys_(std::move(keys)),
      id_(next_aggregator_id()) {
  if (config_.size_ms <= 0) config_.size_ms = 1;
  if (config_.grace_ms < 0) config_.grace_ms = 0;
  if (config_.idle_ms < 0) config_.idle_ms = 0;
  if (config_.max_terms == 0) config_.max_terms = 1;
}

void PartitionAggregator::restore_window(Millis start, Partial partial, LogPosition position) {
  Slot& slot = windows_[start];
  slot.partial = std::move(partial);
  slot.version = ++changes_;
  slot.drop_low();
  slot.log = position;
  slot.evicted.clear();
  if (position.legacy) {
    if (slot.partial.closed) truncate_terms(slot.partial, config_.effective_closed_terms());
    slot.snapshot_due = true;
    mark_dirty(start, slot);
    slot.logged.clear();
  } else if (slot.partial.closed) {
    slot.logged_freed = true;  // a term change (a reopen) is written as a snapshot
    slot.logged.clear();
  } else {
    slot.logged.resize(slot.partial.terms.size());
    for (std::size_t i = 0; i < slot.logged.size(); ++i)
      slot.logged[i] = slot.partial.terms.entry(i).second;
  }
}

void PartitionAggregator::restore_state(PartitionState state, bool legacy) {
  state_ = std::move(state);
  legacy_state_ = legacy;
  if (legacy) state_dirty_ = true;
}

const LogPosition* PartitionAggregator::log_position(Millis start) const {
  auto it = windows_.find(start);
  return it == windows_.end() ? nullptr : &it->second.log;
}

PartitionAggregator::Slot& PartitionAggregator::slot_for(Millis start) {
  return windows_.try_emplace(start).first->second;
}

void PartitionAggregator::mark_dirty(Millis start, Slot& slot) {
  slot.version = ++changes_;  // every change of a partial comes here (snapshot's sharing)
  if (!slot.dirty) {
    slot.dirty = true;
    dirty_.push_back(start);
  }
}

PartitionAggregator::Outcome PartitionAggregator::add(Millis event_time, std::string_view text) {
  ++state_.consumed;
  state_dirty_ = true;
  if (event_time > state_.stream_time) state_.stream_time = event_time;
  const Millis start = window_start(event_time, config_.size_ms);
  if (sat_add(sat_add(start, config_.size_ms), config_.grace_ms) <= state_.stream_time) {
    ++state_.late;
    if (auto it = windows_.find(start); it != windows_.end()) {
      ++it->second.partial.late;
      mark_dirty(start, it->second);
    }
    return Outcome::late;
  }
  Slot& slot = slot_for(start);
  slot.partial.closed = false;  // reopens a window the wall-clock fallback closed
  ++slot.partial.count;
  slot.terms_changed = true;
  mark_dirty(start, slot);
  const std::size_t max_term_bytes = config_.max_term_bytes;
  for_each_term(text, [&](std::string_view term) {
    if (term.size() > max_term_bytes) {
      ++state_.long_terms;
      return;
    }
    add_term(slot, term);
  });
  return Outcome::counted;
}

void PartitionAggregator::add_term(Slot& slot, std::string_view term) {
  TermCounts& terms = slot.partial.terms;
  const std::uint64_t h = TermHash{}(term);
  if (std::size_t i = terms.index_of(term, h); i != TermCounts::npos) {
    ++terms.entry(i).second;
  } else if (terms.size() < config_.max_terms) {
    terms.insert_new(term, h, 1);
  } else {
    evict_and_insert(slot, term, h);
  }
}

void PartitionAggregator::refill_low(Slot& slot) {
  const TermCounts& terms = slot.partial.terms;
  std::vector<std::uint64_t> counts;
  counts.reserve(terms.size());
  for (const auto& e : terms) counts.push_back(e.second);
  const std::size_t k = std::max<std::size_t>(1, counts.size() / 4);
  std::nth_element(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(k - 1),
                   counts.end());
  slot.low_base =
      *std::min_element(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(k));
  slot.low_limit = std::min(counts[k - 1], slot.low_base + (Slot::kLowBuckets - 1));
  const std::size_t buckets = static_cast<std::size_t>(slot.low_limit - slot.low_base) + 1;
  for (auto& bucket : slot.low_buckets) bucket.clear();  // keeps their capacity
  slot.low_buckets.resize(buckets);
  slot.low_cursor = 0;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    const std::uint64_t c = terms.entry(i).second;
    if (c <= slot.low_limit) {
      slot.low_buckets[c - slot.low_base].push_back(static_cast<std::uint32_t>(i));
    }
  }
}

// Space-Saving: `term` (not kept; `hash` its hash) replaces a term with the minimum count m and
// gets m + 1.
void PartitionAggregator::evict_and_insert(Slot& slot, std::string_view term,
                                           std::uint64_t hash) {
  TermCounts& terms = slot.partial.terms;
  auto file = [&slot](std::uint64_t count, std::uint32_t i) {
    if (count <= slot.low_limit) slot.low_buckets[count - slot.low_base].push_back(i);
  };
  for (;;) {
    while (slot.low_cursor < slot.low_buckets.size() && slot.low_buckets[slot.low_cursor].empty()) {
      ++slot.low_cursor;
    }
    if (slot.low_cursor == slot.low_buckets.size()) {
      refill_low(slot);
      continue;
    }
    auto& bucket = slot.low_buckets[slot.low_cursor];
    const std::uint32_t i = bucket.back();
    bucket.pop_back();
    const std::uint64_t filed = slot.low_base + slot.low_cursor;
    const std::uint64_t m = terms.entry(i).second;
    if (m == filed) {
      // A term the changelog holds leaves the partial: the next delta says so. logged[i] = 0
      // then says that entry i's new term is not in the changelog, so each slot adds at most
      // one term (the one written at the last commit) to `evicted` per commit: no duplicates.
      if (i < slot.logged.size() && slot.logged[i] != 0) {
        slot.evicted.push_back(terms.entry(i).first);
        slot.logged[i] = 0;
      }
      terms.rekey(i, term, hash, m + 1);
      slot.partial.term_error = std::max(slot.partial.term_error, m);
      file(m + 1, i);
      return;
    }
    file(m, i);  // counted again since: filed again under its current count
  }
}

void truncate_terms(Partial& p, std::size_t keep) {
  if (p.terms.size() <= keep) return;
  p = top_terms_of(p, keep);
}

Partial top_terms_of(const Partial& p, std::size_t keep) {
  if (p.terms.size() <= keep) return p;
  Partial out;
  out.count = p.count;
  out.term_error = p.term_error;
  out.closed = p.closed;
  out.late = p.late;
  std::vector<const TermCounts::value_type*> order;
  order.reserve(p.terms.size());
  for (const auto& e : p.terms) order.push_back(&e);
  auto before = [](const auto* a, const auto* b) {
    return a->second != b->second ? a->second > b->second : a->first < b->first;
  };
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                   before);
  std::uint64_t dropped_max = 0;
  for (std::size_t i = keep; i < order.size(); ++i) dropped_max = std::max(dropped_max, order[i]->second);
  out.terms.reserve(keep);
  for (std::size_t i = 0; i < keep; ++i) out.terms.emplace(order[i]->first, order[i]->second);
  out.term_error = std::max(out.term_error, dropped_max);
  return out;
}

void PartitionAggregator::set_max_terms(std::size_t max_terms) {
  config_.max_terms = std::max<std::size_t>(max_terms, 1);
  for (auto& [start, slot] : windows_) {
    if (slot.partial.terms.size() <= config_.max_terms) continue;
    truncate_terms(slot.partial, config_.max_terms);
    slot.drop_low();
    std::vector<std::uint64_t>().swap(slot.logged);  // entry numbers changed
    std::vector<std::string>().swap(slot.evicted);
    slot.snapshot_due = true;
    mark_dirty(start, slot);
  }
}

void PartitionAggregator::add_malformed(Malformed reason) {
  ++state_.consumed;
  ++state_.malformed[std::string(malformed_name(reason))];
  state_dirty_ = true;
}

std::vector<Millis> PartitionAggregator::close_due(Millis wall_now) {
  std::vector<Millis> closed;
  const bool idle = wall_now >= sat_add(last_active_, config_.idle_ms);
  for (auto& [start, slot] : windows_) {
    const Millis due = sat_add(sat_add(start, config_.size_ms), config_.grace_ms);
    // Later windows are due later: stop at the first one not due.
    if (state_.stream_time < due && !(idle && wall_now >= sat_add(due, config_.idle_ms))) break;
    if (slot.partial.closed) continue;
    slot.partial.closed = true;
    slot.drop_low();  // closed windows rarely change (refilled if one reopens)
    truncate_terms(slot.partial, config_.effective_closed_terms());
    std::vector<std::uint64_t>().swap(slot.logged);  // entry numbers changed: the next write
    std::vector<std::string>().swap(slot.evicted);   // is a snapshot anyway
    slot.snapshot_due = true;  // one record to restore from, the deltas tombstoned
    mark_dirty(start, slot);
    closed.push_back(start);
  }
  return closed;
}

std::vector<Millis> PartitionAggregator::expire(Millis before) {
  std::vector<Millis> expired;
  auto it = windows_.begin();
  while (it != windows_.end() && sat_add(it->first, config_.size_ms) <= before) {
    expired.push_back(it->first);
    const Slot& slot = it->second;
    state_.expired += slot.partial.count;  // accounted for, never silently gone
    state_dirty_ = true;
    if (slot.log.gen > 0) pending_tombstones_.push_back(keys_.snapshot(topic_, partition_, it->first));
    for (std::uint64_t seq = 0; seq < slot.log.next_seq; ++seq)
      pending_tombstones_.push_back(keys_.delta(topic_, partition_, it->first, seq));
    if (slot.log.legacy) pending_tombstones_.push_back(legacy_window_key(topic_, partition_, it->first));
    it = windows_.erase(it);
  }
  return expired;
}

std::vector<Millis> PartitionAggregator::take_dirty_windows() {
  std::vector<Millis> out;
  out.reserve(dirty_.size());
  for (Millis start : dirty_) {
    auto it = windows_.find(start);
    if (it != windows_.end() && it->second.dirty) {
      it->second.dirty = false;
      out.push_back(start);
    }
  }
  dirty_.clear();
  std::sort(out.begin(), out.end());
  return out;
}

bool PartitionAggregator::take_state_dirty() { return std::exchange(state_dirty_, false); }

void PartitionAggregator::take_changelog(std::vector<ChangelogRecord>& out) {
  for (auto& key : pending_tombstones_) out.push_back({std::move(key), std::nullopt});
  pending_tombstones_.clear();
  for (Millis start : take_dirty_windows()) write_window(start, windows_.find(start)->second, out);
  if (take_state_dirty()) {
    out.push_back({keys_.state(topic_, partition_), encode_state_v2(state_)});
    if (legacy_state_) {
      out.push_back({legacy_state_key(topic_, partition_), std::nullopt});
      legacy_state_ = false;
    }
  }
}

void PartitionAggregator::write_window(Millis start, Slot& slot,
                                       std::vector<ChangelogRecord>& out) {
  const TermCounts& terms = slot.partial.terms;
  std::string value;
  bool snapshot = slot.snapshot_due || (slot.logged_freed && slot.terms_changed);
  if (!snapshot) {
    // The terms whose counts changed (none when only the header did: a late count).
    std::vector<std::pair<std::string_view, std::uint64_t>> changed;
    if (!slot.logged_freed) {
      for (std::size_t i = 0; i < terms.size(); ++i) {
        const auto& [term, count] = terms.entry(i);
        if (i >= slot.logged.size() || slot.logged[i] != count) changed.emplace_back(term, count);
      }
      // Distinct (see evict_and_insert); one evicted and counted again since is not gone.
      for (const auto& term : slot.evicted)
        if (!terms.contains(term)) changed.emplace_back(term, 0);
    }
    value = encode_delta(slot.log.gen, slot.log.next_seq, slot.partial, changed);
    if (slot.log.delta_bytes + value.size() > std::max(slot.log.snapshot_bytes, kDeltaBudgetBytes))
      snapshot = true;
  }
  slot.terms_changed = false;
  if (snapshot) {
    const std::uint64_t gen = slot.log.gen + 1;
    value = encode_snapshot(gen, slot.partial);
    const std::size_t bytes = value.size();
    out.push_back({keys_.snapshot(topic_, partition_, start), std::move(value)});
    for (std::uint64_t seq = 0; seq < slot.log.next_seq; ++seq)
      out.push_back({keys_.delta(topic_, partition_, start, seq), std::nullopt});
    if (slot.log.legacy) out.push_back({legacy_window_key(topic_, partition_, start), std::nullopt});
    slot.log = LogPosition{gen, 0, bytes, 0, false};
    slot.snapshot_due = false;
  } else {
    slot.log.delta_bytes += value.size();
    out.push_back({keys_.delta(topic_, partition_, start, slot.log.next_seq), std::move(value)});
    ++slot.log.next_seq;
  }
  slot.evicted.clear();
  if (slot.partial.closed) {
    // A closed window's terms change again only if it reopens, and that is written as a
    // snapshot: its bookkeeping is not worth its memory.
    std::vector<std::uint64_t>().swap(slot.logged);
    std::vector<std::string>().swap(slot.evicted);
    slot.logged_freed = true;
    return;
  }
  slot.logged_freed = false;
  slot.logged.resize(terms.size());
  for (std::size_t i = 0; i < terms.size(); ++i) slot.logged[i] = terms.entry(i).second;
}

std::shared_ptr<const AggregatorSnapshot> PartitionAggregator::snapshot(
    const AggregatorSnapshot* previous) const {
  auto out = std::make_shared<AggregatorSnapshot>();
  out->topic = topic_;
  out->partition = partition_;
  out->source = id_;
  out->state = state_;
  const bool same_source = previous != nullptr && previous->source == id_;
  for (const auto& [start, slot] : windows_) {
    AggregatorSnapshot::Window w{slot.version, nullptr};
    if (same_source) {
      auto it = previous->windows.find(start);
      if (it != previous->windows.end() && it->second.version == slot.version) w.partial = it->second.partial;
    }
    if (!w.partial) {
      w.partial = std::make_shared<const Partial>(
          top_terms_of(slot.partial, config_.effective_closed_terms()));
    }
    out->windows.emplace_hint(out->windows.end(), start, std::move(w));
  }
  return out;
}

const Partial* PartitionAggregator::window(Millis start) const {
  auto it = windows_.find(start);
  return it == windows_.end() ? nullptr : &it->second.partial;
}

std::string output_key(std::string_view topic, Millis start, std::int32_t partition) {
  std::string key(topic);
  key += '|';
  key += std::to_string(start);
  key += '|';
  key += std::to_string(partition);
  return key;
}

namespace {

// `s` as a JSON string, as dump() writes it. Terms are lowercase words: the common case needs
// no escaping and is copied; any other byte (quote, backslash, control, non-ASCII) goes
// through nlohmann's escaping and invalid-UTF-8 replacement.
void append_json_string(std::string& out, std::string_view s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
  });
  if (!plain) {
    out += dump(json(std::string(s)));
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

// The terms as a JSON object with sorted keys, byte for byte what dump() of a json object
// (a std::map) writes, at a fraction of the cost: 10,000 terms took 6.7 ms through json,
// once per closing window and partition on the processor thread (bench/views_bench.cc).
void append_terms_object(std::string& out, const TermCounts& terms) {
  std::vector<const TermCounts::value_type*> sorted;
  sorted.reserve(terms.size());
  for (const auto& e : terms) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  out.reserve(out.size() + terms.size() * 16 + 2);
  out += '{';
  char digits[24];
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, sorted[i]->first);
    out += ':';
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, sorted[i]->second);
    (void)ec;  // 24 chars hold any uint64
    out.append(digits, end);
  }
  out += '}';
}

}  // namespace

std::string encode_output(std::string_view topic, std::int32_t partition, Millis start,
                          const Partial& p, const WindowConfig& config, bool all_terms,
                          std::string_view group) {
  ordered_json head = ordered_json::object();
  if (!group.empty()) head["group"] = std::string(group);
  head["topic"] = std::string(topic);
  head["partition"] = partition;
  head["start"] = start;
  head["end"] = sat_add(start, config.size_ms);
  head["count"] = p.count;
  ordered_json& top = head["top"] = ordered_json::array();
  for (auto& tc : top_terms(p.terms, config.top_k)) {
    ordered_json e = ordered_json::object();
    e["term"] = std::move(tc.term);
    e["count"] = tc.count;
    top.push_back(std::move(e));
  }
  std::string out = dump(head);
  out.pop_back();  // '}'
  if (all_terms) {
    out += ",\"terms\":";
    append_terms_object(out, p.terms);
  }
  out += ",\"term_error\":";
  out += std::to_string(p.term_error);
  out += ",\"late\":";
  out += std::to_string(p.late);
  out += '}';
  return out;
}

std::size_t output_value_bound(const WindowConfig& config, bool all_terms) {
  // The head: group (a consumer group id is at most 255 bytes here: 6x escaped), topic (249),
  // numbers; per term: {"term":"...","count":N}, with every byte escaped as \u00XX.
  const std::size_t term = 6 * config.max_term_bytes + 40;
  std::size_t bound = 2 * 1024 + 6 * 255 + 6 * 249 + config.top_k * term;
  if (all_terms) bound += config.max_terms * term;
  return bound;
}

Malformed event_time_problem(Millis event_time, Millis wall_now, Millis max_future_ms) {
  if (event_time < 0) return Malformed::bad_time;
  if (event_time > sat_add(wall_now, max_future_ms)) return Malformed::future_time;
  return Malformed::none;
}

// ---- ViewStore --------------------------------------------------------------------------------

namespace {

bool is_final(Millis start, Millis min_stream, Millis wall_now, const WindowConfig& config) {
  const Millis due = sat_add(sat_add(start, config.size_ms), config.grace_ms);
  return min_stream >= due || wall_now >= sat_add(due, config.idle_ms);
}


// Calls f(term, count) for each term of a stored window as of its latest record: the
// snapshot's terms with each delta's changes applied in order (count 0 removes a term).
template <class F>
void for_each_current_term(std::string_view snapshot, const std::vector<std::string>& deltas,
                           F&& f) {
  if (deltas.empty()) {
    codec::for_each_entry(snapshot, f);
    return;
  }
  std::unordered_map<std::string_view, std::uint64_t, TermHash> terms;
  codec::for_each_entry(snapshot, [&](std::string_view t, std::uint64_t c) { terms[t] = c; });
  for (const auto& d : deltas) {
    codec::for_each_entry(d, [&](std::string_view t, std::uint64_t c) {
      if (c == 0) {
        terms.erase(t);
      } else {
        terms[t] = c;
      }
    });
  }
  for (const auto& [t, c] : terms) f(t, c);
}

// Cuts a top list of k + 1 candidates to k and sets each term's error bound and guarantee
// (views.h, TermCount).
void finish_top(std::vector<TermCount>& top, std::size_t k, std::uint64_t error) {
  const bool has_next = top.size() > k;
  const std::uint64_t next_upper = has_next ? top[k].count + error : error;
  if (has_next) top.resize(k);
  for (auto& t : top) {
    t.error = error;
    t.guaranteed = t.count >= error && t.count - error > next_upper;
  }
}

}  // namespace

// ---- Live snapshots -------------------------------------------------------------------------

namespace {
std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

bool LiveSnapshotCache::may_copy() const {
  return steady_ns() >= next_copy_ns_.load(std::memory_order_relaxed);
}

void LiveSnapshotCache::changed(const std::function<Aggregators()>& aggs) {
  version_.fetch_add(1, std::memory_order_release);
  if (!wanted_.load(std::memory_order_acquire) || !may_copy()) return;
  wanted_.store(false, std::memory_order_relaxed);
  publish(aggs());
}

void LiveSnapshotCache::publish(const Aggregators& aggs) const {
  // The owner's lock is held: version_ and the aggregators stay as they are meanwhile.
  const std::uint64_t version = version_.load(std::memory_order_acquire);
  std::shared_ptr<const LiveSnapshot> previous;
  {
    std::lock_guard lock(mu_);
    if (latest_version_ == version) return;  // made by another reader meanwhile
    previous = latest_;
  }
  const std::int64_t copy_start = steady_ns();
  std::map<std::uint64_t, const AggregatorSnapshot*> by_source;
  for (const auto& s : *previous) by_source[s->source] = s.get();
  auto next = std::make_shared<LiveSnapshot>();
  next->reserve(aggs.size());
  for (const PartitionAggregator* agg : aggs) {
    auto it = by_source.find(agg->id());
    next->push_back(agg->snapshot(it == by_source.end() ? nullptr : it->second));
  }
  const std::int64_t copy_end = steady_ns();
  next_copy_ns_.store(copy_end + kCopySpacing * (copy_end - copy_start),
                      std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    latest_ = std::move(next);
    latest_version_ = version;
  }
  published_.fetch_add(1, std::memory_order_relaxed);
  published_cv_.notify_all();
}

std::shared_ptr<const LiveSnapshot> LiveSnapshotCache::read(
    std::mutex& owner_mu, const std::function<Aggregators()>& aggs,
    std::chrono::milliseconds timeout) const {
  // Every change noted before this call; later ones may or may not be in the answer.
  const std::uint64_t wanted_version = version_.load(std::memory_order_acquire);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (latest_version_ >= wanted_version) return latest_;
    }
    if (may_copy()) {
      std::unique_lock owner(owner_mu, std::try_to_lock);
      if (owner.owns_lock()) {
        publish(aggs());
        std::lock_guard lock(mu_);
        return latest_;
      }
    }
    // The owner is in a batch, or the last copy was too recent: ask for a snapshot at the
    // end of a batch. Waits in short slices, and tries again: the owner may be idle.
    wanted_.store(true, std::memory_order_release);
    std::unique_lock lock(mu_);
    if (std::chrono::steady_clock::now() >= deadline) return latest_;
    published_cv_.wait_for(lock, std::chrono::milliseconds(2),
                           [&] { return latest_version_ >= wanted_version; });
    if (latest_version_ >= wanted_version) return latest_;
  }
}

ViewStore::ViewStore(WindowConfig config, std::string group)
    : config_(config), group_(std::move(group)) {
  if (config_.size_ms <= 0) config_.size_ms = 1;
}

std::uint64_t ViewStore::foreign_records() const {
  std::lock_guard lock(mu_);
  return foreign_;
}

Status ViewStore::apply(std::string_view key, std::optional<std::string_view> value) {
  SL_ASSIGN_OR_RETURN(ChangelogKey k, parse_changelog_key(key));
  if (!k.legacy() && k.group != group_) {
    std::lock_guard lock(mu_);
    ++foreign_;
    return {};
  }
  // Decoded before taking the lock: readers wait only for the map update.
  std::optional<WindowValue> window;
  std::optional<PartitionState> state;
  if (value) {
    if (k.is_window()) {
      auto d = decode_window_value(k.kind, *value);
      if (!d) {
        d.error().where = std::string(key);
        return std::unexpected(std::move(d.error()));
      }
      window = std::move(*d);
    } else {
      auto d = decode_state(*value);
      if (!d) {
        d.error().where = std::string(key);
        return std::unexpected(std::move(d.error()));
      }
      state = std::move(*d);
    }
  }
  std::lock_guard lock(mu_);
  if (!value) {
    auto t = partitions_.find(k.topic);
    if (t == partitions_.end()) return {};
    auto p = t->second.find(k.partition);
    if (p == t->second.end()) return {};
    PartitionData& data = p->second;
    if (k.legacy() && data.v2) return {};
    if (k.kind == RecordKind::delta) return {};  // a superseded delta's key: nothing to drop
    if (k.is_window()) {
      data.windows.erase(k.start);
    } else {
      data.state.reset();
    }
    if (data.windows.empty() && !data.state) t->second.erase(p);
    if (t->second.empty()) partitions_.erase(t);
    return {};
  }
  PartitionData& data = partitions_[k.topic][k.partition];
  if (k.legacy()) {
    if (data.v2) return {};  // format 2 state supersedes format 1 records
  } else if (!data.v2) {
    // The first format 2 record of this partition: whatever format 1 held is rewritten in
    // the same transaction (adopted), so it is dropped here.
    data.windows.clear();
    data.state.reset();
    data.v2 = true;
  }
  if (state) {
    data.state = std::move(*state);
    data.legacy_state = k.legacy();
    return {};
  }
  WindowValue& w = *window;
  if (k.kind != RecordKind::delta) {
    StoredPartial& sp = data.windows[k.start];
    sp = StoredPartial{};
    sp.count = w.count;
    sp.term_error = w.term_error;
    sp.closed = w.closed;
    sp.late = w.late;
    sp.gen = w.gen;
    sp.term_count = w.term_count;
    sp.terms = std::move(w.terms);
    sp.snapshot_bytes = value->size();
    sp.legacy = k.legacy();
    return {};
  }
  auto it = data.windows.find(k.start);
  if (it == data.windows.end()) {
    if (w.gen != 0 || w.seq != 0 || k.seq != 0) {
      return fail(ErrorKind::invalid_data,
                  "changelog delta " + std::to_string(w.seq) + " of generation " +
                      std::to_string(w.gen) + " without its window's earlier records",
                  std::string(key), "skipped; the changelog was written by another writer or cut");
    }
    it = data.windows.emplace(k.start, StoredPartial{}).first;
  } else if (it->second.gen != w.gen || it->second.deltas.size() != w.seq || k.seq != w.seq) {
    return fail(ErrorKind::invalid_data,
                "changelog delta " + std::to_string(w.seq) + " of generation " +
                    std::to_string(w.gen) + " does not follow generation " +
                    std::to_string(it->second.gen) + " with " +
                    std::to_string(it->second.deltas.size()) + " deltas",
                std::string(key), "skipped; the changelog was written by another writer or cut");
  }
  StoredPartial& sp = it->second;
  sp.count = w.count;
  sp.term_error = w.term_error;
  sp.closed = w.closed;
  sp.late = w.late;
  sp.delta_bytes += value->size();
  sp.deltas.push_back(std::move(w.terms));
  return {};
}

bool ViewStore::restore_into(PartitionAggregator& agg) const {
  std::lock_guard lock(mu_);
  auto t = partitions_.find(agg.topic());
  if (t == partitions_.end()) return false;
  auto p = t->second.find(agg.partition());
  if (p == t->second.end()) return false;
  const PartitionData& data = p->second;
  for (const auto& [start, stored] : data.windows) {
    Partial partial;
    partial.count = stored.count;
    partial.term_error = stored.term_error;
    partial.closed = stored.closed;
    partial.late = stored.late;
    partial.terms.reserve(static_cast<std::size_t>(stored.term_count));
    for_each_current_term(stored.terms, stored.deltas, [&](std::string_view term, std::uint64_t count) {
      partial.terms.emplace(term, count);
    });
    LogPosition position{stored.gen, stored.deltas.size(), stored.snapshot_bytes,
                         stored.delta_bytes, stored.legacy};
    agg.restore_window(start, std::move(partial), position);
  }
  if (data.state) agg.restore_state(*data.state, data.legacy_state);
  return data.state.has_value();
}

void ViewStore::read(const std::function<void(const Live&)>& f) const {
  // Taken before the store's lock: the owner of the live aggregators may be waiting for it
  // (restore_into) while a reader waits for the owner's snapshot.
  static const Live kNone;
  std::shared_ptr<const Live> live;
  if (live_ != nullptr) live = live_->live_snapshot();
  std::lock_guard lock(mu_);
  f(live ? *live : kNone);
}

ViewStore::TopicSources ViewStore::collect(const std::string& topic, std::optional<Millis> from,
                                           std::optional<Millis> to, const Live& live) const {
  TopicSources out;
  std::set<std::int32_t> live_partitions;
  for (const auto& agg : live) {
    if (agg->topic != topic) continue;
    live_partitions.insert(agg->partition);
    out.partitions.insert(agg->partition);
    out.states[agg->partition] = &agg->state;
    auto it = from ? agg->windows.lower_bound(*from) : agg->windows.begin();
    for (; it != agg->windows.end() && (!to || it->first < *to); ++it) {
      const Partial& p = *it->second.partial;
      WindowParts& parts = out.windows[it->first];
      parts.count += p.count;
      parts.live.push_back(&p);
    }
  }
  auto t = partitions_.find(topic);
  if (t == partitions_.end()) return out;
  for (const auto& [partition, data] : t->second) {
    if (live_partitions.count(partition)) continue;
    out.partitions.insert(partition);
    if (data.state) out.states[partition] = &*data.state;
    const auto& starts = data.windows;
    auto it = from ? starts.lower_bound(*from) : starts.begin();
    for (; it != starts.end() && (!to || it->first < *to); ++it) {
      WindowParts& parts = out.windows[it->first];
      parts.count += it->second.count;
      parts.stored.push_back(&it->second);
    }
  }
  return out;
}

std::set<std::string> ViewStore::topics(const Live& live) const {
  std::set<std::string> out;
  for (const auto& [topic, _] : partitions_) out.insert(topic);
  for (const auto& agg : live) out.insert(agg->topic);
  return out;
}

// Stream time is per partition: a window is final only when the partition that is furthest
// behind has passed its end + grace (otherwise that partition could still add to it).
Millis ViewStore::min_stream_time(const TopicSources& sources) const {
  if (sources.states.empty()) return kMinMillis;
  Millis min = kMaxMillis;
  for (const auto& [partition, s] : sources.states) min = std::min(min, s->stream_time);
  return min;
}

std::optional<TopicView> ViewStore::view(const std::string& topic, std::optional<Millis> from,
                                         std::optional<Millis> to, Millis wall_now) const {
  std::optional<TopicView> out;
  const std::size_t k = config_.top_k;
  read([&](const Live& live) {
    const TopicSources sources = collect(topic, from, to, live);
    if (sources.partitions.empty()) return;
    TopicView& v = out.emplace();
    v.topic = topic;
    v.window_ms = config_.size_ms;
    for (const auto& [partition, s] : sources.states) v.late += s->late;
    const Millis min_stream = min_stream_time(sources);
    v.windows.reserve(sources.windows.size());
    for (const auto& [start, parts] : sources.windows) {
      WindowView w;
      w.start = start;
      w.end = sat_add(start, config_.size_ms);
      w.final = is_final(start, min_stream, wall_now, config_);
      w.count = parts.count;
      for (const StoredPartial* p : parts.stored) {
        w.term_error += p->term_error;
        w.late += p->late;
      }
      for (const Partial* p : parts.live) {
        w.term_error += p->term_error;
        w.late += p->late;
      }
      if (parts.stored.size() == 1 && parts.live.empty()) {
        std::vector<std::pair<std::string_view, std::uint64_t>> terms;
        terms.reserve(static_cast<std::size_t>(parts.stored[0]->term_count));
        for_each_current_term(parts.stored[0]->terms, parts.stored[0]->deltas,
                              [&](std::string_view term, std::uint64_t count) {
                                terms.emplace_back(term, count);
                              });
        w.top = top_terms(terms, k + 1);
      } else if (parts.stored.empty() && parts.live.size() == 1) {
        w.top = top_terms(parts.live[0]->terms, k + 1);
      } else {
        std::unordered_map<std::string_view, std::uint64_t, TermHash> sums;
        std::size_t largest = 0;
        for (const StoredPartial* p : parts.stored)
          largest = std::max(largest, static_cast<std::size_t>(p->term_count));
        for (const Partial* p : parts.live) largest = std::max(largest, p->terms.size());
        sums.reserve(largest * 2);
        for (const StoredPartial* p : parts.stored)
          for_each_current_term(p->terms, p->deltas, [&](std::string_view term, std::uint64_t count) {
            sums[term] += count;
          });
        for (const Partial* p : parts.live)
          for (const auto& [term, count] : p->terms) sums[term] += count;
        w.top = top_terms(sums, k + 1);
      }
      finish_top(w.top, k, w.term_error);
      v.windows.push_back(std::move(w));
    }
  });
  return out;
}

std::vector<TopicTotals> ViewStore::totals() const {
  std::vector<TopicTotals> out;
  read([&](const Live& live) {
    for (const auto& topic : topics(live)) {
      const TopicSources sources = collect(topic, std::nullopt, std::nullopt, live);
      TopicTotals t;
      t.topic = topic;
      for (const auto& [start, parts] : sources.windows) t.count += parts.count;
      for (const auto& [partition, s] : sources.states) {
        t.late += s->late;
        t.expired += s->expired;
        t.consumed += s->consumed;
        t.long_terms += s->long_terms;
        for (const auto& [reason, n] : s->malformed) t.malformed[reason] += n;
      }
      t.windows = sources.windows.size();
      t.partitions = sources.partitions.size();
      out.push_back(std::move(t));
    }
  });
  return out;
}

std::size_t ViewStore::open_windows(Millis wall_now) const {
  std::size_t open = 0;
  read([&](const Live& live) {
    for (const auto& topic : topics(live)) {
      const TopicSources sources = collect(topic, std::nullopt, std::nullopt, live);
      const Millis min_stream = min_stream_time(sources);
      for (const auto& [start, parts] : sources.windows)
        if (!is_final(start, min_stream, wall_now, config_)) ++open;
    }
  });
  return open;
}

std::size_t ViewStore::expire_before(Millis before) {
  std::lock_guard lock(mu_);
  std::size_t dropped = 0;
  for (auto& [topic, partitions] : partitions_) {
    for (auto& [partition, data] : partitions) {
      auto& starts = data.windows;
      auto w = starts.begin();
      while (w != starts.end() && sat_add(w->first, config_.size_ms) <= before) {
        w = starts.erase(w);
        ++dropped;
      }
    }
  }
  return dropped;
}

// ---- HTTP bodies ------------------------------------------------------------------------------

std::string to_json(const TopicView& view) {
  ordered_json j = ordered_json::object();
  j["topic"] = view.topic;
  j["window_ms"] = view.window_ms;
  j["late"] = view.late;
  ordered_json& windows = j["windows"] = ordered_json::array();
  for (const auto& w : view.windows) {
    ordered_json wj = ordered_json::object();
    wj["start"] = w.start;
    wj["end"] = w.end;
    wj["count"] = w.count;
    wj["final"] = w.final;
    wj["late"] = w.late;
    wj["term_error"] = w.term_error;
    ordered_json& top = wj["top"] = ordered_json::array();
    for (const auto& tc : w.top) {
      ordered_json e = ordered_json::object();
      e["term"] = tc.term;
      e["count"] = tc.count;
      e["error"] = tc.error;
      e["guaranteed"] = tc.guaranteed;
      top.push_back(std::move(e));
    }
    windows.push_back(std::move(wj));
  }
  return dump(j);
}

std::string to_json(const std::vector<TopicTotals>& totals) {
  ordered_json j = ordered_json::object();
  ordered_json& topics = j["topics"] = ordered_json::array();
  for (const auto& t : totals) {
    ordered_json e = ordered_json::object();
    e["topic"] = t.topic;
    e["count"] = t.count;
    e["late"] = t.late;
    e["expired"] = t.expired;
    e["consumed"] = t.consumed;
    e["long_terms"] = t.long_terms;
    e["windows"] = t.windows;
    e["partitions"] = t.partitions;
    ordered_json& malformed = e["malformed"] = ordered_json::object();
    for (const auto& [reason, n] : t.malformed) malformed[reason] = n;
    topics.push_back(std::move(e));
  }
  return dump(j);
}

}  // namespace speedlayer::views
