// Differential fuzz target: Matcher::match (word runs in a hash table, other keywords through
// Hyperscan, SIMD scanning, a folded copy for non-ASCII texts) against a plain reading of its
// documented rule (matcher.h): the first route, in file order, with a keyword whose folded
// form (text::fold: NFC + full case folding) occurs in the folded text at word edges
// (text::at_word_edges, the word rule of text/words.h; on ASCII: neither the byte before nor
// the byte after is in [A-Za-z0-9_]).
//
// Input: a rules file, a NUL byte, then the text to route (no NUL: the whole input is both).
//   default_topic: t\nroutes:\n  - topic: A\n    keywords: [c++, ai]\n\0I like C++.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/fuzz_check.h"
#include "routing/matcher.h"
#include "routing/routes.h"
#include "text/words.h"

namespace {

using speedlayer::fuzz::shown;
namespace routing = speedlayer::routing;

// Whether folded `keyword` occurs in the folded `text` at word edges: every position tried.
bool occurs_as_word(std::string_view text, std::string_view keyword) {
  if (keyword.empty() || keyword.size() > text.size()) return false;
  for (std::size_t at = text.find(keyword); at != std::string_view::npos;
       at = text.find(keyword, at + 1)) {
    if (speedlayer::text::at_word_edges(text, at, at + keyword.size())) return true;
  }
  return false;
}

int reference_match(const routing::RouteTable& table, std::string_view text) {
  const std::string folded = speedlayer::text::fold(text);
  for (std::size_t r = 0; r < table.routes.size(); ++r) {
    for (const std::string& k : table.routes[r].keywords)
      if (occurs_as_word(folded, speedlayer::text::fold(k))) return static_cast<int>(r);
  }
  return -1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view rules = input.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? input : input.substr(nul + 1);

  auto table = routing::parse_routes(rules, "fuzz.yaml");
  if (!table) return 0;
  auto matcher = routing::Matcher::compile(*table);
  if (!matcher) return 0;  // a keyword over Hyperscan's limit: routes_fuzz checks the error

  const int got = matcher->match(text);
  const int want = reference_match(*table, text);
  SL_FUZZ_CHECK(got == want, "matcher says route " + std::to_string(got) +
                                 ", the documented rule says " + std::to_string(want) +
                                 "; rules: " + shown(rules) + " text: " + shown(text));
  return 0;
}
