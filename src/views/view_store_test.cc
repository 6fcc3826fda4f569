// ViewStore (view_store.h): merged views, live partitions, restores, tombstones, finality,
// concurrency.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "views/views.h"
#include "views/views_test_support.h"

namespace speedlayer::views {
namespace {

using test_support::Config;
using test_support::Flush;

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
  mixed.set_live(&live);                          // come from the changelog
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
  ASSERT_TRUE(store.apply(ChangelogKeys().snapshot("t", 9, 0), std::nullopt));   // unknown: ok
  ASSERT_TRUE(store.apply(ChangelogKeys().snapshot("zz", 0, 0), std::nullopt));  // unknown: ok
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

}  // namespace
}  // namespace speedlayer::views
