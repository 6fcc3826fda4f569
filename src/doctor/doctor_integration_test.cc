// `speedlayer doctor` and the fail-fast start of produce/consume/serve against a real broker
// with a PLAINTEXT, a SASL_SSL (SCRAM-SHA-512, TLS) and a misadvertised EXTERNAL listener
// (fixture kafka_secure), run as a user runs them: the built binary, settings from flags or
// the environment, output read from stdout/stderr.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "broker/secure_broker.h"
#include "kafka/endpoint.h"
#include "kafka/tls_probe.h"
#include "support/child_process.h"

namespace speedlayer::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kWrongPassword = "wrong-Pa55-4e1d9c";

class DoctorIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    b_ = secure_broker();
    dir_ = temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  // SASL_SSL settings as flags; `password_file` and `ca` replaceable.
  std::vector<std::string> secure_flags(const std::string& password_file = "",
                                        const std::string& ca = "") const {
    return {"--brokers",
            b_.sasl_ssl,
            "--security-protocol",
            "sasl_ssl",
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--sasl-username",
            b_.username,
            "--sasl-password-file",
            password_file.empty() ? b_.password_file : password_file,
            "--ssl-ca",
            ca.empty() ? b_.ca : ca};
  }
  std::string wrong_password_file() const {
    std::string path = dir_ + "/wrong-password";
    std::ofstream(path) << kWrongPassword << "\n";
    return path;
  }
  std::vector<std::string> cmd(std::initializer_list<std::string> head,
                               const std::vector<std::string>& tail) const {
    std::vector<std::string> argv{speedlayer_bin()};
    argv.insert(argv.end(), head.begin(), head.end());
    argv.insert(argv.end(), tail.begin(), tail.end());
    return argv;
  }
  void expect_no_secret(const ChildProcess& p) const {
    for (const auto* secret : {kWrongPassword, b_.password.c_str()}) {
      EXPECT_EQ(p.out().find(secret), std::string::npos) << "password on stdout:\n" << p.out();
      EXPECT_EQ(p.err().find(secret), std::string::npos) << "password on stderr:\n" << p.err();
    }
  }
  // `speedlayer produce` of one line with `flags`, which must fail as configuration (exit 2)
  // well within --connect-timeout, without a secret in its output; the finished process is
  // returned for the caller's checks of the message.
  std::unique_ptr<ChildProcess> produce_fails_fast(std::vector<std::string> flags,
                                                   const std::string& why) const {
    std::ofstream(dir_ + "/in.txt") << "x\n";
    for (const std::string& f :
         {std::string("--topic"), std::string("t"), std::string("--input"), dir_ + "/in.txt",
          std::string("--dead-letter"), dir_ + "/dlq.jsonl"})
      flags.push_back(f);
    auto p = std::make_unique<ChildProcess>(cmd({"produce"}, flags));
    const int code = p->wait_for(std::chrono::seconds(60)).value_or(-1);
    EXPECT_EQ(code, 2) << why << " is configuration (exit 2; -1: still running after 60 s)";
    EXPECT_LT(p->elapsed(), std::chrono::seconds(15)) << "did not fail fast";
    expect_no_secret(*p);
    std::printf("produce with %s: exit %d after %.2f s\n", why.c_str(), code, p->elapsed().count());
    return p;
  }
  SecureBroker b_;
  std::string dir_;
};

void append(std::vector<std::string>& argv, std::initializer_list<std::string> more) {
  argv.insert(argv.end(), more.begin(), more.end());
}

// Whether `text` holds `what`, ignoring the report's line wrapping (a newline and the
// indentation after it count as one space).
bool contains(const std::string& text, const std::string& what) {
  std::string flat;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && i + 1 < text.size() && text[i + 1] == ' ') {
      while (i + 1 < text.size() && text[i + 1] == ' ') ++i;
      flat += ' ';
    } else {
      flat += text[i];
    }
  }
  return flat.find(what) != std::string::npos;
}

