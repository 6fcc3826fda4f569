#include "core/units.h"

#include <gtest/gtest.h>

namespace speedlayer {
namespace {

TEST(ParseDuration, AcceptsTheDocumentedUnits) {
  EXPECT_EQ(parse_duration("500ms", "--x")->count(), 500);
  EXPECT_EQ(parse_duration("10s", "--x")->count(), 10'000);
  EXPECT_EQ(parse_duration("5m", "--x")->count(), 300'000);
  EXPECT_EQ(parse_duration("1h", "--x")->count(), 3'600'000);
  EXPECT_EQ(parse_duration("250ms", "--x")->count(), 250);
  EXPECT_EQ(parse_duration("0", "--x")->count(), 0);
  EXPECT_EQ(parse_duration("1.5s", "--x")->count(), 1500);
}

TEST(ParseDuration, RejectsGarbageNamingTheFlag) {
  auto r = parse_duration("ten seconds", "--window");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::usage);
  EXPECT_EQ(r.error().where, "--window");
  EXPECT_NE(r.error().message().find("ten seconds"), std::string::npos);
  EXPECT_FALSE(parse_duration("10y", "--x"));
  EXPECT_FALSE(parse_duration("-5s", "--x"));
  EXPECT_FALSE(parse_duration("", "--x"));
}

TEST(ParseDuration, BareNumberIsRefusedWithTheWayToWriteIt) {
  // "--window 60" silently meant 60 ms.
  auto r = parse_duration("60", "--window");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::usage);
  EXPECT_EQ(r.error().message(),
            "--window: invalid duration '60': a number needs a unit: write 60s or 60ms "
            "(write it like 500ms, 10s, 5m or 1h)");
  EXPECT_FALSE(parse_duration("1.5", "--x"));
}

TEST(ParseDuration, OverflowIsRefusedNotWrapped) {
  // Above 2^31 ms the timeouts built from durations wrapped around (a false exit 3).
  EXPECT_EQ(*parse_duration("24d", "--x"), std::chrono::days(24));
  EXPECT_EQ(*parse_duration("2147483647ms", "--x"), kMaxDuration);
  for (const char* big : {"25d", "2147483648ms", "1e300h", "99999999999999999999d"}) {
    auto r = parse_duration(big, "--connect-timeout");
    ASSERT_FALSE(r) << big;
    EXPECT_EQ(r.error().where, "--connect-timeout");
    EXPECT_NE(r.error().what.find("too large"), std::string::npos) << r.error().what;
  }
  EXPECT_FALSE(parse_duration("inf s", "--x"));
  EXPECT_FALSE(parse_duration("nan", "--x"));
}

TEST(ParseBytes, OverflowIsRefused) {
  EXPECT_FALSE(parse_bytes("1e19", "--m"));
  EXPECT_FALSE(
      parse_bytes("16Gi"
                  "Gi",
                  "--m"));
  EXPECT_FALSE(parse_bytes("9999999999GiB", "--m"));
  EXPECT_EQ(*parse_bytes("1e18", "--m"), 1'000'000'000'000'000'000ull);
}

TEST(ParseBytes, BinaryAndDecimalUnits) {
  EXPECT_EQ(*parse_bytes("128Mi", "--m"), 128ull << 20);
  EXPECT_EQ(*parse_bytes("64M", "--m"), 64'000'000ull);
  EXPECT_EQ(*parse_bytes("1Gi", "--m"), 1ull << 30);
  EXPECT_EQ(*parse_bytes("4096", "--m"), 4096ull);
  EXPECT_FALSE(parse_bytes("12 parsecs", "--m"));
}

TEST(ErrorMessage, NamesWhereWhatAndHint) {
  Error e{ErrorKind::usage, "bad value", "routes.yaml:3", "fix it"};
  EXPECT_EQ(e.message(), "routes.yaml:3: bad value (fix it)");
  EXPECT_EQ(exit_code(e), 2);
  EXPECT_EQ(exit_code(Error{ErrorKind::unreachable, "x", "", ""}), 3);
}

}  // namespace
}  // namespace speedlayer
