// `speedlayer doctor` settings, the security defaults of every client's connection settings,
// and secrets: a password never shows in --help, errors or reports. Runs the binary for the
// cases without a broker (nothing listening: exit 3).
#include "doctor/doctor_command.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "support/child_process.h"

namespace speedlayer::doctor {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::speedlayer_bin;

constexpr const char* kSecret = "Pa55-never-shown-7f3a";

config::EnvLookup env(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

config::Settings settings(std::map<std::string, std::string> given,
                          std::map<std::string, std::string> vars = {},
                          std::vector<std::string> x = {}) {
  std::map<std::string, config::Setting> f;
  for (auto& [k, v] : given) f[k] = {v, "--" + k};
  return config::Settings(f, env(vars), std::nullopt, x);
}

int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(DoctorOptions, DefaultsAndFlags) {
  auto o = build_doctor_options(settings({}, {{"KAFKA_BROKERS", "b:9092"}, {"KAFKA_TOPIC", "t"}}));
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->bootstrap, "b:9092");
  EXPECT_EQ(o->timeout, 10s);
  EXPECT_FALSE(o->topic) << "KAFKA_TOPIC alone must not make doctor write a message";

  auto t =
      build_doctor_options(settings({{"brokers", "b:1"}, {"timeout", "2500ms"}, {"topic", "p"}}));
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->timeout, 2500ms);
  EXPECT_EQ(t->topic, "p");

  auto bad = build_doctor_options(settings({{"brokers", "b:1"}, {"timeout", "soon"}}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().where, "--timeout");
  auto none = build_doctor_options(settings({}));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().where, "--brokers");
  EXPECT_EQ(exit_code(none.error()), 2);
}

TEST(ConnectionSecurity, TlsVerifiesHostNamesByDefault) {
  auto o = build_doctor_options(
      settings({{"brokers", "b:9093"}, {"security-protocol", "SASL_SSL"}, {"ssl-ca", "/ca.pem"}}));
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->kafka.get("ssl.endpoint.identification.algorithm"), "https");
  EXPECT_EQ(o->kafka.get("ssl.ca.location"), "/ca.pem");

  auto off = build_doctor_options(settings({{"brokers", "b:9093"}, {"security-protocol", "ssl"}},
                                           {}, {"ssl.endpoint.identification.algorithm=none"}));
  ASSERT_TRUE(off);
  EXPECT_EQ(off->kafka.get("ssl.endpoint.identification.algorithm"), "none");  // -X wins

  auto plain = build_doctor_options(settings({{"brokers", "b:9092"}}));
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->kafka.get("ssl.endpoint.identification.algorithm"));
}

TEST(ConnectionSecurity, CaFromPemTextAndScramByDefault) {
  std::string pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  auto o = build_doctor_options(settings({{"brokers", "b:9093"}, {"sasl-username", "alice"}},
                                         {{"KAFKA_SSL_CA_LOCATION", pem},
                                          {"KAFKA_SECURITY_PROTOCOL", "sasl_ssl"},
                                          {"KAFKA_SASL_PASSWORD", kSecret}}));
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->kafka.get("ssl.ca.pem"), pem);
  EXPECT_FALSE(o->kafka.get("ssl.ca.location"));
  EXPECT_EQ(o->kafka.find("ssl.ca.pem")->origin, "env KAFKA_SSL_CA_LOCATION");
  EXPECT_EQ(o->kafka.get("sasl.mechanism"), "SCRAM-SHA-512");
  EXPECT_EQ(o->password_source, "env KAFKA_SASL_PASSWORD");

  auto plain = build_doctor_options(
      settings({{"brokers", "b:9093"}, {"sasl-username", "bob"}, {"sasl-mechanism", "PLAIN"}}));
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->kafka.get("sasl.mechanism"), "PLAIN");
  auto x = build_doctor_options(settings({{"brokers", "b:9093"}, {"sasl-username", "bob"}}, {},
                                         {"sasl.mechanisms=SCRAM-SHA-256"}));
  ASSERT_TRUE(x);
  EXPECT_FALSE(x->kafka.get("sasl.mechanism"));
}

