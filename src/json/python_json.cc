#include "json/python_json.h"

#include <array>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace speedlayer::json {
namespace {

constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHigh = 0x8080808080808080ull;

inline std::uint64_t load8(const unsigned char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// Non-zero iff some byte of w is zero (exact as an "any" test).
constexpr std::uint64_t has_zero_byte(std::uint64_t w) {
  return (w - kOnes) & ~w & kHigh;
}

// Non-zero iff some byte of w needs escaping in ensure_ascii output: < 0x20, '"', '\\', >= 0x7f.
constexpr std::uint64_t needs_escape8(std::uint64_t w) {
  return ((w - kOnes * 0x20) & ~w & kHigh)    // a byte < 0x20
         | has_zero_byte(w ^ (kOnes * '"'))   // a '"'
         | has_zero_byte(w ^ (kOnes * '\\'))  // a '\\'
         | (((w + kOnes) | w) & kHigh);       // a byte >= 0x7f
}

// true for bytes json.dumps copies unchanged: ' '..'~' except '"' and '\\'.
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c <= 0x7e; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

// First byte in [p, end) that json.dumps escapes, or end. `begin` (<= p) bounds the overlapping
// reads used for the tail of the SSE2 path.
inline const unsigned char* skip_plain(const unsigned char* begin, const unsigned char* p,
                                       const unsigned char* end) {
#if defined(__SSE2__)
  const __m128i below = _mm_set1_epi8(0x20);  // signed compare: also catches bytes >= 0x80
  const __m128i del = _mm_set1_epi8(0x7f);
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  auto escape_mask = [&](const unsigned char* at) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    const __m128i bad =
        _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, below), _mm_cmpeq_epi8(v, del)),
                     _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    return static_cast<unsigned>(_mm_movemask_epi8(bad));
  };
  for (; end - p >= 16; p += 16) {
    if (unsigned m = escape_mask(p)) return p + __builtin_ctz(m);
  }
  if (p == end) return end;
  if (end - begin >= 16) {  // re-read the last 16 bytes; ignore the lanes already checked
    const unsigned checked = static_cast<unsigned>(16 - (end - p));
    const unsigned m = escape_mask(end - 16) >> checked;
    return m ? p + __builtin_ctz(m) : end;
  }
#else
  (void)begin;
#endif
  while (end - p >= 8 && needs_escape8(load8(p)) == 0) p += 8;
  while (p < end && kPlain[*p]) ++p;
  return p;
}

// First byte >= 0x80 in [p, end), or end.
inline const unsigned char* skip_ascii(const unsigned char* p, const unsigned char* end) {
#if defined(__SSE2__)
  for (; end - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if (unsigned m = static_cast<unsigned>(_mm_movemask_epi8(v))) return p + __builtin_ctz(m);
  }
#endif
  while (end - p >= 8 && (load8(p) & kHigh) == 0) p += 8;
  while (p < end && *p < 0x80) ++p;
  return p;
}

struct Decoded {
  char32_t cp;      // the code point, or U+FFFD when !ok
  std::size_t len;  // bytes consumed; when !ok, the length of the maximal invalid subpart (>= 1)
  bool ok;
};

inline bool is_cont(unsigned char b) {
  return (b & 0xC0) == 0x80;
}

// Decodes the sequence starting at p[0] (>= 0x80); `avail` >= 1 bytes are readable.
// Follows Unicode's "maximal subpart" rule, as Python's decoder does.
inline Decoded decode_multibyte(const unsigned char* p, std::size_t avail) {
  constexpr Decoded bad1{0xFFFD, 1, false};
  const unsigned char c0 = p[0];
  if (c0 < 0xC2) return bad1;  // stray continuation byte, or overlong C0/C1 lead
  if (c0 < 0xE0) {
    if (avail < 2 || !is_cont(p[1])) return bad1;
    return {static_cast<char32_t>((c0 & 0x1Fu) << 6 | (p[1] & 0x3Fu)), 2, true};
  }
  if (c0 < 0xF0) {
    const unsigned char lo = c0 == 0xE0 ? 0xA0 : 0x80;  // E0 80..9F would be overlong
    const unsigned char hi = c0 == 0xED ? 0x9F : 0xBF;  // ED A0..BF would be a surrogate
    if (avail < 2 || p[1] < lo || p[1] > hi) return bad1;
    if (avail < 3 || !is_cont(p[2])) return {0xFFFD, 2, false};
    return {static_cast<char32_t>((c0 & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu)), 3,
            true};
  }
  if (c0 < 0xF5) {
    const unsigned char lo = c0 == 0xF0 ? 0x90 : 0x80;  // F0 80..8F would be overlong
    const unsigned char hi = c0 == 0xF4 ? 0x8F : 0xBF;  // F4 90.. would be > U+10FFFF
    if (avail < 2 || p[1] < lo || p[1] > hi) return bad1;
    if (avail < 3 || !is_cont(p[2])) return {0xFFFD, 2, false};
    if (avail < 4 || !is_cont(p[3])) return {0xFFFD, 3, false};
    return {static_cast<char32_t>((c0 & 0x07u) << 18 | (p[1] & 0x3Fu) << 12 | (p[2] & 0x3Fu) << 6 |
                                  (p[3] & 0x3Fu)),
            4, true};
  }
  return bad1;  // F5..FF: beyond U+10FFFF
}

