// TermCounts and Space-Saving (term_counts.h, aggregator.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "views/views.h"
#include "views/views_test_support.h"

namespace speedlayer::views {
namespace {

using test_support::Config;
using test_support::Sorted;

// ---- TermCounts ----------------------------------------------------------------------------

// Inserts and in-place re-keys (the Space-Saving eviction) in random order, checked against a
// std::map after every step: every kept term is found at its entry, every re-keyed-away term
// is gone, entry numbers never move. A small key space makes long probe runs, so deletions
// inside and across wrapped runs are exercised.
TEST(TermCounts, MatchesAMapThroughInsertsAndRekeys) {
  std::mt19937 rng(11);
  TermCounts terms;
  std::map<std::string, std::uint64_t> truth;
  std::vector<std::string> by_entry;  // by_entry[i] = the term entry i holds
  for (int step = 0; step < 20'000; ++step) {
    const std::string term = "t" + std::to_string(rng() % 3'000);
    const std::uint64_t h = TermHash{}(term);
    const std::size_t at = terms.index_of(term, h);
    ASSERT_EQ(at != TermCounts::npos, truth.count(term) == 1) << term;
    if (at != TermCounts::npos) {
      ASSERT_EQ(by_entry[at], term);
      ++terms.entry(at).second;
      ++truth[term];
    } else if (terms.size() < 500) {
      ASSERT_EQ(terms.insert_new(term, h, 1), by_entry.size());
      by_entry.push_back(term);
      truth[term] = 1;
    } else {
      const std::size_t victim = rng() % terms.size();
      truth.erase(by_entry[victim]);
      const std::uint64_t count = terms.entry(victim).second + 1;
      terms.rekey(victim, term, h, count);
      by_entry[victim] = term;
      truth[term] = count;
    }
    if (step % 500 == 0 || step > 19'900) {
      ASSERT_EQ(terms.size(), truth.size());
      for (const auto& [t, n] : truth) {
        auto it = terms.find(t);
        ASSERT_NE(it, terms.end()) << t;
        EXPECT_EQ(it->second, n) << t;
      }
    }
  }
  for (int i = 0; i < 3'000; ++i) {
    const std::string t = "t" + std::to_string(i);
    EXPECT_EQ(terms.contains(t), truth.count(t) == 1) << t;
  }
}

TEST(TermCounts, EqualityIgnoresOrderAndComparesCounts) {
  TermCounts a = {{"x", 1}, {"y", 2}};
  TermCounts b;
  b["y"] = 2;
  b.emplace("x", 1);
  EXPECT_FALSE(b.emplace("x", 7).second);  // present: unchanged
  EXPECT_EQ(a, b);
  b["x"] += 1;
  EXPECT_NE(a, b);
  EXPECT_EQ(b.at("x"), 2u);
  EXPECT_THROW((void)b.at("z"), std::out_of_range);
  TermCounts copy = b;  // copies keep their index
  EXPECT_EQ(copy.find("y")->second, 2u);
}

// ---- Space-Saving -------------------------------------------------------------------------

TEST(SpaceSaving, ReplacesTheMinimumWithMinPlusOne) {
  PartitionAggregator agg("t", 0, Config(60'000, 10'000, 10'000, 10, /*max_terms=*/3));
  agg.add(0, "a a a b b c");
  EXPECT_EQ(agg.window(0)->term_error, 0u);
  agg.add(0, "d");  // replaces c (1): d = 2, error 1
  EXPECT_EQ(Sorted(agg.window(0)->terms),
            (std::map<std::string, std::uint64_t>{{"a", 3}, {"b", 2}, {"d", 2}}));
  EXPECT_EQ(agg.window(0)->term_error, 1u);
  agg.add(0, "a");
  EXPECT_EQ(agg.window(0)->terms.at("a"), 4u);
  agg.add(0, "e");  // replaces b or d (2): e = 3, error 2
  EXPECT_EQ(agg.window(0)->terms.size(), 3u);
  EXPECT_EQ(agg.window(0)->terms.at("e"), 3u);
  EXPECT_EQ(agg.window(0)->term_error, 2u);
}

TEST(SpaceSaving, ErrorBoundHoldsOnASkewedStream) {
  constexpr std::size_t kMaxTerms = 50;
  PartitionAggregator agg("t", 0, Config(60'000, 10'000, 10'000, 10, kMaxTerms));
  std::mt19937 rng(42);
  std::map<std::string, std::uint64_t> truth;
  std::uint64_t occurrences = 0;
  for (int i = 0; i < 20'000; ++i) {
    // Heavy hitters h0..h4 (about 1/3 of the stream), the rest spread over 2,000 terms.
    std::string term =
        rng() % 3 == 0 ? "h" + std::to_string(rng() % 5) : "w" + std::to_string(rng() % 2'000);
    ++truth[term];
    ++occurrences;
    agg.add(1'000, term);
  }
  const Partial& p = *agg.window(0);
  EXPECT_EQ(p.terms.size(), kMaxTerms);
  EXPECT_GT(p.term_error, 0u);
  EXPECT_LE(p.term_error, occurrences / kMaxTerms);
  for (const auto& [term, n] : truth) {
    auto it = p.terms.find(std::string_view(term));
    if (it == p.terms.end()) {
      EXPECT_LE(n, p.term_error) << term;
    } else {
      EXPECT_GE(it->second, n) << term;
      EXPECT_LE(it->second, n + p.term_error) << term;
    }
  }
  for (int h = 0; h < 5; ++h) EXPECT_TRUE(p.terms.contains("h" + std::to_string(h)));
  std::uint64_t sum = 0;
  for (const auto& [term, n] : p.terms) sum += n;
  EXPECT_EQ(sum, occurrences);  // Space-Saving keeps the total
}

TEST(Terms, ExactCountsForManyDistinctTermsAcrossIndexGrowth) {
  PartitionAggregator agg("t", 0, Config(60'000, 10'000, 10'000, 10, /*max_terms=*/100'000));
  std::map<std::string, std::uint64_t> truth;
  std::mt19937 rng(3);
  for (int r = 0; r < 3'000; ++r) {
    std::string text;
    for (int w = 0; w < 15; ++w) {
      std::string term = "t" + std::to_string(rng() % 9'000);
      if (rng() % 4 == 0) term += "longenoughtoleavethesmallstringbuffer";
      text += (rng() % 2 ? "T" : "t") + term.substr(1) + " ";
      ++truth[term];
    }
    agg.add(r % 2 ? 1'000 : 61'000, text);  // two windows interleaved
  }
  std::map<std::string, std::uint64_t> got;
  for (Millis start : {0, 60'000})
    for (const auto& [term, n] : agg.window(start)->terms) got[term] += n;
  EXPECT_EQ(got, truth);
  EXPECT_EQ(agg.window(0)->term_error, 0u);
}

TEST(SpaceSaving, KeepsTotalsAcrossManyEvictionsAndReopenedWindows) {
  WindowConfig cfg = Config(60'000, 10'000, 0, 10, /*max_terms=*/64);
  PartitionAggregator agg("t", 0, cfg);
  std::mt19937 rng(5);
  std::uint64_t occurrences[2] = {0, 0};
  for (int r = 0; r < 20'000; ++r) {
    std::string text;
    const int words = 1 + static_cast<int>(rng() % 15);
    for (int w = 0; w < words; ++w)
      text += "w" + std::to_string(rng() % (r % 3 ? 100 : 5'000)) + " ";
    const int win = static_cast<int>(rng() % 2);
    agg.add(win * 60'000 + 1'000, text);
    occurrences[win] += static_cast<std::uint64_t>(words);
    if (r % 1'000 == 0) agg.close_due(200'000);  // wall-clock closes; the next add reopens
  }
  for (int win = 0; win < 2; ++win) {
    const Partial& p = *agg.window(win * 60'000);
    std::uint64_t sum = 0;
    for (const auto& [term, n] : p.terms) sum += n;
    EXPECT_EQ(p.terms.size(), 64u);
    EXPECT_EQ(sum, occurrences[win]);
    EXPECT_LE(p.term_error, occurrences[win] / 64);
  }
}

// Every eviction takes a term with the current minimum count, also when the lowest counts
// span more distinct values than the candidate buckets (kLowBuckets) and after refills.
TEST(SpaceSaving, EachNewTermReplacesACurrentMinimum) {
  constexpr std::size_t kMaxTerms = 16;
  PartitionAggregator agg("t", 0, Config(60'000, 10'000, 10'000, 10, kMaxTerms));
  for (std::size_t i = 0; i < kMaxTerms; ++i) {  // counts 1, 701, 1401, ...: a wide range
    std::string text;
    for (std::size_t n = 0; n < 1 + 700 * i; ++n) text += "k" + std::to_string(i) + " ";
    agg.add(0, text);
  }
  std::mt19937 rng(3);
  for (int step = 0; step < 20'000; ++step) {
    const Partial& before = *agg.window(0);
    std::uint64_t min = std::numeric_limits<std::uint64_t>::max(), sum = 0;
    for (const auto& [term, count] : before.terms) {
      min = std::min(min, count);
      sum += count;
    }
    const std::uint64_t error_before = before.term_error;
    // Mostly new terms, sometimes a kept one again (so candidates go stale).
    std::string term;
    if (rng() % 4 == 0) {
      term = before.terms.entry(rng() % before.terms.size()).first;
    } else {
      term = "n" + std::to_string(step);
    }
    const bool kept = before.terms.contains(term);
    const std::uint64_t count_before = kept ? before.terms.at(term) : 0;
    agg.add(0, term);
    const Partial& after = *agg.window(0);
    ASSERT_EQ(after.terms.size(), kMaxTerms);
    std::uint64_t sum_after = 0;
    for (const auto& [t, c] : after.terms) sum_after += c;
    ASSERT_EQ(sum_after, sum + 1) << "step " << step;
    if (kept) {
      ASSERT_EQ(after.terms.at(term), count_before + 1) << "step " << step;
    } else {
      ASSERT_EQ(after.terms.at(term), min + 1) << "step " << step << ": not the minimum";
      ASSERT_EQ(after.term_error, std::max(error_before, min)) << "step " << step;
    }
  }
}

TEST(SpaceSaving, ContinuesAfterRestore) {
  WindowConfig cfg = Config(60'000, 10'000, 10'000, 10, 2);
  PartitionAggregator a("t", 0, cfg);
  a.add(0, "x x y");
  PartitionAggregator b("t", 0, cfg);
  b.restore_window(0, *a.window(0));
  b.add(0, "z");
  EXPECT_EQ(Sorted(b.window(0)->terms), (std::map<std::string, std::uint64_t>{{"x", 2}, {"z", 2}}));
  EXPECT_EQ(b.window(0)->term_error, 1u);
}

}  // namespace
}  // namespace speedlayer::views
