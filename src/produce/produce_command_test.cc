#include "produce/produce_command.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace speedlayer::produce {
namespace {

config::EnvLookup env(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

config::Settings flags(std::map<std::string, std::string> given,
                       std::map<std::string, std::string> vars = {},
                       std::vector<std::string> x = {}) {
  std::map<std::string, config::Setting> f;
  for (auto& [k, v] : given) f[k] = {v, "--" + k};
  return config::Settings(f, env(vars), std::nullopt, x);
}

TEST(ProduceOptions, FounderDefaults) {
  auto o = build_produce_options(flags({{"memory-limit", "128Mi"}}, {{"KAFKA_BROKERS", "b:9092"}}));
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->bootstrap, "b:9092");
  EXPECT_EQ(o->routes.default_topic, "my-topic");
  ASSERT_EQ(o->routes.routes.size(), 2u);
  EXPECT_EQ(o->routes.routes[0].topic, "Sport");
  EXPECT_EQ(o->format, InputFormat::text);
  EXPECT_FALSE(o->sync);
  EXPECT_EQ(o->timeout.count(), 10000);
  EXPECT_EQ(o->flush_timeout.count(), 10000);
  EXPECT_EQ(o->connect_timeout.count(), 30000);
}

TEST(ProduceOptions, KafkaTopicOverridesRoutesDefaultAndFlagBeatsEnv) {
  auto o = build_produce_options(flags({{"brokers", "flag:1"}, {"topic", "from-flag"}},
                                       {{"KAFKA_BROKERS", "env:1"}, {"KAFKA_TOPIC", "from-env"}}));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->bootstrap, "flag:1");
  EXPECT_EQ(o->routes.default_topic, "from-flag");
  auto e =
      build_produce_options(flags({}, {{"KAFKA_BROKERS", "env:1"}, {"KAFKA_TOPIC", "from-env"}}));
  EXPECT_EQ(e->routes.default_topic, "from-env");
}

TEST(ProduceOptions, MemoryLimitBoundsLibrdkafkaQueue) {
  auto o = build_produce_options(flags({{"brokers", "b:1"}, {"memory-limit", "128Mi"}}));
  ASSERT_TRUE(o);
  auto kbytes = std::stoull(*o->kafka.get("queue.buffering.max.kbytes"));
  EXPECT_LT(kbytes * 1024, 64ull << 20);
  EXPECT_LE(std::stoull(*o->kafka.get("queue.buffering.max.messages")), 100000u);
  // An explicit -X wins over the computed budget.
  auto x = build_produce_options(flags({{"brokers", "b:1"}, {"memory-limit", "128Mi"}}, {},
                                       {"queue.buffering.max.kbytes=999"}));
  EXPECT_EQ(x->kafka.get("queue.buffering.max.kbytes"), "999");
}

TEST(ProduceOptions, BadValuesAreUsageErrorsNamingTheFlag) {
  struct Case {
    std::map<std::string, std::string> given;
    std::string where;
  } cases[] = {
      {{{"format", "xml"}}, "--format"},
      {{{"generate", "true"}, {"count", "ten"}}, "--count"},
      {{{"generate", "true"}, {"rate", "-1"}}, "--rate"},
      {{{"flush-timeout", "soon"}}, "--flush-timeout"},
      {{{"memory-limit", "lots"}}, "--memory-limit"},
      {{{"key-field", "id"}}, "--key-field"},
      {{{"count", "5"}}, "--count"},
      {{{"timeout-ms", "0"}}, "--timeout-ms"},
      {{{"generate", "true"}, {"input", "x"}}, "--generate"},
  };
  for (auto& c : cases) {
    c.given["brokers"] = "b:1";
    auto o = build_produce_options(flags(c.given));
    ASSERT_FALSE(o) << c.where;
    EXPECT_EQ(o.error().kind, ErrorKind::usage) << c.where;
    EXPECT_EQ(o.error().where, c.where) << o.error().message();
  }
}

TEST(ProduceOptions, MissingBrokersNamesFlagAndEnv) {
  auto o = build_produce_options(flags({}));
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message().find("KAFKA_BROKERS"), std::string::npos);
  EXPECT_EQ(exit_code(o.error()), 2);
}

TEST(ProduceOptions, RoutesFromEnvironment) {
  auto path =
      std::filesystem::temp_directory_path() / ("routes-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << "default_topic: fallback\nroutes:\n  - topic: T\n    keywords: [x]\n";
  auto o =
      build_produce_options(flags({{"brokers", "b:1"}}, {{"SPEEDLAYER_ROUTES", path.string()}}));
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->routes.default_topic, "fallback");
  EXPECT_EQ(o->routes.routes.at(0).topic, "T");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace speedlayer::produce
