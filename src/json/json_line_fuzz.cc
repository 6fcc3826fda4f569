// Fuzz target: JSON from outside, as produce's --format json and consume read it
// (python_json.h: parse_json_line, is_valid_json, minify_json, decode_for_display).
//
// Properties, from the header: nothing throws; parse_json_line fails exactly when
// is_valid_json says no, with an invalid_data error at the given place whose message is short,
// valid UTF-8 and free of control characters; what it accepts dumps without throwing and reads
// back equal, as does its minified text; decode_for_display gives a JSON string's text, other
// valid JSON as nlohmann's compact dump, and anything else byte for byte.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/fuzz_check.h"
#include "json/python_json.h"

namespace {

using speedlayer::fuzz::shown;
namespace json = speedlayer::json;

bool has_control(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

// dump() of a parsed document, or a failed check naming the exception.
std::string dumped(const nlohmann::json& doc, std::string_view input) {
  try {
    return doc.dump();
  } catch (const std::exception& e) {
    speedlayer::fuzz::check_failed(
        "dump() does not throw", __FILE__, __LINE__,
        std::string("dump() threw ") + e.what() + " for " + shown(input));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);

  const bool valid = json::is_valid_json(line);
  auto doc = json::parse_json_line(line, "fuzz.jsonl:1");
  SL_FUZZ_CHECK(doc.has_value() == valid,
                "is_valid_json = " + std::to_string(valid) + " but parse_json_line " +
                    (doc ? std::string("accepted") : "refused: " + doc.error().message()) + " " +
                    shown(line));
  if (!doc) {
    const auto& e = doc.error();
    SL_FUZZ_CHECK(e.kind == speedlayer::ErrorKind::invalid_data, e.message());
    SL_FUZZ_CHECK(e.where == "fuzz.jsonl:1", e.where);
    SL_FUZZ_CHECK(e.what.starts_with("invalid JSON: "), shown(e.what));
    SL_FUZZ_CHECK(e.what.size() <= 400, std::to_string(e.what.size()) + " bytes: " + shown(e.what));
    SL_FUZZ_CHECK(json::find_invalid_utf8(e.what) == std::string_view::npos, shown(e.what));
    SL_FUZZ_CHECK(!has_control(e.what), shown(e.what));
  } else {
    const std::string text = dumped(*doc, line);
    SL_FUZZ_CHECK(nlohmann::json::parse(text) == *doc, "dump reads back different: " + shown(text));
    const std::string minified = json::minify_json(line);
    auto reread = nlohmann::json::parse(minified, nullptr, /*allow_exceptions=*/false);
    SL_FUZZ_CHECK(reread == *doc, "minify_json changed the value: " + shown(minified));
  }

  std::string shown_value;
  try {
    shown_value = json::decode_for_display(line);
  } catch (const std::exception& e) {
    SL_FUZZ_CHECK(false, std::string("decode_for_display threw ") + e.what());
  }
  if (!valid) {
    SL_FUZZ_CHECK(shown_value == line, "not JSON, yet shown as " + shown(shown_value));
  } else if (doc->is_string()) {
    SL_FUZZ_CHECK(shown_value == doc->get_ref<const std::string&>(), shown(shown_value));
  } else {
    SL_FUZZ_CHECK(shown_value == dumped(*doc, line), shown(shown_value));
  }
  return 0;
}
