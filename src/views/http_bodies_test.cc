// The HTTP bodies of the views (view_store.h: to_json).
#include <gtest/gtest.h>

#include <vector>

#include "views/views.h"
#include "views/views_test_support.h"

namespace speedlayer::views {
namespace {

using test_support::Config;
using test_support::Flush;

TEST(ToJson, ExactViewBody) {
  ViewStore store(Config(60'000, 10'000, 10'000, /*top_k=*/2));
  PartitionAggregator p0("Sport", 0, Config());
  PartitionAggregator p1("Sport", 1, Config());
  p0.add(1'000, "Messi goal");
  p1.add(2'000, "messi \"goal\" caf\xc3\xa9");
  p1.add(61'000, "basketball");
  p0.add(-100'000, "late");
  Flush(p0, store);
  Flush(p1, store);
  EXPECT_EQ(
      to_json(*store.view("Sport", {}, {}, 0)),
      "{\"topic\":\"Sport\",\"window_ms\":60000,\"late\":1,\"windows\":["
      "{\"start\":0,\"end\":60000,\"count\":2,\"final\":false,\"late\":0,\"term_error\":0,"
      "\"top\":[{\"term\":\"goal\",\"count\":2,\"error\":0,\"guaranteed\":true},"
      "{\"term\":\"messi\",\"count\":2,\"error\":0,\"guaranteed\":true}]},"
      "{\"start\":60000,\"end\":120000,\"count\":1,\"final\":false,\"late\":0,\"term_error\":0,"
      "\"top\":[{\"term\":\"basketball\",\"count\":1,\"error\":0,\"guaranteed\":true}]}]}");
  TopicView empty;
  empty.topic = "a\"b";
  empty.window_ms = 1000;
  EXPECT_EQ(to_json(empty), R"({"topic":"a\"b","window_ms":1000,"late":0,"windows":[]})");
}

TEST(ToJson, ViewSaysWhichFiltersApplied) {
  WindowConfig config = Config(60'000, 10'000, 10'000, /*top_k=*/3);
  auto filters = std::make_shared<text::TermFilters>();
  filters->default_filter = *text::TermFilter::build({.stop_words = "en", .min_term_chars = 3});
  filters->per_topic["AI"] = text::TermFilter::none();
  config.filters = filters;
  ViewStore store(config);
  PartitionAggregator sport("Sport", 0, config);
  PartitionAggregator ai("AI", 0, config);
  sport.add(1'000, "The goal of the 2 Messi goals is a GOAL");
  ai.add(1'000, "The AI is an AI");
  Flush(sport, store);
  Flush(ai, store);
  EXPECT_EQ(to_json(*store.view("Sport", {}, {}, 0)),
            "{\"topic\":\"Sport\",\"window_ms\":60000,\"late\":0,"
            "\"filters\":{\"stop_words\":[\"en\"],\"stop_word_count\":" +
                std::to_string(filters->default_filter->stop_word_count()) +
                ",\"min_term_chars\":3,\"drop_numbers\":true},\"windows\":["
                "{\"start\":0,\"end\":60000,\"count\":1,\"final\":false,\"late\":0,"
                "\"term_error\":0,\"top\":[{\"term\":\"goal\",\"count\":2,\"error\":0,"
                "\"guaranteed\":true},{\"term\":\"goals\",\"count\":1,\"error\":0,"
                "\"guaranteed\":true},{\"term\":\"messi\",\"count\":1,\"error\":0,"
                "\"guaranteed\":true}]}]}");
  // A topic's own filter (here none): every term, the record count unchanged.
  const std::string body = to_json(*store.view("AI", {}, {}, 0));
  EXPECT_NE(body.find("\"filters\":{\"stop_words\":[],\"stop_word_count\":0,"
                      "\"min_term_chars\":1,\"drop_numbers\":false}"),
            std::string::npos)
      << body;
  EXPECT_NE(body.find("{\"term\":\"ai\",\"count\":2"), std::string::npos) << body;
  EXPECT_NE(body.find("{\"term\":\"an\",\"count\":1"), std::string::npos) << body;  // a stop word
}

TEST(ToJson, ExactTopicsBody) {
  ViewStore store(Config());
  PartitionAggregator a("AI", 0, Config());
  a.add(1'000, "ml");
  a.add(61'000, "ml");
  a.add_malformed(Malformed::invalid_utf8);
  PartitionAggregator s("Sport", 2, Config());
  s.add(1'000, "messi");
  Flush(a, store);
  Flush(s, store);
  EXPECT_EQ(to_json(store.totals()),
            "{\"topics\":["
            "{\"topic\":\"AI\",\"count\":2,\"late\":0,\"expired\":0,\"consumed\":3,"
            "\"long_terms\":0,\"windows\":2,\"partitions\":1,\"malformed\":{\"invalid_utf8\":1}},"
            "{\"topic\":\"Sport\",\"count\":1,\"late\":0,\"expired\":0,\"consumed\":1,"
            "\"long_terms\":0,\"windows\":1,\"partitions\":1,\"malformed\":{}}]}");
  EXPECT_EQ(to_json(std::vector<TopicTotals>{}), "{\"topics\":[]}");
}

}  // namespace
}  // namespace speedlayer::views
