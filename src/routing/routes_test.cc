#include "routing/routes.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace speedlayer::routing {
namespace {

// Parses `yaml` and expects a usage error at routes.yaml:<line> whose message has `needle`.
void ExpectError(const std::string& yaml, int line, const std::string& needle) {
  SCOPED_TRACE(yaml);
  auto r = parse_routes(yaml, "routes.yaml");
  ASSERT_FALSE(r) << "parsed without error";
  EXPECT_EQ(r.error().kind, ErrorKind::usage);
  EXPECT_EQ(r.error().where, "routes.yaml:" + std::to_string(line)) << r.error().message();
  EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
}

TEST(ParseRoutes, ReadsTheDesignExample) {
  auto r = parse_routes(
      "default_topic: my-topic        # KAFKA_TOPIC overrides\n"
      "routes:\n"
      "  - topic: Sport\n"
      "    keywords: [basketball, football, messi]\n"
      "  - topic: AI\n"
      "    keywords: [AI, ML, NLP, CV]\n",
      "routes.yaml");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->default_topic, "my-topic");
  ASSERT_EQ(r->routes.size(), 2u);
  EXPECT_EQ(r->routes[0].topic, "Sport");
  EXPECT_EQ(r->routes[0].keywords, (std::vector<std::string>{"basketball", "football", "messi"}));
  EXPECT_EQ(r->routes[0].line, 3);
  EXPECT_EQ(r->routes[1].topic, "AI");
  EXPECT_EQ(r->routes[1].keywords, (std::vector<std::string>{"AI", "ML", "NLP", "CV"}));
  EXPECT_EQ(r->routes[1].line, 5);
}

TEST(ParseRoutes, ShippedConfigIsTheFoundingDocumentsRules) {
  auto r = load_routes_file(std::string(SPEEDLAYER_SOURCE_DIR) + "/config/routes.yaml");
  ASSERT_TRUE(r) << r.error().message();
  const RouteTable want = default_route_table();
  EXPECT_EQ(r->default_topic, want.default_topic);
  ASSERT_EQ(r->routes.size(), want.routes.size());
  for (std::size_t i = 0; i < want.routes.size(); ++i) {
    EXPECT_EQ(r->routes[i].topic, want.routes[i].topic);
    EXPECT_EQ(r->routes[i].keywords, want.routes[i].keywords);
    EXPECT_GT(r->routes[i].line, 0);
  }
}

TEST(ParseRoutes, DefaultTopicIsOptionalAndRoutesMayBeEmpty) {
  auto r = parse_routes("routes:\n  - topic: a.b_c-1\n    keywords: [x]\n", "f");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->default_topic, "");
  EXPECT_EQ(r->routes[0].topic, "a.b_c-1");

  auto empty = parse_routes("default_topic: t\nroutes: []\n", "f");
  ASSERT_TRUE(empty) << empty.error().message();
  EXPECT_TRUE(empty->routes.empty());
}

TEST(ParseRoutes, BlockStyleKeywordsAndSymbolKeywords) {
  auto r = parse_routes(
      "routes:\n"
      "  - topic: Lang\n"
      "    keywords:\n"
      "      - c++\n"
      "      - \"c#\"\n"
      "      - a.b\n",
      "f");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->routes[0].keywords, (std::vector<std::string>{"c++", "c#", "a.b"}));
}

TEST(ParseRoutes, YamlSyntaxError) {
  ExpectError("routes:\n  - topic: Sport\n    keywords: [a, b\n", 4, "YAML syntax error");
  ExpectError("routes:\n  - topic: [Sport\n", 3, "YAML syntax error");
  ExpectError("routes:\n\t- topic: x\n", 2, "YAML syntax error");
}

TEST(ParseRoutes, EmptyOrNonMappingDocument) {
  auto empty = parse_routes("", "routes.yaml");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind, ErrorKind::usage);
  EXPECT_NE(empty.error().message().find("empty"), std::string::npos);
  ExpectError("# just a comment\n- topic: x\n", 2, "must be a mapping");
  ExpectError("\n\njust text\n", 3, "must be a mapping");
}

TEST(ParseRoutes, RoutesMissingOrNotAList) {
  ExpectError("default_topic: t\n", 1, "'routes' is missing");
  ExpectError("default_topic: t\nroutes: Sport\n", 2, "must be a list");
  ExpectError("default_topic: t\nroutes:\n  topic: Sport\n  keywords: [a]\n", 3, "must be a list");
}

TEST(ParseRoutes, RouteNotAMapping) {
  ExpectError("routes:\n  - topic: a\n    keywords: [x]\n  - Sport\n", 4,
              "a route must be a mapping");
}

TEST(ParseRoutes, MissingTopic) {
  ExpectError("routes:\n  - topic: a\n    keywords: [x]\n  - keywords: [y]\n", 4,
              "route has no 'topic'");
  ExpectError("routes:\n  - topic:\n    keywords: [x]\n", 2, "topic is empty");
}

TEST(ParseRoutes, MissingEmptyOrNonListKeywords) {
  ExpectError("routes:\n  - topic: a\n", 2, "route 'a' has no 'keywords'");
  ExpectError("routes:\n  - topic: a\n    keywords: []\n", 3, "empty 'keywords' list");
  ExpectError("routes:\n  - topic: a\n    keywords: messi\n", 3, "must be a list");
  ExpectError("routes:\n  - topic: a\n    keywords:\n", 3, "must be a list");
}

