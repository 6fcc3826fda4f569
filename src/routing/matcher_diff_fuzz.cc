// Differential fuzz target: Matcher::match (word runs in a hash table, other keywords through
// Hyperscan, SIMD scanning) against a plain reading of its documented rule (matcher.h):
// the first route, in file order, with a keyword found in the text as a whole word ignoring
// ASCII case, where whole word means that neither the byte before the occurrence nor the byte
// after it is a word character [A-Za-z0-9_] (the text's edges count as non-word).
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

namespace {

using speedlayer::fuzz::shown;
namespace routing = speedlayer::routing;

bool is_word(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

unsigned char fold(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c - 'A' + 'a') : c;
}

// Whether `keyword` occurs in `text` as a whole word, ignoring ASCII case: every position tried.
bool occurs_as_word(std::string_view text, std::string_view keyword) {
  if (keyword.empty() || keyword.size() > text.size()) return false;
  const auto* t = reinterpret_cast<const unsigned char*>(text.data());
  const auto* k = reinterpret_cast<const unsigned char*>(keyword.data());
  for (std::size_t at = 0; at + keyword.size() <= text.size(); ++at) {
    std::size_t i = 0;
    while (i < keyword.size() && fold(t[at + i]) == fold(k[i])) ++i;
    if (i < keyword.size()) continue;
    const std::size_t end = at + keyword.size();
    if ((at == 0 || !is_word(t[at - 1])) && (end == text.size() || !is_word(t[end]))) return true;
  }
  return false;
}

int reference_match(const routing::RouteTable& table, std::string_view text) {
  for (std::size_t r = 0; r < table.routes.size(); ++r) {
    for (const std::string& k : table.routes[r].keywords)
      if (occurs_as_word(text, k)) return static_cast<int>(r);
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
