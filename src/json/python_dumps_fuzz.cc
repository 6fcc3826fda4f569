// Fuzz target: the json.dumps encoder (python_json.h: python_dumps, append_python_dumps), the
// JSON string writer (json_string, append_json_string: kcat's escaping, UTF-8 kept) and
// find_invalid_utf8, against references written from their documentation.
//
// Reference: the input decoded as Python's bytes.decode("utf-8", "replace") does (each maximal
// invalid subpart becomes U+FFFD; its first start is where find_invalid_utf8 points), then
// encoded as json.dumps with ensure_ascii=True (\" \\ \n \r \t \b \f; other chars < 0x20 and
// chars >= 0x7f as \uXXXX in lowercase hex; beyond the BMP as a surrogate pair).
// json_string's reference: the same decoded text, \" \\ \n \r \t \b \f, other chars < 0x20 as
// \u00XX in uppercase hex, every other char (U+FFFD for each invalid subpart) as UTF-8.
// Properties: each encoder's bytes equal its reference's; a JSON decoder (nlohmann) gives back
// the input when it is valid UTF-8, the replaced text when it is not; appending keeps what the
// output held.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/fuzz_check.h"
#include "json/python_json.h"

namespace {

using speedlayer::fuzz::shown;
namespace json = speedlayer::json;

struct Decoded {
  std::vector<char32_t> chars;
  std::size_t first_invalid = std::string_view::npos;
};

// UTF-8 with U+FFFD for each maximal subpart of an ill-formed sequence (Unicode's "best
// practice", which Python follows): a valid lead byte and the continuation bytes that could
// still complete it are one replacement; a byte that cannot start a sequence is one.
Decoded decode_replacing(std::string_view s) {
  Decoded d;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  auto invalid = [&](std::size_t at) {
    if (d.first_invalid == std::string_view::npos) d.first_invalid = at;
    d.chars.push_back(0xFFFD);
  };
  while (i < n) {
    const unsigned char b = p[i];
    if (b < 0x80) {
      d.chars.push_back(b);
      ++i;
      continue;
    }
    int need = 0;
    char32_t c = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the next byte
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
      c = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      c = b & 0x0F;
      if (b == 0xE0) lo = 0xA0;  // overlong
      if (b == 0xED) hi = 0x9F;  // surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      c = b & 0x07;
      if (b == 0xF0) lo = 0x90;  // overlong
      if (b == 0xF4) hi = 0x8F;  // > U+10FFFF
    } else {
      invalid(i);
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    int got = 0;
    while (got < need && j < n && p[j] >= lo && p[j] <= hi) {
      c = c << 6 | (p[j] & 0x3F);
      ++j;
      ++got;
      lo = 0x80;
      hi = 0xBF;
    }
    if (got == need) {
      d.chars.push_back(c);
    } else {
      invalid(i);
    }
    i = j;
  }
  return d;
}

void append_u(std::string& out, unsigned v) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(v >> shift) & 0xF];
}

// The two-character escape JSON has for `c` (\" \\ \n \r \t \b \f), or nullptr.
const char* short_escape(char32_t c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    default:
      return nullptr;
  }
}

// Python's json.dumps(str) with ensure_ascii=True.
std::string python_reference(const std::vector<char32_t>& chars) {
  std::string out = "\"";
  for (char32_t c : chars) {
    if (const char* e = short_escape(c)) {
      out += e;
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else if (c <= 0xFFFF) {
      append_u(out, static_cast<unsigned>(c));
    } else {
      const unsigned v = static_cast<unsigned>(c) - 0x10000;
      append_u(out, 0xD800 | (v >> 10));
      append_u(out, 0xDC00 | (v & 0x3FF));
    }
  }
  return out + "\"";
}

std::string to_utf8(const std::vector<char32_t>& chars) {
  std::string out;
  for (char32_t c : chars) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// kcat's (yajl's) escaping of the decoded text, UTF-8 kept.
std::string kcat_reference(const std::vector<char32_t>& chars) {
  static constexpr char kUpperHex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (char32_t c : chars) {
    if (const char* e = short_escape(c)) {
      out += e;
    } else if (c < 0x20) {
      out += "\\u00";
      out += kUpperHex[c >> 4];
      out += kUpperHex[c & 0xF];
    } else {
      out += to_utf8({c});
    }
  }
  return out + "\"";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view s(reinterpret_cast<const char*>(data), size);
  const Decoded d = decode_replacing(s);
  const std::size_t invalid_at = json::find_invalid_utf8(s);
  SL_FUZZ_CHECK(invalid_at == d.first_invalid,
                "find_invalid_utf8 = " + std::to_string(invalid_at) +
                    ", Python's start = " + std::to_string(d.first_invalid) + " for " + shown(s));

  const std::string out = json::python_dumps(s);
  const std::string want = python_reference(d.chars);
  SL_FUZZ_CHECK(out == want,
                "python_dumps(" + shown(s) + ") = " + shown(out) + ", json.dumps: " + shown(want));

  std::string appended = "x";
  json::append_python_dumps(s, appended);
  SL_FUZZ_CHECK(appended == "x" + out, shown(appended));

  // A JSON decoder reads the text back (nlohmann joins the surrogate pairs into UTF-8).
  nlohmann::json back = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  SL_FUZZ_CHECK(back.is_string(), "not a JSON string: " + shown(out));
  const std::string& text = back.get_ref<const std::string&>();
  const std::string expected =
      invalid_at == std::string_view::npos ? std::string(s) : to_utf8(d.chars);
  SL_FUZZ_CHECK(text == expected, "decoded " + shown(text) + ", expected " + shown(expected));

  std::string kcat = "y";
  const bool valid = json::append_json_string(s, kcat);
  const std::string kcat_want = "y" + kcat_reference(d.chars);
  SL_FUZZ_CHECK(kcat == kcat_want,
                "json_string(" + shown(s) + ") = " + shown(kcat) + ", kcat: " + shown(kcat_want));
  SL_FUZZ_CHECK(valid == (invalid_at == std::string_view::npos), "validity of " + shown(s));
  nlohmann::json kcat_back =
      nlohmann::json::parse(kcat.substr(1), nullptr, /*allow_exceptions=*/false);
  SL_FUZZ_CHECK(kcat_back.is_string() && kcat_back.get_ref<const std::string&>() == expected,
                "json_string(" + shown(s) + ") does not decode back: " + shown(kcat));
  return 0;
}
