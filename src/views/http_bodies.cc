// The HTTP bodies of the views (view_store.h: to_json).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "views/internal.h"
#include "views/view_store.h"

namespace speedlayer::views {
namespace {
using internal::dump;
using nlohmann::ordered_json;
}  // namespace

std::string to_json(const TopicView& view) {
  ordered_json j = ordered_json::object();
  j["topic"] = view.topic;
  j["window_ms"] = view.window_ms;
  j["late"] = view.late;
  if (view.filter) {
    // Which terms were counted (text/filters.h): stop-word lists, minimum length, numbers.
    const text::TermFilter& f = *view.filter;
    ordered_json& filters = j["filters"] = ordered_json::object();
    filters["stop_words"] = f.stop_word_sources();
    filters["stop_word_count"] = f.stop_word_count();
    filters["min_term_chars"] = f.spec().min_term_chars;
    filters["drop_numbers"] = f.spec().drop_numbers;
  }
  ordered_json& windows = j["windows"] = ordered_json::array();
  for (const auto& w : view.windows) {
    ordered_json wj = ordered_json::object();
    wj["start"] = w.start;
    wj["end"] = w.end;
    wj["count"] = w.count;
    wj["final"] = w.final;
    wj["late"] = w.late;
    wj["term_error"] = w.term_error;
    ordered_json& top = wj["top"] = ordered_json::array();
    for (const auto& tc : w.top) {
      ordered_json e = ordered_json::object();
      e["term"] = tc.term;
      e["count"] = tc.count;
      e["error"] = tc.error;
      e["guaranteed"] = tc.guaranteed;
      top.push_back(std::move(e));
    }
    windows.push_back(std::move(wj));
  }
  return dump(j);
}

std::string to_json(const std::vector<TopicTotals>& totals) {
  ordered_json j = ordered_json::object();
  ordered_json& topics = j["topics"] = ordered_json::array();
  for (const auto& t : totals) {
    ordered_json e = ordered_json::object();
    e["topic"] = t.topic;
    e["count"] = t.count;
    e["late"] = t.late;
    e["expired"] = t.expired;
    e["consumed"] = t.consumed;
    e["long_terms"] = t.long_terms;
    e["windows"] = t.windows;
    e["partitions"] = t.partitions;
    ordered_json& malformed = e["malformed"] = ordered_json::object();
    for (const auto& [reason, n] : t.malformed) malformed[reason] = n;
    topics.push_back(std::move(e));
  }
  return dump(j);
}

}  // namespace speedlayer::views