constexpr char kHex[] = "0123456789abcdef";

inline char* put_u_escape(char* d, unsigned v) {
  d[0] = '\\';
  d[1] = 'u';
  d[2] = kHex[(v >> 12) & 0xF];
  d[3] = kHex[(v >> 8) & 0xF];
  d[4] = kHex[(v >> 4) & 0xF];
  d[5] = kHex[v & 0xF];
  return d + 6;
}

// Escapes the one character starting at p (a byte kPlain rejects); returns the bytes consumed.
inline std::size_t append_escape(const unsigned char* p, std::size_t avail, std::string& out) {
  char buf[12];
  char* d = buf;
  std::size_t used = 1;
  const unsigned char c = *p;
  if (c < 0x80) {
    char short_form = 0;
    switch (c) {
      case '"':
        short_form = '"';
        break;
      case '\\':
        short_form = '\\';
        break;
      case '\n':
        short_form = 'n';
        break;
      case '\r':
        short_form = 'r';
        break;
      case '\t':
        short_form = 't';
        break;
      case '\b':
        short_form = 'b';
        break;
      case '\f':
        short_form = 'f';
        break;
      default:
        break;
    }
    if (short_form) {
      *d++ = '\\';
      *d++ = short_form;
    } else {
      d = put_u_escape(d, c);
    }
  } else {
    const Decoded dec = decode_multibyte(p, avail);
    used = dec.len;
    if (dec.cp < 0x10000) {
      d = put_u_escape(d, dec.cp);
    } else {
      const unsigned v = dec.cp - 0x10000;
      d = put_u_escape(d, 0xD800 + (v >> 10));
      d = put_u_escape(d, 0xDC00 + (v & 0x3FF));
    }
  }
  out.append(buf, static_cast<std::size_t>(d - buf));
  return used;
}

// Keeps an error message bounded and valid UTF-8: the parser quotes what it read, which may be a
// whole line or hold invalid bytes (and a message with invalid UTF-8 makes nlohmann's dump() throw
// wherever the error is later written as JSON). Invalid subparts become U+FFFD.
std::string clean_reason(std::string_view text, std::size_t max_bytes) {
  std::string out;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    if (out.size() >= max_bytes) {
      out += "...";
      break;
    }
    if (*p < 0x20 || *p == 0x7f) {
      out.push_back('?');  // the reason quotes input: no terminal control sequence from it
      ++p;
      continue;
    }
    if (*p < 0x80) {
      out.push_back(static_cast<char>(*p++));
      continue;
    }
    const Decoded d = decode_multibyte(p, static_cast<std::size_t>(end - p));
    if (d.ok) {
      out.append(reinterpret_cast<const char*>(p), d.len);
    } else {
      out += "\xef\xbf\xbd";
    }
    p += d.len;
  }
  return out;
}

}  // namespace

std::size_t find_invalid_utf8(std::string_view bytes) {
  const auto* const begin = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* const end = begin + bytes.size();
  const unsigned char* p = begin;
  while (p < end) {
    p = skip_ascii(p, end);
    if (p == end) break;
    const Decoded d = decode_multibyte(p, static_cast<std::size_t>(end - p));
    if (!d.ok) return static_cast<std::size_t>(p - begin);
    p += d.len;
  }
  return std::string_view::npos;
}

void append_python_dumps(std::string_view utf8, std::string& out) {
  const auto* const begin = reinterpret_cast<const unsigned char*>(utf8.data());
  const auto* const end = begin + utf8.size();
  out.reserve(out.size() + utf8.size() + 2);
  out.push_back('"');
  const unsigned char* run = begin;  // start of the pending run of plain bytes
  const unsigned char* p = begin;
  for (;;) {
    p = skip_plain(begin, p, end);
    if (p == end) break;
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    p += append_escape(p, static_cast<std::size_t>(end - p), out);
    run = p;
  }
  out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
  out.push_back('"');
}

std::string python_dumps(std::string_view utf8) {
  std::string out;
  append_python_dumps(utf8, out);
  return out;
}

