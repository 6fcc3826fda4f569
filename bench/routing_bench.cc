// Routing matcher cost per message (DESIGN.md, "Routing matcher"): Matcher::match on an 87-byte
// message for 7, 500 and 5,000 keywords, and on 100-byte lines like produce_bench.sh sends,
// against a naive baseline that splits the message into words and looks each one up in an
// std::unordered_map.
//
//   ./build/bench/routing_bench --benchmark_filter=Match
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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
    table.routes.back().keywords.emplace_back(word);
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

// 1,024 lines of 100 bytes like bench/gen_messages.py writes for produce_bench.sh (and so like
// what `speedlayer produce` routes there): a number, 16 common words, and for a third of the
// lines a Sport keyword, for a third an AI keyword, for a third a near miss (messiah, AI2, ...).
std::vector<std::string> ProduceLines() {
  static const std::vector<std::string> kWords = {
      "the",    "a",       "of",       "to",     "and",    "in",    "on",      "for",     "with",
      "at",     "from",    "new",      "late",   "big",    "city",  "team",    "fans",    "match",
      "season", "report",  "update",   "model",  "data",   "paper", "result",  "score",   "win",
      "night",  "today",   "coach",    "player", "league", "cup",   "final",   "market",  "users",
      "system", "release", "research", "lab",    "study",  "shows", "stadium", "network", "cloud"};
  static const std::vector<std::string> kSport = {"basketball", "Football", "FOOTBALL", "messi",
                                                  "Messi"};
  static const std::vector<std::string> kAi = {"AI", "ML", "NLP", "CV", "ai", "Ml"};
  static const std::vector<std::string> kNearMiss = {"messiah", "footballer", "email",  "CVS",
                                                     "HTML",    "AI2",        "ML_ops", "said"};
  std::mt19937 rng(42);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  std::vector<std::string> lines;
  for (int i = 0; i < 1024; ++i) {
    std::vector<std::string> words;
    words.reserve(16);
    for (int w = 0; w < 16; ++w) words.push_back(pick(kWords));
    const auto& extra = i % 3 == 1 ? kSport : i % 3 == 2 ? kAi : kNearMiss;
    words.insert(words.begin() + static_cast<long>(rng() % 10), pick(extra));
    char number[16];
    std::snprintf(number, sizeof number, "%07d", i + 1);
    std::string line = number;
    for (const auto& w : words) line += " " + w;
    line.resize(100, '.');
    lines.push_back(line);
  }
  return lines;
}

// Matcher::match on those lines in turn, with the founding rules (7 keywords) and with 5,000.
void BM_MatchProduceLines(benchmark::State& state) {
  Matcher& m = MatcherWith(static_cast<int>(state.range(0)));
  const std::vector<std::string> lines = ProduceLines();
  std::size_t i = 0;
  for (auto _ : state) {
    int route = m.match(lines[i]);
    benchmark::DoNotOptimize(route);
    i = (i + 1) % lines.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 100);
}
BENCHMARK(BM_MatchProduceLines)->Arg(7)->Arg(5000);

// 5,000 non-ASCII keywords (issue 15): accented Latin, Cyrillic, Greek and CJK words in 50
// routes of 100, after the founding rules; matched on ASCII lines (produce_bench's) and on
// mixed-script texts, each holding one of the keywords in another case for a third of them.
std::string UnicodeKeyword(int i) {
  static const char* const kStems[] = {
      "f\u00fatbol",
      "\u0444\u0443\u0442\u0431\u043e\u043b",
      "\u03c0\u03bf\u03b4\u03cc\u03c3\u03c6\u03b1\u03b9\u03c1\u03bf",
      "stra\u00dfe",
      "\u8db3\u7403",
      "m\u00fcnchen"};
  return kStems[i % 6] + std::to_string(i);
}
Matcher& UnicodeMatcher() {
  static Matcher m = [] {
    RouteTable table = default_route_table();
    for (int i = 0; i < 5000; ++i) {
      if (i % 100 == 0) table.routes.push_back(Route{"u" + std::to_string(i / 100), {}});
      table.routes.back().keywords.push_back(UnicodeKeyword(i));
    }
    auto c = Matcher::compile(table);
    if (!c) std::abort();
    return std::move(*c);
  }();
  return m;
}
std::vector<std::string> MixedScriptLines() {
  static const char* const kWords[] = {"F\u00daTBOL",
                                       "Espa\u00f1a",
                                       "cami\u00f3n",
                                       "STRASSE",
                                       "Gr\u00fc\u00dfe",
                                       "\u041c\u043e\u0441\u043a\u0432\u0430",
                                       "\u0441\u0435\u0433\u043e\u0434\u043d\u044f",
                                       "\u039f\u0394\u039f\u03a3",
                                       "\u6bd4\u8d5b",
                                       "\u30b5\u30c3\u30ab\u30fc",
                                       "the",
                                       "match",
                                       "goal",
                                       "league",
                                       "model",
                                       "data",
                                       "cup",
                                       "final",
                                       "messiah"};
  std::mt19937 rng(5);
  std::vector<std::string> lines;
  for (int i = 0; i < 1024; ++i) {
    std::string t;
    while (t.size() < 90) {
      if (!t.empty()) t += " ";
      t += kWords[rng() % std::size(kWords)];
    }
    if (i % 3 == 0) {
      std::string k = UnicodeKeyword(static_cast<int>(rng() % 5000));
      if (k[0] == 'f') k[0] = 'F';
      t.insert(t.find(' ') + 1, k + " ");
    }
    lines.push_back(t);
  }
  return lines;
}

// range(0) == 0: produce_bench's ASCII lines; 1: the mixed-script lines.
void BM_MatchUnicodeKeywords(benchmark::State& state) {
  Matcher& m = UnicodeMatcher();
  const std::vector<std::string> lines = state.range(0) == 0 ? ProduceLines() : MixedScriptLines();
  std::size_t i = 0, bytes = 0;
  int matched = 0;
  for (auto _ : state) {
    const int route = m.match(lines[i]);
    matched += route >= 0;
    bytes += lines[i].size();
    i = (i + 1) % lines.size();
  }
  benchmark::DoNotOptimize(matched);
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_MatchUnicodeKeywords)->Arg(0)->Arg(1);

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
