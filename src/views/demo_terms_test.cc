// The demo's views show trends, not stop words: the demo's generator (produce/generator.h)
// routed by the built-in rules and counted per topic as serve counts them (its default term
// filters, text::default_filters()); no topic's top terms hold a stop word or a number.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "produce/generator.h"
#include "routing/matcher.h"
#include "text/filters.h"
#include "views/views.h"

namespace speedlayer::views {
namespace {

std::map<std::string, std::vector<std::string>> DemoTopTerms(
    std::shared_ptr<const text::TermFilters> filters) {
  auto matcher = routing::Matcher::compile(routing::default_route_table());
  EXPECT_TRUE(matcher);
  WindowConfig config;
  config.filters = std::move(filters);
  std::map<std::string, std::unique_ptr<PartitionAggregator>> aggs;
  produce::Generator generator(42, 0);
  for (int i = 0; i < 20'000; ++i) {
    const std::string text(generator.next());
    const std::string& topic = matcher->topic_for(text);
    auto& agg = aggs[topic];
    if (!agg) agg = std::make_unique<PartitionAggregator>(topic, 0, config);
    agg->add(1'000, text);
  }
  std::map<std::string, std::vector<std::string>> top;
  for (const auto& [topic, agg] : aggs) {
    const Partial* p = agg->window(0);
    EXPECT_NE(p, nullptr) << topic;
    if (p == nullptr) continue;
    EXPECT_EQ(p->count, agg->state().consumed);  // filters never change record counts
    std::vector<std::pair<std::string, std::uint64_t>> terms(p->terms.begin(), p->terms.end());
    std::sort(terms.begin(), terms.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    for (std::size_t i = 0; i < terms.size() && i < config.top_k; ++i)
      top[topic].push_back(terms[i].first);
  }
  return top;
}

TEST(DemoTerms, TopTermsHoldNoStopWordAndNoNumber) {
  const auto top = DemoTopTerms(text::default_filters());
  ASSERT_EQ(top.size(), 3u);  // Sport, AI, my-topic
  auto stop = text::TermFilter::build(
      {.stop_words = text::default_stop_words(), .min_term_chars = 1, .drop_numbers = false});
  ASSERT_TRUE(stop);
  for (const auto& [topic, terms] : top) {
    ASSERT_EQ(terms.size(), 10u) << topic;
    for (const std::string& t : terms) {
      EXPECT_FALSE((*stop)->is_stop_word(t)) << topic << ": " << t;
      EXPECT_FALSE(std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }))
          << topic << ": " << t;
      EXPECT_GE(t.size(), 2u) << topic << ": " << t;
    }
  }
  // The topics' own words lead.
  const auto& sport = top.at("Sport");
  EXPECT_TRUE(std::find(sport.begin(), sport.end(), "football") != sport.end());
  const auto& ai = top.at("AI");
  EXPECT_TRUE(std::find(ai.begin(), ai.end(), "ai") != ai.end());
}

TEST(DemoTerms, WithoutFiltersStopWordsLead) {
  // What the issue saw: the test above would catch them.
  const auto top = DemoTopTerms(nullptr);
  EXPECT_EQ(top.at("Sport").front(), "the");
}

}  // namespace
}  // namespace speedlayer::views