TEST_F(DoctorIntegration, HealthyPlaintextBrokerIsExit0WithAProbeRoundTrip) {
  std::string topic = unique_topic("doctor-plain");
  ChildProcess p(cmd({"doctor", "--brokers", b_.plaintext, "--topic", topic}, {}));
  ASSERT_EQ(p.wait_for(120s), 0) << p.out() << p.err();
  const std::string out = p.out();
  EXPECT_TRUE(contains(out, "1. bootstrap OK")) << out;
  EXPECT_TRUE(contains(out, "2. tls       SKIP")) << out;
  EXPECT_TRUE(contains(out, "3. sasl      SKIP")) << out;
  EXPECT_TRUE(contains(out, "4. metadata  OK")) << out;
  EXPECT_TRUE(contains(out, "1 broker, all reachable from here")) << out;
  EXPECT_TRUE(contains(out, "5. probe     OK")) << out;
  EXPECT_TRUE(contains(out, "read back")) << out;
  EXPECT_TRUE(contains(out, "result: healthy (exit 0)")) << out;
  std::printf("doctor (plaintext, probe) took %.2f s\n", p.elapsed().count());

  ChildProcess j(cmd({"doctor", "--brokers", b_.plaintext, "--json"}, {}));
  ASSERT_EQ(j.wait_for(60s), 0) << j.out() << j.err();
  auto report = nlohmann::json::parse(j.out());
  EXPECT_EQ(report["exit_code"], 0);
  EXPECT_EQ(report["brokers"].size(), 1u);
  EXPECT_EQ(report["brokers"][0]["address"], b_.plaintext);
  EXPECT_EQ(report["brokers"][0]["reachable"], true);
  EXPECT_EQ(report["brokers"][0]["scope"], "loopback");
}

TEST_F(DoctorIntegration, SaslSslWithGoodCredentialsFromTheEnvironment) {
  std::string topic = unique_topic("doctor-secure");
  // As a pod would get them: environment only (Strimzi client-examples style).
  ChildProcess p({speedlayer_bin(), "doctor", "--topic", topic},
                 {.env = {{"KAFKA_BROKERS", b_.sasl_ssl},
                          {"KAFKA_SECURITY_PROTOCOL", "SASL_SSL"},
                          {"KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"},
                          {"KAFKA_SASL_USERNAME", b_.username},
                          {"KAFKA_SASL_PASSWORD_FILE", b_.password_file},
                          {"KAFKA_SSL_CA_LOCATION", b_.ca}}});
  ASSERT_EQ(p.wait_for(120s), 0) << p.out() << p.err();
  const std::string out = p.out();
  EXPECT_TRUE(contains(out, "2. tls       OK")) << out;
  EXPECT_TRUE(contains(out, "chain verified against CA " + b_.ca)) << out;
  EXPECT_TRUE(contains(out, "IP:127.0.0.1, DNS:localhost) match 127.0.0.1")) << out;
  EXPECT_TRUE(contains(out, "3. sasl      OK")) << out;
  EXPECT_TRUE(contains(out, "authenticated as " + b_.username + " with SCRAM-SHA-512")) << out;
  EXPECT_TRUE(contains(out, "password from env KAFKA_SASL_PASSWORD_FILE")) << out;
  EXPECT_TRUE(contains(out, "5. probe     OK")) << out;
  expect_no_secret(p);
  std::printf("doctor (sasl_ssl, probe) took %.2f s\n", p.elapsed().count());
}