namespace {

// First byte in [p, end) that append_json_string does not copy as it is (< 0x20, '"', '\\',
// >= 0x80), or end.
inline const unsigned char* skip_json_plain(const unsigned char* p, const unsigned char* end) {
#if defined(__SSE2__)
  const __m128i below = _mm_set1_epi8(0x20);  // signed compare: also catches bytes >= 0x80
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  for (; end - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i stop =
        _mm_or_si128(_mm_cmplt_epi8(v, below),
                     _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    if (const auto m = static_cast<unsigned>(_mm_movemask_epi8(stop))) return p + __builtin_ctz(m);
  }
#endif
  while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') ++p;
  return p;
}

}  // namespace

bool append_json_string(std::string_view bytes, std::string& out) {
  static constexpr char kUpperHex[] = "0123456789ABCDEF";
  const auto* const begin = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* const end = begin + bytes.size();
  bool valid = true;
  out.reserve(out.size() + bytes.size() + 2);
  out.push_back('"');
  const unsigned char* run = begin;  // start of the pending run copied as it is
  const unsigned char* p = begin;
  for (;;) {
    p = skip_json_plain(p, end);
    if (p == end) break;
    if (*p >= 0x80) {
      const Decoded d = decode_multibyte(p, static_cast<std::size_t>(end - p));
      if (d.ok) {  // valid UTF-8 stays in the run
        p += d.len;
        continue;
      }
      out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
      out += "\xEF\xBF\xBD";  // U+FFFD
      valid = false;
      p += d.len;
      run = p;
      continue;
    }
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    const unsigned char c = *p++;
    run = p;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:  // another control character
        out += "\\u00";
        out.push_back(kUpperHex[c >> 4]);
        out.push_back(kUpperHex[c & 0xF]);
        break;
    }
  }
  out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
  out.push_back('"');
  return valid;
}

std::string json_string(std::string_view bytes) {
  std::string out;
  append_json_string(bytes, out);
  return out;
}

std::size_t find_excess_nesting(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // skips the escaped character, even a quote
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return i;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return std::string_view::npos;
}

namespace {
// nlohmann's exceptions carry "[json.exception.<kind>.<id>] <reason>": keep the reason.
std::string_view reason_of(std::string_view what) {
  if (auto close = what.find("] ");
      what.starts_with("[json.exception.") && close != std::string_view::npos) {
    what.remove_prefix(close + 2);
  }
  if (what.starts_with("parse error at line ")) {
    // "parse error at line 1, column 5: <reason>": the byte is reported separately.
    if (auto colon = what.find(": "); colon != std::string_view::npos)
      what.remove_prefix(colon + 2);
  }
  return what;
}
}  // namespace

std::string decode_for_display(std::string_view value) {
  if (find_excess_nesting(value) != std::string_view::npos) return std::string(value);
  try {
    nlohmann::json doc = nlohmann::json::parse(value.data(), value.data() + value.size(),
                                               /*cb=*/nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return std::string(value);
    if (doc.is_string()) return doc.get_ref<const std::string&>();
    return doc.dump();
  } catch (const std::exception&) {
    // Nothing in nlohmann's parse or dump of a bounded, validated document is known to throw;
    // whatever might is shown as the bytes it came from.
    return std::string(value);
  }
}

Result<nlohmann::json> parse_json_line(std::string_view line, std::string_view where) {
  if (auto at = find_excess_nesting(line); at != std::string_view::npos) {
    return fail(ErrorKind::invalid_data,
                "invalid JSON: nested deeper than " + std::to_string(kMaxJsonDepth) +
                    " levels at byte " + std::to_string(at + 1),
                std::string(where));
  }
  try {
    return nlohmann::json::parse(line.data(), line.data() + line.size());
  } catch (const nlohmann::json::parse_error& e) {
    std::string message = "invalid JSON: parse error at byte " + std::to_string(e.byte) + ": ";
    message += clean_reason(reason_of(e.what()), 300);
    return fail(ErrorKind::invalid_data, std::move(message), std::string(where));
  } catch (const nlohmann::json::out_of_range& e) {
    // 1e400: a number no double holds (out_of_range.406), reported by the parser's lexer.
    std::string message = "invalid JSON: number out of range: ";
    message += clean_reason(reason_of(e.what()), 300);
    return fail(ErrorKind::invalid_data, std::move(message), std::string(where));
  } catch (const std::exception& e) {
    return fail(ErrorKind::invalid_data, "invalid JSON: " + clean_reason(reason_of(e.what()), 300),
                std::string(where));
  }
}

bool is_valid_json(std::string_view text) {
  if (find_excess_nesting(text) != std::string_view::npos) return false;
  try {
    return nlohmann::json::accept(text.begin(), text.end());
  } catch (const std::exception&) {
    return false;
  }
}

std::string minify_json(std::string_view valid_json) {
  std::string out;
  out.reserve(valid_json.size());
  bool in_string = false;
  for (std::size_t i = 0; i < valid_json.size(); ++i) {
    char c = valid_json[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < valid_json.size()) {
        out.push_back(valid_json[++i]);  // the escaped character, even a quote
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    if (c == '"') in_string = true;
    out.push_back(c);
  }
  return out;
}

}  // namespace speedlayer::json
