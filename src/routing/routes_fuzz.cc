// Fuzz target: a rules file's text (routes.h: parse_routes), then the matcher compiled from
// what it accepts (matcher.h), matching the same bytes and each of its own keywords.
//
// Properties: parsing never throws and only fails with a usage error at "fuzz.yaml[:line]"; an
// accepted table holds what routes.h promises (valid topic names, non-empty keyword lists of
// non-empty keywords without whitespace, 1-based lines); a keyword on its own is a whole word,
// so it matches its route or an earlier one; a clone answers as its original.
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

bool has_whitespace(std::string_view s) {
  for (char c : s)
    if (c == ' ' || (c >= '\t' && c <= '\r')) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto table = routing::parse_routes(text, "fuzz.yaml");
  if (!table) {
    const auto& e = table.error();
    SL_FUZZ_CHECK(e.kind == speedlayer::ErrorKind::usage, e.message());
    SL_FUZZ_CHECK(e.where == "fuzz.yaml" || e.where.starts_with("fuzz.yaml:"), e.message());
    return 0;
  }
  std::size_t keywords = 0;
  if (!table->default_topic.empty())
    SL_FUZZ_CHECK(routing::topic_name_problem(table->default_topic).empty(),
                  shown(table->default_topic));
  for (const routing::Route& r : table->routes) {
    SL_FUZZ_CHECK(routing::topic_name_problem(r.topic).empty(), shown(r.topic));
    SL_FUZZ_CHECK(!r.keywords.empty(), r.topic);
    SL_FUZZ_CHECK(r.line >= 1, r.topic + " line " + std::to_string(r.line));
    for (const std::string& k : r.keywords) {
      SL_FUZZ_CHECK(!k.empty() && !has_whitespace(k), shown(k));
      ++keywords;
    }
  }

  auto matcher = routing::Matcher::compile(*table);
  if (!matcher) {
    // Only a keyword over Hyperscan's length limit is refused (or a CPU without SSSE3).
    SL_FUZZ_CHECK(matcher.error().kind == speedlayer::ErrorKind::usage, matcher.error().message());
    return 0;
  }
  SL_FUZZ_CHECK(matcher->pattern_count() == keywords, std::to_string(matcher->pattern_count()));
  const int routes = static_cast<int>(table->routes.size());
  auto clone = matcher->clone();
  SL_FUZZ_CHECK(clone.has_value(), clone.error().message());

  const int on_text = matcher->match(text);
  SL_FUZZ_CHECK(on_text >= -1 && on_text < routes, std::to_string(on_text));
  SL_FUZZ_CHECK(clone->match(text) == on_text, "clone disagrees on " + shown(text));
  const std::string& topic = matcher->topic_for(text);
  SL_FUZZ_CHECK(topic == (on_text < 0 ? table->default_topic
                                      : table->routes[static_cast<std::size_t>(on_text)].topic),
                topic);

  for (int r = 0; r < routes; ++r) {
    for (const std::string& k : table->routes[static_cast<std::size_t>(r)].keywords) {
      for (const std::string& probe : {k, " " + k + " ", "(" + k + ")"}) {
        const int got = matcher->match(probe);
        SL_FUZZ_CHECK(got >= 0 && got <= r, "keyword " + shown(k) + " of route " +
                                                std::to_string(r) + " in " + shown(probe) +
                                                " gave " + std::to_string(got));
      }
    }
  }
  return 0;
}
