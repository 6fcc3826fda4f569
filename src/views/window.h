// Tumbling windows: their configuration and their alignment to the epoch. Part of views.h
// (include that one); the semantics are in its header comment.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "text/filters.h"

namespace speedlayer::views {

using Millis = std::int64_t;

struct WindowConfig {
  Millis size_ms = 60'000;
  Millis grace_ms = 10'000;
  Millis idle_ms = 10'000;          // wall-clock fallback for idle partitions
  Millis retention_ms = 7'200'000;  // windows kept this long behind stream time
  std::size_t top_k = 10;
  // Distinct terms kept per partial; beyond it, Space-Saving replaces the least counted term
  // (each kept count then overestimates by at most the evicted minimum, recorded in
  // Partial::term_error).
  std::size_t max_terms = 10'000;
  // Longer terms (bytes of UTF-8) are dropped and counted (PartitionState::long_terms): a
  // 64-byte "word" is an id, a hash or a URL, not a trend, and truncating it would merge
  // distinct strings into one false term. It also bounds every record serve writes.
  std::size_t max_term_bytes = 64;
  // Terms a window keeps once closed (0: max(10 x top_k, 100)). A closed window needs its top
  // terms for views and the output record, not 10,000 counters: keeping the largest counts
  // and raising term_error to the largest count dropped keeps Space-Saving's bounds true, and
  // cuts the memory and changelog bytes of the retained hours of closed windows ~100-fold.
  std::size_t closed_terms = 0;
  // Which terms are counted, per topic (stop words, minimum length, numbers; text/filters.h):
  // applied before counting, so record counts, the changelog and the output records need
  // nothing else. Null: every term (serve's options default to the built-in filters).
  std::shared_ptr<const text::TermFilters> filters;
  std::size_t effective_closed_terms() const {
    return closed_terms ? closed_terms : std::max<std::size_t>(10 * top_k, 100);
  }
};

Millis window_start(Millis event_time, Millis size_ms);  // floor to the epoch-aligned window
                                                         // (also for negative times)

}  // namespace speedlayer::views
