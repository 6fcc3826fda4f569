#include "routing/routes.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <set>
#include <vector>

#include "core/files.h"

namespace speedlayer::routing {
namespace {

constexpr std::string_view kAllowedTopKeys = "default_topic, routes";
constexpr std::string_view kAllowedRouteKeys = "topic, keywords";

// Reads one rules document, turning every problem into a usage error at "source:line".
class Parser {
 public:
  Parser(std::string_view text, std::string_view source) : source_(source) {
    for (std::size_t start = 0; start <= text.size();) {
      const std::size_t end = std::min(text.find('\n', start), text.size());
      lines_.push_back(text.substr(start, end - start));
      start = end + 1;
    }
  }

  Result<RouteTable> parse(const YAML::Node& doc) {
    if (!doc || doc.IsNull())
      return error(doc, "the rules file is empty", "write 'routes:' with a list of routes");
    if (!doc.IsMap())
      return error(doc, "the rules file must be a mapping with 'default_topic' and 'routes'");
    if (auto ok = check_keys(doc, {"default_topic", "routes"}, kAllowedTopKeys, "top level"); !ok)
      return std::unexpected(ok.error());

    RouteTable table;
    if (const YAML::Node dt = doc["default_topic"]) {
      auto topic = topic_value(dt, "default_topic");
      if (!topic) return std::unexpected(topic.error());
      table.default_topic = std::move(*topic);
    }

    const YAML::Node routes = doc["routes"];
    if (!routes)
      return error(doc, "'routes' is missing",
                   "add 'routes:' with a list; 'routes: []' sends everything to default_topic");
    if (!routes.IsSequence())
      return error(routes, "'routes' must be a list of {topic: ..., keywords: [...]}",
                   "start each route with '- topic: NAME'");
    for (const YAML::Node& item : routes) {
      auto route = parse_route(item);
      if (!route) return std::unexpected(route.error());
      table.routes.push_back(std::move(*route));
    }
    return table;
  }

 private:
  Result<Route> parse_route(const YAML::Node& item) {
    if (!item.IsMap())
      return error(item, "a route must be a mapping with 'topic' and 'keywords'",
                   "write '- topic: NAME' then 'keywords: [word, ...]'");
    if (auto ok = check_keys(item, {"topic", "keywords"}, kAllowedRouteKeys, "route"); !ok)
      return std::unexpected(ok.error());

    Route route;
    route.line = line_of(item);
    const YAML::Node topic = item["topic"];
    if (!topic) return error(item, "route has no 'topic'", "add 'topic: NAME'");
    auto name = topic_value(topic, "topic");
    if (!name) return std::unexpected(name.error());
    route.topic = std::move(*name);

    const YAML::Node keywords = item["keywords"];
    if (!keywords)
      return error(item, "route '" + route.topic + "' has no 'keywords'",
                   "add 'keywords: [word, ...]'");
    if (!keywords.IsSequence())
      return error(keywords, "'keywords' of route '" + route.topic + "' must be a list",
                   "write keywords: [word, ...]");
    if (keywords.size() == 0)
      return error(keywords, "route '" + route.topic + "' has an empty 'keywords' list",
                   "list at least one keyword, or remove the route");
    for (const YAML::Node& kw : keywords) {
      if (!kw.IsScalar() && !kw.IsNull())
        return error(kw, "a keyword of route '" + route.topic + "' is not a plain word",
                     "keywords are single words, e.g. [basketball, AI]");
      const std::string word = kw.IsNull() ? std::string() : kw.Scalar();
      if (word.empty())
        return error(kw, "route '" + route.topic + "' has an empty keyword",
                     "remove it or write a word");
      for (char c : word) {
        if (c == ' ' || (c >= '\t' && c <= '\r'))  // space, \t \n \v \f \r
          return error(kw,
                       "keyword '" + word + "' of route '" + route.topic + "' contains whitespace",
                       "keywords match single whole words; list each word separately");
      }
      route.keywords.push_back(word);
    }
    return route;
  }

  // A scalar that is a valid Kafka topic name.
  Result<std::string> topic_value(const YAML::Node& node, std::string_view key) {
    if (node.IsNull()) return error(node, std::string(key) + " is empty", "write a topic name");
    if (!node.IsScalar())
      return error(node, std::string(key) + " must be a topic name, not a list or mapping");
    const std::string& name = node.Scalar();
    if (std::string problem = topic_name_problem(name); !problem.empty())
      return error(
          node, "invalid Kafka topic name '" + name + "' for " + std::string(key) + ": " + problem,
          "topic names are 1-249 characters of letters, digits, '.', '_' and '-'");
    return name;
  }

