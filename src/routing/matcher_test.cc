#include "routing/matcher.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <thread>
#include <type_traits>

namespace speedlayer::routing {
namespace {

static_assert(!std::is_copy_constructible_v<Matcher>);
static_assert(std::is_nothrow_move_constructible_v<Matcher>);

Matcher MustCompile(const RouteTable& table) {
  auto m = Matcher::compile(table);
  if (!m) ADD_FAILURE() << m.error().message();
  return std::move(*m);
}

RouteTable Table(std::vector<Route> routes, std::string default_topic = "default") {
  return RouteTable{std::move(default_topic), std::move(routes)};
}

class FoundingRules : public ::testing::Test {
 protected:
  Matcher m = MustCompile(default_route_table());
};

TEST_F(FoundingRules, RoutesTheFoundingDocumentsExamples) {
  EXPECT_EQ(m.topic_for("basketball"), "Sport");
  EXPECT_EQ(m.topic_for("football"), "Sport");
  EXPECT_EQ(m.topic_for("messi"), "Sport");
  for (const char* w : {"AI", "ML", "NLP", "CV"}) EXPECT_EQ(m.topic_for(w), "AI") << w;
  EXPECT_EQ(m.topic_for("Hello"), "my-topic");
  EXPECT_EQ(m.match("Hello"), -1);
  EXPECT_EQ(m.pattern_count(), 7u);
}

TEST_F(FoundingRules, WholeWordsOnly) {
  EXPECT_EQ(m.match("Messi scored!"), 0);
  EXPECT_EQ(m.match("(messi)"), 0);
  EXPECT_EQ(m.match("messiah"), -1);
  EXPECT_EQ(m.match("amessi"), -1);
  EXPECT_EQ(m.match("footballer and basketballs"), -1);
  EXPECT_EQ(m.match("MAIL"), -1);     // AI inside a word
  EXPECT_EQ(m.match("HTML CVS"), -1);  // ML, CV inside words
}

TEST_F(FoundingRules, CaseInsensitive) {
  EXPECT_EQ(m.match("MESSI"), 0);
  EXPECT_EQ(m.match("MeSsI"), 0);
  EXPECT_EQ(m.match("FootBall"), 0);
  EXPECT_EQ(m.match("ai"), 1);
  EXPECT_EQ(m.match("nlp"), 1);
}

TEST_F(FoundingRules, PunctuationDelimitsWords) {
  for (const char* text : {"messi!", "messi,", "\"messi\"", "#messi", "messi's goal", "@messi:",
                           "{\"text\":\"messi\"}", "x\tmessi\ny", "messi.", "-messi-"}) {
    EXPECT_EQ(m.match(text), 0) << text;
  }
}

TEST_F(FoundingRules, UnderscoresAndDigitsAreWordCharacters) {
  EXPECT_EQ(m.match("AI_model"), -1);
  EXPECT_EQ(m.match("_AI"), -1);
  EXPECT_EQ(m.match("AI2"), -1);
  EXPECT_EQ(m.match("2AI"), -1);
  EXPECT_EQ(m.match("messi10"), -1);
  EXPECT_EQ(m.match("AI-powered"), 1);
  EXPECT_EQ(m.match("the AI."), 1);
  EXPECT_EQ(m.match("GPT/AI"), 1);
}

TEST_F(FoundingRules, FirstRuleWinsWhateverTheOrderInTheText) {
  // AI (rule 1) ends first in the text, football (rule 0) later: rule 0 still wins.
  EXPECT_EQ(m.match("AI predicts football"), 0);
  EXPECT_EQ(m.topic_for("ML, NLP and CV models watch messi"), "Sport");
  EXPECT_EQ(m.match("football AI"), 0);
}

TEST_F(FoundingRules, EmptyTextGoesToDefault) {
  EXPECT_EQ(m.match(""), -1);
  EXPECT_EQ(m.match(std::string_view()), -1);
  EXPECT_EQ(m.topic_for(""), "my-topic");
}

TEST(Matcher, LowestRuleIdWinsBeyondRuleZero) {
  // No early stop here: rules 1 and 2 match, in reverse textual order.
  Matcher m = MustCompile(Table({{"A", {"alpha"}}, {"B", {"beta"}}, {"C", {"gamma", "delta"}}}));
  EXPECT_EQ(m.match("gamma delta beta"), 1);
  EXPECT_EQ(m.topic_for("delta then gamma"), "C");
  EXPECT_EQ(m.topic_for("beta alpha gamma"), "A");
  EXPECT_EQ(m.topic_for("epsilon"), "default");
}

TEST(Matcher, KeywordsWithSymbolsAreLiteralAndWhole) {
  Matcher m = MustCompile(Table({{"cpp", {"c++"}}, {"cs", {"c#"}}, {"dots", {"a.b"}}}));
  EXPECT_EQ(m.match("c++"), 0);
  EXPECT_EQ(m.match("I like C++."), 0);
  EXPECT_EQ(m.match("(c++)"), 0);
  EXPECT_EQ(m.match("c++ and c#"), 0);
  EXPECT_EQ(m.match("xc++"), -1);
  EXPECT_EQ(m.match("c++11"), -1);
  EXPECT_EQ(m.match("c"), -1);
  EXPECT_EQ(m.match("cc"), -1);  // '+' is not a regex quantifier here

  EXPECT_EQ(m.match("c#"), 1);
  EXPECT_EQ(m.match("C#, F#"), 1);
  EXPECT_EQ(m.match("abc#"), -1);
  EXPECT_EQ(m.match("c#x"), -1);

  EXPECT_EQ(m.match("a.b"), 2);
  EXPECT_EQ(m.match("see A.B!"), 2);
  EXPECT_EQ(m.match("axb"), -1);  // '.' is not "any character"
  EXPECT_EQ(m.match("a.bc"), -1);
}

TEST(Matcher, RegexMetacharactersAreLiteral) {
  const std::vector<std::string> keywords = {"(x)", "[a-z]", "a|b", "^start", "end$", "back\\slash",
                                             ".*", "{2}", "?", "x+y", "$5", "a/b"};
  std::vector<Route> routes;
  for (const auto& k : keywords) routes.push_back(Route{k == "?" ? "q" : "t", {k}});
  Matcher m = MustCompile(Table(routes));
  for (std::size_t i = 0; i < keywords.size(); ++i) {
    EXPECT_EQ(m.match("go " + keywords[i] + " now"), static_cast<int>(i)) << keywords[i];
  }
  EXPECT_EQ(m.match("x"), -1);
  EXPECT_EQ(m.match("b a m"), -1);
  EXPECT_EQ(m.match("start"), -1);
  EXPECT_EQ(m.match("aaa"), -1);
  EXPECT_EQ(m.match("xxy"), -1);
}

TEST(Matcher, PatternEscapesEverythingButWordCharacters) {
  EXPECT_EQ(keyword_pattern("messi"), "\\bmessi\\b");
  EXPECT_EQ(keyword_pattern("c++"), "\\bc\\x2b\\x2b\\B");
  EXPECT_EQ(keyword_pattern("#ai"), "\\B\\x23ai\\b");
  EXPECT_EQ(keyword_pattern("a_1"), "\\ba_1\\b");
}

TEST(Matcher, EmptyRouteListSendsEverythingToDefault) {
  Matcher m = MustCompile(Table({}, "my-topic"));
  EXPECT_EQ(m.pattern_count(), 0u);
  EXPECT_EQ(m.match("messi"), -1);
  EXPECT_EQ(m.topic_for("messi"), "my-topic");
  auto c = m.clone();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->topic_for("x"), "my-topic");
}

TEST(Matcher, RouteWithoutKeywordsNeverMatches) {
  Matcher m = MustCompile(Table({{"none", {}}, {"B", {"b"}}}));
  EXPECT_EQ(m.match("b none"), 1);
}

TEST(Matcher, EmptyKeywordIsAUsageErrorNamingTheLine) {
  auto m = Matcher::compile(Table({Route{"A", {"a", ""}, 7}}));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, ErrorKind::usage);
  EXPECT_EQ(m.error().where, "line 7");
  EXPECT_NE(m.error().what.find("'A'"), std::string::npos);
}

