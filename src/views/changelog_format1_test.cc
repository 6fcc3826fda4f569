// The changelog's format 1 keys and values (changelog_codec.h), as earlier versions wrote them.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "views/views.h"

namespace speedlayer::views {
namespace {

using ::testing::TestWithParam;
using namespace std::literals;

// ---- changelog encoding -------------------------------------------------------------------

TEST(Changelog, KeysRoundTripWithDotsAndDashes) {
  EXPECT_EQ(changelog_window_key("my.topic-1_x", 3, -60'000), "w|my.topic-1_x|3|-60000");
  EXPECT_EQ(changelog_state_key("a.b-c", 0), "p|a.b-c|0");
  auto w = parse_changelog_key("w|my.topic-1_x|3|-60000");
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_TRUE(w->is_window());
  EXPECT_EQ(w->topic, "my.topic-1_x");
  EXPECT_EQ(w->partition, 3);
  EXPECT_EQ(w->start, -60'000);
  auto p = parse_changelog_key("p|a.b-c|12");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->is_window());
  EXPECT_EQ(p->topic, "a.b-c");
  EXPECT_EQ(p->partition, 12);
  auto big = parse_changelog_key(changelog_window_key("t", 2147483647, 1'704'164'640'000));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->partition, 2147483647);
  EXPECT_EQ(big->start, 1'704'164'640'000);
}

TEST(Changelog, BadKeys) {
  for (const char* key :
       {"", "x|t|0", "w|t|0", "w|t|0|1|2", "w||0|1", "w|t|-1|0", "w|t|0|abc", "w|t||0", "p|t|0|5",
        "p|t", "w|t|2147483648|0", "w|t|0|1x", "w|t|+1|0", "p|t|0 "}) {
    auto k = parse_changelog_key(key);
    ASSERT_FALSE(k) << key;
    EXPECT_EQ(k.error().kind, ErrorKind::invalid_data) << key;
    EXPECT_EQ(k.error().where, key);
    EXPECT_FALSE(k.error().what.empty());
  }
}

TEST(Changelog, PartialRoundTrip) {
  Partial p;
  p.count = 7;
  p.terms = {{"messi", 5}, {"caf\xc3\xa9", 1}, {"it's", 2}};
  p.term_error = 3;
  p.closed = true;
  const std::string enc = encode_partial(p);
  auto d = decode_partial(enc);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->count, 7u);
  EXPECT_EQ(d->terms, p.terms);
  EXPECT_EQ(d->term_error, 3u);
  EXPECT_TRUE(d->closed);
}

TEST(Changelog, PartialBinaryLayout) {
  // The documented layout (views.h), byte for byte; counts past 127 take two varint bytes.
  Partial p;
  p.count = 300;
  p.terms = {{"ai", 200}};
  p.term_error = 1;
  const std::string enc = encode_partial(p);
  EXPECT_EQ(enc, std::string("\x01\xac\x02\x01\x00\x01\x02"
                             "ai"
                             "\xc8\x01",
                             11));
  Partial big;
  big.count = std::numeric_limits<std::uint64_t>::max();
  big.term_error = std::numeric_limits<std::uint64_t>::max() - 1;
  big.terms = {{std::string(300, 'x'), std::numeric_limits<std::uint64_t>::max()}, {"", 0}};
  auto d = decode_partial(encode_partial(big));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->count, big.count);
  EXPECT_EQ(d->term_error, big.term_error);
  EXPECT_EQ(d->terms, big.terms);
}

TEST(Changelog, PartialJsonOfEarlierVersionsIsRead) {
  auto old = decode_partial(
      "{\"closed\":true,\"count\":7,\"term_error\":3,\"terms\":{\"caf\xc3\xa9\":1,\"messi\":5}}");
  ASSERT_TRUE(old) << old.error().message();
  EXPECT_EQ(old->count, 7u);
  EXPECT_EQ(old->term_error, 3u);
  EXPECT_TRUE(old->closed);
  EXPECT_EQ(old->terms, (TermCounts{{"caf\xc3\xa9", 1}, {"messi", 5}}));
  auto minimal = decode_partial(R"({"count":0,"terms":{}})");
  ASSERT_TRUE(minimal);
  EXPECT_FALSE(minimal->closed);
  EXPECT_EQ(minimal->term_error, 0u);
}

TEST(Changelog, StateRoundTrip) {
  PartitionState s;
  s.stream_time = -1;
  s.late = 4;
  s.consumed = 99;
  s.malformed = {{"binary", 2}, {"no_text", 1}};
  const std::string enc = encode_state(s);
  EXPECT_EQ(enc,
            "{\"consumed\":99,\"expired\":0,\"late\":4,\"malformed\":{\"binary\":2,\"no_text\":1},"
            "\"stream_time\":-1}");
  auto d = decode_state(enc);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->stream_time, -1);
  EXPECT_EQ(d->late, 4u);
  EXPECT_EQ(d->consumed, 99u);
  EXPECT_EQ(d->malformed, s.malformed);
  s.stream_time = 1'704'164'645'678;
  EXPECT_EQ(decode_state(encode_state(s))->stream_time, 1'704'164'645'678);
}

