// The output topic's closed-window record. Part of views.h (include that one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "views/term_counts.h"
#include "views/window.h"

namespace speedlayer::views {

// Closed-window record for the output topic (the serving layer merges it with batch views):
// key "<topic>|<start>|<partition>", value JSON {"topic","partition","start","end","count",
// "top":[{"term","count"}...],"term_error":E,"late":L} plus "group" when given, and, with
// all_terms, "terms":{...} (every kept term): partials of one window are additive (sum count and
// terms per window start; term_error bounds are additive too). Without all_terms the record's size
// is bounded by top_k, not by max_terms (output_value_bound).
std::string output_key(std::string_view topic, Millis start, std::int32_t partition);
std::string encode_output(std::string_view topic, std::int32_t partition, Millis start,
                          const Partial& p, const WindowConfig& config, bool all_terms = true,
                          std::string_view group = {});
// The largest value encode_output can write for this config (JSON escapes a byte as at most
// 6: \u00XX).
std::size_t output_value_bound(const WindowConfig& config, bool all_terms);

}  // namespace speedlayer::views