  // Rejects keys outside `allowed` (typos) and keys given twice.
  Status check_keys(const YAML::Node& map, std::initializer_list<std::string_view> allowed,
                    std::string_view allowed_text, std::string_view context) {
    std::set<std::string, std::less<>> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
      if (!key.IsScalar())
        return error(key, "a " + std::string(context) + " key must be a plain name",
                     "allowed keys: " + std::string(allowed_text));
      const std::string& name = key.Scalar();
      bool known = false;
      for (std::string_view a : allowed) known = known || a == name;
      if (!known)
        return error(key, "unknown key '" + name + "' in " + std::string(context),
                     "allowed keys: " + std::string(allowed_text));
      if (!seen.insert(name).second)
        return error(key, "key '" + name + "' is given twice in " + std::string(context));
    }
    return {};
  }

  // 1-based line of `node`, 0 if unknown.
  int line_of(const YAML::Node& node) const {
    if (!node.IsDefined()) return 0;
    const YAML::Mark mark = node.Mark();
    if (mark.line < 0) return 0;
    return (node.IsNull() ? empty_value_line(mark) : mark.line) + 1;
  }

  // yaml-cpp places an empty value ("topic:" or "-" with nothing after it) at the token that
  // follows it, often on a later line. When that token starts its line, the empty value is on
  // the last earlier line with something other than a comment: the line of its key or dash.
  int empty_value_line(const YAML::Mark& mark) const {
    auto blank = [](std::string_view s) {
      return s.find_first_not_of(" \t\r") == std::string_view::npos;
    };
    const auto at = static_cast<std::size_t>(mark.line);
    if (at < lines_.size() &&
        !blank(lines_[at].substr(0, std::min<std::size_t>(mark.column, lines_[at].size()))))
      return mark.line;
    for (std::size_t l = std::min(at, lines_.size()); l-- > 0;) {
      const std::string_view s = lines_[l];
      const std::size_t first = s.find_first_not_of(" \t\r");
      if (first != std::string_view::npos && s[first] != '#') return static_cast<int>(l);
    }
    return mark.line;
  }

  std::unexpected<Error> error(const YAML::Node& node, std::string what, std::string hint = {}) {
    return error_at(line_of(node), std::move(what), std::move(hint));
  }

 public:
  std::unexpected<Error> error_at(int line, std::string what, std::string hint = {}) const {
    std::string where(source_);
    if (line > 0) where += ":" + std::to_string(line);
    return fail(ErrorKind::usage, std::move(what), std::move(where), std::move(hint));
  }

 private:
  std::string_view source_;
  std::vector<std::string_view> lines_;  // the document's lines, for empty_value_line()
};

}  // namespace

std::string topic_name_problem(std::string_view name) {
  if (name.empty()) return "it is empty";
  if (name.size() > 249)
    return "it is " + std::to_string(name.size()) + " characters long (at most 249)";
  if (name == "." || name == "..") return "'.' and '..' are not allowed";
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      const auto u = static_cast<unsigned char>(c);
      if (u > 0x20 && u < 0x7f) return std::string("character '") + c + "' is not allowed";
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02x", u);
      return std::string("character ") + buf + " is not allowed";
    }
  }
  return {};
}

Result<RouteTable> parse_routes(std::string_view yaml_text, std::string_view source_name) {
  Parser parser(yaml_text, source_name);
  try {
    const YAML::Node doc = YAML::Load(std::string(yaml_text));
    return parser.parse(doc);
  } catch (const YAML::Exception& e) {
    const int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    return parser.error_at(line, "YAML syntax error: " + e.msg,
                           "check indentation and brackets; YAML does not allow tabs for indent");
  }
}

Result<RouteTable> load_routes_file(const std::string& path) {
  auto text = read_small_file(path, kMaxConfigFileBytes, "routing file");
  if (!text) {
    text.error().hint = "check the path given by --routes / SPEEDLAYER_ROUTES";
    return std::unexpected(text.error());
  }
  return parse_routes(*text, path);
}

RouteTable default_route_table() {
  return RouteTable{
      .default_topic = "my-topic",
      .routes = {Route{.topic = "Sport", .keywords = {"basketball", "football", "messi"}},
                 Route{.topic = "AI", .keywords = {"AI", "ML", "NLP", "CV"}}},
  };
}

}  // namespace speedlayer::routing
