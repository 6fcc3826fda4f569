#include "consume/consume_command.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

namespace speedlayer::consume {
namespace {

using config::Setting;

struct Inputs {
  std::map<std::string, Setting> flags;
  std::map<std::string, std::string> env;
  std::optional<config::ConfigFile> file;
};

Result<ConsumeOptions> build(Inputs in) {
  if (!in.flags.count("brokers")) in.flags["brokers"] = {"127.0.0.1:9092", "--brokers"};
  auto env = in.env;
  config::EnvLookup lookup = [env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  config::Settings settings(in.flags, lookup, std::move(in.file));
  return build_consume_options(settings);
}

Setting flag(const std::string& name, const std::string& value) {
  return {value, "--" + name};
}

TEST(ConsumeOptions, BadFromIsUsageErrorNamingTheFlag) {
  auto o = build({.flags = {{"topic", flag("topic", "t")}, {"from", flag("from", "latest")}}});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().kind, ErrorKind::usage);
  EXPECT_EQ(o.error().where, "--from");
  EXPECT_NE(o.error().message().find("beginning, end, stored"), std::string::npos);
  EXPECT_EQ(exit_code(o.error()), 2);
}

TEST(ConsumeOptions, FromDefaultsDependOnGroup) {
  auto without = build({.flags = {{"topic", flag("topic", "t")}}});
  ASSERT_TRUE(without) << without.error().message();
  EXPECT_EQ(without->from, kafka::StartFrom::beginning);
  EXPECT_FALSE(without->commit);
  EXPECT_EQ(without->group.rfind("speedlayer-consume-", 0), 0u) << without->group;
  EXPECT_EQ(without->kafka.get("enable.auto.commit"), "false");

  auto with = build({.flags = {{"topic", flag("topic", "t")}, {"group", flag("group", "g1")}}});
  ASSERT_TRUE(with) << with.error().message();
  EXPECT_EQ(with->from, kafka::StartFrom::stored);
  EXPECT_TRUE(with->commit);
  EXPECT_EQ(with->group, "g1");
  EXPECT_EQ(with->kafka.get("group.id"), "g1");
  EXPECT_EQ(with->kafka.get("enable.auto.offset.store"), "false");

  auto end = build({.flags = {{"topic", flag("topic", "t")},
                              {"group", flag("group", "g1")},
                              {"from", flag("from", "end")}}});
  ASSERT_TRUE(end);
  EXPECT_EQ(end->from, kafka::StartFrom::end);
}

TEST(ConsumeOptions, ThrowawayGroupsAreUnique) {
  auto a = build({.flags = {{"topic", flag("topic", "t")}}});
  auto b = build({.flags = {{"topic", flag("topic", "t")}}});
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->group, b->group);
}

TEST(ConsumeOptions, GroupIdPropertyCountsAsGroup) {
  Inputs in{.flags = {{"topic", flag("topic", "t")}}};
  config::Settings settings(in.flags, [](std::string_view) { return std::nullopt; }, std::nullopt,
                            {"group.id=from-x", "bootstrap.servers=b:9092"});
  auto o = build_consume_options(settings);
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_TRUE(o->commit);
  EXPECT_EQ(o->group, "from-x");
  EXPECT_EQ(o->from, kafka::StartFrom::stored);
}

TEST(ConsumeOptions, TopicsRepeatableAndCommaSeparated) {
  // CLI11 joins repeated --topic values with ',' (the option's delimiter).
  auto o = build({.flags = {{"topic", flag("topic", "Sport,AI,Sport")}}});
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->topics, (std::vector<std::string>{"Sport", "AI"}));
  EXPECT_TRUE(o->patterns.empty());
}

TEST(ConsumeOptions, KafkaTopicIsTheDefaultTopic) {
  auto o = build({.env = {{"KAFKA_TOPIC", "my-topic"}}});
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->topics, (std::vector<std::string>{"my-topic"}));

  // A pattern on the command line replaces the environment's default topic.
  auto p = build(
      {.flags = {{"pattern", flag("pattern", "Sport|AI")}}, .env = {{"KAFKA_TOPIC", "my-topic"}}});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_TRUE(p->topics.empty());
  EXPECT_EQ(p->patterns, (std::vector<std::string>{"^(Sport|AI)$"}));
}

TEST(ConsumeOptions, NoTopicIsUsageError) {
  auto o = build({});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().kind, ErrorKind::usage);
  EXPECT_EQ(o.error().where, "--topic");
}