TEST_F(DoctorIntegration, CertificateNamesAreCheckedAgainstTheHostUsed) {
  // localhost is a name in the certificate: fine.
  std::string port = b_.sasl_ssl.substr(b_.sasl_ssl.rfind(':') + 1);
  auto flags = secure_flags();
  flags[1] = "localhost:" + port;
  ChildProcess p(cmd({"doctor"}, flags));
  ASSERT_EQ(p.wait_for(60s), 0) << p.out() << p.err();
  EXPECT_TRUE(contains(p.out(), "match localhost")) << p.out();

  // The same check as a library call, with a name the certificate lacks, a CA that did not
  // sign it, and a port that does not speak TLS.
  kafka::TlsSettings tls;
  tls.ca_location = b_.ca;
  auto c = kafka::check_tls("127.0.0.1", std::stoi(port), "kafka.example.com", tls, 5s);
  ASSERT_TRUE(c.handshake) << c.error;
  EXPECT_TRUE(c.chain_ok) << c.chain_result;
  EXPECT_FALSE(c.name_ok);
  EXPECT_EQ(c.names, (std::vector<std::string>{"IP:127.0.0.1", "DNS:localhost"}));
  EXPECT_TRUE(
      contains(kafka::describe(c, "kafka.example.com", tls), "do NOT match kafka.example.com"));
  tls.ca_location = b_.untrusted_ca;
  auto untrusted = kafka::check_tls("127.0.0.1", std::stoi(port), "127.0.0.1", tls, 5s);
  ASSERT_TRUE(untrusted.handshake);
  EXPECT_FALSE(untrusted.chain_ok);
  EXPECT_TRUE(untrusted.name_ok);
  // The fixture runs the pinned Kafka 4.x: the generation probe (plaintext and over TLS)
  // says so.
  EXPECT_EQ(kafka::broker_is_kafka4("127.0.0.1", std::stoi(port), "127.0.0.1", true, tls, 5s),
            std::optional<bool>(true));
  std::string plain_port = b_.plaintext.substr(b_.plaintext.rfind(':') + 1);
  EXPECT_EQ(
      kafka::broker_is_kafka4("127.0.0.1", std::stoi(plain_port), "127.0.0.1", false, tls, 5s),
      std::optional<bool>(true));
  auto plain = kafka::check_tls("127.0.0.1", std::stoi(plain_port), "127.0.0.1", tls, 5s);
  EXPECT_FALSE(plain.handshake);
  EXPECT_TRUE(contains(plain.hint, "does not seem to speak TLS"))
      << plain.error << " / " << plain.hint;
}

TEST_F(DoctorIntegration, ProduceAndConsumeOverSaslSsl) {
  std::string topic = unique_topic("secure-produce");
  std::ofstream(dir_ + "/in.txt") << "Hello\nsecure world\n";
  std::ofstream(dir_ + "/routes.yaml") << "routes: []\n";
  auto produce_flags = secure_flags();
  append(produce_flags, {"--topic", topic, "--routes", dir_ + "/routes.yaml", "--input",
                         dir_ + "/in.txt", "--sync", "--dead-letter", dir_ + "/dlq.jsonl"});
  ChildProcess p(cmd({"produce"}, produce_flags));
  ASSERT_EQ(p.wait_for(120s), 0) << p.out() << p.err();
  EXPECT_TRUE(contains(p.out(), "delivered topic=" + topic)) << p.out();
  expect_no_secret(p);

  auto consume_flags = secure_flags();
  append(consume_flags, {"--topic", topic, "--from", "beginning", "--exit-at-end"});
  ChildProcess c(cmd({"consume"}, consume_flags));
  ASSERT_EQ(c.wait_for(120s), 0) << c.out() << c.err();
  EXPECT_TRUE(contains(c.out(), "Hello")) << c.out();
  EXPECT_TRUE(contains(c.out(), "secure world")) << c.out();
}

