#include "config/settings.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace speedlayer::config {
namespace {

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string write_temp(const std::string& name, const std::string& text) {
  auto path =
      std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << text;
  return path.string();
}

const std::set<std::string> kKeys = {"brokers", "topic", "routes", "sasl-password-file"};

TEST(ConfigFile, SectionsHoldNamedMapsOfTheirKeys) {
  const std::map<std::string, std::set<std::string>> sections = {
      {"topics", {"stop-words", "min-term-chars"}}};
  auto file =
      ConfigFile::load(write_temp("sections",
                                  "brokers: b:1\ntopics:\n  Sport:\n    stop-words: \"+x.txt\"\n"
                                  "    min-term-chars: 3\n  AI: {stop-words: none}\n  Empty:\n"),
                       kKeys, sections);
  ASSERT_TRUE(file) << file.error().message();
  const auto topics = file->sections("topics");
  ASSERT_EQ(topics.size(), 3u);
  EXPECT_EQ(topics.at("Sport").at("stop-words").value, "+x.txt");
  EXPECT_EQ(topics.at("Sport").at("min-term-chars").value, "3");
  EXPECT_NE(topics.at("Sport").at("min-term-chars").origin.find(":5"), std::string::npos);
  EXPECT_EQ(topics.at("AI").at("stop-words").value, "none");
  EXPECT_TRUE(topics.at("Empty").empty());
  EXPECT_TRUE(file->sections("other").empty());

  auto unknown = ConfigFile::load(
      write_temp("sections-bad", "topics:\n  Sport:\n    min-term-char: 3\n"), kKeys, sections);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::usage);
  EXPECT_NE(unknown.error().where.find(":3"), std::string::npos);
  EXPECT_NE(unknown.error().hint.find("min-term-chars"), std::string::npos);
  auto not_map = ConfigFile::load(write_temp("sections-list", "topics: [a, b]\n"), kKeys, sections);
  ASSERT_FALSE(not_map);
  // Without the section declared, the key is unknown as before.
  EXPECT_FALSE(ConfigFile::load(write_temp("sections-none", "topics: {}\n"), kKeys));
}

TEST(Settings, FlagBeatsEnvBeatsFileBeatsDefault) {
  auto file = ConfigFile::load(write_temp("prec", "brokers: file:1\ntopic: file-topic\n"), kKeys);
  ASSERT_TRUE(file) << file.error().message();
  Settings s({{"brokers", {"flag:1", "--brokers"}}},
             fake_env({{"KAFKA_BROKERS", "env:1"}, {"KAFKA_TOPIC", "env-topic"}}), *file);
  EXPECT_EQ(s.get("brokers", {"KAFKA_BROKERS"})->value, "flag:1");
  EXPECT_EQ(s.get("topic", {"KAFKA_TOPIC"})->value, "env-topic");
  EXPECT_EQ(s.get("topic", {"KAFKA_TOPIC"})->origin, "env KAFKA_TOPIC");
  Settings no_env({}, fake_env({}), *file);
  EXPECT_EQ(no_env.get("topic", {"KAFKA_TOPIC"})->value, "file-topic");
  EXPECT_NE(no_env.get("topic", {"KAFKA_TOPIC"})->origin.find(":2"), std::string::npos);
  EXPECT_EQ(no_env.get_or("routes", {}, "config/routes.yaml"), "config/routes.yaml");
}

TEST(Settings, SecondEnvNameIsAFallback) {
  Settings s({}, fake_env({{"BOOTSTRAP_SERVERS", "b:9"}}), std::nullopt);
  EXPECT_EQ(s.get("brokers", {"KAFKA_BROKERS", "BOOTSTRAP_SERVERS"})->value, "b:9");
}

TEST(ConfigFile, UnknownKeyNamesFileLineAndAllowedKeys) {
  auto path = write_temp("typo", "brokers: x\nbrokres: y\n");
  auto file = ConfigFile::load(path, kKeys);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().kind, ErrorKind::usage);
  EXPECT_EQ(file.error().where, path + ":2");
  EXPECT_NE(file.error().message().find("brokres"), std::string::npos);
  EXPECT_NE(file.error().message().find("brokers"), std::string::npos);
}

TEST(ConfigFile, SyntaxErrorNamesLine) {
  auto path = write_temp("syntax", "brokers: x\ntopic: [unclosed\n");
  auto file = ConfigFile::load(path, kKeys);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().where.rfind(path + ":", 0), 0u);
}

