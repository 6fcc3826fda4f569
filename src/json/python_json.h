// JSON text the way the Python tools around speedlayer see it.
//
// Kafka producers written in Python (kafka-python with value_serializer=json.dumps) put
// Python's json.dumps output on the wire. This module reproduces that output byte for byte,
// checks UTF-8, turns a message value into the text `speedlayer consume` prints, and parses one
// input line for the producer's --format json.
//
//   python_dumps("h\xc3\xa9llo \xf0\x9f\x98\x80")   -> "\"h\\u00e9llo \\ud83d\\ude00\""
//   find_invalid_utf8("ok\xc0\xaf")                  -> 2 (overlong '/')
//   decode_for_display("\"Hello\"")                 -> "Hello"
//   decode_for_display("{ \"a\" : [1, 2] }")         -> "{\"a\":[1,2]}"
//   decode_for_display("\x00\xff binary")            -> the same bytes, unchanged
//   auto doc = parse_json_line(line, "input.jsonl:12");
//   if (!doc) dead_letter(doc.error());             // ErrorKind::invalid_data
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.h"

namespace speedlayer::json {

// Byte offset of the first byte of the first invalid UTF-8 sequence (overlong forms, UTF-16
// surrogates U+D800..DFFF, > U+10FFFF, truncated sequences, stray continuation bytes are
// invalid), or std::string_view::npos if valid. Agrees with the `start` of the
// UnicodeDecodeError Python 3 raises for bytes.decode("utf-8").
std::size_t find_invalid_utf8(std::string_view bytes);

// Appends exactly the bytes of Python 3's json.dumps(s) (default ensure_ascii=True) for the str
// s whose UTF-8 is `utf8`: quotes; \" and \\; \n \r \t \b \f short escapes; every other
// char < 0x20 and every char >= 0x7f as \uXXXX with lowercase hex; characters beyond the BMP as
// a UTF-16 surrogate pair \ud83d\ude00. Runs of plain ASCII are copied 8 bytes at a time.
//
// Precondition: `utf8` is valid UTF-8. Invalid input is still handled safely and matches
// json.dumps(bytes.decode("utf-8", "replace")): each maximal invalid subpart becomes \ufffd.
void append_python_dumps(std::string_view utf8, std::string& out);
std::string python_dumps(std::string_view utf8);

// The one JSON string writer for JSON speedlayer writes itself (consume's -J lines, the HTTP
// bodies, the views' terms): UTF-8 kept as it is, escaped the way kcat's JSON generator (yajl)
// escapes, so that `consume -J` lines equal kcat's byte for byte: quotes; \" and \\; \b \f \n
// \r \t; every other byte < 0x20 as \u00XX with uppercase hex; everything else (DEL, '/',
// valid UTF-8) as it is. Each maximal invalid UTF-8 subpart becomes one U+FFFD (its 3 bytes),
// as Python's bytes.decode("utf-8", "replace") does, so the output is always valid UTF-8 and
// valid JSON. Returns false when a replacement happened.
//   json_string("tab\there")        -> "\"tab\\there\""
//   json_string("a\x1f\x7f")         -> "\"a\\u001F\x7f\""
//   json_string("bad \xff")          -> "\"bad \xEF\xBF\xBD\""
bool append_json_string(std::string_view bytes, std::string& out);
std::string json_string(std::string_view bytes);

// How `speedlayer consume` prints a Kafka message value:
//   - a JSON string (e.g. "Hello" with quotes, as kafka-python's json.dumps sends) -> its
//     decoded text (escapes resolved, UTF-8);
//   - any other valid JSON (object, array, number, true/false/null) -> compact JSON
//     (nlohmann dump(): no spaces; numbers are re-printed, so 1.50 shows as 1.5);
//   - anything else (not JSON, binary, empty, nested deeper than kMaxJsonDepth, a number out of
//     double's range) -> the raw bytes unchanged.
// Never throws. Control characters are left as they are (consume's text output escapes them).
std::string decode_for_display(std::string_view value);

// The deepest nesting of arrays and objects speedlayer accepts in JSON from outside (input
// lines, message values). nlohmann's parser is iterative, but dump() and most code that walks
// a document recurse, and Python's json.loads fails near 1,000 levels: a value nested deeper
// is refused (produce), shown as raw text (consume) or not read as JSON (serve).
inline constexpr std::size_t kMaxJsonDepth = 512;

// Byte offset of the first '[' or '{' that opens level `max_depth + 1` (brackets inside
// strings do not count), or std::string_view::npos. One pass, no DOM; meant to run before a
// parser so that nothing deeper than `max_depth` is ever built.
std::size_t find_excess_nesting(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

// Parses one line as JSON for the producer's --format json. Never throws. On failure returns
// Error{ErrorKind::invalid_data, what, where} with `what` one of
//   "invalid JSON: parse error at byte N: <parser's reason>"  (N counts from 1)
//   "invalid JSON: number out of range: number overflow parsing '1e400'"
//   "invalid JSON: nested deeper than 512 levels at byte N"
// The message is at most ~350 bytes, valid UTF-8 and free of control characters. Invalid UTF-8
// inside strings is a parse error.
Result<nlohmann::json> parse_json_line(std::string_view line, std::string_view where);

// Whether `text` is one valid JSON value no deeper than kMaxJsonDepth, with every number
// representable (no DOM is built: cheap).
bool is_valid_json(std::string_view text);

// `valid_json` without insignificant whitespace. Everything else is kept byte for byte: key
// order, number spelling (1.50 stays 1.50), string escapes. Precondition: valid JSON.
std::string minify_json(std::string_view valid_json);

}  // namespace speedlayer::json
