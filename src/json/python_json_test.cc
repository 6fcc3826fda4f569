#include "json/python_json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace speedlayer::json {
namespace {

using namespace std::literals;
constexpr auto npos = std::string_view::npos;

// ---- python_dumps: expected bytes written out ------------------------------------------------

TEST(PythonDumps, PlainAscii) {
  EXPECT_EQ(python_dumps("Hello"), R"("Hello")");
  EXPECT_EQ(python_dumps(""), R"("")");
  EXPECT_EQ(python_dumps(" ~/<>&'"), R"(" ~/<>&'")");  // '/' and '\'' are not escaped
}

TEST(PythonDumps, QuoteAndBackslash) {
  EXPECT_EQ(python_dumps(R"(say "hi")"), R"("say \"hi\"")");
  EXPECT_EQ(python_dumps(R"(C:\dir\)"), R"("C:\\dir\\")");
}

TEST(PythonDumps, ShortEscapes) {
  EXPECT_EQ(python_dumps("a\tb\nc\rd\be\ff"), R"("a\tb\nc\rd\be\ff")");
}

TEST(PythonDumps, OtherControlCharsAndDelAsLowercaseU) {
  EXPECT_EQ(python_dumps("\x01"), R"("\u0001")");
  EXPECT_EQ(python_dumps("\x1f\x0b"), R"("\u001f\u000b")");
  EXPECT_EQ(python_dumps("\x7f"), R"("\u007f")");
  EXPECT_EQ(python_dumps("a\0b"s), R"("a\u0000b")");  // NUL inside the string
}

TEST(PythonDumps, NonAsciiAsUEscapes) {
  EXPECT_EQ(python_dumps("\xc3\xa9"), R"("\u00e9")");  // é
  EXPECT_EQ(python_dumps("caf\xc3\xa9!"), R"("caf\u00e9!")");
  EXPECT_EQ(python_dumps("\xc2\x80"), R"("\u0080")");      // U+0080
  EXPECT_EQ(python_dumps("\xe2\x80\xa8"), R"("\u2028")");  // LINE SEPARATOR
  EXPECT_EQ(python_dumps("\xe2\x82\xac"), R"("\u20ac")");  // €
  EXPECT_EQ(python_dumps("\xef\xbb\xbf"), R"("\ufeff")");  // BOM as a character
  EXPECT_EQ(python_dumps("\xef\xbf\xbf"), R"("\uffff")");
}

TEST(PythonDumps, BeyondBmpAsSurrogatePair) {
  EXPECT_EQ(python_dumps("\xf0\x9f\x98\x80"), R"("\ud83d\ude00")");  // 😀
  EXPECT_EQ(python_dumps("\xf0\x90\x80\x80"), R"("\ud800\udc00")");  // U+10000
  EXPECT_EQ(python_dumps("\xf4\x8f\xbf\xbf"), R"("\udbff\udfff")");  // U+10FFFF
  EXPECT_EQ(python_dumps("hi \xf0\x9f\x98\x80\xf0\x9f\x98\x80!"),
            R"("hi \ud83d\ude00\ud83d\ude00!")");
}

TEST(PythonDumps, AppendsToExistingOutput) {
  std::string out = "key=";
  append_python_dumps("v\n", out);
  append_python_dumps("w", out);
  EXPECT_EQ(out, R"(key="v\n""w")");
}

TEST(PythonDumps, EscapeAtEveryPositionOfALongLine) {
  // Exercises the 8-byte fast path: the special byte lands in every lane and in the tail.
  const std::pair<std::string, std::string> cases[] = {
      {"\"", R"(\")"},           {"\\", R"(\\)"},
      {"\n", R"(\n)"},           {"\x01", R"(\u0001)"},
      {"\x7f", R"(\u007f)"},     {"\0"s, R"(\u0000)"},
      {"\xc3\xa9", R"(\u00e9)"}, {"\xf0\x9f\x98\x80", R"(\ud83d\ude00)"},
  };
  for (const auto& [special, escaped] : cases) {
    for (std::size_t pos = 0; pos <= 40; ++pos) {
      std::string in(40, 'x');
      in.insert(pos, special);
      const std::string expected =
          "\"" + std::string(pos, 'x') + escaped + std::string(40 - pos, 'x') + "\"";
      EXPECT_EQ(python_dumps(in), expected) << "pos " << pos << " " << escaped;
    }
  }
}

TEST(PythonDumps, InvalidInputBecomesReplacementCharacter) {
  // Outside the precondition, but must be safe: matches bytes.decode("utf-8", "replace").
  EXPECT_EQ(python_dumps("a\xff"), R"("a\ufffd")");
  EXPECT_EQ(python_dumps("\xe2\x82"), R"("\ufffd")");  // truncated: one maximal subpart
  EXPECT_EQ(python_dumps("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // surrogate
  EXPECT_EQ(python_dumps("\xf0\x9f\x98"), R"("\ufffd")");
}

// ---- json_string (kcat's escaping, UTF-8 kept) -------------------------------------------

TEST(JsonString, EscapesLikeKcatAndKeepsUtf8) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c\n\t\r\b\f/"), R"("a\"b\\c\n\t\r\b\f/")");
  EXPECT_EQ(json_string(std::string("nul\0\x01\x1f\x7f", 7)), "\"nul\\u0000\\u0001\\u001F\x7f\"");
  EXPECT_EQ(json_string("h\xc3\xa9llo \xf0\x9f\x98\x80"), "\"h\xc3\xa9llo \xf0\x9f\x98\x80\"");
}

TEST(JsonString, EachMaximalInvalidSubpartBecomesOneReplacement) {
  std::string out = "x";
  EXPECT_TRUE(append_json_string("ok", out));
  EXPECT_EQ(out, "x\"ok\"");
  out.clear();
  // Truncated E2 82 then 'x'; overlong C0 AF (two); surrogate ED A0 80 (three); FF at the end.
  EXPECT_FALSE(append_json_string("\xe2\x82x\xc0\xaf\xed\xa0\x80\xff", out));
  std::string want = "\"\xEF\xBF\xBDx";
  for (int i = 0; i < 6; ++i) want += "\xEF\xBF\xBD";
  EXPECT_EQ(out, want + "\"");
  EXPECT_EQ(find_invalid_utf8(out), std::string_view::npos);
}

TEST(JsonString, EscapeAtEveryPositionOfALongString) {
  // The SSE2 scan reads 16 bytes at a time: put each kind of stop at every offset.
  for (const std::string special : {"\"", "\x01", "\xc3\xa9", "\xff"}) {
    for (std::size_t at = 0; at < 40; ++at) {
      std::string s(40, 'a');
      s.insert(at, special);
      nlohmann::json back = nlohmann::json::parse(json_string(s));
      std::string want = s;
      if (special == "\xff") want.replace(at, 1, "\xEF\xBF\xBD");
      EXPECT_EQ(back.get<std::string>(), want) << "at " << at << " " << special;
    }
  }
}

// ---- find_invalid_utf8 ------------------------------------------------------------------------

TEST(FindInvalidUtf8, ValidInputs) {
  EXPECT_EQ(find_invalid_utf8(""), npos);
  EXPECT_EQ(find_invalid_utf8("plain ascii, long enough for the word loop"), npos);
  EXPECT_EQ(find_invalid_utf8("\0\x7f"s), npos);
  EXPECT_EQ(find_invalid_utf8("\xc2\x80 \xdf\xbf \xe0\xa0\x80"), npos);
  EXPECT_EQ(find_invalid_utf8("\xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf"), npos);
  EXPECT_EQ(find_invalid_utf8("\xf0\x90\x80\x80 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"), npos);
}

TEST(FindInvalidUtf8, OverlongForms) {
  EXPECT_EQ(find_invalid_utf8("ab\xc0\xaf"), 2u);  // '/' in 2 bytes
  EXPECT_EQ(find_invalid_utf8("\xc1\xbf"), 0u);
  EXPECT_EQ(find_invalid_utf8("abc\xe0\x80\xaf"), 3u);    // '/' in 3 bytes
  EXPECT_EQ(find_invalid_utf8("\xe0\x9f\xbf"), 0u);       // U+07FF in 3 bytes
  EXPECT_EQ(find_invalid_utf8("x\xf0\x80\x80\xaf"), 1u);  // '/' in 4 bytes
  EXPECT_EQ(find_invalid_utf8("\xf0\x8f\xbf\xbf"), 0u);   // U+FFFF in 4 bytes
}

TEST(FindInvalidUtf8, Surrogates) {
  EXPECT_EQ(find_invalid_utf8("ok \xed\xa0\x80"), 3u);           // U+D800
  EXPECT_EQ(find_invalid_utf8("\xed\xbf\xbf"), 0u);              // U+DFFF
  EXPECT_EQ(find_invalid_utf8("\xed\xa0\xbd\xed\xb8\x80"), 0u);  // CESU-8 style pair for 😀
}

TEST(FindInvalidUtf8, BeyondU10FFFF) {
  EXPECT_EQ(find_invalid_utf8("\xf4\x90\x80\x80"), 0u);  // U+110000
  EXPECT_EQ(find_invalid_utf8("ab\xf5\x80\x80\x80"), 2u);
  EXPECT_EQ(find_invalid_utf8("\xf8\x88\x80\x80\x80"), 0u);  // old 5-byte form
  EXPECT_EQ(find_invalid_utf8("\xff"), 0u);
  EXPECT_EQ(find_invalid_utf8("\xfe"), 0u);
}

TEST(FindInvalidUtf8, TruncatedSequences) {
  EXPECT_EQ(find_invalid_utf8("abc\xc3"), 3u);  // at end of input
  EXPECT_EQ(find_invalid_utf8("\xe2\x82"), 0u);
  EXPECT_EQ(find_invalid_utf8("12345678\xf0\x9f\x98"), 8u);
  EXPECT_EQ(find_invalid_utf8("\xc3(abc"), 0u);  // followed by ASCII
  EXPECT_EQ(find_invalid_utf8("\xe2\x82(abc"), 0u);
  EXPECT_EQ(find_invalid_utf8("\xf0\x9f\x98 "), 0u);
  EXPECT_EQ(find_invalid_utf8("\xc3\xc3\xa9"), 0u);  // followed by another lead
}

TEST(FindInvalidUtf8, StrayContinuationBytes) {
  EXPECT_EQ(find_invalid_utf8("\x80"), 0u);
  EXPECT_EQ(find_invalid_utf8("abcdefghijk\xbf"), 11u);
  EXPECT_EQ(find_invalid_utf8("\xc3\xa9\xa9"), 2u);  // one too many
  EXPECT_EQ(find_invalid_utf8("\xf0\x9f\x98\x80\x80"), 4u);
}

// ---- decode_for_display -----------------------------------------------------------------------

TEST(DecodeForDisplay, JsonStringShowsItsText) {
  EXPECT_EQ(decode_for_display(R"("Hello")"), "Hello");
  EXPECT_EQ(decode_for_display(R"("caf\u00e9 \ud83d\ude00")"), "caf\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(decode_for_display(R"("a\"b\\c\nd")"), "a\"b\\c\nd");
  EXPECT_EQ(decode_for_display(R"("")"), "");
  EXPECT_EQ(decode_for_display(" \"padded\"\n"), "padded");
  const std::string text = "round \xe2\x80\xa8 trip\t";
  EXPECT_EQ(decode_for_display(python_dumps(text)), text);
}

TEST(DecodeForDisplay, OtherJsonIsCompacted) {
  EXPECT_EQ(decode_for_display(R"({ "b" : 1, "a" : [1, 2, {"c": null}] })"),
            R"({"a":[1,2,{"c":null}],"b":1})");
  EXPECT_EQ(decode_for_display("[ ]"), "[]");
  EXPECT_EQ(decode_for_display("42"), "42");
  EXPECT_EQ(decode_for_display("-1.5"), "-1.5");
  EXPECT_EQ(decode_for_display("true"), "true");
  EXPECT_EQ(decode_for_display(" false "), "false");
  EXPECT_EQ(decode_for_display("null"), "null");
}

TEST(DecodeForDisplay, AnythingElseIsRawBytes) {
  EXPECT_EQ(decode_for_display(""), "");
  EXPECT_EQ(decode_for_display("Hello"), "Hello");
  EXPECT_EQ(decode_for_display("hello world"), "hello world");
  EXPECT_EQ(decode_for_display("{\"a\":1"), "{\"a\":1");        // truncated JSON
  EXPECT_EQ(decode_for_display("\"a\" \"b\""), "\"a\" \"b\"");  // two values
  EXPECT_EQ(decode_for_display("007"), "007");
  EXPECT_EQ(decode_for_display("NaN"), "NaN");
  const std::string binary = "\x00\xff\xfe\x01 binary"s;
  EXPECT_EQ(decode_for_display(binary), binary);
  EXPECT_EQ(decode_for_display("\"\xff\""), "\"\xff\"");  // invalid UTF-8 in a string
}

// ---- parse_json_line --------------------------------------------------------------------------

TEST(ParseJsonLine, ParsesValidLines) {
  auto doc = parse_json_line(R"({"user": "ana", "n": [1, 2.5, true]})", "in.jsonl:1");
  ASSERT_TRUE(doc) << doc.error().message();
  EXPECT_EQ((*doc)["user"], "ana");
  EXPECT_EQ((*doc)["n"].size(), 3u);
  EXPECT_EQ(parse_json_line("  \"x\"  ", "w")->get<std::string>(), "x");
}

TEST(ParseJsonLine, ErrorsAreInvalidDataWithPosition) {
  auto r = parse_json_line(R"({"a": tru})", "in.jsonl:7");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_data);
  EXPECT_EQ(r.error().where, "in.jsonl:7");
  EXPECT_TRUE(r.error().what.starts_with("invalid JSON: parse error at byte ")) << r.error().what;
  EXPECT_NE(r.error().what.find("at byte 10: syntax error"), std::string::npos) << r.error().what;
  EXPECT_EQ(r.error().what.find("[json.exception"), std::string::npos) << r.error().what;

  for (std::string_view bad : {""sv, "{"sv, "{\"a\":1}}"sv, "\"\xff\""sv, "hello"sv}) {
    auto e = parse_json_line(bad, "w");
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().kind, ErrorKind::invalid_data);
    EXPECT_TRUE(e.error().what.starts_with("invalid JSON: ")) << e.error().what;
    EXPECT_EQ(find_invalid_utf8(e.error().what), npos) << e.error().what;
  }
}

TEST(ParseJsonLine, LongBadLineKeepsMessageShort) {
  std::string line = "\"" + std::string(100'000, 'z') + "\x01\"";  // raw control char in string
  auto r = parse_json_line(line, "w");
  ASSERT_FALSE(r);
  EXPECT_LT(r.error().what.size(), 400u);
}

TEST(ParseJsonLine, NumberOutOfRangeIsAnErrorNotAnAbort) {
  // Was SIGABRT in produce --format json: nlohmann throws out_of_range.406, not parse_error.
  for (std::string_view line : {R"({"n":1e400,"text":"a"})"sv, "-1e999"sv, "[1E+400]"sv}) {
    auto r = parse_json_line(line, "in.jsonl:3");
    ASSERT_FALSE(r) << line;
    EXPECT_EQ(r.error().kind, ErrorKind::invalid_data);
    EXPECT_EQ(r.error().where, "in.jsonl:3");
    EXPECT_TRUE(r.error().what.starts_with("invalid JSON: number out of range")) << r.error().what;
    EXPECT_FALSE(is_valid_json(line)) << line;
    EXPECT_EQ(decode_for_display(line), line);
  }
  // Big but representable numbers stay valid.
  EXPECT_TRUE(parse_json_line("1e300", "w"));
  EXPECT_TRUE(parse_json_line("123456789012345678901234567890", "w"));
}

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(JsonNesting, ExcessNestingIsFoundAtTheFirstBracketOverTheLimit) {
  EXPECT_EQ(find_excess_nesting(nested_arrays(kMaxJsonDepth)), npos);
  EXPECT_EQ(find_excess_nesting(nested_arrays(kMaxJsonDepth + 1)), kMaxJsonDepth);
  EXPECT_EQ(find_excess_nesting(R"({"a":[{"b":[]}]})", 4), npos);
  EXPECT_EQ(find_excess_nesting(R"({"a":[{"b":[]}]})", 3), 11u);
  // Brackets inside strings, escaped quotes included, do not count.
  EXPECT_EQ(find_excess_nesting(R"(["[[[[\"[[[", "\\", [1]])", 2), npos);
  EXPECT_EQ(find_excess_nesting(R"(["\"", [[1]]])", 2), 8u);
  // Siblings do not add up.
  EXPECT_EQ(find_excess_nesting("[[],[],[[]]]", 3), npos);
}

TEST(JsonNesting, TooDeepIsRefusedShownRawAndInvalidNeverACrash) {
  // Was SIGSEGV in consume (recursive dump) and in produce --key-field.
  const std::string deep = nested_arrays(100'000);
  auto r = parse_json_line(deep, "in.jsonl:9");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_data);
  EXPECT_EQ(r.error().what, "invalid JSON: nested deeper than 512 levels at byte 513");
  EXPECT_FALSE(is_valid_json(deep));
  EXPECT_EQ(decode_for_display(deep), deep);

  const std::string deep_field = R"({"k":)" + nested_arrays(600) + "}";
  EXPECT_FALSE(parse_json_line(deep_field, "w"));
  EXPECT_EQ(decode_for_display(deep_field), deep_field);

  // At the limit: parsed, printed compact.
  const std::string at_limit = nested_arrays(kMaxJsonDepth);
  ASSERT_TRUE(parse_json_line(at_limit, "w"));
  EXPECT_TRUE(is_valid_json(at_limit));
  EXPECT_EQ(decode_for_display(at_limit), at_limit);
}

TEST(ParseJsonLine, ReasonQuotingInputHasNoControlCharacters) {
  auto r = parse_json_line("{\"a\":\x1b]0;title\x07}", "w");
  ASSERT_FALSE(r);
  for (char c : r.error().what) EXPECT_FALSE(c == 0x1b || c == 0x07) << r.error().what;
}

// ---- cross-check against the real Python 3 ----------------------------------------------------

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
  return out;
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Random code point from one of the classes json.dumps treats differently.
char32_t random_code_point(std::mt19937& rng) {
  static constexpr char32_t kEdges[] = {
      0x00,   0x08,   0x09,   0x0a,   0x0c,   0x0d,   0x1f,    0x20,    0x22,    0x2f,
      0x5c,   0x7e,   0x7f,   0x80,   0x85,   0xa0,   0xff,    0x7ff,   0x800,   0xd7ff,
      0xe000, 0xfeff, 0xfffd, 0xffff, 0x2028, 0x2029, 0x10000, 0x1f600, 0x10ffff};
  auto in = [&](char32_t lo, char32_t hi) {
    return lo + static_cast<char32_t>(rng() % (hi - lo + 1));
  };
  switch (rng() % 8) {
    case 0:
    case 1:
      return in(0x20, 0x7e);  // printable ASCII (most common)
    case 2:
      return in(0x00, 0x1f);  // control characters
    case 3:
      return in(0x80, 0x7ff);  // 2-byte UTF-8
    case 4: {                  // 3-byte UTF-8, no surrogates
      char32_t cp = in(0x800, 0xffff - 0x800);
      return cp >= 0xd800 ? cp + 0x800 : cp;
    }
    case 5:
      return in(0x10000, 0x10ffff);  // 4-byte UTF-8, surrogate pair in JSON
    case 6:
      return kEdges[rng() % std::size(kEdges)];
    default:
      return "\"\\\x7f/"[rng() % 4];
  }
}

bool have_python3() {
  return std::system("command -v python3 >/dev/null 2>&1") == 0;
}

// Runs `script` with python3, feeding one hex-encoded input per line on stdin; returns one output
// line per input.
std::vector<std::string> run_python(const std::string& script,
                                    const std::vector<std::string>& inputs) {
  const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() /
      ("speedlayer_json_test_" + std::to_string(::getpid()) + "_" + name);
  {
    std::ofstream f(file, std::ios::binary);
    for (const auto& in : inputs) f << to_hex(in) << '\n';
  }
  const std::string command = "python3 -c '" + script + "' < '" + file.string() + "'";
  std::vector<std::string> lines;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    std::string all;
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) all.append(buf, n);
    const int status = ::pclose(pipe);
    EXPECT_EQ(status, 0) << command;
    std::istringstream stream(all);
    for (std::string line; std::getline(stream, line);) lines.push_back(line);
  } else {
    ADD_FAILURE() << "popen failed: " << command;
  }
  std::filesystem::remove(file);
  return lines;
}

// Python reads each line as hex, so newlines and any byte inside inputs survive the transport.
constexpr const char* kDumpsScript =
    "import sys, json\n"
    "for line in sys.stdin.buffer:\n"
    "    s = bytes.fromhex(line.decode().strip()).decode(\"utf-8\", \"replace\")\n"
    "    sys.stdout.write(json.dumps(s) + \"\\n\")\n";

constexpr const char* kFindInvalidScript =
    "import sys\n"
    "for line in sys.stdin.buffer:\n"
    "    b = bytes.fromhex(line.decode().strip())\n"
    "    try:\n"
    "        b.decode(\"utf-8\"); r = -1\n"
    "    except UnicodeDecodeError as e:\n"
    "        r = e.start\n"
    "    sys.stdout.write(str(r) + \"\\n\")\n";

TEST(PythonCrossCheck, DumpsMatchesPythonByteForByte) {
  if (!have_python3()) GTEST_SKIP() << "python3 not found";
  std::vector<std::string> inputs = {
      "",
      "Hello",
      "say \"hi\"",
      "back\\slash",
      "tab\there",
      "line1\nline2\r\n",
      "\b\f",
      "\x01",
      "\x7f",
      "\xc3\xa9",
      "\xf0\x9f\x98\x80",
      "a\0b"s,
      "\xe2\x80\xa8\xe2\x80\xa9",
      "\xef\xbb\xbf BOM",
      "\xf4\x8f\xbf\xbf",
      "</script>",
      std::string(200, 'a') + "\xc3\xa9",
      // Outside the precondition: compared with bytes.decode("utf-8", "replace").
      "bad \xff",
      "\xe2\x82",
      "\xed\xa0\x80",
      "\xc0\xaf",
      "\xf0\x9f\x98 x",
      "\xf4\x90\x80\x80",
  };
  std::string every_byte_char;  // U+0000..U+00FF
  for (char32_t cp = 0; cp < 0x100; ++cp) append_utf8(cp, every_byte_char);
  inputs.push_back(every_byte_char);

  std::mt19937 rng(20240611);  // fixed seed: the same strings every run
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const int length = static_cast<int>(rng() % (i % 10 == 0 ? 300 : 40));
    for (int k = 0; k < length; ++k) append_utf8(random_code_point(rng), s);
    ASSERT_EQ(find_invalid_utf8(s), npos) << to_hex(s);
    inputs.push_back(std::move(s));
  }

  const std::vector<std::string> expected = run_python(kDumpsScript, inputs);
  ASSERT_EQ(expected.size(), inputs.size());
  int mismatches = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string got = python_dumps(inputs[i]);
    EXPECT_EQ(got, expected[i]) << "input hex " << to_hex(inputs[i]);
    if (got != expected[i] && ++mismatches > 10) FAIL() << "too many mismatches";
  }
}

TEST(PythonCrossCheck, FindInvalidUtf8MatchesPythonDecodeError) {
  if (!have_python3()) GTEST_SKIP() << "python3 not found";
  static constexpr unsigned char kInteresting[] = {
      0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
      0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf8, 0xfe, 0xff};
  std::mt19937 rng(7);
  std::vector<std::string> inputs;
  for (int i = 0; i < 5000; ++i) {
    std::string s;
    const int pieces = static_cast<int>(rng() % 12);
    for (int k = 0; k < pieces; ++k) {
      switch (rng() % 4) {
        case 0:
          s.push_back(static_cast<char>(kInteresting[rng() % std::size(kInteresting)]));
          break;
        case 1:
          s.append(rng() % 10, 'a');
          break;
        default:
          append_utf8(random_code_point(rng), s);
          break;
      }
    }
    inputs.push_back(std::move(s));
  }
  const std::vector<std::string> expected = run_python(kFindInvalidScript, inputs);
  ASSERT_EQ(expected.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::size_t got = find_invalid_utf8(inputs[i]);
    const std::string got_text = got == npos ? "-1" : std::to_string(got);
    ASSERT_EQ(got_text, expected[i]) << "input hex " << to_hex(inputs[i]);
  }
  // Invalid inputs also go through the dumps replacement path without reading out of bounds.
  const std::vector<std::string> dumped = run_python(kDumpsScript, inputs);
  ASSERT_EQ(dumped.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_EQ(python_dumps(inputs[i]), dumped[i]) << "input hex " << to_hex(inputs[i]);
  }
}

TEST(MinifyJson, KeepsKeyOrderNumbersAndEscapes) {
  EXPECT_EQ(
      minify_json(R"( { "z" : 1.50 , "a" : [ 1 , 2e3 ] , "s" : "a \" b\\" , "u": "\u00e9 x" } )"),
      R"({"z":1.50,"a":[1,2e3],"s":"a \" b\\","u":"\u00e9 x"})");
  EXPECT_EQ(minify_json("\"keep  inner\tspace\""), "\"keep  inner\tspace\"");
  EXPECT_EQ(minify_json(" true "), "true");
}

TEST(IsValidJson, AcceptsValuesRejectsGarbage) {
  EXPECT_TRUE(is_valid_json(R"({"a": [1, null]})"));
  EXPECT_TRUE(is_valid_json("\"x\""));
  EXPECT_FALSE(is_valid_json("{"));
  EXPECT_FALSE(is_valid_json("hello"));
  EXPECT_FALSE(is_valid_json(""));
  EXPECT_FALSE(is_valid_json("\"\xff\""));
}

}  // namespace
}  // namespace speedlayer::json
