#include "views/views.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace speedlayer::views {
namespace {

using ::testing::TestWithParam;
using namespace std::literals;

WindowConfig Config(Millis size = 60'000, Millis grace = 10'000, Millis idle = 10'000,
                    std::size_t top_k = 10, std::size_t max_terms = 10'000) {
  WindowConfig c;
  c.size_ms = size;
  c.grace_ms = grace;
  c.idle_ms = idle;
  c.top_k = top_k;
  c.max_terms = max_terms;
  return c;
}

std::vector<std::string> Terms(std::string_view text) {
  std::vector<std::string> out;
  for_each_term(text, [&](std::string_view t) { out.emplace_back(t); });
  return out;
}

std::map<std::string, std::uint64_t> Sorted(const TermCounts& terms) {
  return {terms.begin(), terms.end()};
}

// Writes an aggregator's changes into a store through the changelog, as the processor does.
void Flush(PartitionAggregator& agg, ViewStore& store) {
  std::vector<ChangelogRecord> records;
  agg.take_changelog(records);
  for (const auto& r : records) {
    auto st = store.apply(r.key, r.value ? std::optional<std::string_view>(*r.value) : std::nullopt);
    ASSERT_TRUE(st) << st.error().message();
  }
}

// The same in format 1 (full partials, JSON state), as earlier versions wrote.
[[maybe_unused]] void FlushFormat1(PartitionAggregator& agg, ViewStore& store) {
  for (Millis start : agg.take_dirty_windows()) {
    const Partial* p = agg.window(start);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(store.apply(changelog_window_key(agg.topic(), agg.partition(), start),
                            encode_partial(*p)));
  }
  if (agg.take_state_dirty()) {
    ASSERT_TRUE(store.apply(changelog_state_key(agg.topic(), agg.partition()),
                            encode_state(agg.state())));
  }
}

// ---- windows and terms --------------------------------------------------------------------

TEST(WindowStart, AlignsToTheEpochIncludingNegativeTimes) {
  EXPECT_EQ(window_start(0, 60'000), 0);
  EXPECT_EQ(window_start(1, 60'000), 0);
  EXPECT_EQ(window_start(59'999, 60'000), 0);
  EXPECT_EQ(window_start(60'000, 60'000), 60'000);
  EXPECT_EQ(window_start(1'704'164'645'678, 60'000), 1'704'164'640'000);
  EXPECT_EQ(window_start(-1, 60'000), -60'000);
  EXPECT_EQ(window_start(-59'999, 60'000), -60'000);
  EXPECT_EQ(window_start(-60'000, 60'000), -60'000);
  EXPECT_EQ(window_start(-60'001, 60'000), -120'000);
  EXPECT_EQ(window_start(7, 1), 7);
}

// The tokenizer as first written, a byte at a time: the reference for the block scanner.
std::vector<std::string> ReferenceTerms(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  auto word_byte = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '\'' || c >= 0x80;
  };
  for (unsigned char c : text) {
    if (word_byte(c)) {
      cur.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c));
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

TEST(ForEachTerm, MatchesAByteAtATimeScanOnRandomTexts) {
  std::mt19937 rng(7);
  const std::string alphabet =
      std::string("aZq09'  ,.-\t\n") + "\xc3\x80\xff\x7f" + std::string(1, '\0');
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const std::size_t len = rng() % 300;
    while (text.size() < len) {
      if (rng() % 20 == 0) {
        text.append(40 + rng() % 60, rng() % 2 ? 'a' : 'B');  // words across 64-byte blocks
      } else {
        text.push_back(alphabet[rng() % alphabet.size()]);
      }
    }
    ASSERT_EQ(Terms(text), ReferenceTerms(text)) << "round " << round;
  }
  // Words ending exactly at a block boundary, and texts of exactly one and two blocks.
  for (std::size_t n : {63u, 64u, 65u, 127u, 128u, 129u}) {
    const std::string words = std::string(n, 'X');
    EXPECT_EQ(Terms(words), ReferenceTerms(words)) << n;
    const std::string spaced = std::string(n - 1, 'y') + " z";
    EXPECT_EQ(Terms(spaced), ReferenceTerms(spaced)) << n;
  }
}

// The 16-bytes-at-a-time classification agrees with the table for every byte at every
// position of a block.
TEST(ForEachTerm, BlockClassificationMatchesTheByteTable) {
  for (int c = 0; c < 256; ++c) {
    for (std::size_t j = 0; j < 64; ++j) {
      std::string block(64, c == ' ' ? 'a' : ' ');
      block[j] = static_cast<char>(c);
      const auto* p = reinterpret_cast<const unsigned char*>(block.data());
      const detail::TermBlock fast = detail::classify_block(p, 64);
      const detail::TermBlock slow = detail::classify_block_scalar(p, 64);
      ASSERT_EQ(fast.word, slow.word) << "byte " << c << " at " << j;
      ASSERT_EQ(fast.upper, slow.upper) << "byte " << c << " at " << j;
    }
  }
}

TEST(TermHash, EveryByteCountsAndOnlyTheBytes) {
  const TermHash hash;
  for (std::size_t n = 1; n <= 40; ++n) {
    std::string a(n, 'x');
    for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<char>('a' + (i * 7) % 26);
    // Equal bytes elsewhere in memory, with other bytes around them: equal hash.
    const std::string padded = "##" + a + "##";
    EXPECT_EQ(hash(a), hash(std::string_view(padded).substr(2, n))) << n;
    for (std::size_t i = 0; i < n; ++i) {
      for (unsigned char flip : {0x01, 0x20, 0x80}) {
        std::string b = a;
        b[i] = static_cast<char>(b[i] ^ flip);
        EXPECT_NE(hash(a), hash(b)) << "length " << n << ", byte " << i;
      }
    }
    EXPECT_NE(hash(a), hash(a + '\0')) << n;  // the length counts too
  }
}

TEST(ForEachTerm, LowercasedWordsSplitOnOtherBytes) {
  EXPECT_EQ(Terms("Hello, World! it's MESSI's 2024-goal"),
            (std::vector<std::string>{"hello", "world", "it's", "messi's", "2024", "goal"}));
  // Non-ASCII bytes stay inside words; only ASCII is lowercased.
  EXPECT_EQ(Terms("CAF\xc3\x89 na\xc3\xafve"),
            (std::vector<std::string>{"caf\xc3\x89", "na\xc3\xafve"}));
  EXPECT_EQ(Terms(""), std::vector<std::string>{});
  EXPECT_EQ(Terms("  ,;  "), std::vector<std::string>{});
  EXPECT_EQ(Terms("a"), std::vector<std::string>{"a"});
  EXPECT_EQ(Terms("A_very_LONG_word_beyond_the_small_string_buffer"),
            (std::vector<std::string>{"a", "very", "long", "word", "beyond", "the", "small",
                                      "string", "buffer"}));
}

// ---- the known stream ---------------------------------------------------------------------

// 60 s windows, 10 s grace. Records in order, out of order within grace, late beyond grace.
class KnownStream : public ::testing::Test {
 protected:
  void SetUp() override {
    using O = PartitionAggregator::Outcome;
    EXPECT_EQ(agg.add(1'000, "Messi scores goal"), O::counted);            // [0, 60s)
    EXPECT_EQ(agg.add(30'000, "messi again"), O::counted);                 // [0, 60s)
    EXPECT_EQ(agg.add(65'000, "Football match"), O::counted);              // [60s, 120s); st 65s
    EXPECT_EQ(agg.add(50'000, "late but within grace: Messi"), O::counted);  // 70s > 65s
    EXPECT_EQ(agg.add(75'000, "goal GOAL"), O::counted);                   // st 75s
    EXPECT_EQ(agg.add(20'000, "too late messi"), O::late);                 // 70s <= 75s
    EXPECT_EQ(agg.add(59'999, "messi"), O::late);
    EXPECT_EQ(agg.add(-5'000, "negative"), O::late);                       // [-60s, 0)
    EXPECT_EQ(agg.add(61'000, "goal"), O::counted);                        // out of order, in
  }
  PartitionAggregator agg{"Sport", 0, Config()};
};

TEST_F(KnownStream, CountsTermsAndLate) {
  EXPECT_EQ(agg.state().stream_time, 75'000);
  EXPECT_EQ(agg.state().late, 3u);
  EXPECT_EQ(agg.state().consumed, 9u);
  EXPECT_EQ(agg.window_count(), 2u);
  EXPECT_EQ(agg.window(-60'000), nullptr);
  const Partial* w0 = agg.window(0);
  ASSERT_NE(w0, nullptr);
  EXPECT_EQ(w0->count, 3u);
  EXPECT_EQ(Sorted(w0->terms), (std::map<std::string, std::uint64_t>{{"again", 1},
                                                                     {"but", 1},
                                                                     {"goal", 1},
                                                                     {"grace", 1},
                                                                     {"late", 1},
                                                                     {"messi", 3},
                                                                     {"scores", 1},
                                                                     {"within", 1}}));
  EXPECT_EQ(w0->term_error, 0u);
  const Partial* w1 = agg.window(60'000);
  ASSERT_NE(w1, nullptr);
  EXPECT_EQ(w1->count, 3u);
  EXPECT_EQ(Sorted(w1->terms),
            (std::map<std::string, std::uint64_t>{{"football", 1}, {"goal", 3}, {"match", 1}}));
}

TEST_F(KnownStream, ServedViewHasTopTermsAndLate) {
  WindowConfig cfg = Config();
  cfg.top_k = 3;
  ViewStore store(cfg);
  Flush(agg, store);
  auto v = store.view("Sport", {}, {}, /*wall_now=*/0);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->late, 3u);
  EXPECT_EQ(v->window_ms, 60'000);
  ASSERT_EQ(v->windows.size(), 2u);
  EXPECT_EQ(v->windows[0].start, 0);
  EXPECT_EQ(v->windows[0].end, 60'000);
  EXPECT_EQ(v->windows[0].count, 3u);
  EXPECT_TRUE(v->windows[0].final);  // stream time 75 s >= 60 s + 10 s
  ASSERT_EQ(v->windows[0].top.size(), 3u);
  EXPECT_EQ(v->windows[0].top[0].term, "messi");
  EXPECT_EQ(v->windows[0].top[0].count, 3u);
  EXPECT_EQ(v->windows[0].top[1].term, "again");  // ties: term ascending
  EXPECT_EQ(v->windows[0].top[2].term, "but");
  EXPECT_EQ(v->windows[1].start, 60'000);
  EXPECT_FALSE(v->windows[1].final);
  EXPECT_EQ(v->windows[1].top[0].term, "goal");
  EXPECT_EQ(v->windows[1].top[0].count, 3u);
  EXPECT_EQ(v->windows[1].top[1].term, "football");
  EXPECT_EQ(v->windows[1].top[2].term, "match");
}

TEST(Late, BoundaryIsEndPlusGraceAtOrBelowStreamTime) {
  PartitionAggregator agg("t", 0, Config());
  using O = PartitionAggregator::Outcome;
  EXPECT_EQ(agg.add(69'999, "x"), O::counted);
  EXPECT_EQ(agg.add(0, "x"), O::counted);  // [0,60s): 70 s > 69.999 s
  EXPECT_EQ(agg.add(70'000, "x"), O::counted);
  EXPECT_EQ(agg.add(59'999, "x"), O::late);  // 70 s <= 70 s
  EXPECT_EQ(agg.state().late, 1u);
  EXPECT_EQ(agg.window(0)->count, 1u);
  EXPECT_EQ(agg.window(60'000)->count, 2u);
}

TEST(Late, StreamTimeOnlyMovesForwardAndLateMarksOnlyState) {
  PartitionAggregator agg("t", 0, Config());
  agg.add(200'000, "a");
  agg.take_dirty_windows();
  agg.take_state_dirty();
  agg.add(100'000, "b");  // late
  EXPECT_EQ(agg.state().stream_time, 200'000);
  EXPECT_TRUE(agg.take_dirty_windows().empty());
  EXPECT_TRUE(agg.take_state_dirty());
  EXPECT_EQ(agg.window(60'000), nullptr);
}

// ---- close, expire, dirty -----------------------------------------------------------------

TEST(CloseDue, ByStreamTime) {
  PartitionAggregator agg("t", 0, Config());
  agg.add(1'000, "a");
  agg.add(61'000, "b");
  agg.add(69'999, "c");
  agg.take_dirty_windows();
  EXPECT_TRUE(agg.close_due(/*wall_now=*/0).empty());  // stream 69.999 s: 0 due at 70 s
  agg.add(125'000, "d");                               // stream 125 s: [0] due, [60s] not
  EXPECT_EQ(agg.close_due(0), std::vector<Millis>{0});
  agg.add(130'000, "e");                               // stream 130 s: [60s] due
  EXPECT_EQ(agg.close_due(0), std::vector<Millis>{60'000});
  EXPECT_TRUE(agg.window(0)->closed);
  EXPECT_TRUE(agg.window(60'000)->closed);
  EXPECT_FALSE(agg.window(120'000)->closed);
  EXPECT_EQ(agg.take_dirty_windows(), (std::vector<Millis>{0, 60'000, 120'000}));
  EXPECT_TRUE(agg.close_due(0).empty());  // already closed
}

TEST(CloseDue, ByWallClockWhenIdle) {
  PartitionAggregator agg("t", 0, Config(60'000, 10'000, 5'000));
  agg.add(1'000, "a");
  agg.take_dirty_windows();
  EXPECT_TRUE(agg.close_due(74'999).empty());  // 60 + 10 + 5 s
  EXPECT_EQ(agg.close_due(75'000), std::vector<Millis>{0});
  EXPECT_TRUE(agg.window(0)->closed);
  EXPECT_EQ(agg.take_dirty_windows(), std::vector<Millis>{0});
  // Not late by stream time: still counted; the window reopens and closes again.
  EXPECT_EQ(agg.add(2'000, "b"), PartitionAggregator::Outcome::counted);
  EXPECT_FALSE(agg.window(0)->closed);
  EXPECT_EQ(agg.window(0)->count, 2u);
  EXPECT_EQ(agg.close_due(75'000), std::vector<Millis>{0});
}

// Replaying old data: the wall clock is far past every window, but records keep arriving, so
// windows close by stream time only, once each, instead of closing and reopening per record.
TEST(CloseDue, ActivePartitionCatchingUpClosesByStreamTimeOnly) {
  PartitionAggregator agg("t", 0, Config(60'000, 10'000, 5'000));
  const Millis wall = 1'000'000;  // every window below is due by the wall clock
  agg.mark_active(wall);
  agg.add(1'000, "a");
  EXPECT_TRUE(agg.close_due(wall).empty());
  agg.mark_active(wall + 4'999);
  agg.add(30'000, "b");
  EXPECT_TRUE(agg.close_due(wall + 4'999).empty());
  EXPECT_EQ(agg.window(0)->count, 2u);
  agg.add(70'000, "c");  // stream time 70 s: [0, 60 s) due by stream time
  EXPECT_EQ(agg.close_due(wall + 4'999), std::vector<Millis>{0});
  EXPECT_TRUE(agg.close_due(wall + 9'998).empty());  // [60 s) open: active 4.999 s ago
  // Idle for idle_ms (5 s) since the last record: the wall-clock fallback closes the rest.
  EXPECT_EQ(agg.close_due(wall + 9'999), std::vector<Millis>{60'000});
}

TEST(CloseDue, RestoredClosedWindowsAreNotReturnedAgain) {
  PartitionAggregator agg("t", 0, Config());
  Partial closed;
  closed.count = 1;
  closed.closed = true;
  agg.restore_window(0, closed);
  agg.restore_window(60'000, Partial{.count = 2});
  PartitionState s;
  s.stream_time = 200'000;
  agg.restore_state(s);
  EXPECT_TRUE(agg.take_dirty_windows().empty());  // restoring is not a change
  EXPECT_FALSE(agg.take_state_dirty());
  EXPECT_EQ(agg.close_due(0), std::vector<Millis>{60'000});
}

TEST(Expire, DropsWindowsEndingAtOrBefore) {
  PartitionAggregator agg("t", 0, Config(60'000, 1'000'000));
  for (Millis t : {-30'000, 1'000, 61'000, 121'000}) agg.add(t, "x");
  EXPECT_EQ(agg.expire(60'000), (std::vector<Millis>{-60'000, 0}));
  EXPECT_EQ(agg.window(0), nullptr);
  EXPECT_NE(agg.window(60'000), nullptr);
  EXPECT_EQ(agg.take_dirty_windows(), (std::vector<Millis>{60'000, 120'000}));
  EXPECT_TRUE(agg.expire(119'999).empty());
  EXPECT_EQ(agg.expire(180'000), (std::vector<Millis>{60'000, 120'000}));
  EXPECT_EQ(agg.window_count(), 0u);
}

TEST(Dirty, EachWindowOnceAscending) {
  PartitionAggregator agg("t", 0, Config(60'000, 1'000'000));
  agg.add(61'000, "a");
  agg.add(1'000, "a");
  agg.add(62'000, "a");
  EXPECT_EQ(agg.take_dirty_windows(), (std::vector<Millis>{0, 60'000}));
  EXPECT_TRUE(agg.take_dirty_windows().empty());
  EXPECT_TRUE(agg.take_state_dirty());
  EXPECT_FALSE(agg.take_state_dirty());
  agg.add_malformed(Malformed::binary);
  agg.add_malformed(Malformed::binary);
  agg.add_malformed(Malformed::too_large);
  EXPECT_TRUE(agg.take_state_dirty());
  EXPECT_TRUE(agg.take_dirty_windows().empty());
  EXPECT_EQ(agg.state().consumed, 6u);
  EXPECT_EQ(agg.state().malformed,
            (std::map<std::string, std::uint64_t>{{"binary", 2}, {"too_large", 1}}));
}

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
    std::string term = rng() % 3 == 0 ? "h" + std::to_string(rng() % 5)
                                      : "w" + std::to_string(rng() % 2'000);
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
    for (int w = 0; w < words; ++w) text += "w" + std::to_string(rng() % (r % 3 ? 100 : 5'000)) + " ";
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
  EXPECT_EQ(Sorted(b.window(0)->terms),
            (std::map<std::string, std::uint64_t>{{"x", 2}, {"z", 2}}));
  EXPECT_EQ(b.window(0)->term_error, 1u);
}

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
  for (const char* key : {"", "x|t|0", "w|t|0", "w|t|0|1|2", "w||0|1", "w|t|-1|0", "w|t|0|abc",
                          "w|t||0", "p|t|0|5", "p|t", "w|t|2147483648|0", "w|t|0|1x", "w|t|+1|0",
                          "p|t|0 "}) {
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
  EXPECT_EQ(enc, std::string("\x01\xac\x02\x01\x00\x01\x02" "ai" "\xc8\x01", 11));
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
  const char* reason;  // a substring of Error::what
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
                      BadValue{"{\"count\":1,\"terms\":{},\"term_error\":null}",
                               "\"term_error\""},
                      // Binary: cut at every place, bad flag, overlong varint, extra bytes.
                      BadValue{"\x01"sv, "header cut short"},
                      BadValue{"\x01\x05"sv, "header cut short"},
                      BadValue{"\x01\x05\x00"sv, "\"closed\" flag"},
                      BadValue{"\x01\x05\x00\x02\x00"sv, "\"closed\" flag"},
                      BadValue{"\x01\x05\x00\x01"sv, "term count cut short"},
                      BadValue{"\x01\x05\x00\x01\x01"sv, "term 1 of 1 cut short"},
                      BadValue{"\x01\x05\x00\x01\x01\x03" "ab"sv, "term 1 of 1 cut short"},
                      BadValue{"\x01\x05\x00\x01\x01\x02" "ab"sv, "term 1 of 1 cut short"},
                      BadValue{"\x01\x05\x00\x01\x02\x02" "ab\x01"sv, "term 2 of 2 cut short"},
                      BadValue{"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"sv,
                               "header cut short"},
                      BadValue{"\x01\x05\x00\x01\x01\x02" "ab\x01zz"sv, "2 trailing byte(s)"}));

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
                      BadValue{"{\"stream_time\":1,\"late\":0,\"consumed\":true}",
                               "\"consumed\""},
                      BadValue{"{\"stream_time\":1,\"late\":0,\"consumed\":0,\"malformed\":[]}",
                               "\"malformed\""}));

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
  p.terms = {{"z", 1},          {"a", 18446744073709551615ull}, {"it's", 2},
             {"caf\xc3\xa9", 3}, {"q\"uote", 4},                {"back\\slash", 5},
             {"tab\there", 6},  {std::string("nul\0x", 5), 7},  {"bad\xff\xfe", 8},
             {"", 9},           {"\xe2\x82\xac", 10},          {"A", 11}};
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

// ---- ViewStore --------------------------------------------------------------------------

struct Record {
  Millis time;
  std::string text;
};

std::vector<Record> RandomRecords(int n, std::uint32_t seed) {
  static const std::vector<std::string> kWords = {"messi", "goal",  "ai",    "ml",   "nlp",
                                                  "cv",    "match", "score", "team", "model"};
  std::mt19937 rng(seed);
  std::vector<Record> out;
  for (int i = 0; i < n; ++i) {
    std::string text;
    const int words = 1 + static_cast<int>(rng() % 6);
    for (int w = 0; w < words; ++w) {
      if (w) text += ' ';
      text += kWords[rng() % kWords.size()];
    }
    // Mostly increasing, with jitter backwards up to 30 s (within grace).
    out.push_back({static_cast<Millis>(i) * 500 - static_cast<Millis>(rng() % 30'000), text});
  }
  return out;
}

TEST(ViewStore, MergeOfThreePartitionsEqualsOneAggregator) {
  const WindowConfig cfg = Config(60'000, 60'000, 10'000, /*top_k=*/100);
  const auto records = RandomRecords(3'000, 7);
  PartitionAggregator whole("t", 0, cfg);
  std::vector<PartitionAggregator> parts;
  for (int p = 0; p < 3; ++p) parts.emplace_back("t", p, cfg);
  ViewStore one(cfg), three(cfg);
  for (std::size_t i = 0; i < records.size(); ++i) {
    whole.add(records[i].time, records[i].text);
    parts[i % 3].add(records[i].time, records[i].text);
    if (i % 97 == 0) Flush(parts[i % 3], three);  // partial flushes overwrite
  }
  Flush(whole, one);
  for (auto& p : parts) Flush(p, three);
  auto a = one.view("t", {}, {}, 0);
  auto b = three.view("t", {}, {}, 0);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->late, 0u);
  EXPECT_EQ(b->late, 0u);
  ASSERT_EQ(a->windows.size(), b->windows.size());
  ASSERT_GT(a->windows.size(), 10u);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < a->windows.size(); ++i) {
    const auto& x = a->windows[i];
    const auto& y = b->windows[i];
    EXPECT_EQ(x.start, y.start);
    EXPECT_EQ(x.count, y.count);
    total += y.count;
    ASSERT_EQ(x.top.size(), y.top.size()) << x.start;
    for (std::size_t k = 0; k < x.top.size(); ++k) {
      EXPECT_EQ(x.top[k].term, y.top[k].term);
      EXPECT_EQ(x.top[k].count, y.top[k].count);
    }
    EXPECT_TRUE(std::is_sorted(y.top.begin(), y.top.end(), [](const auto& l, const auto& r) {
      return l.count != r.count ? l.count > r.count : l.term < r.term;
    }));
  }
  EXPECT_EQ(total, records.size());
  EXPECT_EQ(to_json(*a), to_json(*b));
  auto totals = three.totals();
  ASSERT_EQ(totals.size(), 1u);
  EXPECT_EQ(totals[0].count, records.size());
  EXPECT_EQ(totals[0].consumed, records.size());
  EXPECT_EQ(totals[0].partitions, 3u);
  EXPECT_EQ(totals[0].windows, a->windows.size());
}

// The processor's owned partitions, as serve wires them into its store: changed under the
// owner's lock, each change noted to the snapshot cache.
class FakeLive final : public LiveAggregators {
 public:
  std::shared_ptr<const LiveSnapshot> live_snapshot() const override {
    return cache.read(mu, [this] { return aggs; });
  }
  // Runs f (which changes aggregators or the set) as the owner does: under its lock.
  template <class F>
  void change(F&& f) {
    std::lock_guard lock(mu);
    f();
    cache.changed([this] { return aggs; });
  }
  mutable std::mutex mu;
  std::vector<const PartitionAggregator*> aggs;
  LiveSnapshotCache cache;
};

TEST(ViewStore, LivePartitionsAreServedFromTheirAggregatorsNotTheirChangelog) {
  const WindowConfig cfg = Config(60'000, 60'000, 10'000, /*top_k=*/100);
  const auto records = RandomRecords(3'000, 13);
  PartitionAggregator whole("t", 0, cfg);
  std::vector<PartitionAggregator> parts;
  for (int p = 0; p < 3; ++p) parts.emplace_back("t", p, cfg);
  ViewStore reference(cfg), mixed(cfg);
  FakeLive live;
  live.change([&] { live.aggs = {&parts[1]}; });  // this process owns partition 1; 0 and 2
  mixed.set_live(&live);                           // come from the changelog
  for (std::size_t i = 0; i < records.size(); ++i) {
    whole.add(records[i].time, records[i].text);
    live.change([&] { parts[i % 3].add(records[i].time, records[i].text); });
    // Partition 1's changelog stops at the first third: the live aggregator must win.
    if (i % 3 != 1 || i < records.size() / 3) Flush(parts[i % 3], mixed);
  }
  Flush(parts[0], mixed);
  Flush(parts[2], mixed);
  Flush(whole, reference);
  auto a = reference.view("t", {}, {}, 0);
  auto b = mixed.view("t", {}, {}, 0);
  ASSERT_TRUE(a && b);
  ASSERT_GT(a->windows.size(), 10u);
  EXPECT_EQ(to_json(*a), to_json(*b));
  auto totals = mixed.totals();
  ASSERT_EQ(totals.size(), 1u);
  EXPECT_EQ(totals[0].count, records.size());
  EXPECT_EQ(totals[0].consumed, records.size());
  EXPECT_EQ(totals[0].partitions, 3u);
  EXPECT_EQ(mixed.open_windows(0), reference.open_windows(0));

  // A window range, and a live-only topic (nothing in the changelog yet).
  auto ra = reference.view("t", 600'000, 900'000, 0);
  auto rb = mixed.view("t", 600'000, 900'000, 0);
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(rb->windows.size(), 5u);
  EXPECT_EQ(to_json(*ra), to_json(*rb));
  PartitionAggregator fresh("u", 0, cfg);
  live.change([&] {
    fresh.add(1'000, "Only Live");
    live.aggs.push_back(&fresh);
  });
  auto u = mixed.view("u", {}, {}, 0);
  ASSERT_TRUE(u);
  ASSERT_EQ(u->windows.size(), 1u);
  EXPECT_EQ(u->windows[0].count, 1u);
  ASSERT_EQ(u->windows[0].top.size(), 2u);
  EXPECT_EQ(u->windows[0].top[0].term, "live");
  EXPECT_EQ(mixed.totals().size(), 2u);

  // Partition 1 handed to another replica: its (older) changelog partials are served again.
  live.change([&] { live.aggs.clear(); });
  auto c = mixed.view("t", {}, {}, 0);
  ASSERT_TRUE(c);
  std::uint64_t total = 0;
  for (const auto& w : c->windows) total += w.count;
  EXPECT_LT(total, records.size());
  EXPECT_FALSE(mixed.view("u", {}, {}, 0));
}

// As serve runs it: the processor thread adds under the live source's lock, the follower
// applies changelog records and HTTP threads read views, all at once (run under TSan too).
TEST(ViewStore, ConcurrentLiveUpdatesChangelogAndViews) {
  const WindowConfig cfg = Config(60'000, 60'000);
  ViewStore store(cfg);
  FakeLive live;
  store.set_live(&live);
  PartitionAggregator owned("t", 0, cfg);
  live.change([&] { live.aggs = {&owned}; });
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> seen_max{0};
  std::thread reader([&] {
    while (!stop.load()) {
      if (auto v = store.view("t", {}, {}, 0)) {
        std::uint64_t n = 0;
        for (const auto& w : v->windows) n += w.count;
        // The owned partition only grows; partition 1 comes from the changelog and only grows.
        EXPECT_GE(n, seen_max.load());
        seen_max = n;
      }
      store.totals();
      store.open_windows(0);
    }
  });
  PartitionAggregator other("t", 1, cfg);
  for (int i = 0; i < 2'000; ++i) {
    live.change([&] {
      owned.add(i * 100, "live words here");
      if (i % 500 == 499) owned.expire(-1);  // nothing to drop; takes the write path
    });
    other.add(i * 100, "changelog words");
    Flush(other, store);
  }
  stop = true;
  reader.join();
  auto totals = store.totals();
  ASSERT_EQ(totals.size(), 1u);
  EXPECT_EQ(totals[0].count, 4'000u);
  EXPECT_EQ(totals[0].partitions, 2u);
}

// A snapshot copies only the windows changed since the previous one; the others are the
// same objects. A new aggregator (a restore) shares nothing with the old one's snapshot.
TEST(PartitionAggregator, SnapshotSharesTheWindowsThatDidNotChange) {
  const WindowConfig cfg = Config(60'000, 10'000);
  PartitionAggregator agg("t", 0, cfg);
  agg.add(1'000, "alpha beta");
  agg.add(61'000, "gamma");
  auto first = agg.snapshot(nullptr);
  ASSERT_EQ(first->windows.size(), 2u);
  EXPECT_EQ(first->topic, "t");
  EXPECT_EQ(first->state.consumed, 2u);
  agg.add(62'000, "gamma delta");  // only the second window changes
  auto second = agg.snapshot(first.get());
  ASSERT_EQ(second->windows.size(), 2u);
  EXPECT_EQ(second->windows.at(0).partial, first->windows.at(0).partial);
  EXPECT_NE(second->windows.at(60'000).partial, first->windows.at(60'000).partial);
  EXPECT_EQ(second->windows.at(60'000).partial->count, 2u);
  EXPECT_EQ(second->windows.at(60'000).partial->terms.at("gamma"), 2u);
  EXPECT_EQ(first->windows.at(60'000).partial->count, 1u);  // the old snapshot is unchanged
  EXPECT_EQ(second->state.consumed, 3u);

  agg.close_due(200'000);  // closing changes both windows
  auto third = agg.snapshot(second.get());
  EXPECT_NE(third->windows.at(0).partial, second->windows.at(0).partial);
  EXPECT_TRUE(third->windows.at(0).partial->closed);

  PartitionAggregator restored("t", 0, cfg);
  Partial p;
  p.count = 1;
  p.terms = {{"alpha", 1}};
  restored.restore_window(0, p);
  auto fourth = restored.snapshot(third.get());  // another aggregator: nothing shared
  ASSERT_EQ(fourth->windows.size(), 1u);
  EXPECT_NE(fourth->windows.at(0).partial, third->windows.at(0).partial);
  EXPECT_EQ(fourth->windows.at(0).partial->count, 1u);
}

// Readers never hold the owner's lock while they merge: with the owner's lock held (a
// processor in the middle of a batch), a reader still answers from the latest snapshot
// that holds every change made before it asked, and the owner publishes a fresh one for a
// waiting reader when its batch ends.
TEST(ViewStore, ReadersDoNotWaitForTheOwnersLockAndSeeEveryEarlierChange) {
  const WindowConfig cfg = Config(60'000, 60'000);
  ViewStore store(cfg);
  FakeLive live;
  store.set_live(&live);
  PartitionAggregator owned("t", 0, cfg);
  live.change([&] {
    live.aggs = {&owned};
    owned.add(1'000, "one");
  });
  auto total = [&] {
    auto t = store.totals();
    return t.empty() ? std::uint64_t{0} : t[0].count;
  };
  EXPECT_EQ(total(), 1u);  // made by the reader: the owner's lock was free
  const auto made = live.cache.published();
  EXPECT_EQ(total(), 1u);  // nothing changed: the same snapshot, none made
  EXPECT_EQ(live.cache.published(), made);

  // The owner holds its lock without changing anything: a reader answers at once from the
  // snapshot it has (it holds every change noted before the call).
  {
    std::lock_guard lock(live.mu);
    EXPECT_EQ(total(), 1u);
  }

  // The owner is in a batch when the reader asks for a change it noted before: the reader
  // waits for the owner to publish at the end of the batch, never for its lock.
  std::unique_lock batch(live.mu);
  owned.add(2'000, "two");
  live.cache.changed([&] { return live.aggs; });  // noted; no reader was waiting
  std::atomic<std::uint64_t> seen{0};
  std::thread reader([&] { seen = total(); });
  // The reader cannot take the lock, so it asks; the owner's next change publishes.
  while (live.cache.published() == made) {
    owned.add(3'000, "three");
    live.cache.changed([&] { return live.aggs; });
    std::this_thread::yield();
  }
  batch.unlock();
  reader.join();
  EXPECT_GE(seen.load(), 2u);
}

TEST(ViewStore, RestoreIntoResumesExactly) {
  const WindowConfig cfg = Config(60'000, 20'000);
  const auto records = RandomRecords(2'000, 11);
  PartitionAggregator reference("t", 4, cfg);
  for (const auto& r : records) reference.add(r.time, r.text);

  PartitionAggregator first("t", 4, cfg);
  ViewStore store(cfg);
  for (std::size_t i = 0; i < 1'000; ++i) first.add(records[i].time, records[i].text);
  first.close_due(0);
  Flush(first, store);
  PartitionAggregator second("t", 4, cfg);  // the new owner after a rebalance
  store.restore_into(second);
  PartitionAggregator other("t", 5, cfg);
  store.restore_into(other);  // nothing for partition 5
  EXPECT_EQ(other.window_count(), 0u);
  EXPECT_EQ(other.state().consumed, 0u);
  for (std::size_t i = 1'000; i < records.size(); ++i) second.add(records[i].time, records[i].text);

  EXPECT_GT(reference.state().late, 0u);
  EXPECT_EQ(second.state().stream_time, reference.state().stream_time);
  EXPECT_EQ(second.state().late, reference.state().late);
  EXPECT_EQ(second.state().consumed, reference.state().consumed);
  ASSERT_EQ(second.window_count(), reference.window_count());
  for (Millis s = window_start(records.front().time - 60'000, 60'000);
       s <= reference.state().stream_time; s += 60'000) {
    const Partial* x = reference.window(s);
    const Partial* y = second.window(s);
    ASSERT_EQ(x == nullptr, y == nullptr) << s;
    if (!x) continue;
    EXPECT_EQ(x->count, y->count) << s;
    EXPECT_EQ(x->terms, y->terms) << s;
  }
}

TEST(ViewStore, TombstonesRemove) {
  ViewStore store(Config());
  PartitionAggregator agg("t", 0, Config());
  agg.add(1'000, "a");
  agg.add(61'000, "b");
  agg.add(-100'000, "late one");
  Flush(agg, store);
  ASSERT_EQ(store.view("t", {}, {}, 0)->windows.size(), 2u);
  ASSERT_TRUE(store.apply(ChangelogKeys().snapshot("t", 0, 0), std::nullopt));
  auto v = store.view("t", {}, {}, 0);
  ASSERT_EQ(v->windows.size(), 1u);
  EXPECT_EQ(v->windows[0].start, 60'000);
  EXPECT_EQ(v->late, 1u);
  ASSERT_TRUE(store.apply(ChangelogKeys().snapshot("t", 0, 60'000), std::nullopt));
  ASSERT_TRUE(store.apply(ChangelogKeys().snapshot("t", 9, 0), std::nullopt));     // unknown: ok
  ASSERT_TRUE(store.apply(ChangelogKeys().snapshot("zz", 0, 0), std::nullopt));    // unknown: ok
  v = store.view("t", {}, {}, 0);
  ASSERT_TRUE(v);  // the state is still there
  EXPECT_TRUE(v->windows.empty());
  EXPECT_EQ(v->late, 1u);
  ASSERT_TRUE(store.apply(ChangelogKeys().state("t", 0), std::nullopt));
  EXPECT_FALSE(store.view("t", {}, {}, 0));
  EXPECT_TRUE(store.totals().empty());
}

TEST(ViewStore, BadRecordsAreErrorsAndChangeNothing) {
  ViewStore store(Config());
  auto r = store.apply("garbage", std::string_view("{}"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_data);
  r = store.apply(changelog_window_key("t", 0, 0), std::string_view("{\"count\":1}"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().where, "w|t|0|0");
  r = store.apply(changelog_state_key("t", 0), std::string_view("\x00\x01", 2));
  ASSERT_FALSE(r);
  EXPECT_FALSE(store.view("t", {}, {}, 0));
}

TEST(ViewStore, JsonRecordsOfEarlierVersionsGiveTheSameViewsAndRestore) {
  // A rolling upgrade: some replicas still write JSON partials, others binary.
  ViewStore binary(Config()), mixed(Config());
  for (std::int32_t partition = 0; partition < 3; ++partition) {
    Partial p;
    p.count = 10 + static_cast<std::uint64_t>(partition);
    p.terms = {{"goal", 4 + static_cast<std::uint64_t>(partition)}, {"ai", 3}, {"caf\xc3\xa9", 1}};
    p.term_error = static_cast<std::uint64_t>(partition);
    const std::string key = changelog_window_key("t", partition, 60'000);
    ASSERT_TRUE(binary.apply(key, encode_partial(p)));
    nlohmann::json j = {{"count", p.count}, {"term_error", p.term_error}, {"closed", false}};
    for (const auto& [term, n] : p.terms) j["terms"][term] = n;
    ASSERT_TRUE(mixed.apply(key, partition == 1 ? j.dump() : encode_partial(p)));
  }
  EXPECT_EQ(to_json(*binary.view("t", {}, {}, 0)), to_json(*mixed.view("t", {}, {}, 0)));
  EXPECT_EQ(to_json(binary.totals()), to_json(mixed.totals()));
  PartitionAggregator from_json("t", 1, Config()), from_binary("t", 1, Config());
  mixed.restore_into(from_json);
  binary.restore_into(from_binary);
  ASSERT_NE(from_json.window(60'000), nullptr);
  EXPECT_EQ(from_json.window(60'000)->terms, from_binary.window(60'000)->terms);
  EXPECT_EQ(from_json.window(60'000)->count, 11u);
  EXPECT_EQ(from_json.window(60'000)->term_error, 1u);
}

TEST(ViewStore, UnknownTopic) {
  ViewStore store(Config());
  EXPECT_FALSE(store.view("nope", {}, {}, 0));
  EXPECT_EQ(store.open_windows(0), 0u);
}

class FinalLogic : public ::testing::Test {
 protected:
  // Window [0, 60s) in partitions 0 and 1, grace 10 s, idle 5 s; stream times 30 s and 40 s.
  void SetUp() override {
    Partial open{.count = 1};
    Partial closed{.count = 2, .closed = true};
    Put(0, 0, closed);
    Put(1, 0, open);
    Put(1, 60'000, open);
    State(0, 30'000);
    State(1, 40'000);
  }
  void Put(std::int32_t partition, Millis start, const Partial& p) {
    ASSERT_TRUE(store.apply(changelog_window_key("t", partition, start), encode_partial(p)));
  }
  void State(std::int32_t partition, Millis stream_time, std::uint64_t late = 0) {
    PartitionState s;
    s.stream_time = stream_time;
    s.late = late;
    ASSERT_TRUE(store.apply(changelog_state_key("t", partition), encode_state(s)));
  }
  bool Final(Millis start, Millis wall_now) {
    auto v = store.view("t", {}, {}, wall_now);
    for (const auto& w : v->windows)
      if (w.start == start) return w.final;
    ADD_FAILURE() << "no window " << start;
    return false;
  }
  ViewStore store{Config(60'000, 10'000, 5'000)};
};

TEST(PartitionAggregatorExpiry, ExpiredRecordsAreCountedNotLost) {
  WindowConfig cfg;
  cfg.size_ms = 10'000;
  cfg.grace_ms = 0;
  PartitionAggregator agg("t", 0, cfg);
  agg.add(1'000, "a b");
  agg.add(2'000, "a");
  agg.add(15'000, "c");
  auto gone = agg.expire(10'000);
  ASSERT_EQ(gone, std::vector<Millis>{0});
  EXPECT_EQ(agg.state().expired, 2u);
  EXPECT_EQ(agg.state().consumed, agg.window(10'000)->count + agg.state().late + agg.state().expired);
  auto decoded = decode_state(encode_state(agg.state()));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->expired, 2u);
}

TEST_F(FinalLogic, ClosedPartialsAloneDoNotMakeItFinal) {
  EXPECT_FALSE(Final(0, 0));
  EXPECT_EQ(store.open_windows(0), 2u);
  // Every partial closed, but partition 1's stream time (40 s) could still add to [0, 60s).
  Put(1, 0, Partial{.count = 1, .closed = true});
  EXPECT_FALSE(Final(0, 0));
}

TEST_F(FinalLogic, OnlyWhenTheSlowestPartitionPassesEndPlusGrace) {
  State(0, 500'000);  // one partition far ahead is not enough
  EXPECT_FALSE(Final(0, 0));
  State(2, 70'000);  // a third partition without this window
  State(1, 69'999);
  EXPECT_FALSE(Final(0, 0));
  State(1, 70'000);
  EXPECT_TRUE(Final(0, 0));
  EXPECT_FALSE(Final(60'000, 0));
  EXPECT_EQ(store.open_windows(0), 1u);
}

TEST_F(FinalLogic, ByWallClockIdle) {
  EXPECT_FALSE(Final(0, 74'999));
  EXPECT_TRUE(Final(0, 75'000));
  EXPECT_FALSE(Final(60'000, 75'000));
  EXPECT_EQ(store.open_windows(75'000), 1u);
  EXPECT_EQ(store.open_windows(135'000), 0u);
}

TEST_F(FinalLogic, LateIsSummedAndWindowsFilteredByStart) {
  State(0, 30'000, 2);
  State(1, 40'000, 3);
  auto v = store.view("t", {}, {}, 0);
  EXPECT_EQ(v->late, 5u);
  ASSERT_EQ(v->windows.size(), 2u);
  EXPECT_EQ(v->windows[0].count, 3u);
  EXPECT_EQ(store.view("t", 0, 60'000, 0)->windows.size(), 1u);
  EXPECT_EQ(store.view("t", 1, {}, 0)->windows.size(), 1u);
  EXPECT_EQ(store.view("t", 1, {}, 0)->windows[0].start, 60'000);
  EXPECT_EQ(store.view("t", {}, 0, 0)->windows.size(), 0u);
  EXPECT_EQ(store.view("t", 60'000, 60'001, 0)->windows.size(), 1u);
}

TEST_F(FinalLogic, ExpireBefore) {
  EXPECT_EQ(store.expire_before(59'999), 0u);
  EXPECT_EQ(store.expire_before(60'000), 2u);  // two partials of window 0
  auto v = store.view("t", {}, {}, 0);
  ASSERT_EQ(v->windows.size(), 1u);
  EXPECT_EQ(v->windows[0].start, 60'000);
}

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
  EXPECT_EQ(to_json(*store.view("Sport", {}, {}, 0)),
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

TEST(ViewStore, ConcurrentApplyAndRead) {
  ViewStore store(Config());
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      store.view("t", {}, {}, 0);
      store.totals();
      store.open_windows(0);
    }
  });
  PartitionAggregator agg("t", 0, Config());
  for (int i = 0; i < 2'000; ++i) {
    agg.add(i * 100, "some words here");
    Flush(agg, store);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(store.totals()[0].count, 2'000u);
}

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
  for (const char* v : {R"({"text":"x"})", R"({"text":"x","at":"yesterday"})",
                        R"({"text":"x","at":"2023-02-29"})", R"({"text":"x","at":"2024-01-02T25:00"})",
                        R"({"text":"x","at":null})", R"({"text":"x","at":1e300})",
                        R"({"text":"x","at":"2024-01-02T03:04:05Zjunk"})"}) {
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
      "AI",      "messi",   " ",         "Caf\xc3\xa9", R"(\")",        R"(\\)",      R"(\/)",
      R"(\n)",   R"(\t)",   R"(\u00e9)", R"(\u0041)",   R"(\ud83d\ude00)", R"(\ud800)", R"(\udc00)",
      R"(\ud800\u0041)", R"(\u0000)", R"(\u001f)", R"(\x)", "\t", "\xf0\x9f\x98\x80", "2024"};
  const std::vector<std::string> numbers = {
      "0", "-0", "12", "-5", "1700000000123", "9007199254740991", "9007199254740992",
      "-9007199254740992", "9223372036854775807", "9223372036854775808",
      "18446744073709551615", "18446744073709551616", "-9223372036854775808",
      "-9223372036854775809", "12.9", "-0.5", "1e3", "1E-2", "2.5e+2", "1e400", "-1e400",
      "1.7e12", "01", "1.", ".5", "-", "0x10", "1e", "123456789012345678901234567890"};
  const std::vector<std::string> keys = {"text", "ts", "t\\u0065xt", "\\u0074s", "id", "", "Text",
                                         "text ", "body"};
  const std::vector<std::string> times = {"\"2024-01-02T03:04:05.678Z\"", "\"1700000000123\"",
                                          "\"yesterday\"", "\"-5\"", "\"\""};
  std::function<std::string(int)> value = [&](int depth) -> std::string {
    switch (rng() % (depth > 2 ? 4 : 6)) {
      case 0: {
        std::string s = "\"";
        for (unsigned n = rng() % 5; n > 0; --n) s += pick(string_parts);
        return s + "\"";
      }
      case 1: return pick(numbers);
      case 2: return pick({"true", "false", "null"});
      case 3: return pick(times);
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
      case 0: doc.resize(rng() % doc.size()); break;
      case 1: doc.insert(rng() % (doc.size() + 1), 1, "{}[],:\" x\\"[rng() % 10]); break;
      case 2: doc += pick({" x", ",", "}", " {}"}); break;
      default: break;
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
