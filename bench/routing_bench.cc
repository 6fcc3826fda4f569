// Routing matcher cost per message (DESIGN.md, "Routing matcher"): Hyperscan Matcher::match
// on an 87-byte message for 7, 500 and 5,000 keywords, against a naive baseline that splits
// the message into words and looks each one up in an std::unordered_map.
//
//   ./build/bench/routing_bench --benchmark_filter=Match
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "routing/matcher.h"

namespace speedlayer::routing {
namespace {

// 87 bytes, a JSON value as the producer sends it; "football" (route 0) near the end, and
// "AI" (route 1) before it, so the matcher must keep the lowest rule id.
constexpr std::string_view kMessage =
    R"({"id":1842,"text":"AI models now predict results for every football match in Spain!!!"})";
static_assert(kMessage.size() == 87);

// The founding rules first, then (n - 7) generated words in routes of 100 keywords.
RouteTable TableWith(int n) {
  RouteTable table = default_route_table();
  for (int i = 0; i < n - 7; ++i) {
    if (i % 100 == 0) table.routes.push_back(Route{"gen" + std::to_string(i / 100), {}});
    char word[32];
    std::snprintf(word, sizeof word, "w%xq%d", i * 2654435761u % 0xfffff, i);
    table.routes.back().keywords.push_back(word);
  }
  return table;
}

// Built once per keyword count (compiling 5,000 keywords takes seconds).
Matcher& MatcherWith(int n) {
  static std::map<int, Matcher> cache;
  auto it = cache.find(n);
  if (it == cache.end()) {
    auto m = Matcher::compile(TableWith(n));
    if (!m) {
      std::fprintf(stderr, "%s\n", m.error().message().c_str());
      std::abort();
    }
    it = cache.emplace(n, std::move(*m)).first;
  }
  return it->second;
}

void BM_Match(benchmark::State& state) {
  Matcher& m = MatcherWith(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    int route = m.match(kMessage);
    benchmark::DoNotOptimize(route);
  }
  if (m.match(kMessage) != 0) state.SkipWithError("wrong route");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kMessage.size());
}
BENCHMARK(BM_Match)->Arg(7)->Arg(500)->Arg(5000);

// Baseline: lower-cased words of [A-Za-z0-9_] looked up in a hash map, keep the lowest route.
void BM_NaiveTokenizer(benchmark::State& state) {
  std::unordered_map<std::string, int> words;
  const RouteTable table = TableWith(static_cast<int>(state.range(0)));
  for (std::size_t r = 0; r < table.routes.size(); ++r) {
    for (std::string k : table.routes[r].keywords) {
      std::transform(k.begin(), k.end(), k.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      words.emplace(k, static_cast<int>(r));
    }
  }
  auto match = [&](std::string_view text) {
    int best = INT_MAX;
    std::string word;
    for (std::size_t i = 0; i <= text.size(); ++i) {
      const unsigned char c = i < text.size() ? static_cast<unsigned char>(text[i]) : ' ';
      if (std::isalnum(c) || c == '_') {
        word += static_cast<char>(std::tolower(c));
      } else if (!word.empty()) {
        if (auto it = words.find(word); it != words.end()) best = std::min(best, it->second);
        word.clear();
      }
    }
    return best == INT_MAX ? -1 : best;
  };
  for (auto _ : state) {
    int route = match(kMessage);
    benchmark::DoNotOptimize(route);
  }
  if (match(kMessage) != 0) state.SkipWithError("wrong route");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kMessage.size());
}
BENCHMARK(BM_NaiveTokenizer)->Arg(7)->Arg(500)->Arg(5000);

// Start-up cost: compiling the database once.
void BM_Compile(benchmark::State& state) {
  const RouteTable table = TableWith(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto m = Matcher::compile(table);
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_Compile)->Arg(7)->Arg(500)->Arg(5000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace speedlayer::routing
