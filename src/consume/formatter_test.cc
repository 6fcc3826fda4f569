#include "consume/formatter.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace speedlayer::consume {
namespace {

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

TEST(FormatText, JsonStringWithNewlinePrintsAsIs) {
  EXPECT_EQ(text(R"("line one\nline two")"), "line one\nline two\n");
}

TEST(FormatText, OtherJsonIsCompact) {
  EXPECT_EQ(text(R"({ "a" : [1, 2], "b": "x" })"), "{\"a\":[1,2],\"b\":\"x\"}\n");
  EXPECT_EQ(text("42"), "42\n");
  EXPECT_EQ(text("true"), "true\n");
}

TEST(FormatText, RawBytesUnchanged) {
  EXPECT_EQ(text("plain text, not JSON"), "plain text, not JSON\n");
  std::string binary("\x00\xff\xfe bin", 7);
  EXPECT_EQ(text(binary), binary + "\n");
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
  EXPECT_NE(json_line(m).find(R"("broker":1,"headers":["h1","v1","h2","","nullh",null],"key":null)"),
            std::string::npos)
      << json_line(m);
}

// Checked against kcat -J output on Kafka 4.1: yajl escaping, uppercase \u00XX, DEL, '/' and
// UTF-8 unescaped.
TEST(FormatJson, EscapesLikeKcat) {
  std::string out;
  EXPECT_TRUE(append_json_string("with\ttab\x01" "ctl \xc3\xa9 \xf0\x9f\x98\x80 \"q\" \\ /", out));
  EXPECT_EQ(out, "\"with\\ttab\\u0001ctl \xc3\xa9 \xf0\x9f\x98\x80 \\\"q\\\" \\\\ /\"");
  out.clear();
  EXPECT_TRUE(append_json_string("a\x1f" "b\x7f" "c\b\f\r\n", out));
  EXPECT_EQ(out, "\"a\\u001Fb\x7f" "c\\b\\f\\r\\n\"");
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
  EXPECT_EQ(out,
            "\"\xEF\xBF\xBDx\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
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