// GET http://127.0.0.1:port/path; the whole response (head and body), "" on failure.
std::string http_get(int port, const std::string& path) {
  auto fd = kafka::connect_ip("127.0.0.1", port, 5s);
  if (!fd) return "";
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  (void)::send(*fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(*fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(*fd);
  return out;
}

TEST_F(DoctorIntegration, ServeOverSaslSslShowsNoPasswordInLogsOrMetrics) {
  std::string topic = unique_topic("secure-serve");
  {  // the input topic must exist for the group to get partitions: produce creates it
    std::ofstream(dir_ + "/in.txt") << "hello from a secure client\n";  // no route keyword
    auto produce_flags = secure_flags();
    append(produce_flags,
           {"--topic", topic, "--input", dir_ + "/in.txt", "--dead-letter", dir_ + "/dlq.jsonl"});
    ChildProcess p(cmd({"produce"}, produce_flags));
    ASSERT_EQ(p.wait_for(60s), 0) << p.err();
  }
  auto flags = secure_flags();
  flags[9 - 1] = "--sasl-password";  // on the command line, the worst place for it
  flags[9] = b_.password;
  append(flags,
         {"--topic", topic, "--listen", "127.0.0.1:0", "--group", unique_topic("g"),
          "--changelog-topic", unique_topic("changelog"), "--output-topic", unique_topic("views")});
  ChildProcess s(cmd({"serve"}, flags), {.env = {{"KAFKA_SASL_PASSWORD", b_.password}}});
  // "speedlayer serve: HTTP on http://127.0.0.1:PORT ..."
  int port = 0;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (port == 0 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_FALSE(s.wait_for(100ms)) << "serve exited:\n" << s.err();
    auto err = s.err();
    auto at = err.find("HTTP on http://127.0.0.1:");
    if (at != std::string::npos) port = std::atoi(err.c_str() + at + 25);
  }
  ASSERT_NE(port, 0) << s.err();
  std::string ready;
  while (std::chrono::steady_clock::now() < deadline) {
    ready = http_get(port, "/readyz");
    if (contains(ready, " 200 ")) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(contains(ready, " 200 ")) << ready << s.err();
  std::string metrics = http_get(port, "/metrics");
  EXPECT_TRUE(contains(metrics, " 200 ")) << metrics;
  for (const auto& path : {"/metrics", "/readyz", "/healthz", "/v1/topics"}) {
    EXPECT_EQ(http_get(port, path).find(b_.password), std::string::npos) << path;
  }
  s.signal(SIGTERM);
  ASSERT_TRUE(s.wait_for(60s));
  expect_no_secret(s);
}

TEST_F(DoctorIntegration, WrongPasswordIsAnAuthenticationErrorAndNeverPrinted) {
  auto flags = secure_flags(wrong_password_file());
  ChildProcess d(cmd({"doctor"}, flags));
  ASSERT_EQ(d.wait_for(60s), 1) << d.out() << d.err();
  EXPECT_TRUE(contains(d.out(), "3. sasl      FAIL")) << d.out();
  EXPECT_TRUE(contains(d.out(), "authentication failed for user " + b_.username)) << d.out();
  EXPECT_TRUE(contains(d.out(), "invalid credentials")) << d.out();
  EXPECT_TRUE(contains(d.out(), "4. metadata  SKIP")) << d.out();
  expect_no_secret(d);

  // The same with the password itself on the command line and in the environment.
  auto inline_flags = flags;
  inline_flags[9 - 1] = "--sasl-password";
  inline_flags[9] = kWrongPassword;
  ChildProcess e(cmd({"doctor", "--json"}, inline_flags),
                 {.env = {{"KAFKA_SASL_PASSWORD", kWrongPassword}}});
  ASSERT_EQ(e.wait_for(60s), 1) << e.out() << e.err();
  EXPECT_EQ(nlohmann::json::parse(e.out())["steps"][2]["status"], "fail");
  expect_no_secret(e);

  // produce fails fast (well within --connect-timeout) and says why.
  auto p = produce_fails_fast(flags, "a wrong password");
  EXPECT_TRUE(contains(p->err(), "SASL authentication failed for user '" + b_.username + "'"))
      << p->err();
  EXPECT_TRUE(contains(p->err(), "--sasl-password-file")) << p->err();  // the hint

  auto consume_flags = flags;
  append(consume_flags, {"--topic", "t", "--exit-at-end"});
  ChildProcess c(cmd({"consume"}, consume_flags));
  auto ccode = c.wait_for(60s);
  ASSERT_TRUE(ccode);
  EXPECT_EQ(*ccode, 2);
  EXPECT_LT(c.elapsed(), 15s);
  EXPECT_TRUE(contains(c.err(), "SASL authentication failed")) << c.err();
  expect_no_secret(c);

  // serve too: bad credentials are configuration (2).
  auto serve_flags = flags;
  append(serve_flags, {"--topic", "t", "--listen", "127.0.0.1:0"});
  ChildProcess s(cmd({"serve"}, serve_flags));
  auto scode = s.wait_for(60s);
  ASSERT_TRUE(scode);
  EXPECT_EQ(*scode, 2) << s.err();
  EXPECT_TRUE(contains(s.err(), "SASL authentication failed")) << s.err();
  expect_no_secret(s);
}

TEST_F(DoctorIntegration, WrongCaIsATlsErrorThatSaysSo) {
  auto flags = secure_flags("", b_.untrusted_ca);
  ChildProcess d(cmd({"doctor"}, flags));
  ASSERT_EQ(d.wait_for(60s), 1) << d.out() << d.err();
  const std::string out = d.out();
  EXPECT_TRUE(contains(out, "2. tls       FAIL")) << out;
  EXPECT_TRUE(contains(out, "certificate chain not trusted")) << out;
  EXPECT_TRUE(contains(out, "is not signed by CA " + b_.untrusted_ca)) << out;
  EXPECT_TRUE(contains(out, "3. sasl      SKIP")) << out;

  auto p = produce_fails_fast(flags, "a CA that does not fit");
  EXPECT_TRUE(contains(p->err(), "TLS with the broker failed")) << p->err();
  EXPECT_TRUE(contains(p->err(), "certificate verify failed")) << p->err();
  EXPECT_TRUE(contains(p->err(), "chain NOT trusted by CA " + b_.untrusted_ca)) << p->err();
}

TEST_F(DoctorIntegration, AdvertisedAddressWhereNothingListens) {
  ChildProcess d(cmd({"doctor", "--brokers", b_.external}, {}));
  ASSERT_EQ(d.wait_for(60s), 1) << d.out() << d.err();
  const std::string out = d.out();
  EXPECT_TRUE(contains(out, "1. bootstrap OK")) << out;
  EXPECT_TRUE(contains(out, "4. metadata  FAIL")) << out;
  EXPECT_TRUE(contains(out, "broker 1 at " + b_.advertised)) << out;
  EXPECT_TRUE(contains(out, "connection refused")) << out;
  EXPECT_TRUE(contains(out, "advertised.listeners")) << out;
  EXPECT_TRUE(contains(out, "advertisedHost")) << out;
  EXPECT_TRUE(contains(out, "alternativeNames")) << out;
  EXPECT_TRUE(contains(out, "nodePort")) << out;

  ChildProcess j(cmd({"doctor", "--brokers", b_.external, "--json"}, {}));
  ASSERT_EQ(j.wait_for(60s), 1) << j.out() << j.err();
  auto report = nlohmann::json::parse(j.out());
  ASSERT_EQ(report["brokers"].size(), 1u);
  EXPECT_EQ(report["brokers"][0]["address"], b_.advertised);
  EXPECT_EQ(report["brokers"][0]["reachable"], false);
  EXPECT_EQ(report["steps"][3]["status"], "fail");

  // produce gives up within --connect-timeout and says why, instead of waiting 5 minutes.
  std::ofstream(dir_ + "/in.txt") << "x\n";
  ChildProcess p(
      cmd({"produce", "--brokers", b_.external, "--topic", "t", "--input", dir_ + "/in.txt",
           "--connect-timeout", "5s", "--dead-letter", dir_ + "/dlq.jsonl"},
          {}));
  auto code = p.wait_for(60s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 3) << p.err();
  EXPECT_GE(p.elapsed(), 4.5s);
  EXPECT_LT(p.elapsed(), 12s);
  EXPECT_TRUE(contains(p.err(), "broker 1 advertises " + b_.advertised)) << p.err();
  EXPECT_TRUE(contains(p.err(), "which this host cannot reach")) << p.err();
  EXPECT_TRUE(contains(p.err(), "advertisedHost")) << p.err();
  std::printf("produce to a misadvertised broker: exit %d after %.2f s\n", *code,
              p.elapsed().count());
}

}  // namespace
}  // namespace speedlayer::testing