TEST(Secrets, PasswordFileIsReadAndItsOriginNotItsContentIsShown) {
  auto path = testing::temp_dir("doctor-secret") + "/password";
  std::ofstream(path) << kSecret << "\n";
  auto o = build_doctor_options(settings({{"brokers", "b:9093"}, {"sasl-password-file", path}}));
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->kafka.get("sasl.password"), kSecret);  // trailing newline dropped
  EXPECT_EQ(o->password_source, "--sasl-password-file");
  Report r;
  r.security_protocol = "sasl_ssl";
  r.sasl_mechanism = "SCRAM-SHA-512";
  r.password_source = o->password_source;
  EXPECT_EQ(format_text(r).find(kSecret), std::string::npos);
  EXPECT_EQ(format_json(r).find(kSecret), std::string::npos);

  auto missing =
      build_doctor_options(settings({{"brokers", "b:1"}, {"sasl-password-file", "/nope"}}));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().where, "--sasl-password-file");
}

TEST(Secrets, RejectedSecretPropertiesAreHidden) {
  kafka::Properties p;
  p.set("no.such.password", kSecret, "-X no.such.password");
  auto conf = kafka::make_conf(p);
  ASSERT_FALSE(conf);
  EXPECT_EQ(conf.error().message().find(kSecret), std::string::npos) << conf.error().message();
  EXPECT_NE(conf.error().message().find("<hidden>"), std::string::npos);
}

TEST(Secrets, HelpNeverShowsAGivenPassword) {
  for (const char* cmd : {"produce", "consume", "serve", "doctor"}) {
    ChildProcess p({speedlayer_bin(), cmd, "--sasl-password", kSecret, "--help"},
                   {.env = {{"KAFKA_SASL_PASSWORD", kSecret}}});
    ASSERT_TRUE(p.wait_for(30s)) << cmd;
    EXPECT_EQ(p.out().find(kSecret), std::string::npos) << cmd << ":\n" << p.out();
    EXPECT_EQ(p.err().find(kSecret), std::string::npos) << cmd << ":\n" << p.err();
    EXPECT_NE(p.out().find("--sasl-password"), std::string::npos) << cmd;
  }
}

TEST(DoctorRun, NothingListeningIsExit3WithTheReason) {
  std::string bootstrap = "127.0.0.1:" + std::to_string(closed_port());
  ChildProcess p({speedlayer_bin(), "doctor", "--brokers", bootstrap, "--sasl-password", kSecret,
                  "--security-protocol", "sasl_ssl", "--sasl-username", "alice"});
  auto code = p.wait_for(30s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 3) << p.out() << p.err();
  EXPECT_LT(p.elapsed(), 10s);
  EXPECT_NE(p.out().find("1. bootstrap FAIL"), std::string::npos) << p.out();
  EXPECT_NE(p.out().find("connection refused"), std::string::npos) << p.out();
  EXPECT_NE(p.out().find("nothing accepts connections at " + bootstrap), std::string::npos)
      << p.out();
  EXPECT_NE(p.out().find("result: nothing reachable at the bootstrap address (exit 3)"),
            std::string::npos)
      << p.out();
  EXPECT_EQ(p.out().find(kSecret), std::string::npos);
  EXPECT_EQ(p.err().find(kSecret), std::string::npos);

  ChildProcess j({speedlayer_bin(), "doctor", "--brokers", bootstrap, "--json"});
  ASSERT_EQ(j.wait_for(30s), 3) << j.err();
  auto report = nlohmann::json::parse(j.out());
  EXPECT_EQ(report["exit_code"], 3);
  EXPECT_EQ(report["steps"][0]["status"], "fail");
  for (int i = 1; i < 5; ++i) EXPECT_EQ(report["steps"][i]["status"], "skip") << i;
}

TEST(DoctorRun, BadSettingsAreExit2) {
  ChildProcess p(
      {speedlayer_bin(), "doctor", "--brokers", "127.0.0.1:1", "-X", "no.such.property=1"});
  ASSERT_EQ(p.wait_for(30s), 2) << p.out() << p.err();
  EXPECT_NE(p.err().find("-X no.such.property"), std::string::npos) << p.err();
  ChildProcess q({speedlayer_bin(), "doctor", "--brokers", "host:notaport"});
  ASSERT_EQ(q.wait_for(30s), 2) << q.out() << q.err();
  EXPECT_NE(q.err().find("bad port"), std::string::npos) << q.err();
}

}  // namespace
}  // namespace speedlayer::doctor