struct BadValue {
  std::string_view json;  // binary ones are ""sv literals: they hold NUL bytes
  const char* reason;     // a substring of Error::what
};

class BadPartial : public TestWithParam<BadValue> {};
TEST_P(BadPartial, IsInvalidDataWithAReason) {
  auto d = decode_partial(GetParam().json);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind, ErrorKind::invalid_data);
  EXPECT_NE(d.error().what.find(GetParam().reason), std::string::npos) << d.error().what;
}
INSTANTIATE_TEST_SUITE_P(
    Views, BadPartial,
    ::testing::Values(BadValue{"", "not JSON"}, BadValue{"{\"count\":1", "not JSON"},
                      BadValue{"\xff", "not JSON"}, BadValue{"[]", "not a JSON object"},
                      BadValue{"{\"terms\":{}}", "missing field \"count\""},
                      BadValue{"{\"count\":-1,\"terms\":{}}", "\"count\""},
                      BadValue{"{\"count\":1.5,\"terms\":{}}", "\"count\""},
                      BadValue{"{\"count\":\"1\",\"terms\":{}}", "\"count\""},
                      BadValue{"{\"count\":1}", "missing field \"terms\""},
                      BadValue{"{\"count\":1,\"terms\":[]}", "\"terms\" is not an object"},
                      BadValue{"{\"count\":1,\"terms\":{\"a\":\"x\"}}", "\"a\""},
                      BadValue{"{\"count\":1,\"terms\":{\"a\":-2}}", "\"a\""},
                      BadValue{"{\"count\":1,\"terms\":{},\"closed\":1}", "\"closed\""},
                      BadValue{"{\"count\":1,\"terms\":{},\"term_error\":null}", "\"term_error\""},
                      // Binary: cut at every place, bad flag, overlong varint, extra bytes.
                      BadValue{"\x01"sv, "header cut short"},
                      BadValue{"\x01\x05"sv, "header cut short"},
                      BadValue{"\x01\x05\x00"sv, "\"closed\" flag"},
                      BadValue{"\x01\x05\x00\x02\x00"sv, "\"closed\" flag"},
                      BadValue{"\x01\x05\x00\x01"sv, "term count cut short"},
                      BadValue{"\x01\x05\x00\x01\x01"sv, "term 1 of 1 cut short"},
                      BadValue{"\x01\x05\x00\x01\x01\x03"
                               "ab"sv,
                               "term 1 of 1 cut short"},
                      BadValue{"\x01\x05\x00\x01\x01\x02"
                               "ab"sv,
                               "term 1 of 1 cut short"},
                      BadValue{"\x01\x05\x00\x01\x02\x02"
                               "ab\x01"sv,
                               "term 2 of 2 cut short"},
                      BadValue{"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"sv,
                               "header cut short"},
                      BadValue{"\x01\x05\x00\x01\x01\x02"
                               "ab\x01zz"sv,
                               "2 trailing byte(s)"}));

class BadState : public TestWithParam<BadValue> {};
TEST_P(BadState, IsInvalidDataWithAReason) {
  auto d = decode_state(GetParam().json);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind, ErrorKind::invalid_data);
  EXPECT_NE(d.error().what.find(GetParam().reason), std::string::npos) << d.error().what;
}
INSTANTIATE_TEST_SUITE_P(
    Views, BadState,
    ::testing::Values(BadValue{"nope", "not JSON"}, BadValue{"42", "not a JSON object"},
                      BadValue{"{\"late\":0,\"consumed\":0}", "\"stream_time\""},
                      BadValue{"{\"stream_time\":1.5,\"late\":0,\"consumed\":0}",
                               "\"stream_time\""},
                      BadValue{"{\"stream_time\":18446744073709551615,\"late\":0,"
                               "\"consumed\":0}",
                               "\"stream_time\""},
                      BadValue{"{\"stream_time\":1,\"consumed\":0}", "\"late\""},
                      BadValue{"{\"stream_time\":1,\"late\":0,\"consumed\":true}", "\"consumed\""},
                      BadValue{"{\"stream_time\":1,\"late\":0,\"consumed\":0,\"malformed\":[]}",
                               "\"malformed\""}));

}  // namespace
}  // namespace speedlayer::views
