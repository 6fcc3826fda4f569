// The doctor report's pure parts: exit codes, text layout, JSON, word wrapping.
#include "doctor/report.h"

#include <gtest/gtest.h>

#include <sstream>

namespace speedlayer::doctor {
namespace {

Report sample() {
  Report r;
  r.bootstrap = "203.0.113.9:31092";
  r.security_protocol = "sasl_ssl";
  r.sasl_mechanism = "SCRAM-SHA-512";
  r.sasl_username = "alice";
  r.password_source = "--sasl-password-file";
  r.ca_source = "CA /etc/kafka/ca.crt";
  r.librdkafka_version = "2.0.2";
  r.steps.push_back({.number = 1,
                     .name = "bootstrap",
                     .status = Status::ok,
                     .ms = 3.25,
                     .summary = "203.0.113.9:31092 accepts TCP",
                     .details = {"203.0.113.9:31092: public address, TCP connected in 3.1 ms"}});
  r.steps.push_back({.number = 2, .name = "tls", .status = Status::ok, .ms = 14, .summary = "ok"});
  r.steps.push_back(
      {.number = 3, .name = "sasl", .status = Status::ok, .ms = 402, .summary = "ok"});
  r.steps.push_back({.number = 4,
                     .name = "metadata",
                     .status = Status::fail,
                     .ms = 2001,
                     .summary = "3 brokers; not usable from here: 2 (10.0.0.12:31234)",
                     .details = {"broker 2 at 10.0.0.12:31234: private address, TCP: no answer"},
                     .fixes = {"make broker 2 advertise an address this host can reach"}});
  r.steps.push_back({.number = 5, .name = "probe", .status = Status::skip, .summary = "not run"});
  r.brokers.push_back({.id = 1,
                       .address = "203.0.113.9:31001",
                       .scope = "public",
                       .reachable = true,
                       .connect_ms = 3});
  r.brokers.push_back({.id = 2,
                       .address = "10.0.0.12:31234",
                       .scope = "private",
                       .problem = "cannot connect from here: no answer"});
  return r;
}

TEST(DoctorReport, ExitCodes) {
  Report r = sample();
  EXPECT_EQ(exit_code(r), 1);
  EXPECT_EQ(verdict(r), "problems found");
  r.steps[3].status = Status::warn;
  EXPECT_EQ(exit_code(r), 0);  // warnings do not fail
  EXPECT_EQ(verdict(r), "healthy");
  r.nothing_reachable = true;
  EXPECT_EQ(exit_code(r), 3);
  EXPECT_EQ(verdict(r), "nothing reachable at the bootstrap address");
  EXPECT_EQ(exit_code(Report{}), 0);
}

TEST(DoctorReport, TextHasHeaderStepsFixesAndVerdict) {
  std::string text = format_text(sample());
  EXPECT_EQ(text.rfind("speedlayer doctor: bootstrap 203.0.113.9:31092, sasl_ssl, SCRAM-SHA-512 "
                       "user alice (password from\n    --sasl-password-file), CA /etc/kafka/ca.crt",
                       0),
            0u)
      << text;
  EXPECT_NE(text.find("1. bootstrap OK"), std::string::npos) << text;
  EXPECT_NE(text.find("3.2 ms  203.0.113.9:31092 accepts TCP"), std::string::npos) << text;
  EXPECT_NE(text.find("4. metadata  FAIL"), std::string::npos) << text;
  EXPECT_NE(text.find("2.0 s  3 brokers"), std::string::npos) << text;
  EXPECT_NE(text.find("\n     broker 2 at 10.0.0.12:31234"), std::string::npos) << text;
  EXPECT_NE(text.find("\n     fix: make broker 2 advertise"), std::string::npos) << text;
  EXPECT_NE(text.find("5. probe     SKIP"), std::string::npos) << text;
  EXPECT_NE(text.find("result: problems found (exit 1)\n"), std::string::npos) << text;
  // Every line fits the width.
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 100u) << line;
}

TEST(DoctorReport, JsonForScripts) {
  auto j = nlohmann::json::parse(format_json(sample()));
  EXPECT_EQ(j["bootstrap"], "203.0.113.9:31092");
  EXPECT_EQ(j["security_protocol"], "sasl_ssl");
  EXPECT_EQ(j["sasl_username"], "alice");
  EXPECT_EQ(j["password_source"], "--sasl-password-file");
  EXPECT_EQ(j["exit_code"], 1);
  EXPECT_EQ(j["result"], "problems found");
  ASSERT_EQ(j["steps"].size(), 5u);
  EXPECT_EQ(j["steps"][0]["step"], 1);
  EXPECT_EQ(j["steps"][0]["name"], "bootstrap");
  EXPECT_EQ(j["steps"][0]["status"], "ok");
  EXPECT_DOUBLE_EQ(j["steps"][0]["ms"].get<double>(), 3.3);  // rounded to 0.1 ms
  EXPECT_EQ(j["steps"][3]["status"], "fail");
  EXPECT_EQ(j["steps"][3]["fixes"][0], "make broker 2 advertise an address this host can reach");
  EXPECT_EQ(j["steps"][4]["status"], "skip");
  ASSERT_EQ(j["brokers"].size(), 2u);
  EXPECT_TRUE(j["brokers"][0]["problem"].is_null());
  EXPECT_EQ(j["brokers"][1]["reachable"], false);
  EXPECT_EQ(j["brokers"][1]["scope"], "private");
  EXPECT_TRUE(j["probe"].is_null());

  Report plain;
  plain.bootstrap = "127.0.0.1:9092";
  plain.probe = ProbeResult{"t", 0, 41, 2.04, 7.96};
  auto p = nlohmann::json::parse(format_json(plain));
  EXPECT_TRUE(p["sasl_mechanism"].is_null());
  EXPECT_EQ(p["probe"]["offset"], 41);
  EXPECT_DOUBLE_EQ(p["probe"]["end_to_end_ms"].get<double>(), 8.0);
}

TEST(DoctorReport, JsonSurvivesInvalidUtf8) {
  Report r;
  r.steps.push_back({.number = 1, .name = "bootstrap", .summary = "bad \xff byte"});
  EXPECT_NO_THROW(nlohmann::json::parse(format_json(r)));
}

TEST(Wrap, BreaksAtWordsAndIndentsContinuationLines) {
  EXPECT_EQ(wrap("one two three", 100, 2), "one two three");
  EXPECT_EQ(wrap("aaaa bbbb cccc", 9, 2), "aaaa bbbb\n  cccc");
  // A word longer than the width stays whole on its own line.
  EXPECT_EQ(wrap("x averyveryverylongword y", 10, 1), "x\n averyveryverylongword\n y");
}

}  // namespace
}  // namespace speedlayer::doctor
