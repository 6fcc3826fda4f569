// Fuzz target: what serve does with each message value before counting it (views.h):
// extract_text / extract_text_view (raw text, a JSON string, or an object's text and time
// fields), the simdjson and nlohmann decodings behind it, and the tokenizer for_each_term.
//
// Input: one options byte, then the message value. Options bit 0: text field "text" (else none),
// bit 1: time field "ts" (else none), bits 2-3: max_bytes 1 MiB, 8, 64 or 4096.
// Properties: the copying and the viewing extraction agree; too_large comes first; a value
// without a problem gives text with no control bytes (other than \t \n \r) and valid UTF-8; no
// event time without a time field; wherever simdjson takes a JSON value, nlohmann takes it too
// and both give the same text, problem and event time (simdjson goes first, nlohmann has the
// last word); for_each_term gives the documented words (text/words.h: letters, marks, numbers,
// `_` and joiners; letters of scripts without spaces alone; each folded), in order.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/fuzz_check.h"
#include "json/python_json.h"
#include "text/words.h"
#include "views/views.h"

namespace {

using speedlayer::fuzz::shown;
namespace views = speedlayer::views;

// The documented rule read literally (text/words.h): a code point at a time, each word folded.
std::vector<std::string> reference_terms(std::string_view text) {
  namespace t = speedlayer::text;
  std::vector<std::string> out;
  std::size_t begin = 0, i = 0;
  bool in_word = false;
  t::CharKind base = t::CharKind::separator;
  while (i < text.size()) {
    std::size_t len = 0;
    const t::CharKind k = t::char_kind(t::decode_at(text, i, len));
    const bool joins =
        in_word && k != t::CharKind::separator &&
        (k == t::CharKind::mark || (base == t::CharKind::word && k == t::CharKind::word));
    if (in_word && !joins) {
      out.push_back(t::fold(text.substr(begin, i - begin)));
      in_word = false;
    }
    if (!in_word && k != t::CharKind::separator) {
      in_word = true;
      begin = i;
      base = k == t::CharKind::mark ? t::CharKind::word : k;
    } else if (in_word && k != t::CharKind::mark) {
      base = k;
    }
    i += len;
  }
  if (in_word) out.push_back(t::fold(text.substr(begin)));
  return out;
}

void check_terms(std::string_view text) {
  std::vector<std::string> got;
  views::for_each_term(text, [&](std::string_view term) { got.emplace_back(term); });
  const std::vector<std::string> want = reference_terms(text);
  if (got == want) return;
  std::string diff = "for_each_term(" + shown(text) + ") gave " + std::to_string(got.size()) +
                     " terms, the documented rule " + std::to_string(want.size());
  for (std::size_t i = 0; i < got.size() || i < want.size(); ++i) {
    const std::string g = i < got.size() ? got[i] : "(none)";
    const std::string w = i < want.size() ? want[i] : "(none)";
    if (g != w) {
      diff +=
          "; first difference at term " + std::to_string(i) + ": " + shown(g) + " vs " + shown(w);
      break;
    }
  }
  SL_FUZZ_CHECK(false, diff);
}

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return true;
  return false;
}

std::string_view trim_json_ws(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string time_text(const std::optional<views::Millis>& t) {
  return t ? std::to_string(*t) : "none";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t options = data[0];
  const std::string_view value(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string text_field = (options & 1) ? "text" : "";
  const std::string time_field = (options & 2) ? "ts" : "";
  static constexpr std::size_t kMaxBytes[] = {1 << 20, 8, 64, 4096};
  const std::size_t max_bytes = kMaxBytes[(options >> 2) & 3];

  std::string scratch;
  const views::ExtractedView v =
      views::extract_text_view(value, text_field, time_field, max_bytes, scratch);
  const views::Extracted e = views::extract_text(value, text_field, time_field, max_bytes);
  SL_FUZZ_CHECK(v.text == e.text && v.problem == e.problem && v.event_time == e.event_time,
                "extract_text and extract_text_view disagree on " + shown(value));
  SL_FUZZ_CHECK((value.size() > max_bytes) == (v.problem == views::Malformed::too_large),
                std::string(views::malformed_name(v.problem)) + " for " + shown(value));
  if (v.problem == views::Malformed::none) {
    SL_FUZZ_CHECK(!has_control(v.text), "control bytes in the text of " + shown(value));
    SL_FUZZ_CHECK(speedlayer::json::find_invalid_utf8(v.text) == std::string_view::npos,
                  "invalid UTF-8 in the text of " + shown(value) + ": " + shown(v.text));
  }
  if (time_field.empty()) SL_FUZZ_CHECK(!v.event_time, time_text(v.event_time));

  const std::string_view trimmed = trim_json_ws(value);
  if (!trimmed.empty() && (trimmed.front() == '"' || trimmed.front() == '{')) {
    std::string simd_scratch, nl_scratch;
    views::ExtractedView simd, nl;
    const bool simd_took = views::detail::extract_json_with_simdjson(
        trimmed, text_field, time_field, simd_scratch, simd);
    const bool nl_took =
        views::detail::extract_json_with_nlohmann(trimmed, text_field, time_field, nl_scratch, nl);
    if (simd_took) {
      SL_FUZZ_CHECK(nl_took, "simdjson takes what nlohmann refuses: " + shown(trimmed));
      SL_FUZZ_CHECK(
          simd.problem == nl.problem && simd.text == nl.text && simd.event_time == nl.event_time,
          "simdjson: " + std::string(views::malformed_name(simd.problem)) + " " + shown(simd.text) +
              " t=" + time_text(simd.event_time) +
              "; nlohmann: " + std::string(views::malformed_name(nl.problem)) + " " +
              shown(nl.text) + " t=" + time_text(nl.event_time) + "; value " + shown(trimmed));
    }
  }

  // A null view too (a value with a problem; serve's records with a null Kafka value):
  // regressions/crash-0a33d54a* once passed nullptr to memcpy in the tokenizer.
  check_terms(v.text);
  check_terms(value);  // any bytes at all, not only extracted text
  return 0;
}
