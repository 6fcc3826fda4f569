// Routing rules: which Kafka topic a message goes to, by the words it contains.
//
// A rules file (DESIGN.md, "Routing rules file") lists routes in order; the first route with a
// keyword found in a message, as a whole word and ignoring case, names the message's topic.
// Messages that match no route go to `default_topic`. This file only reads and checks the
// rules; matcher.h applies them.
//
//   default_topic: my-topic                      # line 1 of rules.yaml
//   routes:
//     - topic: Sport                             # line 3
//       keywords: [basketball, football, messi]
//
//   auto table = load_routes_file("rules.yaml");
//   if (!table) { print_error(table.error()); return exit_code(table.error()); }
//   // table->routes[0].topic == "Sport", table->routes[0].line == 3
//   // a typo "keyword:" would give: "rules.yaml:4: unknown key 'keyword' in route
//   //                                (allowed keys: topic, keywords)"
//
// Every content error is ErrorKind::usage with `where` = "file:line" (1-based).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace speedlayer::routing {

struct Route {
  std::string topic;
  std::vector<std::string> keywords;  // non-empty, each non-empty and without whitespace
  int line = 0;                       // 1-based line of the route in its file; 0 if built in code
};

struct RouteTable {
  // Topic for messages no route matches. Empty when the file does not set it: the caller then
  // supplies --topic / KAFKA_TOPIC (which override the file anyway).
  std::string default_topic;
  std::vector<Route> routes;  // file order: earlier routes win
};

// Parses a rules file's text. `source_name` (usually the path) prefixes every error's `where`.
// Rejects, as ErrorKind::usage naming the line: YAML syntax errors, a document that is not a
// mapping, unknown or duplicate keys, `routes` missing or not a list, a route without `topic`,
// an invalid Kafka topic name, `keywords` missing, empty or not a list, and a keyword that is
// empty or contains whitespace.
Result<RouteTable> parse_routes(std::string_view yaml_text, std::string_view source_name);

// Reads and parses a rules file. ErrorKind::io if it cannot be read (names the path and the
// system's reason); ErrorKind::usage on bad content, as parse_routes.
Result<RouteTable> load_routes_file(const std::string& path);

// The founding document's rules: Sport <- basketball, football, messi; AI <- AI, ML, NLP, CV;
// everything else -> my-topic. Same as config/routes.yaml.
RouteTable default_route_table();

// Kafka's topic name rule: 1..249 characters of [a-zA-Z0-9._-], and not "." or "..".
// Returns an empty string when `name` is valid, else what is wrong with it.
std::string topic_name_problem(std::string_view name);

}  // namespace speedlayer::routing