TEST(ConfigFile, MissingFileIsAnIoError) {
  auto file = ConfigFile::load("/nonexistent/speedlayer.yaml", kKeys);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().kind, ErrorKind::io);
  EXPECT_EQ(exit_code(file.error()), 2);
}

TEST(ConfigFile, NonScalarKeyIsAUsageErrorNamingFileAndLine) {
  // Was SIGABRT (yaml-cpp's conversion exception escaped).
  for (const char* text : {"brokers: x\n[a, b]: y\n", "brokers: x\n? {a: 1}\n: y\n",
                           "kafka:\n  linger.ms: 5\n  [x]: 1\n"}) {
    auto path = write_temp("nonscalar", text);
    auto file = ConfigFile::load(path, kKeys);
    ASSERT_FALSE(file) << text;
    EXPECT_EQ(file.error().kind, ErrorKind::usage);
    EXPECT_EQ(exit_code(file.error()), 2);
    EXPECT_EQ(file.error().where.rfind(path + ":", 0), 0u) << file.error().where;
    EXPECT_NE(file.error().what.find("must be a plain name"), std::string::npos)
        << file.error().what;
  }
}

TEST(ConfigFile, WrongValueTypesNameFileLineAndKey) {
  struct Case {
    const char* text;
    const char* line;
    const char* key;
  } cases[] = {
      {"brokers: x\ntopic: [a, b]\n", ":2", "'topic'"},
      {"brokers: x\ntopic:\n  a: 1\n", ":3", "'topic'"},
      {"brokers: x\ntopic:\n", ":2", "'topic'"},
      {"kafka: [linger.ms]\n", ":1", "'kafka'"},
      {"kafka:\n  linger.ms: [5]\n", ":2", "'linger.ms'"},
      {"kafka:\n  linger.ms:\n", ":2", "'linger.ms'"},
      {"- brokers\n", ":1", "mapping"},
  };
  for (const auto& c : cases) {
    auto path = write_temp("types", c.text);
    auto file = ConfigFile::load(path, kKeys);
    ASSERT_FALSE(file) << c.text;
    EXPECT_EQ(file.error().kind, ErrorKind::usage);
    EXPECT_EQ(file.error().where, path + c.line) << c.text;
    EXPECT_NE(file.error().what.find(c.key), std::string::npos) << file.error().what;
  }
}