TEST(ParseRoutes, BadKeywords) {
  ExpectError("routes:\n  - topic: a\n    keywords: [x, \"\"]\n", 3, "empty keyword");
  ExpectError("routes:\n  - topic: a\n    keywords:\n      - x\n      -\n", 5, "empty keyword");
  ExpectError("routes:\n  - topic: a\n    keywords:\n      - x\n      - real madrid\n", 5,
              "'real madrid' of route 'a' contains whitespace");
  ExpectError("routes:\n  - topic: a\n    keywords: [\"tab\\there\"]\n", 3, "whitespace");
  ExpectError("routes:\n  - topic: a\n    keywords: [\"new\\nline\"]\n", 3, "whitespace");
  ExpectError("routes:\n  - topic: a\n    keywords: [x, [y, z]]\n", 3, "not a plain word");
}

TEST(ParseRoutes, EmptyValuesPointAtTheirOwnLine) {
  // yaml-cpp places an empty value at the next token; the error still names the key's line.
  ExpectError(
      "routes:\n  - topic: a\n    keywords:\n      - x\n      -\n      # note\n\n"
      "      - y\n",
      5, "empty keyword");
  ExpectError("routes:\n  - {topic: , keywords: [x]}\n", 2, "topic is empty");
  ExpectError("routes:\n  - topic: a\n    keywords: [x, ~]\n", 3, "empty keyword");
  ExpectError(
      "routes:\n  - topic: a\n    keywords: [x]\n  - topic:   # later\n\n"
      "    keywords: [y]\n",
      4, "topic is empty");
}

TEST(ParseRoutes, InvalidTopicNames) {
  ExpectError("routes:\n  - topic: my topic\n    keywords: [x]\n", 2,
              "invalid Kafka topic name 'my topic'");
  ExpectError("routes:\n  - topic: \"sport#1\"\n    keywords: [x]\n", 2, "'#' is not allowed");
  ExpectError("routes:\n  - topic: .\n    keywords: [x]\n", 2, "'.' and '..' are not allowed");
  ExpectError("routes:\n  - topic: ..\n    keywords: [x]\n", 2, "not allowed");
  ExpectError("routes:\n  - topic: \"\"\n    keywords: [x]\n", 2, "it is empty");
  ExpectError("routes:\n  - topic: [a, b]\n    keywords: [x]\n", 2, "must be a topic name");
  ExpectError("routes:\n  - topic: " + std::string(250, 'a') + "\n    keywords: [x]\n", 2,
              "250 characters long");
  EXPECT_TRUE(
      parse_routes("routes:\n  - topic: " + std::string(249, 'a') + "\n    keywords: [x]\n", "f"));
  ExpectError("default_topic: \"my topic\"\nroutes: []\n", 1, "for default_topic");
  ExpectError("routes: []\ndefault_topic: caf\xc3\xa9\n", 2, "character 0xc3 is not allowed");
}

TEST(ParseRoutes, UnknownKeysNameTheKeyAndTheAllowedOnes) {
  ExpectError("default_topic: t\nroute:\n  - topic: a\n    keywords: [x]\n", 2,
              "unknown key 'route' in top level (allowed keys: default_topic, routes)");
  ExpectError("routes:\n  - topic: a\n    keyword: [x]\n", 3,
              "unknown key 'keyword' in route (allowed keys: topic, keywords)");
  ExpectError("routes:\n  - topic: a\n    keywords: [x]\n    Topic: b\n", 4, "unknown key 'Topic'");
}

TEST(ParseRoutes, DuplicateKeys) {
  ExpectError("routes:\n  - topic: a\n    keywords: [x]\n    topic: b\n", 4,
              "key 'topic' is given twice");
}

TEST(ParseRoutes, ErrorsNameTheSource) {
  auto r = parse_routes("routes: 5\n", "/etc/speedlayer/routes.yaml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().where, "/etc/speedlayer/routes.yaml:1");
}

TEST(LoadRoutesFile, MissingFileIsAnIoErrorNamingPathAndReason) {
  auto r = load_routes_file("/nonexistent/dir/routes.yaml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::io);
  EXPECT_EQ(r.error().where, "/nonexistent/dir/routes.yaml");
  EXPECT_NE(r.error().what.find("No such file or directory"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(exit_code(r.error()), 2);
}

TEST(LoadRoutesFile, DirectoryIsAnIoError) {
  auto r = load_routes_file("/");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::io);
  EXPECT_EQ(r.error().what, "routing file is a directory, not a file") << r.error().message();
}

TEST(LoadRoutesFile, BadContentIsAUsageErrorAtFileAndLine) {
  std::string path = ::testing::TempDir() + "routes_test_" + std::to_string(::getpid()) + ".yaml";
  {
    std::ofstream out(path);
    out << "routes:\n  - topic: a\n    keywords: [ok]\n"
           "  - topic: b\n    keywords: [\"two words\"]\n";
  }
  auto r = load_routes_file(path);
  std::remove(path.c_str());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::usage);
  EXPECT_EQ(r.error().where, path + ":5");
}

TEST(DefaultRouteTable, IsTheFoundingDocumentsRules) {
  const RouteTable t = default_route_table();
  EXPECT_EQ(t.default_topic, "my-topic");
  ASSERT_EQ(t.routes.size(), 2u);
  EXPECT_EQ(t.routes[0].topic, "Sport");
  EXPECT_EQ(t.routes[0].keywords, (std::vector<std::string>{"basketball", "football", "messi"}));
  EXPECT_EQ(t.routes[1].topic, "AI");
  EXPECT_EQ(t.routes[1].keywords, (std::vector<std::string>{"AI", "ML", "NLP", "CV"}));
}

}  // namespace
}  // namespace speedlayer::routing
