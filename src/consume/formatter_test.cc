#include "consume/formatter.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "json/python_json.h"

namespace speedlayer::consume {
namespace {

using json::append_json_string;  // the writer of -J lines

MessageView message(std::optional<std::string_view> payload,
                    std::optional<std::string_view> key = std::nullopt) {
  MessageView m;
  m.topic = "Sport";
  m.partition = 2;
  m.offset = 41;
  m.tstype = TimestampType::create;
  m.timestamp = 1718000000123;
  m.broker = 1;
  m.key = key;
  m.payload = payload;
  return m;
}

std::string text(std::optional<std::string_view> payload) {
  std::string out;
  append_text(message(payload), out);
  return out;
}

std::string json_line(const MessageView& m) {
  std::string out;
  append_kcat_json(m, out);
  return out;
}

TEST(FormatText, JsonStringIsDecoded) {
  EXPECT_EQ(text(R"("Hello")"), "Hello\n");
  EXPECT_EQ(text(R"("h\u00e9llo \ud83d\ude00")"), "h\xc3\xa9llo \xf0\x9f\x98\x80\n");
  EXPECT_EQ(text(R"("tab\there \"quoted\"")"), "tab\there \"quoted\"\n");
}

std::string raw_text(std::optional<std::string_view> payload) {
  std::string out;
  append_raw_text(message(payload), out);
  return out;
}

TEST(FormatText, EmbeddedNewlineCannotBreakOneValuePerLine) {
  EXPECT_EQ(text(R"("line one\nline two")"), "line one\\nline two\n");
  EXPECT_EQ(text("raw\r\nbytes"), "raw\\r\\nbytes\n");
  EXPECT_EQ(raw_text(R"("line one\nline two")"), "line one\nline two\n");
}

TEST(FormatText, TerminalControlSequencesAreEscaped) {
  // Screen clear, window title (OSC ... BEL), OSC 52 clipboard write: none reach the terminal.
  EXPECT_EQ(text("\x1b[2J\x1b[H"), "\\x1b[2J\\x1b[H\n");
  EXPECT_EQ(text(R"("\u001b]0;owned\u0007")"), "\\x1b]0;owned\\x07\n");
  EXPECT_EQ(text("\x1b]52;c;aGk=\x07"), "\\x1b]52;c;aGk=\\x07\n");
  EXPECT_EQ(text("del\x7f"), "del\\x7f\n");
  // C1 controls as characters (CSI is U+009B) and as lone bytes (not valid UTF-8).
  EXPECT_EQ(text("a\xc2\x9b"
                 "2Jb\xc2\x85"),
            "a\\u009b2Jb\\u0085\n");
  EXPECT_EQ(text(R"("\u009b31m")"), "\\u009b31m\n");
  EXPECT_EQ(text("a\x9b"
                 "2J"),
            "a\\x9b2J\n");
  // Tab, printable UTF-8 (U+00A0 and up) and backslashes print as they are.
  EXPECT_EQ(text("a\tb \xc2\xa0 h\xc3\xa9 \\x1b"), "a\tb \xc2\xa0 h\xc3\xa9 \\x1b\n");
  // --raw keeps every byte.
  EXPECT_EQ(raw_text("\x1b[2J"), "\x1b[2J\n");
}

TEST(FormatText, OtherJsonIsCompact) {
  EXPECT_EQ(text(R"({ "a" : [1, 2], "b": "x" })"), "{\"a\":[1,2],\"b\":\"x\"}\n");
  EXPECT_EQ(text("42"), "42\n");
  EXPECT_EQ(text("true"), "true\n");
}

TEST(FormatText, NonJsonBytesAreShownEscapedAndRawUnchanged) {
  EXPECT_EQ(text("plain text, not JSON"), "plain text, not JSON\n");
  std::string binary("\x00\xff\xfe bin", 7);
  EXPECT_EQ(text(binary), "\\x00\\xff\\xfe bin\n");
  EXPECT_EQ(raw_text(binary), binary + "\n");
}

TEST(FormatText, DeepOrUnrepresentableJsonPrintsAsItsBytes) {
  // Was SIGSEGV (recursive dump) and SIGABRT (1e400).
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  EXPECT_EQ(text(deep), deep + "\n");
  EXPECT_EQ(text(R"({"n":1e400})"), "{\"n\":1e400}\n");
}

TEST(FormatText, NullAndEmptyValuesAreEmptyLines) {
  EXPECT_EQ(text(std::nullopt), "\n");
  EXPECT_EQ(text(""), "\n");
}

TEST(FormatJson, KcatEnvelopeFieldsInOrder) {
  EXPECT_EQ(json_line(message(R"("Hello")", "k1")),
            R"({"topic":"Sport","partition":2,"offset":41,"tstype":"create","ts":1718000000123,)"
            R"("broker":1,"key":"k1","payload":"\"Hello\""})"
            "\n");
}

