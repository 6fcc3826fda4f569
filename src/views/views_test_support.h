// Helpers the views' unit tests (the *_test.cc files of views_test) share.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "views/views.h"

namespace speedlayer::views::test_support {

inline WindowConfig Config(Millis size = 60'000, Millis grace = 10'000, Millis idle = 10'000,
                           std::size_t top_k = 10, std::size_t max_terms = 10'000) {
  WindowConfig c;
  c.size_ms = size;
  c.grace_ms = grace;
  c.idle_ms = idle;
  c.top_k = top_k;
  c.max_terms = max_terms;
  return c;
}

inline std::vector<std::string> Terms(std::string_view text) {
  std::vector<std::string> out;
  for_each_term(text, [&](std::string_view t) { out.emplace_back(t); });
  return out;
}

inline std::map<std::string, std::uint64_t> Sorted(const TermCounts& terms) {
  return {terms.begin(), terms.end()};
}

// Writes an aggregator's changes into a store through the changelog, as the processor does.
inline void Flush(PartitionAggregator& agg, ViewStore& store) {
  std::vector<ChangelogRecord> records;
  agg.take_changelog(records);
  for (const auto& r : records) {
    auto st =
        store.apply(r.key, r.value ? std::optional<std::string_view>(*r.value) : std::nullopt);
    ASSERT_TRUE(st) << st.error().message();
  }
}

// The same in format 1 (full partials, JSON state), as earlier versions wrote.
[[maybe_unused]] inline void FlushFormat1(PartitionAggregator& agg, ViewStore& store) {
  for (Millis start : agg.take_dirty_windows()) {
    const Partial* p = agg.window(start);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(
        store.apply(changelog_window_key(agg.topic(), agg.partition(), start), encode_partial(*p)));
  }
  if (agg.take_state_dirty()) {
    ASSERT_TRUE(
        store.apply(changelog_state_key(agg.topic(), agg.partition()), encode_state(agg.state())));
  }
}

}  // namespace speedlayer::views::test_support
