// Text extraction: a message value (a JSON string, a JSON object or raw text) to the text
// whose terms are counted, its event time, or the reason it is malformed. Part of views.h
// (include that one).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "views/window.h"

namespace speedlayer::views {

// future_time: an event time more than --max-future (default 1h, Kafka's own
// log.message.timestamp.after.max.ms default) ahead of the wall clock; it would push stream
// time so far that every later record became late. bad_time: a negative event time (before
// 1970). Both are checked by the processor (event_time_problem), for time fields and Kafka
// timestamps alike.
enum class Malformed {
  none,
  invalid_utf8,
  too_large,
  binary,
  no_text,
  future_time,
  bad_time,
  too_deep
};
// none, future_time or bad_time for an event time at wall-clock time `wall_now`.
Malformed event_time_problem(Millis event_time, Millis wall_now, Millis max_future_ms);
std::string_view malformed_name(Malformed m);  // "invalid_utf8", ...

struct Extracted {
  std::string text;
  Malformed problem = Malformed::none;
  std::optional<Millis> event_time;  // from time_field, when given and present (ms since epoch)
};
// A value is a JSON string (its text), a JSON object (its `text_field` string; `time_field`
// as a number of ms or an ISO-8601 string), or raw UTF-8 text. Invalid UTF-8, NUL/control
// bytes (binary) and values over `max_bytes` are malformed.
//   Checked in this order: too_large (value.size() > max_bytes), binary (a byte < 0x20 other
//   than \t \n \r, or 0x7f; also in a decoded JSON string), invalid_utf8, no_text (a JSON
//   object whose `text_field` is missing or not a string), too_deep (a value that starts as a
//   JSON object and nests arrays/objects deeper than json::kMaxJsonDepth). Anything that is not a
//   JSON string or object (other JSON, or not JSON) is raw text. time_field (empty = none): a JSON
//   number of ms (integral, |ms| < 2^53), a string of digits (ms), or ISO-8601 "YYYY-MM-DD[(T|
//   )hh:mm[:ss[.fff...]]][Z|+hh:mm|-hh:mm|+hhmm]" (no zone = UTC); otherwise (absent or unparsable)
//   event_time stays nullopt and the caller uses the Kafka timestamp.
// Never throws.
Extracted extract_text(std::string_view value, const std::string& text_field,
                       const std::string& time_field, std::size_t max_bytes);
// The same without copying: `text` views `value` (a JSON string without escapes, raw text) or
// `scratch` (a decoded JSON string), so it lives as long as both. The processor's hot path.
struct ExtractedView {
  std::string_view text;
  Malformed problem = Malformed::none;
  std::optional<Millis> event_time;
};
ExtractedView extract_text_view(std::string_view value, const std::string& text_field,
                                const std::string& time_field, std::size_t max_bytes,
                                std::string& scratch);

namespace detail {
// The JSON decoding behind extract_text_view, for the differential test: a JSON string or
// object `json_text` (trimmed) into `out` (text in `scratch`, no_text, binary, event time).
// False when the parser turns the value down (then it is raw text, unless the other parser
// takes it: simdjson is asked first, and nlohmann has the last word on what it turns down).
bool extract_json_with_simdjson(std::string_view json_text, const std::string& text_field,
                                const std::string& time_field, std::string& scratch,
                                ExtractedView& out);
bool extract_json_with_nlohmann(std::string_view json_text, const std::string& text_field,
                                const std::string& time_field, std::string& scratch,
                                ExtractedView& out);
}  // namespace detail

}  // namespace speedlayer::views
