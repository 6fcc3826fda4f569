// Speed-layer aggregation cost per record (issue 3 target: >= 1,000,000 records/s/core):
// PartitionAggregator::add on ~90-byte texts of ~15 words, event time advancing 1 ms per record
// (60 s windows roll over every 60,000 records; old windows expire as the processor does), and
// extract_text for the value shapes the producer sends.
//
//   ./build/bench/views_bench
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "text/filters.h"
#include "views/views.h"

namespace speedlayer::views {
namespace {

// `n` texts of ~15 words drawn Zipf-like from a vocabulary of `vocab` words; about one word in
// eight capitalized.
std::vector<std::string> Texts(int n, int vocab) {
  std::mt19937 rng(1);
  std::vector<std::string> words;
  for (int i = 0; i < vocab; ++i) {
    std::string w;
    const int len = 2 + static_cast<int>(rng() % 7);
    for (int k = 0; k < len; ++k) w += static_cast<char>('a' + rng() % 26);
    words.push_back(w);
  }
  std::vector<double> weights;
  weights.reserve(static_cast<std::size_t>(vocab));
  for (int i = 0; i < vocab; ++i) weights.push_back(1.0 / (i + 1));
  std::discrete_distribution<int> zipf(weights.begin(), weights.end());
  std::vector<std::string> texts;
  for (int i = 0; i < n; ++i) {
    std::string t;
    while (t.size() < 84) {
      std::string w = words[zipf(rng)];
      if (rng() % 8 == 0) w[0] = static_cast<char>(w[0] - 'a' + 'A');
      if (!t.empty()) t += rng() % 10 == 0 ? ", " : " ";
      t += w;
    }
    texts.push_back(t + "!");
  }
  return texts;
}

// range(1) == 1: serve's default term filters on (text::default_filters(): the built-in stop
// words, 2 characters, numbers dropped).
void BM_Add(benchmark::State& state) {
  const auto texts = Texts(4096, static_cast<int>(state.range(0)));
  WindowConfig cfg;
  if (state.range(1) == 1) cfg.filters = text::default_filters();
  PartitionAggregator agg("Sport", 0, cfg);
  Millis t = 1'700'000'000'000;
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& text = texts[i++ & 4095];
    bytes += text.size();
    benchmark::DoNotOptimize(agg.add(t++, text));
    if ((t & 0xffff) == 0) {  // as the processor does, now and then
      agg.close_due(0);
      agg.expire(t - cfg.retention_ms);
      agg.take_dirty_windows();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
// 5,000 words: exact counts; 200,000 words: Space-Saving at max_terms = 10,000.
BENCHMARK(BM_Add)->Args({5'000, 0})->Args({200'000, 0})->Args({5'000, 1})->Args({200'000, 1});

// serve_bench's input (bench/gen_messages.py): 90-byte lines of a unique 7-digit number, 16
// words of a 100-word vocabulary and a keyword, padded with dots; with no_ids the number
// is replaced by a fixed word (--no-ids). With the numbers every record brings a new term: the
// partial holds 10,000 terms and Space-Saving evicts once per record, as in serve's benchmark.
constexpr int kLines = 1 << 16;
std::vector<std::string> BenchLines(bool no_ids) {
  // clang-format off
  static const char* const kWords[] = {
      "the", "a", "of", "to", "and", "in", "on", "for", "with", "at", "from", "by", "after",
      "before", "during", "new", "late", "early", "big", "small", "city", "team", "fans",
      "crowd", "match", "season", "report", "update", "model", "data", "paper", "result",
      "score", "scored", "win", "wins", "won", "lost", "draw", "night", "today", "tomorrow",
      "yesterday", "coach", "player", "players", "league", "cup", "final", "title", "record",
      "market", "price", "users", "system", "release", "launch", "research", "lab", "group",
      "study", "shows", "says", "announced", "weekend", "morning", "evening", "again", "still",
      "very", "more", "most", "first", "second", "third", "stadium", "training", "network",
      "image", "text", "speech", "robot", "cloud", "chip", "startup", "funding", "benchmark",
      "dataset", "open", "source", "Football", "messi", "AI", "ML", "messiah", "email"};
  // clang-format on
  std::mt19937 rng(2);
  std::vector<std::string> lines;
  for (int i = 0; i < kLines; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "%07d", i + 1);
    std::string t = no_ids ? "message" : id;
    for (int k = 0; k < 17; ++k) {
      const std::string w = kWords[rng() % std::size(kWords)];
      if (t.size() + 1 + w.size() > 89) break;
      t += " " + w;
    }
    t += " ";
    t.resize(90, '.');
    lines.push_back(std::move(t));
  }
  return lines;
}

// range(1) == 1: serve's default term filters on (the numbers are then dropped, so the
// window no longer evicts once per record).
void BM_AddBenchLines(benchmark::State& state) {
  std::vector<std::string> lines = BenchLines(state.range(0) == 1);
  WindowConfig cfg;
  if (state.range(1) == 1) cfg.filters = text::default_filters();
  PartitionAggregator agg("t", 0, cfg);
  Millis t = 1'700'000'000'000;
  std::size_t i = 0;
  int round = 0;
  for (auto _ : state) {
    std::string& line = lines[i++ & (kLines - 1)];
    if ((i & (kLines - 1)) == 0 && state.range(0) == 0) {  // new numbers for the next round
      ++round;
      for (auto& l : lines) l[0] = static_cast<char>('0' + round % 10);
    }
    // Every record in one 60 s window, as in serve_bench (1M records produced within seconds).
    benchmark::DoNotOptimize(agg.add(t, line));
    if ((i & 0xffff) == 0) agg.take_dirty_windows();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_AddBenchLines)->Args({0, 0})->Args({1, 0})->Args({0, 1})->Args({1, 1});

void BM_ExtractText(benchmark::State& state) {
  const auto texts = Texts(1024, 5'000);
  std::vector<std::string> values;
  values.reserve(texts.size());
  for (const auto& t : texts)
    values.push_back(state.range(0) == 0
                         ? "\"" + t + "\""
                         : "{\"id\":1842,\"text\":\"" + t + "\",\"ts\":1700000000000}");
  const std::string text_field = "text", time_field = state.range(0) == 0 ? "" : "ts";
  std::size_t i = 0;
  std::string scratch;
  for (auto _ : state) {  // as the processor calls it
    auto e = extract_text_view(values[i++ & 1023], text_field, time_field, 1 << 20, scratch);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
// 0: a JSON string (json.dumps of the text); 1: a JSON object with text and time fields.
BENCHMARK(BM_ExtractText)->Arg(0)->Arg(1);

// Closing a window encodes its output record with every kept term (10,000 here, the sketch's
// bound): the processor does it on its thread, once per window and partition.
void BM_EncodeOutput(benchmark::State& state) {
  Partial p;
  p.count = 1'000'000;
  for (int i = 0; i < state.range(0); ++i)
    p.terms.emplace("term" + std::to_string(i * 7919), i + 1);
  WindowConfig cfg;
  for (auto _ : state) benchmark::DoNotOptimize(encode_output("Sport", 0, 0, p, cfg));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_EncodeOutput)->Arg(10'000)->Unit(benchmark::kMillisecond);

// What a view's snapshot of a live aggregator costs the processor (LiveSnapshotCache spaces
// copies by 19x this): one window of 10,000 kept terms (unique ids at the sketch's bound)
// changed since the previous snapshot; the copy holds its top terms only.
void BM_SnapshotOfAChangedWindow(benchmark::State& state) {
  WindowConfig cfg;
  PartitionAggregator agg("Sport", 0, cfg);
  for (int i = 0; i < 20'000; ++i) agg.add(1'000, "id" + std::to_string(i * 7919) + " common");
  std::shared_ptr<const AggregatorSnapshot> last = agg.snapshot(nullptr);
  int i = 0;
  for (auto _ : state) {
    agg.add(1'000, "again" + std::to_string(i++));  // the window changed: copied again
    last = agg.snapshot(last.get());
    benchmark::DoNotOptimize(last);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SnapshotOfAChangedWindow)->Unit(benchmark::kMicrosecond);

// The tokenizer alone on serve_bench's 90-byte lines (one full 64-byte block and a partial
// one each).
void BM_ForEachTermBenchLines(benchmark::State& state) {
  const std::vector<std::string> lines = BenchLines(false);
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    for_each_term(lines[i++ & (kLines - 1)], [&](std::string_view term) { bytes += term.size(); });
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ForEachTermBenchLines);

// ~90-byte texts mixing scripts (issue 15): Spanish and German with accents and capitals,
// Russian, Greek, Chinese and Japanese, and English; every text has non-ASCII letters, so each
// goes through the Unicode path (folding with utf8proc) for its non-ASCII runs.
std::vector<std::string> MixedScriptTexts() {
  static const char* const kWords[] = {"F\u00daTBOL",
                                       "f\u00fatbol",
                                       "Espa\u00f1a",
                                       "cami\u00f3n",
                                       "Stra\u00dfe",
                                       "Gr\u00fc\u00dfe",
                                       "M\u00fcnchen",
                                       "\u0444\u0443\u0442\u0431\u043e\u043b",
                                       "\u041c\u043e\u0441\u043a\u0432\u0430",
                                       "\u0441\u0435\u0433\u043e\u0434\u043d\u044f",
                                       "\u039f\u0394\u039f\u03a3",
                                       "\u03bf\u03b4\u03bf\u03c2",
                                       "\u8db3\u7403\u6bd4\u8d5b",
                                       "\u30b5\u30c3\u30ab\u30fc",
                                       "the",
                                       "match",
                                       "Messi",
                                       "goal",
                                       "league",
                                       "model",
                                       "data",
                                       "AI",
                                       "cup",
                                       "final"};
  std::mt19937 rng(3);
  std::vector<std::string> texts;
  for (int i = 0; i < 4096; ++i) {
    std::string t;
    while (t.size() < 84) {
      if (!t.empty()) t += rng() % 10 == 0 ? ", " : " ";
      t += kWords[rng() % std::size(kWords)];
    }
    texts.push_back(t + "!");
  }
  return texts;
}

void BM_AddMixedScript(benchmark::State& state) {
  const auto texts = MixedScriptTexts();
  WindowConfig cfg;
  if (state.range(0) == 1) cfg.filters = text::default_filters();
  PartitionAggregator agg("Sport", 0, cfg);
  Millis t = 1'700'000'000'000;
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& text = texts[i++ & 4095];
    bytes += text.size();
    benchmark::DoNotOptimize(agg.add(t++, text));
    if ((t & 0xffff) == 0) {
      agg.close_due(0);
      agg.expire(t - cfg.retention_ms);
      agg.take_dirty_windows();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_AddMixedScript)->Arg(0)->Arg(1);

void BM_ForEachTermMixedScript(benchmark::State& state) {
  const auto texts = MixedScriptTexts();
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    for_each_term(texts[i++ & 4095], [&](std::string_view term) { bytes += term.size(); });
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ForEachTermMixedScript);

}  // namespace
}  // namespace speedlayer::views
