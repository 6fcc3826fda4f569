// The changelog (format 2): keys and values, and the property serve's exactness rests on: the
// records an aggregator writes, read back in order (whole, or compacted at any point), give
// the aggregator's own state, for views and for a restore; foreign groups never mix in; format
// 1 records are adopted once.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "views/changelog_codec.h"
#include "views/views.h"

namespace speedlayer::views {
namespace {

WindowConfig Config(std::size_t max_terms = 10'000, std::size_t top_k = 10) {
  WindowConfig c;
  c.size_ms = 60'000;
  c.grace_ms = 10'000;
  c.idle_ms = 10'000;
  c.top_k = top_k;
  c.max_terms = max_terms;
  return c;
}

using Log = std::vector<ChangelogRecord>;

void Apply(const Log& log, ViewStore& store) {
  for (const auto& r : log) {
    auto st =
        store.apply(r.key, r.value ? std::optional<std::string_view>(*r.value) : std::nullopt);
    ASSERT_TRUE(st) << r.key << ": " << st.error().message();
  }
}

// What log compaction may leave of `log`: the last record of each key, at its position, with
// tombstones kept or dropped (both happen: delete.retention.ms).
Log Compacted(const Log& log, bool keep_tombstones) {
  std::map<std::string, std::size_t> last;
  for (std::size_t i = 0; i < log.size(); ++i) last[log[i].key] = i;
  Log out;
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (last[log[i].key] != i) continue;
    if (!log[i].value && !keep_tombstones) continue;
    out.push_back(log[i]);
  }
  return out;
}

std::map<std::string, std::uint64_t> Sorted(const TermCounts& terms) {
  return {terms.begin(), terms.end()};
}

// Every kept window of `a` equals `b`'s (count, terms, error bound, closed), and the states.
void ExpectSameState(const PartitionAggregator& a, const PartitionAggregator& b) {
  std::size_t windows = 0;
  a.for_each_window([&](Millis start, const Partial& p) {
    ++windows;
    const Partial* q = b.window(start);
    ASSERT_NE(q, nullptr) << "window " << start;
    EXPECT_EQ(p.count, q->count) << "window " << start;
    EXPECT_EQ(p.term_error, q->term_error) << "window " << start;
    EXPECT_EQ(p.closed, q->closed) << "window " << start;
    EXPECT_EQ(Sorted(p.terms), Sorted(q->terms)) << "window " << start;
  });
  EXPECT_EQ(windows, b.window_count());
  EXPECT_EQ(a.state().stream_time, b.state().stream_time);
  EXPECT_EQ(a.state().consumed, b.state().consumed);
  EXPECT_EQ(a.state().late, b.state().late);
  EXPECT_EQ(a.state().expired, b.state().expired);
  EXPECT_EQ(a.state().long_terms, b.state().long_terms);
  EXPECT_EQ(a.state().malformed, b.state().malformed);
}

// `log` read by a fresh store of `group` restores exactly `writer`.
void ExpectRestores(const Log& log, const WindowConfig& cfg, const std::string& group,
                    const PartitionAggregator& writer) {
  ViewStore store(cfg, group);
  Apply(log, store);
  PartitionAggregator restored(writer.topic(), writer.partition(), cfg, ChangelogKeys(group));
  ASSERT_TRUE(store.restore_into(restored));
  ExpectSameState(writer, restored);
}

std::string RandomText(std::mt19937_64& rng, int vocabulary) {
  std::string text;
  const int words = 1 + static_cast<int>(rng() % 12);
  for (int i = 0; i < words; ++i) {
    // Skewed: low ids often, high ids rarely (Space-Saving keeps and evicts both).
    const auto id = static_cast<int>(rng() % static_cast<std::uint64_t>(1 + rng() % vocabulary));
    text += "w" + std::to_string(id) + " ";
  }
  return text;
}

// ---- keys ---------------------------------------------------------------------------------

TEST(ChangelogKeys, RoundTripWithGroupEscapes) {
  const ChangelogKeys keys("team|a%b");
  auto s = parse_changelog_key(keys.snapshot("my.topic-1_x", 3, -60'000));
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->kind, RecordKind::snapshot);
  EXPECT_EQ(s->group, "team|a%b");
  EXPECT_EQ(s->topic, "my.topic-1_x");
  EXPECT_EQ(s->partition, 3);
  EXPECT_EQ(s->start, -60'000);
  auto d = parse_changelog_key(keys.delta("t", 0, 120'000, 41));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, RecordKind::delta);
  EXPECT_EQ(d->seq, 41u);
  EXPECT_EQ(d->start, 120'000);
  auto p = parse_changelog_key(keys.state("t", 2147483647));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, RecordKind::state);
  EXPECT_EQ(p->partition, 2147483647);
  EXPECT_FALSE(p->is_window());
  EXPECT_EQ(keys.state("t", 5), "2|team%7Ca%25b|p|t|5");
  auto legacy = parse_changelog_key(legacy_window_key("t", 1, 60'000));
  ASSERT_TRUE(legacy);
  EXPECT_EQ(legacy->kind, RecordKind::legacy_window);
  EXPECT_TRUE(legacy->legacy());
  EXPECT_LE(keys.snapshot(std::string(249, 't'), 2147483647, -9'000'000'000'000'000'000).size(),
            keys.max_key_bytes());
}

TEST(ChangelogKeys, BadKeysAreInvalidData) {
  for (const char* key :
       {"", "2", "2|g", "2|g|s|t|0", "2|g|x|t|0|0", "2|g|s||0|0", "2|g|s|t|-1|0", "2|g|d|t|0|0",
        "2|g|d|t|0|0|-3", "2|g%zz|p|t|0", "2|g|p|t|0|9", "w|t|0", "p|t", "2|a|b|c|d|e|f|g|h|i"}) {
    auto k = parse_changelog_key(key);
    ASSERT_FALSE(k) << key;
    EXPECT_EQ(k.error().kind, ErrorKind::invalid_data) << key;
  }
}

TEST(ChangelogPartition, StableAndInRange) {
  EXPECT_EQ(changelog_partition("Sport", 2, 6), changelog_partition("Sport", 2, 6));
  EXPECT_EQ(changelog_partition("Sport", 2, 1), 0);
  std::set<std::int32_t> seen;
  for (int p = 0; p < 60; ++p) {
    const auto c = changelog_partition("t", p, 6);
    ASSERT_GE(c, 0);
    ASSERT_LT(c, 6);
    seen.insert(c);
  }
  EXPECT_EQ(seen.size(), 6u);  // spreads
}

// ---- values -------------------------------------------------------------------------------

TEST(ChangelogValues, SnapshotDeltaAndStateRoundTrip) {
  Partial p;
  p.count = 300;
  p.term_error = 7;
  p.closed = true;
  p.terms = {{"messi", 120}, {"caf\xc3\xa9", 3}};
  auto s = decode_window_value(RecordKind::snapshot, encode_snapshot(4, p));
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->gen, 4u);
  EXPECT_EQ(s->count, 300u);
  EXPECT_EQ(s->term_error, 7u);
  EXPECT_TRUE(s->closed);
  EXPECT_EQ(s->term_count, 2u);
  auto d =
      decode_window_value(RecordKind::delta, encode_delta(4, 9, p, {{"messi", 121}, {"gone", 0}}));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->gen, 4u);
  EXPECT_EQ(d->seq, 9u);
  EXPECT_EQ(d->term_count, 2u);
  std::map<std::string, std::uint64_t> terms;
  codec::for_each_entry(d->terms,
                        [&](std::string_view t, std::uint64_t c) { terms[std::string(t)] = c; });
  EXPECT_EQ(terms, (std::map<std::string, std::uint64_t>{{"gone", 0}, {"messi", 121}}));

  PartitionState st;
  st.stream_time = -1;
  st.late = 2;
  st.consumed = 99;
  st.expired = 5;
  st.long_terms = 3;
  st.malformed = {{"binary", 1}, {"future_time", 4}};
  auto back = decode_state(encode_state_v2(st));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->stream_time, -1);
  EXPECT_EQ(back->late, 2u);
  EXPECT_EQ(back->consumed, 99u);
  EXPECT_EQ(back->expired, 5u);
  EXPECT_EQ(back->long_terms, 3u);
  EXPECT_EQ(back->malformed, st.malformed);
  st.stream_time = 1'704'164'645'678;
  EXPECT_EQ(decode_state(encode_state_v2(st))->stream_time, 1'704'164'645'678);
  EXPECT_EQ(decode_state(encode_state(st))->consumed, 99u);  // format 1 JSON still reads
}

TEST(ChangelogValues, CutOrCorruptValuesAreInvalidDataNeverACrash) {
  Partial p;
  p.count = 3;
  p.terms = {{"abc", 2}, {"d", 1}};
  const std::string snapshot = encode_snapshot(1, p);
  const std::string delta = encode_delta(1, 0, p, {{"abc", 2}});
  PartitionState st;
  st.malformed = {{"x", 1}};
  const std::string state = encode_state_v2(st);
  for (std::size_t cut = 0; cut < snapshot.size(); ++cut)
    EXPECT_FALSE(decode_window_value(RecordKind::snapshot, snapshot.substr(0, cut))) << cut;
  for (std::size_t cut = 0; cut < delta.size(); ++cut)
    EXPECT_FALSE(decode_window_value(RecordKind::delta, delta.substr(0, cut))) << cut;
  for (std::size_t cut = 1; cut < state.size(); ++cut)
    EXPECT_FALSE(decode_state(state.substr(0, cut))) << cut;
  EXPECT_FALSE(decode_window_value(RecordKind::snapshot, snapshot + "x"));
  EXPECT_FALSE(decode_window_value(RecordKind::snapshot, delta));  // wrong format byte
  EXPECT_FALSE(decode_window_value(RecordKind::delta, snapshot));
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20'000; ++i) {
    std::string bytes(rng() % 40, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    (void)decode_window_value(RecordKind::snapshot, bytes);
    (void)decode_window_value(RecordKind::delta, bytes);
    (void)decode_window_value(RecordKind::legacy_window, bytes);
    (void)decode_state(bytes);
  }
}

// ---- the aggregator's log, read back ------------------------------------------------------

// Random records, commits at random points (each a take_changelog), closing, expiry and a
// small max_terms (evictions): the log read in order, and any compaction of it, restores an
// aggregator equal to the writer, which then goes on writing the same generations.
TEST(IncrementalChangelog, ReadBackWholeOrCompactedEqualsTheWriter) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const WindowConfig cfg = Config(/*max_terms=*/seed % 2 ? 40 : 10'000);
    const ChangelogKeys keys("g");
    PartitionAggregator writer("t", 3, cfg, keys);
    Log log;
    Millis t = 0, wall = 0;
    for (int i = 0; i < 6'000; ++i) {
      t += static_cast<Millis>(rng() % 400);
      const Millis event = t - static_cast<Millis>(rng() % 20'000);  // some out of order, late
      if (rng() % 50 == 0) {
        writer.add_malformed(Malformed::binary);
      } else {
        writer.add(event, RandomText(rng, 300));
      }
      wall += 10;
      writer.mark_active(wall);
      if (rng() % 15 == 0) {
        (void)writer.close_due(wall);
        if (rng() % 5 == 0) (void)writer.expire(t - 300'000);
        writer.take_changelog(log);
      }
    }
    writer.take_changelog(log);
    ASSERT_GT(log.size(), 100u);

    for (int variant = 0; variant < 3; ++variant) {
      SCOPED_TRACE("variant " + std::to_string(variant));
      const Log read = variant == 0 ? log : Compacted(log, variant == 1);
      ViewStore store(cfg, "g");
      Apply(read, store);
      PartitionAggregator restored("t", 3, cfg, keys);
      ASSERT_TRUE(store.restore_into(restored));
      ExpectSameState(writer, restored);
      // The store's own view of the partition equals the writer's.
      auto v = store.view("t", {}, {}, wall);
      ASSERT_TRUE(v);
      std::uint64_t sum = 0;
      for (const auto& w : v->windows) sum += w.count;
      std::uint64_t expected = 0;
      writer.for_each_window([&](Millis, const Partial& p) { expected += p.count; });
      EXPECT_EQ(sum, expected);
    }

    // Restored mid-way, the restored aggregator writes on: same records as the writer.
    ViewStore store(cfg, "g");
    Apply(log, store);
    PartitionAggregator resumed("t", 3, cfg, keys);
    ASSERT_TRUE(store.restore_into(resumed));
    Log a, b;
    for (int i = 0; i < 500; ++i) {
      t += 100;
      const std::string text = RandomText(rng, 300);
      writer.add(t, text);
      resumed.add(t, text);
      if (i % 50 == 49) {
        writer.take_changelog(a);
        resumed.take_changelog(b);
      }
    }
    // The restored aggregator's own records restore it exactly; without evictions (no ties
    // for Space-Saving to break differently) it also equals the writer.
    if (cfg.max_terms > 1'000) ExpectSameState(writer, resumed);
    Apply(b, store);
    PartitionAggregator again("t", 3, cfg, keys);
    ASSERT_TRUE(store.restore_into(again));
    ExpectSameState(resumed, again);
  }
}

// A commit costs about what its records' words cost, not the window's whole partial.
TEST(IncrementalChangelog, ACommitWritesOnlyWhatChanged) {
  const WindowConfig cfg = Config();
  PartitionAggregator agg("t", 0, cfg, ChangelogKeys("g"));
  for (int i = 0; i < 5'000; ++i) agg.add(1'000, "word" + std::to_string(i) + " common");
  Log first;
  agg.take_changelog(first);
  std::size_t first_bytes = 0;
  for (const auto& r : first) first_bytes += r.value ? r.value->size() : 0;
  EXPECT_GT(first_bytes, 40'000u);
  agg.add(2'000, "common newword");
  Log second;
  agg.take_changelog(second);
  ASSERT_EQ(second.size(), 2u);  // one delta, the state
  EXPECT_EQ(parse_changelog_key(second[0].key)->kind, RecordKind::delta);
  EXPECT_LT(second[0].value->size(), 40u);
  EXPECT_EQ(parse_changelog_key(second[1].key)->kind, RecordKind::state);
  EXPECT_LT(second[1].value->size(), 24u);
  Log third;
  agg.take_changelog(third);
  EXPECT_TRUE(third.empty());  // nothing changed, nothing written
}

// Under Space-Saving churn (a full window, most records new terms, some evicted terms coming
// back) each delta names a term at most once, names every written term that left, and the
// log restores the writer exactly.
TEST(IncrementalChangelog, EvictionChurnWritesEachLeavingTermOnce) {
  const WindowConfig cfg = Config(/*max_terms=*/50);
  const ChangelogKeys keys("g");
  PartitionAggregator writer("t", 0, cfg, keys);
  std::mt19937_64 rng(17);
  Log log;
  std::size_t deltas = 0, removals = 0;
  for (int commit = 0; commit < 100; ++commit) {
    for (int i = 0; i < 300; ++i) {
      const std::uint64_t n = rng() % 2 == 0 ? rng() % 60 : 100'000 + commit * 300 + i;
      writer.add(1'000, "w" + std::to_string(n));
    }
    const std::size_t from = log.size();
    writer.take_changelog(log);
    for (std::size_t r = from; r < log.size(); ++r) {
      auto key = parse_changelog_key(log[r].key);
      ASSERT_TRUE(key);
      if (key->kind != RecordKind::delta || !log[r].value) continue;
      auto v = decode_window_value(RecordKind::delta, *log[r].value);
      ASSERT_TRUE(v) << v.error().message();
      ++deltas;
      std::set<std::string> named;
      codec::for_each_entry(v->terms, [&](std::string_view term, std::uint64_t count) {
        EXPECT_TRUE(named.insert(std::string(term)).second) << "twice in one delta: " << term;
        if (count == 0) {
          ++removals;
          ASSERT_NE(writer.window(0), nullptr);
          EXPECT_FALSE(writer.window(0)->terms.contains(term)) << term << " is still kept";
        }
      });
    }
  }
  EXPECT_GT(deltas, 50u);
  EXPECT_GT(removals, 1'000u);
  ExpectRestores(log, cfg, "g", writer);
  ExpectRestores(Compacted(log, false), cfg, "g", writer);
}

// Deltas add up to the budget, then a new generation starts: a snapshot and tombstones for
// every delta key of the old one; compaction then keeps at most one generation per window.
TEST(IncrementalChangelog, GenerationsBoundWhatCompactionKeeps) {
  const WindowConfig cfg = Config();
  const ChangelogKeys keys("g");
  PartitionAggregator agg("t", 0, cfg, keys);
  Log log;
  std::uint64_t snapshots = 0;
  for (int i = 0; i < 20'000; ++i) {
    agg.add(1'000, "unique" + std::to_string(i) + " and some shared words");
    if (i % 10 == 9) {
      const std::size_t before = log.size();
      agg.take_changelog(log);
      for (std::size_t j = before; j < log.size(); ++j) {
        auto k = parse_changelog_key(log[j].key);
        ASSERT_TRUE(k);
        if (k->kind == RecordKind::snapshot) {
          ++snapshots;
          // Every delta of the generation before is tombstoned right after its snapshot.
          const LogPosition* pos = agg.log_position(0);
          ASSERT_NE(pos, nullptr);
          EXPECT_EQ(pos->next_seq, 0u);
        }
      }
    }
  }
  EXPECT_GE(snapshots, 2u);
  std::size_t total = 0, kept = 0;
  for (const auto& r : log) total += r.key.size() + (r.value ? r.value->size() : 0);
  for (const auto& r : Compacted(log, false))
    kept += r.key.size() + (r.value ? r.value->size() : 0);
  // Kept: one snapshot and at most one generation's deltas (<= max(snapshot, budget)).
  const LogPosition* pos = agg.log_position(0);
  EXPECT_LE(kept, 3 * std::max(pos->snapshot_bytes, PartitionAggregator::kDeltaBudgetBytes));
  EXPECT_LT(kept * 3, total);
}

TEST(IncrementalChangelog, ClosingWritesOneSnapshotAndExpiryTombstonesEverything) {
  const WindowConfig cfg = Config();
  const ChangelogKeys keys("g");
  PartitionAggregator agg("t", 0, cfg, keys);
  Log log;
  agg.add(1'000, "a b");
  agg.take_changelog(log);
  agg.add(2'000, "b c");
  agg.take_changelog(log);
  agg.add(75'000, "later");  // stream time passes 60 s + 10 s grace: window 0 is due
  ASSERT_EQ(agg.close_due(0), std::vector<Millis>{0});
  Log closing;
  agg.take_changelog(closing);
  std::set<std::string> keys_written;
  for (const auto& r : closing) keys_written.insert(r.key + (r.value ? "" : " (tombstone)"));
  EXPECT_TRUE(keys_written.count(keys.snapshot("t", 0, 0)));
  EXPECT_TRUE(keys_written.count(keys.delta("t", 0, 0, 0) + " (tombstone)"));
  EXPECT_TRUE(keys_written.count(keys.delta("t", 0, 0, 1) + " (tombstone)"));
  log.insert(log.end(), closing.begin(), closing.end());
  ASSERT_EQ(agg.expire(60'000), std::vector<Millis>{0});
  Log expiring;
  agg.take_changelog(expiring);
  log.insert(log.end(), expiring.begin(), expiring.end());
  // Compacted without tombstones, nothing of window 0 is left.
  for (const auto& r : Compacted(log, false)) {
    auto k = parse_changelog_key(r.key);
    ASSERT_TRUE(k);
    EXPECT_FALSE(k->is_window() && k->start == 0) << r.key;
  }
  ViewStore store(cfg, "g");
  Apply(log, store);
  PartitionAggregator restored("t", 0, cfg, keys);
  ASSERT_TRUE(store.restore_into(restored));
  ExpectSameState(agg, restored);
  EXPECT_EQ(restored.state().expired, 2u);
}

TEST(IncrementalChangelog, EveryRecordFitsTheBoundForItsConfig) {
  WindowConfig cfg = Config(/*max_terms=*/500);
  cfg.max_term_bytes = 16;
  PartitionAggregator agg("t", 0, cfg, ChangelogKeys("g"));
  std::mt19937_64 rng(3);
  const std::size_t bound =
      std::max(codec::max_window_value_bytes(500, 16), PartitionAggregator::kDeltaBudgetBytes);
  std::size_t largest = 0;
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 2'000; ++i) {
      std::string text;
      for (int w = 0; w < 10; ++w) {
        text += std::string(1 + rng() % 30, static_cast<char>('a' + rng() % 26));  // some > 16
        text += ' ';
      }
      agg.add(1'000, text);
    }
    Log log;
    agg.take_changelog(log);
    for (const auto& r : log) largest = std::max(largest, r.value ? r.value->size() : 0);
  }
  EXPECT_LE(largest, bound);
  EXPECT_GT(agg.state().long_terms, 0u);
  agg.for_each_window([&](Millis, const Partial& p) {
    for (const auto& [term, count] : p.terms) EXPECT_LE(term.size(), 16u) << term;
  });
}

// A late record counts against its window while the window is kept: a closed window's late
// count is written as a small delta, never as a new snapshot of all its terms.
TEST(IncrementalChangelog, LateRecordsCountPerWindowAsSmallDeltas) {
  const WindowConfig cfg = Config();
  const ChangelogKeys keys("g");
  PartitionAggregator agg("t", 0, cfg, keys);
  for (int i = 0; i < 2'000; ++i) agg.add(1'000, "term" + std::to_string(i));
  agg.add(75'000, "later");
  ASSERT_EQ(agg.close_due(0), std::vector<Millis>{0});
  Log log;
  agg.take_changelog(log);
  EXPECT_EQ(agg.add(2'000, "too late"), PartitionAggregator::Outcome::late);
  EXPECT_EQ(agg.add(3'000, "too late"), PartitionAggregator::Outcome::late);
  EXPECT_EQ(agg.window(0)->late, 2u);
  EXPECT_EQ(agg.window(0)->count, 2'000u);
  Log late;
  agg.take_changelog(late);
  ASSERT_EQ(late.size(), 2u);  // the window's delta, the state
  EXPECT_EQ(parse_changelog_key(late[0].key)->kind, RecordKind::delta);
  EXPECT_LT(late[0].value->size(), 16u);
  log.insert(log.end(), late.begin(), late.end());
  ViewStore store(cfg, "g");
  Apply(log, store);
  auto v = store.view("t", {}, {}, 0);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->late, 2u);
  EXPECT_EQ(v->windows[0].late, 2u);
  EXPECT_EQ(v->windows[1].late, 0u);
  PartitionAggregator restored("t", 0, cfg, keys);
  ASSERT_TRUE(store.restore_into(restored));
  EXPECT_EQ(restored.window(0)->late, 2u);
  // Reopened by a counted record, the closed window is written as a snapshot.
  restored.add(4'000, "reopens nothing: late");  // still late by stream time
  Log more;
  restored.take_changelog(more);
  EXPECT_EQ(parse_changelog_key(more[0].key)->kind, RecordKind::delta);
}

// A closed window keeps its largest counts only, with an error bound that still holds against
// an exact count, and is written (and restored) that way.
TEST(ClosedWindows, KeepTheirTopTermsWithBoundsThatHold) {
  WindowConfig cfg = Config(/*max_terms=*/10'000, /*top_k=*/5);
  ASSERT_EQ(cfg.effective_closed_terms(), 100u);
  const ChangelogKeys keys("g");
  PartitionAggregator agg("t", 0, cfg, keys);
  std::map<std::string, std::uint64_t> exact;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 30'000; ++i) {
    const std::string term = "w" + std::to_string(rng() % (1 + rng() % 2'000));
    ++exact[term];
    agg.add(1'000, term);
  }
  ASSERT_GT(agg.window(0)->terms.size(), 1'000u);
  EXPECT_EQ(agg.window(0)->term_error, 0u);
  agg.add(75'000, "later");
  ASSERT_EQ(agg.close_due(0), std::vector<Millis>{0});
  const Partial& closed = *agg.window(0);
  EXPECT_EQ(closed.terms.size(), 100u);
  EXPECT_EQ(closed.count, 30'000u);  // record counts never change
  EXPECT_GT(closed.term_error, 0u);
  std::vector<std::uint64_t> sorted;
  for (const auto& [t, c] : exact) sorted.push_back(c);
  std::sort(sorted.rbegin(), sorted.rend());
  for (const auto& [term, count] : closed.terms) {
    EXPECT_EQ(count, exact[term]) << term;  // kept counts were exact, and stay so
    EXPECT_GE(count, sorted[99]) << term;   // the largest counts are the ones kept
  }
  for (const auto& [term, count] : exact) {
    if (!closed.terms.contains(term)) {
      EXPECT_LE(count, closed.term_error) << term;
    }
  }
  Log log;
  agg.take_changelog(log);
  ViewStore store(cfg, "g");
  Apply(log, store);
  PartitionAggregator restored("t", 0, cfg, keys);
  ASSERT_TRUE(store.restore_into(restored));
  ExpectSameState(agg, restored);
  auto v = store.view("t", {}, {}, 0);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->windows[0].top.size(), 5u);
  EXPECT_EQ(v->windows[0].term_error, closed.term_error);
}

// The memory budget lowers the terms an open window keeps: it is truncated with a larger
// error bound, written as a snapshot, restored as it is, and keeps counting within the cap.
TEST(MemoryBudget, LoweringTheCapacityTruncatesOpenWindowsVisibly) {
  const WindowConfig cfg = Config();
  const ChangelogKeys keys("g");
  PartitionAggregator agg("t", 0, cfg, keys);
  Log log;
  for (int i = 0; i < 3'000; ++i) agg.add(1'000, "t" + std::to_string(i % 1'500) + " common");
  agg.take_changelog(log);
  agg.set_max_terms(200);
  EXPECT_EQ(agg.window(0)->terms.size(), 200u);
  EXPECT_EQ(agg.window(0)->term_error, 2u);  // the largest count dropped
  EXPECT_EQ(agg.window(0)->terms.at("common"), 3'000u);
  Log truncated;
  agg.take_changelog(truncated);
  ASSERT_FALSE(truncated.empty());
  EXPECT_EQ(parse_changelog_key(truncated[0].key)->kind, RecordKind::snapshot);
  log.insert(log.end(), truncated.begin(), truncated.end());
  for (int i = 0; i < 1'000; ++i) agg.add(2'000, "new" + std::to_string(i));
  EXPECT_LE(agg.window(0)->terms.size(), 200u);
  EXPECT_EQ(agg.window(0)->count, 4'000u);  // record counts stay exact
  agg.take_changelog(log);
  ExpectRestores(log, cfg, "g", agg);
}

// ---- groups and format 1 --------------------------------------------------------------------

TEST(Isolation, RecordsOfAnotherGroupAreIgnoredAndCounted) {
  const WindowConfig cfg = Config();
  PartitionAggregator mine("t", 0, cfg, ChangelogKeys("g1"));
  PartitionAggregator theirs("t", 0, cfg, ChangelogKeys("g2"));
  mine.add(1'000, "a");
  for (int i = 0; i < 5; ++i) theirs.add(1'000, "b");
  Log log;
  mine.take_changelog(log);
  theirs.take_changelog(log);
  ViewStore store(cfg, "g1");
  Apply(log, store);
  EXPECT_EQ(store.foreign_records(), 2u);  // a delta and a state
  auto totals = store.totals();
  ASSERT_EQ(totals.size(), 1u);
  EXPECT_EQ(totals[0].count, 1u);
  EXPECT_EQ(totals[0].consumed, 1u);
  ViewStore fresh(cfg, "g3");
  Apply(log, fresh);
  EXPECT_TRUE(fresh.totals().empty());  // a new group starts from zero
}

TEST(Upgrade, FormatOneIsAdoptedRewrittenAndTombstoned) {
  const WindowConfig cfg = Config();
  // What an earlier version wrote: full partials and JSON state under format 1 keys.
  PartitionAggregator old("t", 1, cfg);
  old.add(1'000, "messi goal");
  old.add(61'000, "ai model");
  old.add_malformed(Malformed::binary);
  Log log;
  for (Millis start : old.take_dirty_windows())
    log.push_back({legacy_window_key("t", 1, start), encode_partial(*old.window(start))});
  ASSERT_TRUE(old.take_state_dirty());
  log.push_back({legacy_state_key("t", 1), encode_state(old.state())});

  const ChangelogKeys keys("g");
  ViewStore store(cfg, "g");
  Apply(log, store);
  PartitionAggregator adopted("t", 1, cfg, keys);
  ASSERT_TRUE(store.restore_into(adopted));
  ExpectSameState(old, adopted);
  Log rewrite;
  adopted.take_changelog(rewrite);
  std::set<std::string> written;
  for (const auto& r : rewrite) written.insert(r.key + (r.value ? "" : " (tombstone)"));
  EXPECT_EQ(written, (std::set<std::string>{keys.snapshot("t", 1, 0), keys.snapshot("t", 1, 60'000),
                                            keys.state("t", 1), "w|t|1|0 (tombstone)",
                                            "w|t|1|60000 (tombstone)", "p|t|1 (tombstone)"}));
  log.insert(log.end(), rewrite.begin(), rewrite.end());
  adopted.add(62'000, "more");
  adopted.take_changelog(log);
  // Read whole, compacted, or with the format 1 records last (they were in other changelog
  // partitions): the same state, never both formats summed.
  Log reordered = Compacted(log, true);
  std::stable_partition(reordered.begin(), reordered.end(),
                        [](const ChangelogRecord& r) { return r.key[0] == '2'; });
  Log old_records_last = log;
  std::stable_partition(old_records_last.begin(), old_records_last.end(),
                        [](const ChangelogRecord& r) { return r.key[0] == '2'; });
  for (const Log* read : {&log, &reordered, &old_records_last}) {
    ViewStore again(cfg, "g");
    Apply(*read, again);
    PartitionAggregator restored("t", 1, cfg, keys);
    ASSERT_TRUE(again.restore_into(restored));
    ExpectSameState(adopted, restored);
    EXPECT_EQ(again.totals()[0].count, 3u);
  }
}

// ---- event time and top-K bounds ----------------------------------------------------------

TEST(EventTime, FutureAndNegativeTimesAreMalformed) {
  const Millis now = 1'800'000'000'000;
  EXPECT_EQ(event_time_problem(now, now, 3'600'000), Malformed::none);
  EXPECT_EQ(event_time_problem(now + 3'600'000, now, 3'600'000), Malformed::none);
  EXPECT_EQ(event_time_problem(now + 3'600'001, now, 3'600'000), Malformed::future_time);
  EXPECT_EQ(event_time_problem(0, now, 3'600'000), Malformed::none);
  EXPECT_EQ(event_time_problem(-1, now, 3'600'000), Malformed::bad_time);
  EXPECT_EQ(event_time_problem(std::numeric_limits<Millis>::max(), now,
                               std::numeric_limits<Millis>::max()),
            Malformed::none);  // saturates, never overflows
  EXPECT_EQ(malformed_name(Malformed::bad_time), "bad_time");
}

TEST(TopK, ErrorBoundsAndGuaranteesHoldAgainstAnExactCount) {
  // One partition, few kept terms: Space-Saving estimates; the view's bounds must hold.
  const WindowConfig cfg = Config(/*max_terms=*/30, /*top_k=*/5);
  PartitionAggregator agg("t", 0, cfg, ChangelogKeys("g"));
  std::map<std::string, std::uint64_t> exact;
  std::mt19937_64 rng(11);
  for (int i = 0; i < 20'000; ++i) {
    const auto r = rng() % 1000;
    const std::string term = r < 400 ? "w" + std::to_string(r % 4)           // 4 heavy terms
                                     : "x" + std::to_string(rng() % 5'000);  // a long tail
    ++exact[term];
    agg.add(1'000, term);
  }
  Log log;
  agg.take_changelog(log);
  ViewStore store(cfg, "g");
  Apply(log, store);
  auto v = store.view("t", {}, {}, 0);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->windows.size(), 1u);
  const WindowView& w = v->windows[0];
  EXPECT_GT(w.term_error, 0u);
  std::vector<std::uint64_t> sorted;
  for (const auto& [t, c] : exact) sorted.push_back(c);
  std::sort(sorted.rbegin(), sorted.rend());
  int guaranteed = 0;
  for (const auto& tc : w.top) {
    EXPECT_EQ(tc.error, w.term_error);
    const std::uint64_t truth = exact[tc.term];
    EXPECT_LE(truth, tc.count + tc.error) << tc.term;
    EXPECT_GE(truth + tc.error, tc.count) << tc.term;
    if (tc.guaranteed) {
      ++guaranteed;
      EXPECT_GE(truth, sorted[cfg.top_k - 1]) << tc.term << " is guaranteed but not in the top";
    }
  }
  EXPECT_EQ(guaranteed, 4);  // the heavy terms, certainly; the tail's fifth place is not
}

}  // namespace
}  // namespace speedlayer::views
