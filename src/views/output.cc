// The output topic's closed-window record (output.h).
#include "views/output.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "json/python_json.h"
#include "views/internal.h"

namespace speedlayer::views {

std::string output_key(std::string_view topic, Millis start, std::int32_t partition) {
  std::string key(topic);
  key += '|';
  key += std::to_string(start);
  key += '|';
  key += std::to_string(partition);
  return key;
}

namespace {

using internal::dump;
using internal::sat_add;
using internal::top_terms;
using nlohmann::json;
using nlohmann::ordered_json;

// The terms as a JSON object with sorted keys, what dump() of a json object (a std::map)
// writes (byte for byte, but for the hex digits of a control character's \u00XX, uppercase
// here: json::append_json_string), at a fraction of the cost: 10,000 terms took 6.7 ms through
// json, once per closing window and partition on the processor thread (bench/views_bench.cc).
void append_terms_object(std::string& out, const TermCounts& terms) {
  std::vector<const TermCounts::value_type*> sorted;
  sorted.reserve(terms.size());
  for (const auto& e : terms) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  out.reserve(out.size() + terms.size() * 16 + 2);
  out += '{';
  char digits[24];
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (i) out += ',';
    speedlayer::json::append_json_string(sorted[i]->first, out);
    out += ':';
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, sorted[i]->second);
    (void)ec;  // 24 chars hold any uint64
    out.append(digits, end);
  }
  out += '}';
}

}  // namespace

std::string encode_output(std::string_view topic, std::int32_t partition, Millis start,
                          const Partial& p, const WindowConfig& config, bool all_terms,
                          std::string_view group) {
  ordered_json head = ordered_json::object();
  if (!group.empty()) head["group"] = std::string(group);
  head["topic"] = std::string(topic);
  head["partition"] = partition;
  head["start"] = start;
  head["end"] = sat_add(start, config.size_ms);
  head["count"] = p.count;
  ordered_json& top = head["top"] = ordered_json::array();
  for (auto& tc : top_terms(p.terms, config.top_k)) {
    ordered_json e = ordered_json::object();
    e["term"] = std::move(tc.term);
    e["count"] = tc.count;
    top.push_back(std::move(e));
  }
  std::string out = dump(head);
  out.pop_back();  // '}'
  if (all_terms) {
    out += ",\"terms\":";
    append_terms_object(out, p.terms);
  }
  out += ",\"term_error\":";
  out += std::to_string(p.term_error);
  out += ",\"late\":";
  out += std::to_string(p.late);
  out += '}';
  return out;
}

std::size_t output_value_bound(const WindowConfig& config, bool all_terms) {
  // The head: group (a consumer group id is at most 255 bytes here: 6x escaped), topic (249),
  // numbers; per term: {"term":"...","count":N}, with every byte escaped as \u00XX.
  const std::size_t term = 6 * config.max_term_bytes + 40;
  std::size_t bound = 2 * 1024 + 6 * 255 + 6 * 249 + config.top_k * term;
  if (all_terms) bound += config.max_terms * term;
  return bound;
}

}  // namespace speedlayer::views