TEST(Matcher, KeywordHyperscanRejectsIsAUsageErrorNamingKeywordAndLine) {
  const std::string huge = "x" + std::string(20000, 'a');  // over Hyperscan's pattern length limit
  auto m = Matcher::compile(Table({Route{"A", {"a"}, 3}, Route{"B", {"b", huge}, 5}}));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().kind, ErrorKind::usage);
  EXPECT_EQ(m.error().where, "line 5");
  EXPECT_NE(m.error().what.find("keyword 'xaaaa"), std::string::npos) << m.error().message();
  EXPECT_NE(m.error().what.find("of route 'B'"), std::string::npos) << m.error().message();
  EXPECT_LT(m.error().what.size(), 300u);
}

TEST(Matcher, SameKeywordInTwoRoutesGoesToTheFirst) {
  Matcher m = MustCompile(Table({{"A", {"x"}}, {"B", {"y", "x"}}}));
  EXPECT_EQ(m.match("x"), 0);
  EXPECT_EQ(m.match("y"), 1);
}

TEST(Matcher, ManyKeywordsCompileAndMatch) {
  // 5,000 keywords in 50 routes of 100: kw00000..kw04999, route = number / 100.
  std::vector<Route> routes(50);
  for (int i = 0; i < 5000; ++i) {
    char word[16];
    std::snprintf(word, sizeof word, "kw%05d", i);
    routes[static_cast<std::size_t>(i / 100)].topic = "t" + std::to_string(i / 100);
    routes[static_cast<std::size_t>(i / 100)].keywords.push_back(word);
  }
  Matcher m = MustCompile(Table(routes));
  EXPECT_EQ(m.pattern_count(), 5000u);
  for (int i = 0; i < 5000; ++i) {
    char text[64];
    std::snprintf(text, sizeof text, "some text, then KW%05d!", i);
    ASSERT_EQ(m.match(text), i / 100) << text;
  }
  EXPECT_EQ(m.match("kw04999 kw01234 kw00700"), 7);
  EXPECT_EQ(m.match("kw049990 xkw01234 kw0070"), -1);
  EXPECT_EQ(m.topic_for("nothing here"), "default");
}

TEST(Matcher, MovedMatcherStillWorks) {
  Matcher a = MustCompile(default_route_table());
  Matcher b = std::move(a);
  EXPECT_EQ(b.topic_for("messi"), "Sport");
  Matcher c = MustCompile(Table({}));
  c = std::move(b);
  EXPECT_EQ(c.topic_for("NLP"), "AI");
}

TEST(Matcher, ClonesRunOnTheirOwnThreads) {
  Matcher m = MustCompile(default_route_table());
  std::vector<Matcher> clones;
  for (int i = 0; i < 4; ++i) {
    auto c = m.clone();
    ASSERT_TRUE(c) << c.error().message();
    clones.push_back(std::move(*c));
  }
  std::vector<int> wrong(clones.size(), 0);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < clones.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        if (clones[t].topic_for("AI predicts football") != "Sport") ++wrong[t];
        if (clones[t].topic_for("NLP!") != "AI") ++wrong[t];
        if (clones[t].topic_for("messiah") != "my-topic") ++wrong[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int w : wrong) EXPECT_EQ(w, 0);
  EXPECT_EQ(m.topic_for("CV"), "AI");  // the original is untouched
}

}  // namespace
}  // namespace speedlayer::routing