TEST(ConfigFile, OnlyARegularFileIsRead) {
  // A directory was accepted silently (read as empty).
  auto dir =
      std::filesystem::temp_directory_path() / ("sl-config-dir-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = ConfigFile::load(dir.string(), kKeys);
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(file);
  EXPECT_EQ(exit_code(file.error()), 2);
  EXPECT_EQ(file.error().where, dir.string());
  EXPECT_EQ(file.error().what, "config file is a directory, not a file");
  auto dev = ConfigFile::load("/dev/zero", kKeys);
  ASSERT_FALSE(dev);
  EXPECT_EQ(dev.error().what, "config file is a device, not a file");
}

TEST(ConfigFile, DeeplyNestedYamlIsAnErrorNotACrash) {
  auto path = write_temp("deep", "brokers: " + std::string(100'000, '[') + "\n");
  auto file = ConfigFile::load(path, kKeys);
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().kind, ErrorKind::usage);
}

TEST(ConnectionProperties, LayersFileEnvFlagsAndX) {
  auto file = ConfigFile::load(
      write_temp("conn", "kafka:\n  linger.ms: 50\n  bootstrap.servers: file:9092\n"), kKeys);
  ASSERT_TRUE(file);
  Settings s({{"brokers", {"flag:9092", "--brokers"}}},
             fake_env({{"KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"}}), *file,
             {"linger.ms=7", "acks=1"});
  auto props = connection_properties(s);
  ASSERT_TRUE(props) << props.error().message();
  EXPECT_EQ(props->get("bootstrap.servers"), "flag:9092");
  EXPECT_EQ(props->get("sasl.mechanism"), "SCRAM-SHA-512");
  EXPECT_EQ(props->get("linger.ms"), "7");
  EXPECT_EQ(props->find("linger.ms")->origin, "-X linger.ms");
  EXPECT_EQ(props->get("acks"), "1");
}

TEST(ConnectionProperties, PasswordFileIsReadAndTrimmed) {
  auto path = write_temp("secret", "s3cr3t\n");
  Settings s({{"sasl-password-file", {path, "--sasl-password-file"}}}, fake_env({}), std::nullopt);
  auto props = connection_properties(s);
  ASSERT_TRUE(props);
  EXPECT_EQ(props->get("sasl.password"), "s3cr3t");
  Settings missing({{"sasl-password-file", {"/nonexistent/pw", "--sasl-password-file"}}},
                   fake_env({}), std::nullopt);
  auto bad = connection_properties(missing);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().where, "--sasl-password-file");
}

TEST(ConnectionProperties, BadXAssignmentIsUsageError) {
  Settings s({}, fake_env({}), std::nullopt, {"linger.ms"});
  auto props = connection_properties(s);
  ASSERT_FALSE(props);
  EXPECT_EQ(props.error().kind, ErrorKind::usage);
  EXPECT_EQ(props.error().message(),
            "-X: expected key=value, got 'linger.ms' (for example -X linger.ms=5)");
}

TEST(ConnectionProperties, MalformedSecretAssignmentsNeverShowTheSecret) {
  for (const char* x : {"sasl.password:hunter2", "sasl.passwordhunter2", "SASL.PASSWORD hunter2",
                        "ssl.key.password;hunter2", "sasl.oauthbearer.client.secret:hunter2"}) {
    Settings s({}, fake_env({}), std::nullopt, {x});
    auto props = connection_properties(s);
    ASSERT_FALSE(props) << x;
    EXPECT_EQ(props.error().message().find("hunter2"), std::string::npos)
        << props.error().message();
    EXPECT_NE(props.error().message().find("<hidden>"), std::string::npos)
        << props.error().message();
  }
}

TEST(MakeConf, MisspeltSecretPropertyHidesItsValue) {
  // Config-file typo: "sasl.pasword: hunter2" under kafka: is rejected by librdkafka.
  auto file =
      ConfigFile::load(write_temp("typo-secret", "kafka:\n  sasl.pasword: hunter2\n"), kKeys);
  ASSERT_TRUE(file);
  Settings s({}, fake_env({}), *file);
  auto props = connection_properties(s);
  ASSERT_TRUE(props);
  auto conf = kafka::make_conf(*props);
  ASSERT_FALSE(conf);
  EXPECT_EQ(exit_code(conf.error()), 2);
  EXPECT_NE(conf.error().message().find("sasl.pasword"), std::string::npos);
  EXPECT_EQ(conf.error().message().find("hunter2"), std::string::npos) << conf.error().message();
}

TEST(MakeConf, RejectedPropertyNamesOriginAndHidesSecrets) {
  kafka::Properties props;
  props.set("no.such.property", "1", "-X no.such.property");
  auto conf = kafka::make_conf(props);
  ASSERT_FALSE(conf);
  EXPECT_EQ(conf.error().where, "-X no.such.property");
}

// A secret property librdkafka refuses: Java's sasl.jaas.config, copied with its password
// into the kafka: map, is rejected at conf-set time ("Java JAAS configuration is not
// supported"), so the error path runs, and its message must name the property but not the
// value. (sasl.mechanism=NOT-A-MECHANISM, used here before, is accepted at conf-set time: the
// check never ran.)
TEST(MakeConf, RejectedSecretPropertyNeverShowsItsValue) {
  kafka::Properties props;
  props.set("sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            "username=\"app\" password=\"hunter2\";",
            "config.yaml:4");
  auto conf = kafka::make_conf(props);
  ASSERT_FALSE(conf) << "librdkafka accepted sasl.jaas.config: the check below would not run";
  EXPECT_EQ(exit_code(conf.error()), 2);
  EXPECT_EQ(conf.error().where, "config.yaml:4");
  const std::string message = conf.error().message();
  EXPECT_NE(message.find("sasl.jaas.config=<hidden>"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

// A secret beside another property librdkafka refuses: the error names the refused one and
// never the secret.
TEST(MakeConf, RejectedPropertyBesideASecretNeverShowsTheSecret) {
  kafka::Properties props;
  props.set("sasl.password", "hunter2", "env KAFKA_SASL_PASSWORD");
  props.set("linger.ms", "soon", "-X linger.ms");
  auto conf = kafka::make_conf(props);
  ASSERT_FALSE(conf) << "librdkafka accepted linger.ms=soon: the check below would not run";
  EXPECT_EQ(conf.error().where, "-X linger.ms");
  const std::string message = conf.error().message();
  EXPECT_NE(message.find("linger.ms=soon"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

}  // namespace
}  // namespace speedlayer::config
