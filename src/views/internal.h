// Helpers that several of the views' .cc files share. Not part of the module's interface
// (include views.h); nothing outside src/views/*.cc includes it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "views/view_store.h"
#include "views/window.h"

namespace speedlayer::views::internal {

inline constexpr Millis kMaxMillis = std::numeric_limits<Millis>::max();
inline constexpr Millis kMinMillis = std::numeric_limits<Millis>::min();

// a + b, saturated (event times come from outside: a JSON field can say anything).
inline Millis sat_add(Millis a, Millis b) {
  Millis r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMaxMillis : kMinMillis;
  return r;
}

template <class J>
std::string dump(const J& j) {
  // Never throws: invalid UTF-8 in a term (only possible for unvalidated input) is replaced.
  return j.dump(-1, ' ', false, J::error_handler_t::replace);
}

// ---- top terms --------------------------------------------------------------------------------

template <class Map>
std::vector<TermCount> top_terms(const Map& terms, std::size_t k) {
  std::vector<std::pair<std::string_view, std::uint64_t>> all;
  all.reserve(terms.size());
  for (const auto& [term, count] : terms) all.emplace_back(term, count);
  auto before = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  const std::size_t n = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), before);
  std::vector<TermCount> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back({std::string(all[i].first), all[i].second});
  return out;
}

}  // namespace speedlayer::views::internal
