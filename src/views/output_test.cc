// The output topic's closed-window record (output.h).
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "views/views.h"
#include "views/views_test_support.h"

namespace speedlayer::views {
namespace {

using test_support::Config;

TEST(Output, KeyAndAdditiveValue) {
  EXPECT_EQ(output_key("my.topic", -60'000, 2), "my.topic|-60000|2");
  Partial p;
  p.count = 3;
  p.terms = {{"b", 2}, {"a", 2}, {"c", 1}};
  WindowConfig cfg = Config();
  cfg.top_k = 2;
  EXPECT_EQ(encode_output("Sport", 1, 60'000, p, cfg),
            "{\"topic\":\"Sport\",\"partition\":1,\"start\":60000,\"end\":120000,\"count\":3,"
            "\"top\":[{\"term\":\"a\",\"count\":2},{\"term\":\"b\",\"count\":2}],"
            "\"terms\":{\"a\":2,\"b\":2,\"c\":1},\"term_error\":0,\"late\":0}");
  p.late = 4;
  EXPECT_EQ(encode_output("Sport", 1, 60'000, p, cfg, /*all_terms=*/false, "g"),
            "{\"group\":\"g\",\"topic\":\"Sport\",\"partition\":1,\"start\":60000,"
            "\"end\":120000,\"count\":3,"
            "\"top\":[{\"term\":\"a\",\"count\":2},{\"term\":\"b\",\"count\":2}],"
            "\"term_error\":0,\"late\":4}");
  EXPECT_TRUE(nlohmann::json::accept(encode_output("t", 0, 0, Partial{}, cfg)));
}

// The output's "terms" object is written by hand for speed: it must be byte for byte what
// nlohmann's dump of the same map writes (sorted keys, escapes, invalid UTF-8 replaced).
TEST(Output, TermsObjectMatchesNlohmannDumpForAnyTerm) {
  Partial p;
  p.count = 1;
  p.terms = {{"z", 1},
             {"a", 18446744073709551615ull},
             {"it's", 2},
             {"caf\xc3\xa9", 3},
             {"q\"uote", 4},
             {"back\\slash", 5},
             {"tab\there", 6},
             {std::string("nul\0x", 5), 7},
             {"bad\xff\xfe", 8},
             {"", 9},
             {"\xe2\x82\xac", 10},
             {"A", 11}};
  std::mt19937 rng(3);
  for (int i = 0; i < 2'000; ++i) p.terms.emplace("w" + std::to_string(rng()), rng() % 1'000);
  nlohmann::json expected = nlohmann::json::object();
  for (const auto& [term, n] : p.terms) expected[term] = n;
  const std::string out = encode_output("t", 0, 0, p, Config());
  const std::string want =
      ",\"terms\":" + expected.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
      ",\"term_error\":0,\"late\":0}";
  ASSERT_GE(out.size(), want.size());
  EXPECT_EQ(out.substr(out.size() - want.size()), want);
  EXPECT_TRUE(nlohmann::json::accept(out));
}

}  // namespace
}  // namespace speedlayer::views
