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

// The real loader with all four sources at once, each setting given in several of them with
// different values: --config FILE, SPEEDLAYER_CONFIG (another file), the environment and
// flags (-X included), parsed from a command line as a subcommand does.
struct ParsedFlags {
  CLI::App app;
  FlagSet flags{app};
  explicit ParsedFlags(std::vector<std::string> args) {
    add_connection_flags(flags);
    flags.add("topic", "default topic");
    std::vector<const char*> argv{"speedlayer"};
    for (const auto& a : args) argv.push_back(a.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
  }
};

TEST(Settings, LoadRanksFlagsEnvConfigFlagFileThenEnvFile) {
  const std::string flag_file = write_temp("four-flag",
                                           "brokers: file:9092\n"
                                           "topic: flag-file-topic\n"
                                           "sasl-username: file-user\n"
                                           "security-protocol: sasl_plaintext\n"
                                           "kafka:\n"
                                           "  bootstrap.servers: file-kafka:9092\n"
                                           "  linger.ms: 50\n"
                                           "  acks: 1\n");
  const std::string env_file = write_temp("four-env",
                                          "topic: env-file-topic\n"
                                          "security-protocol: ssl\n"
                                          "kafka:\n"
                                          "  acks: all\n"
                                          "  compression.type: lz4\n");
  const auto env = fake_env({{"SPEEDLAYER_CONFIG", env_file},
                             {"KAFKA_BROKERS", "env:9092"},
                             {"KAFKA_SASL_USERNAME", "env-user"},
                             {"KAFKA_SASL_PASSWORD", "env-password"}});

  // All four: --config beats SPEEDLAYER_CONFIG (whose file is not read at all).
  ParsedFlags all({"--config", flag_file, "--brokers", "flag:9092", "--sasl-password",
                   "flag-password", "-X", "linger.ms=7"});
  auto s = Settings::load(all.flags, env);
  ASSERT_TRUE(s) << s.error().message();
  // flag > env > file
  EXPECT_EQ(s->get("brokers", {"KAFKA_BROKERS"})->value, "flag:9092");
  EXPECT_EQ(s->get("brokers", {"KAFKA_BROKERS"})->origin, "--brokers");
  EXPECT_EQ(s->get("sasl-password", {"KAFKA_SASL_PASSWORD"})->value, "flag-password");
  // env > file
  EXPECT_EQ(s->get("sasl-username", {"KAFKA_SASL_USERNAME"})->value, "env-user");
  EXPECT_EQ(s->get("sasl-username", {"KAFKA_SASL_USERNAME"})->origin, "env KAFKA_SASL_USERNAME");
  // the --config file, not SPEEDLAYER_CONFIG's
  EXPECT_EQ(s->get("topic", {"KAFKA_TOPIC"})->value, "flag-file-topic");
  EXPECT_EQ(s->get("topic", {"KAFKA_TOPIC"})->origin, flag_file + ":2");
  EXPECT_EQ(s->get("security-protocol", {"KAFKA_SECURITY_PROTOCOL"})->value, "sasl_plaintext");
  // nowhere: the caller's default
  EXPECT_EQ(s->get_or("routes", {"SPEEDLAYER_ROUTES"}, "config/routes.yaml"), "config/routes.yaml");

  auto props = connection_properties(*s);
  ASSERT_TRUE(props) << props.error().message();
  // --brokers beats KAFKA_BROKERS, the file's brokers: and its kafka: bootstrap.servers.
  EXPECT_EQ(props->get("bootstrap.servers"), "flag:9092");
  EXPECT_EQ(props->find("bootstrap.servers")->origin, "--brokers");
  // -X beats the file's kafka: map.
  EXPECT_EQ(props->get("linger.ms"), "7");
  EXPECT_EQ(props->find("linger.ms")->origin, "-X linger.ms");
  // The --config file's kafka: map; SPEEDLAYER_CONFIG's file contributes nothing.
  EXPECT_EQ(props->get("acks"), "1");
  EXPECT_EQ(props->find("acks")->origin, flag_file + ":8");
  EXPECT_FALSE(props->find("compression.type"));
  EXPECT_EQ(props->get("sasl.username"), "env-user");
  EXPECT_EQ(props->get("sasl.password"), "flag-password");
  EXPECT_EQ(props->get("security.protocol"), "sasl_plaintext");
  EXPECT_EQ(props->get("sasl.mechanism"), "SCRAM-SHA-512");  // the default for a user name

  // No --config: SPEEDLAYER_CONFIG names the file; env still beats it, flags beat env.
  ParsedFlags no_config({"--sasl-username", "flag-user"});
  auto e = Settings::load(no_config.flags, env);
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->get("topic", {"KAFKA_TOPIC"})->value, "env-file-topic");
  EXPECT_EQ(e->get("topic", {"KAFKA_TOPIC"})->origin, env_file + ":1");
  EXPECT_EQ(e->get("brokers", {"KAFKA_BROKERS"})->value, "env:9092");
  EXPECT_EQ(e->get("sasl-username", {"KAFKA_SASL_USERNAME"})->value, "flag-user");
  auto e_props = connection_properties(*e);
  ASSERT_TRUE(e_props) << e_props.error().message();
  EXPECT_EQ(e_props->get("bootstrap.servers"), "env:9092");
  EXPECT_EQ(e_props->get("acks"), "all");
  EXPECT_EQ(e_props->get("compression.type"), "lz4");
  EXPECT_EQ(e_props->get("security.protocol"), "ssl");
  EXPECT_EQ(e_props->get("sasl.username"), "flag-user");

  // Neither: no file is read (the files' values are gone, env and flags remain).
  ParsedFlags none({"--topic", "flag-topic"});
  auto n = Settings::load(none.flags, fake_env({{"KAFKA_BROKERS", "env:9092"}}));
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_FALSE(n->file());
  EXPECT_EQ(n->get("topic", {"KAFKA_TOPIC"})->value, "flag-topic");
  EXPECT_FALSE(n->get("security-protocol", {"KAFKA_SECURITY_PROTOCOL"}));

  // A config file that does not exist is an error naming it, whichever source named it.
  ParsedFlags missing({"--config", "/nonexistent/speedlayer.yaml"});
  auto m = Settings::load(missing.flags, env);
  ASSERT_FALSE(m);
  EXPECT_EQ(exit_code(m.error()), 2);
  auto m_env = Settings::load(none.flags, fake_env({{"SPEEDLAYER_CONFIG", "/nonexistent/b.yaml"}}));
  ASSERT_FALSE(m_env);
  EXPECT_NE(m_env.error().message().find("/nonexistent/b.yaml"), std::string::npos)
      << m_env.error().message();
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
