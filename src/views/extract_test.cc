// Text extraction (extract.h): simdjson and nlohmann paths.
#include <gtest/gtest.h>

#include <cstddef>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "views/views.h"

namespace speedlayer::views {
namespace {

// ---- extract_text -------------------------------------------------------------------------

TEST(ExtractText, JsonString) {
  auto e = extract_text("\"Hello world\"", "text", "", 1 << 20);
  EXPECT_EQ(e.problem, Malformed::none);
  EXPECT_EQ(e.text, "Hello world");
  EXPECT_FALSE(e.event_time);
  e = extract_text(R"( "caf\u00e9 \"x\" \ud83d\ude00" )", "text", "ts", 1 << 20);
  EXPECT_EQ(e.problem, Malformed::none);
  EXPECT_EQ(e.text, "caf\xc3\xa9 \"x\" \xf0\x9f\x98\x80");
  EXPECT_FALSE(e.event_time);
  e = extract_text("\"\"", "text", "", 10);
  EXPECT_EQ(e.problem, Malformed::none);
  EXPECT_EQ(e.text, "");
}

TEST(ExtractText, ObjectWithTextAndTimeFields) {
  auto e = extract_text(R"({"id":1,"text":"AI now","ts":1700000000123})", "text", "ts", 1 << 20);
  EXPECT_EQ(e.problem, Malformed::none);
  EXPECT_EQ(e.text, "AI now");
  EXPECT_EQ(e.event_time, 1'700'000'000'123);
  e = extract_text(R"({"body":"x","at":"2024-01-02T03:04:05.678Z"})", "body", "at", 1 << 20);
  EXPECT_EQ(e.text, "x");
  EXPECT_EQ(e.event_time, 1'704'164'645'678);
  e = extract_text(R"({"text":"x","at":"2024-01-02T05:04:05.678+02:00"})", "text", "at", 1000);
  EXPECT_EQ(e.event_time, 1'704'164'645'678);
  e = extract_text(R"({"text":"x","at":"2024-01-02 03:04:05.6789-0130"})", "text", "at", 1000);
  EXPECT_EQ(e.event_time, 1'704'164'645'678 + 90 * 60'000);
  e = extract_text(R"({"text":"x","at":"2024-02-29"})", "text", "at", 1000);
  EXPECT_EQ(e.event_time, 1'709'164'800'000);
  e = extract_text(R"({"text":"x","at":"1969-12-31T23:59:59"})", "text", "at", 1000);
  EXPECT_EQ(e.event_time, -1'000);
  e = extract_text(R"({"text":"x","at":"1700000000123"})", "text", "at", 1000);
  EXPECT_EQ(e.event_time, 1'700'000'000'123);
  e = extract_text(R"({"text":"x","at":-5})", "text", "at", 1000);
  EXPECT_EQ(e.event_time, -5);
  e = extract_text(R"({"text":"x","at":12.9})", "text", "at", 1000);
  EXPECT_EQ(e.event_time, 12);
  // Absent or unparsable time: nullopt (the caller uses the Kafka timestamp).
  for (const char* v :
       {R"({"text":"x"})", R"({"text":"x","at":"yesterday"})", R"({"text":"x","at":"2023-02-29"})",
        R"({"text":"x","at":"2024-01-02T25:00"})", R"({"text":"x","at":null})",
        R"({"text":"x","at":1e300})", R"({"text":"x","at":"2024-01-02T03:04:05Zjunk"})"}) {
    e = extract_text(v, "text", "at", 1000);
    EXPECT_EQ(e.problem, Malformed::none) << v;
    EXPECT_EQ(e.text, "x") << v;
    EXPECT_FALSE(e.event_time) << v;
  }
  e = extract_text(R"({"text":"x","ts":1})", "text", "", 1000);  // no time field asked
  EXPECT_FALSE(e.event_time);
}

TEST(ExtractText, RawText) {
  for (const char* v : {"Hello world", "hello {not json", "{\"text\": broken", "42", "[\"a\"]",
                        "\"unterminated", ""}) {
    auto e = extract_text(v, "text", "ts", 1 << 20);
    EXPECT_EQ(e.problem, Malformed::none) << v;
    EXPECT_EQ(e.text, v);
    EXPECT_FALSE(e.event_time);
  }
  auto e = extract_text("tab\tnewline\n\r ok caf\xc3\xa9", "text", "", 100);
  EXPECT_EQ(e.problem, Malformed::none);
}

TEST(ExtractText, Malformed) {
  EXPECT_EQ(extract_text("ok\xc0\xaf", "text", "", 100).problem, Malformed::invalid_utf8);
  EXPECT_EQ(extract_text("\"\xed\xa0\x80\"", "text", "", 100).problem, Malformed::invalid_utf8);
  EXPECT_EQ(extract_text(std::string_view("bin\0ary", 7), "text", "", 100).problem,
            Malformed::binary);
  EXPECT_EQ(extract_text(std::string_view("\x00\xff\x01", 3), "text", "", 100).problem,
            Malformed::binary);
  EXPECT_EQ(extract_text("bell\x07", "text", "", 100).problem, Malformed::binary);
  EXPECT_EQ(extract_text(R"("a\u0000b")", "text", "", 100).problem, Malformed::binary);
  EXPECT_EQ(extract_text(R"({"text":"a\u0001b"})", "text", "", 100).problem, Malformed::binary);
  EXPECT_EQ(extract_text(std::string(101, 'a'), "text", "", 100).problem, Malformed::too_large);
  EXPECT_EQ(extract_text(std::string(100, 'a'), "text", "", 100).problem, Malformed::none);
  EXPECT_EQ(extract_text(R"({"body":"x"})", "text", "", 100).problem, Malformed::no_text);
  EXPECT_EQ(extract_text(R"({"text":5})", "text", "", 100).problem, Malformed::no_text);
  EXPECT_EQ(extract_text(R"({"text":null})", "text", "", 100).problem, Malformed::no_text);
  EXPECT_EQ(extract_text(R"({})", "text", "", 100).problem, Malformed::no_text);
  EXPECT_EQ(extract_text(R"({"text":"x"})", "", "", 100).problem, Malformed::no_text);
  auto e = extract_text(std::string(1000, '\xff'), "text", "", 100);
  EXPECT_EQ(e.problem, Malformed::too_large);
  EXPECT_TRUE(e.text.empty());
}

// Values longer than one 16-byte step of the byte scan: every position is checked.
TEST(ExtractText, LongValuesAreCheckedThroughout) {
  const std::string filler(37, 'w');
  auto json_string = [&](std::string_view middle) {
    return "\"" + filler + std::string(middle) + filler + "\"";
  };
  EXPECT_EQ(extract_text(json_string("\x07"), "text", "", 1000).problem, Malformed::binary);
  EXPECT_EQ(extract_text(json_string("\x7f"), "text", "", 1000).problem, Malformed::binary);
  EXPECT_EQ(extract_text(json_string(std::string_view("\0", 1)), "text", "", 1000).problem,
            Malformed::binary);
  EXPECT_EQ(extract_text(json_string("\xc0\xaf"), "text", "", 1000).problem,
            Malformed::invalid_utf8);
  auto e = extract_text(json_string("\t caf\xc3\xa9\r\n"), "text", "", 1000);
  EXPECT_EQ(e.problem, Malformed::none);
  EXPECT_EQ(e.text, filler + "\t caf\xc3\xa9\r\n" + filler);
  e = extract_text(json_string(R"(\"quoted\" \u00e9)"), "text", "", 1000);  // escapes: decoded
  EXPECT_EQ(e.problem, Malformed::none);
  EXPECT_EQ(e.text, filler + "\"quoted\" \xc3\xa9" + filler);
  // Quotes inside: not one JSON string, so raw text as is.
  const std::string two = "\"" + filler + "\" \"" + filler + "\"";
  EXPECT_EQ(extract_text(two, "text", "", 1000).text, two);
}

TEST(ExtractText, ViewPointsIntoTheValueOrTheScratchBuffer) {
  std::string scratch;
  const std::string plain = "  \"Hello plain world, no escapes at all here\"\n";
  auto v = extract_text_view(plain, "text", "", 1000, scratch);
  EXPECT_EQ(v.problem, Malformed::none);
  EXPECT_EQ(v.text, "Hello plain world, no escapes at all here");
  EXPECT_EQ(v.text.data(), plain.data() + 3);  // no copy
  const std::string escaped = R"("tab\tand \"quotes\" in a longer JSON string")";
  v = extract_text_view(escaped, "text", "", 1000, scratch);
  EXPECT_EQ(v.text, "tab\tand \"quotes\" in a longer JSON string");
  EXPECT_EQ(v.text.data(), scratch.data());
  const std::string object = R"({"text":"from an object","ts":1700000000123})";
  v = extract_text_view(object, "text", "ts", 1000, scratch);
  EXPECT_EQ(v.text, "from an object");
  EXPECT_EQ(v.event_time, 1'700'000'000'123);
  const std::string raw = "just some raw text that is not JSON";
  v = extract_text_view(raw, "text", "", 1000, scratch);
  EXPECT_EQ(v.text.data(), raw.data());
  EXPECT_EQ(v.text.size(), raw.size());
  v = extract_text_view(raw, "text", "", 10, scratch);
  EXPECT_EQ(v.problem, Malformed::too_large);
  EXPECT_TRUE(v.text.empty());
}

// simdjson decodes JSON values first and nlohmann has the last word on what simdjson turns
// down: on every value simdjson takes, both must agree (text, problem, event time), or the
// views would depend on which parser ran. Random documents with duplicate and escaped keys,
// every kind of number and escape (lone surrogates included), and broken ones.
TEST(ExtractText, SimdjsonAgreesWithNlohmannOnEveryValueItTakes) {
  std::mt19937 rng(20261128);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  const std::vector<std::string> string_parts = {
      "AI",        "messi",           " ",         "Caf\xc3\xa9", R"(\")",
      R"(\\)",     R"(\/)",           R"(\n)",     R"(\t)",       R"(\u00e9)",
      R"(\u0041)", R"(\ud83d\ude00)", R"(\ud800)", R"(\udc00)",   R"(\ud800\u0041)",
      R"(\u0000)", R"(\u001f)",       R"(\x)",     "\t",          "\xf0\x9f\x98\x80",
      "2024"};
  const std::vector<std::string> numbers = {"0",
                                            "-0",
                                            "12",
                                            "-5",
                                            "1700000000123",
                                            "9007199254740991",
                                            "9007199254740992",
                                            "-9007199254740992",
                                            "9223372036854775807",
                                            "9223372036854775808",
                                            "18446744073709551615",
                                            "18446744073709551616",
                                            "-9223372036854775808",
                                            "-9223372036854775809",
                                            "12.9",
                                            "-0.5",
                                            "1e3",
                                            "1E-2",
                                            "2.5e+2",
                                            "1e400",
                                            "-1e400",
                                            "1.7e12",
                                            "01",
                                            "1.",
                                            ".5",
                                            "-",
                                            "0x10",
                                            "1e",
                                            "123456789012345678901234567890"};
  const std::vector<std::string> keys = {"text", "ts",   "t\\u0065xt", "\\u0074s", "id",
                                         "",     "Text", "text ",      "body"};
  const std::vector<std::string> times = {"\"2024-01-02T03:04:05.678Z\"", "\"1700000000123\"",
                                          "\"yesterday\"", "\"-5\"", "\"\""};
  std::function<std::string(int)> value = [&](int depth) -> std::string {
    switch (rng() % (depth > 2 ? 4 : 6)) {
      case 0: {
        std::string s = "\"";
        for (unsigned n = rng() % 5; n > 0; --n) s += pick(string_parts);
        return s + "\"";
      }
      case 1:
        return pick(numbers);
      case 2:
        return pick({"true", "false", "null"});
      case 3:
        return pick(times);
      case 4: {
        std::string a = "[";
        for (unsigned n = rng() % 4; n > 0; --n) a += value(depth + 1) + (n > 1 ? "," : "");
        return a + "]";
      }
      default: {
        std::string o = "{";
        for (unsigned n = rng() % 5; n > 0; --n)
          o += "\"" + pick(keys) + "\":" + value(depth + 1) + (n > 1 ? "," : "");
        return o + "}";
      }
    }
  };
  std::size_t taken = 0, nlohmann_only = 0, with_time = 0, with_text = 0;
  for (int i = 0; i < 50'000; ++i) {
    std::string doc;
    if (rng() % 5 == 0) {
      doc = "\"";
      for (unsigned n = rng() % 6; n > 0; --n) doc += pick(string_parts);
      doc += "\"";
    } else {
      doc = "{";
      for (unsigned n = rng() % 6; n > 0; --n) {
        const unsigned k = rng() % 4;
        const std::string key = k == 0 ? "text" : k == 1 ? "ts" : pick(keys);
        std::string v = value(1);
        if (key == "text" && rng() % 2) v = "\"AI messi\"";
        if (key == "ts" && rng() % 3) v = rng() % 2 ? pick(numbers) : pick(times);
        doc += "\"" + key + "\":" + v + (n > 1 ? "," : "");
      }
      doc += "}";
    }
    switch (rng() % 8) {  // break some
      case 0:
        doc.resize(rng() % doc.size());
        break;
      case 1:
        doc.insert(rng() % (doc.size() + 1), 1, "{}[],:\" x\\"[rng() % 10]);
        break;
      case 2:
        doc += pick({" x", ",", "}", " {}"});
        break;
      default:
        break;
    }
    const std::string text_field = rng() % 10 == 0 ? "" : "text";
    const std::string time_field = rng() % 4 == 0 ? "" : "ts";
    std::string simd_scratch, nl_scratch;
    ExtractedView simd, nl;
    const bool simd_took =
        detail::extract_json_with_simdjson(doc, text_field, time_field, simd_scratch, simd);
    const bool nl_took =
        detail::extract_json_with_nlohmann(doc, text_field, time_field, nl_scratch, nl);
    if (!simd_took) {
      nlohmann_only += nl_took;
      continue;
    }
    ++taken;
    ASSERT_TRUE(nl_took) << "simdjson took what nlohmann refuses: " << doc;
    ASSERT_EQ(simd.problem, nl.problem) << doc;
    ASSERT_EQ(simd.text, nl.text) << doc;
    ASSERT_EQ(simd.event_time, nl.event_time) << doc;
    with_text += simd.problem == Malformed::none && !simd.text.empty();
    with_time += simd.event_time.has_value();
  }
  // The generator reaches the interesting cases, and simdjson takes nearly all of what
  // nlohmann takes (it turns down integers beyond 64 bits).
  EXPECT_GT(taken, 20'000u);
  EXPECT_GT(with_text, 5'000u);
  EXPECT_GT(with_time, 500u);
  EXPECT_LT(nlohmann_only * 10, taken) << nlohmann_only << " of " << taken + nlohmann_only;
}

TEST(ExtractText, MalformedNames) {
  EXPECT_EQ(malformed_name(Malformed::none), "none");
  EXPECT_EQ(malformed_name(Malformed::invalid_utf8), "invalid_utf8");
  EXPECT_EQ(malformed_name(Malformed::too_large), "too_large");
  EXPECT_EQ(malformed_name(Malformed::binary), "binary");
  EXPECT_EQ(malformed_name(Malformed::no_text), "no_text");
  EXPECT_EQ(malformed_name(Malformed::too_deep), "too_deep");
}

TEST(ExtractText, DeeplyNestedObjectIsMalformedNotACrash) {
  // Deeper than json::kMaxJsonDepth: counted as malformed (too_deep), like produce refuses it.
  auto nested = [](std::size_t depth) {
    return "{\"text\":\"x\",\"a\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
  };
  for (std::size_t depth : {50'000u, 1'500u, 600u}) {  // beyond simdjson's 1,024 and between
    auto e = extract_text(nested(depth), "text", "", 1 << 20);
    EXPECT_EQ(e.problem, Malformed::too_deep) << depth;
  }
  auto ok = extract_text(nested(400), "text", "", 1 << 20);
  EXPECT_EQ(ok.problem, Malformed::none);
  EXPECT_EQ(ok.text, "x");
}

}  // namespace
}  // namespace speedlayer::views