TEST(FormatJson, NullKeyAndPayload) {
  EXPECT_EQ(json_line(message(std::nullopt)),
            R"({"topic":"Sport","partition":2,"offset":41,"tstype":"create","ts":1718000000123,)"
            R"("broker":1,"key":null,"payload":null})"
            "\n");
  EXPECT_NE(json_line(message("", "")).find(R"("key":"","payload":"")"), std::string::npos);
}

TEST(FormatJson, TimestampTypes) {
  auto m = message("x");
  m.tstype = TimestampType::log_append;
  EXPECT_NE(json_line(m).find(R"("tstype":"logappend","ts":1718000000123)"), std::string::npos);
  m.tstype = TimestampType::unknown;
  m.timestamp = -1;
  m.broker = -1;
  EXPECT_NE(json_line(m).find(R"("tstype":"unknown","ts":-1,"broker":-1)"), std::string::npos);
}

TEST(FormatJson, HeadersOnlyWhenPresent) {
  auto m = message("x");
  EXPECT_EQ(json_line(m).find("headers"), std::string::npos);
  m.has_headers = true;
  m.headers = {{"h1", "v1"}, {"h2", ""}, {"nullh", std::nullopt}};
  EXPECT_NE(
      json_line(m).find(R"("broker":1,"headers":["h1","v1","h2","","nullh",null],"key":null)"),
      std::string::npos)
      << json_line(m);
}

// Checked against kcat -J output on Kafka 4.1: yajl escaping, uppercase \u00XX, DEL, '/' and
// UTF-8 unescaped.
TEST(FormatJson, EscapesLikeKcat) {
  std::string out;
  EXPECT_TRUE(
      append_json_string("with\ttab\x01"
                         "ctl \xc3\xa9 \xf0\x9f\x98\x80 \"q\" \\ /",
                         out));
  EXPECT_EQ(out, "\"with\\ttab\\u0001ctl \xc3\xa9 \xf0\x9f\x98\x80 \\\"q\\\" \\\\ /\"");
  out.clear();
  EXPECT_TRUE(
      append_json_string("a\x1f"
                         "b\x7f"
                         "c\b\f\r\n",
                         out));
  EXPECT_EQ(out,
            "\"a\\u001Fb\x7f"
            "c\\b\\f\\r\\n\"");
}

TEST(FormatJson, InvalidUtf8IsReplacedAndKeptAsBase64) {
  std::string payload("\xff\xfe bin", 6);
  std::string line = json_line(message(payload, "ok"));
  EXPECT_NE(line.find("\"key\":\"ok\",\"payload\":\"\xEF\xBF\xBD\xEF\xBF\xBD bin\","
                      "\"payload_base64\":\"//4gYmlu\"}"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("key_base64"), std::string::npos);
  // The line is valid JSON.
  auto doc = nlohmann::json::parse(line);
  EXPECT_EQ(doc["payload_base64"], "//4gYmlu");
}

TEST(FormatJson, MaximalInvalidSubpartsBecomeOneReplacementEach) {
  std::string out;
  // Truncated 3-byte sequence (E2 82) then 'x'; overlong C0 AF; surrogate ED A0 80.
  EXPECT_FALSE(append_json_string("\xe2\x82x\xc0\xaf\xed\xa0\x80", out));
  EXPECT_EQ(out, "\"\xEF\xBF\xBDx\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_TRUE(nlohmann::json::accept(out));
}

TEST(FormatJson, EveryLineParsesAsJson) {
  auto m = message("{\"a\":1}", "key with \"quotes\"\n");
  auto doc = nlohmann::json::parse(json_line(m));
  EXPECT_EQ(doc["topic"], "Sport");
  EXPECT_EQ(doc["partition"], 2);
  EXPECT_EQ(doc["offset"], 41);
  EXPECT_EQ(doc["key"], "key with \"quotes\"\n");
  EXPECT_EQ(doc["payload"], "{\"a\":1}");
}

TEST(Base64, Padding) {
  auto b64 = [](std::string_view s) {
    std::string out;
    append_base64(s, out);
    return out;
  };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
}

TEST(FormatPartitions, GroupsByTopic) {
  EXPECT_EQ(format_partitions({{"Sport", 2}, {"AI", 0}, {"Sport", 0}, {"Sport", 1}}),
            "AI[0], Sport[0,1,2]");
  EXPECT_EQ(format_partitions({}), "");
}

}  // namespace
}  // namespace speedlayer::consume