TEST(ConsumeOptions, NoBrokersIsUsageError) {
  Inputs in{.flags = {{"topic", flag("topic", "t")}}};
  config::Settings settings(in.flags, [](std::string_view) { return std::nullopt; }, std::nullopt);
  auto o = build_consume_options(settings);
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().where, "--brokers");
}

TEST(ConsumeOptions, InvalidTopicNames) {
  for (std::string bad : {"^Sport.*", "has space", "a/b", ""}) {
    auto o = build({.flags = {{"topic", flag("topic", bad.empty() ? "Sport," : bad)}}});
    ASSERT_FALSE(o) << bad;
    EXPECT_EQ(o.error().kind, ErrorKind::usage);
    EXPECT_EQ(o.error().where, "--topic");
  }
  auto regex = build({.flags = {{"topic", flag("topic", "^Sport")}}});
  EXPECT_NE(regex.error().hint.find("--pattern"), std::string::npos);
}

TEST(ConsumeOptions, Patterns) {
  EXPECT_EQ(librdkafka_pattern("Sport|AI"), "^(Sport|AI)$");
  EXPECT_EQ(librdkafka_pattern("^sensor-"), "^sensor-");
  auto two = build({.flags = {{"pattern", flag("pattern", "a.*\nb{1,2}")}}});
  ASSERT_TRUE(two) << two.error().message();
  EXPECT_EQ(two->patterns, (std::vector<std::string>{"^(a.*)$", "^(b{1,2})$"}));
  auto bad = build({.flags = {{"pattern", flag("pattern", "(unclosed")}}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().where, "--pattern");
}

TEST(ConsumeOptions, CountFormatTimeout) {
  auto o = build({.flags = {{"topic", flag("topic", "t")},
                            {"count", flag("count", "5")},
                            {"format", flag("format", "json")},
                            {"connect-timeout", flag("connect-timeout", "2s")},
                            {"exit-at-end", flag("exit-at-end", "true")}}});
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->count, 5u);
  EXPECT_EQ(o->format, OutputFormat::json);
  EXPECT_EQ(o->connect_timeout, std::chrono::milliseconds(2000));
  EXPECT_TRUE(o->exit_at_end);

  auto zero = build({.flags = {{"topic", flag("topic", "t")}, {"count", flag("count", "0")}}});
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().where, "--count");
  auto format =
      build({.flags = {{"topic", flag("topic", "t")}, {"format", flag("format", "xml")}}});
  ASSERT_FALSE(format);
  EXPECT_EQ(format.error().where, "--format");
  auto timeout = build({.flags = {{"topic", flag("topic", "t")},
                                  {"connect-timeout", flag("connect-timeout", "soon")}}});
  ASSERT_FALSE(timeout);
  EXPECT_EQ(timeout.error().where, "--connect-timeout");
}

TEST(ConsumeOptions, ConfigFileSettingsNameTheirLine) {
  std::string path = ::testing::TempDir() + "consume_config_test.yaml";
  {
    std::ofstream f(path);
    f << "brokers: 127.0.0.1:9092\ntopic: Sport\nfrom: sideways\n";
  }
  auto file = config::ConfigFile::load(path, {"brokers", "topic", "from"});
  ASSERT_TRUE(file) << file.error().message();
  auto o = build({.flags = {{"brokers", flag("brokers", "b:1")}}, .file = std::move(*file)});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().where, path + ":3");
  std::remove(path.c_str());
}

// The real command line: --topic is repeatable, a bad --from exits 2 naming the flag.
TEST(ConsumeCommand, ParsesRepeatedTopics) {
  CLI::App app;
  ConsumeCommand command(app);
  std::vector<std::string> args{"consume", "--brokers", "b:1",    "--topic", "Sport",
                                "--topic", "AI,ML",     "--from", "end"};
  std::vector<const char*> argv{"speedlayer"};
  for (auto& a : args) argv.push_back(a.c_str());
  ASSERT_NO_THROW(app.parse(static_cast<int>(argv.size()), argv.data()));
  EXPECT_TRUE(command.selected());
  auto* sub = app.get_subcommand("consume");
  EXPECT_EQ(sub->get_option("--topic")->as<std::string>(), "Sport,AI,ML");
}

}  // namespace
}  // namespace speedlayer::consume
