// PartitionAggregator (aggregator.h): counting, late records, closing, expiring, dirty marks,
// snapshots.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "text/filters.h"
#include "views/views.h"
#include "views/views_test_support.h"

namespace speedlayer::views {
namespace {

using test_support::Config;
using test_support::Flush;
using test_support::Sorted;

// ---- the known stream ---------------------------------------------------------------------

// 60 s windows, 10 s grace. Records in order, out of order within grace, late beyond grace.
class KnownStream : public ::testing::Test {
 protected:
  void SetUp() override {
    using O = PartitionAggregator::Outcome;
    EXPECT_EQ(agg.add(1'000, "Messi scores goal"), O::counted);              // [0, 60s)
    EXPECT_EQ(agg.add(30'000, "messi again"), O::counted);                   // [0, 60s)
    EXPECT_EQ(agg.add(65'000, "Football match"), O::counted);                // [60s, 120s); st 65s
    EXPECT_EQ(agg.add(50'000, "late but within grace: Messi"), O::counted);  // 70s > 65s
    EXPECT_EQ(agg.add(75'000, "goal GOAL"), O::counted);                     // st 75s
    EXPECT_EQ(agg.add(20'000, "too late messi"), O::late);                   // 70s <= 75s
    EXPECT_EQ(agg.add(59'999, "messi"), O::late);
    EXPECT_EQ(agg.add(-5'000, "negative"), O::late);  // [-60s, 0)
    EXPECT_EQ(agg.add(61'000, "goal"), O::counted);   // out of order, in
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
  agg.add(130'000, "e");  // stream 130 s: [60s] due
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

// A term already in a window is counted without asking the filter again, but only when every
// term of the window passed the filter: a window restored from a changelog written under other
// settings (no stop words, longer terms) keeps what it had and counts no new occurrence of
// what the current settings drop.
TEST(PartitionAggregator, RestoredTermsTheFilterNowDropsGetNoNewCounts) {
  WindowConfig cfg = Config();
  cfg.max_term_bytes = 8;
  auto filters = std::make_shared<text::TermFilters>();
  filters->default_filter = *text::TermFilter::build({.stop_words = "en", .min_term_chars = 2});
  cfg.filters = filters;
  PartitionAggregator agg("t", 0, cfg);
  Partial old;
  old.count = 3;
  old.terms.emplace("the", 5);
  old.terms.emplace("x", 2);
  old.terms.emplace("verylongterm", 4);
  old.terms.emplace("goal", 1);
  agg.restore_window(0, old);
  agg.add(1'000, "The goal, the GOAL x verylongterm");
  const Partial* w = agg.window(0);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->count, 4u);
  EXPECT_EQ(w->terms.at("the"), 5u);
  EXPECT_EQ(w->terms.at("x"), 2u);
  EXPECT_EQ(w->terms.at("verylongterm"), 4u);
  EXPECT_EQ(w->terms.at("goal"), 3u);
  EXPECT_EQ(agg.state().long_terms, 1u);

  // A window counted here never holds a dropped term, repeats or not.
  agg.add(61'000, "the the goal x goal");
  const Partial* fresh = agg.window(60'000);
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(fresh->terms.size(), 1u);
  EXPECT_EQ(fresh->terms.at("goal"), 2u);
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
  EXPECT_EQ(agg.state().consumed,
            agg.window(10'000)->count + agg.state().late + agg.state().expired);
  auto decoded = decode_state(encode_state(agg.state()));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->expired, 2u);
}

}  // namespace
}  // namespace speedlayer::views
