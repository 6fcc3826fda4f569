#include "routing/matcher.h"

#include <gtest/gtest.h>
#include <hs/hs.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <type_traits>

#include "text/words.h"

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
  EXPECT_EQ(m.match("MAIL"), -1);      // AI inside a word
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
  for (const char* text : {"messi!", "messi,", "\"messi\"", "#messi", "messi's goal",
                           "@messi:", "{\"text\":\"messi\"}", "x\tmessi\ny", "messi.", "-messi-"}) {
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
                                             ".*",  "{2}",   "?",   "x+y",    "$5",   "a/b"};
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

// ---- Same results as before: the old matcher as a reference ---------------------------------
//
// Until the word-run matcher, Matcher compiled keyword_pattern() of every keyword into one
// Hyperscan database (HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH, pattern id = route index) and
// kept the lowest id reported. RegexReference is that matcher; Naive is the rule read literally
// (first route, in order, with a keyword at a position whose neighbours are no word characters).

class RegexReference {
 public:
  explicit RegexReference(const RouteTable& table) {
    std::vector<std::string> patterns;
    std::vector<unsigned int> ids;
    for (std::size_t r = 0; r < table.routes.size(); ++r) {
      for (const std::string& k : table.routes[r].keywords) {
        patterns.push_back(keyword_pattern(k));
        ids.push_back(static_cast<unsigned int>(r));
      }
    }
    if (patterns.empty()) return;
    std::vector<const char*> expressions;
    for (const auto& p : patterns) expressions.push_back(p.c_str());
    const std::vector<unsigned int> flags(patterns.size(), HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH);
    hs_compile_error_t* err = nullptr;
    if (hs_compile_multi(expressions.data(), flags.data(), ids.data(),
                         static_cast<unsigned int>(expressions.size()), HS_MODE_BLOCK, nullptr,
                         &db_, &err) != HS_SUCCESS) {
      ADD_FAILURE() << "reference compile: " << (err != nullptr ? err->message : "?");
      hs_free_compile_error(err);
      return;
    }
    if (hs_alloc_scratch(db_, &scratch_) != HS_SUCCESS) ADD_FAILURE() << "reference scratch";
  }
  ~RegexReference() {
    hs_free_scratch(scratch_);
    hs_free_database(db_);
  }
  RegexReference(const RegexReference&) = delete;
  RegexReference& operator=(const RegexReference&) = delete;

  int match(std::string_view text) const {
    if (db_ == nullptr || text.empty()) return -1;
    unsigned int best = UINT_MAX;
    hs_scan(
        db_, text.data(), static_cast<unsigned int>(text.size()), 0, scratch_,
        [](unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) {
          auto* b = static_cast<unsigned int*>(ctx);
          *b = std::min(*b, id);
          return id == 0 ? 1 : 0;
        },
        &best);
    return best == UINT_MAX ? -1 : static_cast<int>(best);
  }

 private:
  hs_database_t* db_ = nullptr;
  hs_scratch_t* scratch_ = nullptr;
};

// The rule read literally (matcher.h): the first route with a keyword whose folded form
// occurs in the folded text at word edges (text/words.h), every position tried.
int Naive(const RouteTable& table, std::string_view text) {
  const std::string t = text::fold(text);
  for (std::size_t r = 0; r < table.routes.size(); ++r) {
    for (const std::string& keyword : table.routes[r].keywords) {
      const std::string k = text::fold(keyword);
      for (std::size_t at = t.find(k); at != std::string::npos; at = t.find(k, at + 1)) {
        if (text::at_word_edges(t, at, at + k.size())) return static_cast<int>(r);
      }
    }
  }
  return -1;
}

bool IsAscii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// The text in a heap block of exactly its size (a sanitizer build then catches any read past
// its end), matched.
int MatchExact(Matcher& m, std::string_view text) {
  if (text.empty()) return m.match(std::string_view());
  auto block = std::make_unique<char[]>(text.size());
  std::memcpy(block.get(), text.data(), text.size());
  return m.match(std::string_view(block.get(), text.size()));
}

std::string RandomCase(std::string s, std::mt19937& rng) {
  for (char& c : s)
    if (rng() % 2 != 0 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

// Keywords built to collide: few letters, so they overlap, nest and share prefixes; lengths
// around 8 and 16 (where the run keys change shape); symbols at either end or inside; bytes
// outside ASCII; a NUL.
std::string RandomKeyword(std::mt19937& rng) {
  static const std::vector<std::string> kSymbolic = {
      "c++",    "c#",    "a.b",      ".net",         "#ai",         "++",
      "-",      "a b",   "ab-",      "_a",           "a_",          "\xc3\xa9t\xc3\xa9",
      "x\xffy", "\xff",  "a\x00b",   "(a)",          "a|b",         "$5",
      "b.",     "ab ab", "F\u00daT", "\u8db3\u7403", "STRA\u00dfE", "\u03c3a",
      "a\u0301"};
  if (rng() % 5 == 0) {
    std::string k = kSymbolic[rng() % kSymbolic.size()];
    // Unescape the few \xHH written above.
    std::string out;
    for (std::size_t i = 0; i < k.size(); ++i) {
      if (k[i] == '\\' && i + 3 < k.size() + 1 && k[i + 1] == 'x') {
        out += static_cast<char>(std::stoi(k.substr(i + 2, 2), nullptr, 16));
        i += 3;
      } else {
        out += k[i];
      }
    }
    return RandomCase(out, rng);
  }
  static const char kLetters[] = "abab_1";
  static const std::vector<std::size_t> kLengths = {1, 2, 3, 7, 8, 9, 15, 16, 17, 24};
  const std::size_t len = kLengths[rng() % kLengths.size()];
  std::string k;
  for (std::size_t i = 0; i < len; ++i) k += kLetters[rng() % (sizeof kLetters - 1)];
  return RandomCase(k, rng);
}

RouteTable RandomTable(std::mt19937& rng) {
  RouteTable table{"default", {}};
  const std::size_t routes = 1 + rng() % 8;
  for (std::size_t r = 0; r < routes; ++r) {
    Route route{"t" + std::to_string(r), {}};
    const std::size_t keywords = rng() % 5;  // some routes have none
    for (std::size_t k = 0; k < keywords; ++k) route.keywords.push_back(RandomKeyword(rng));
    table.routes.push_back(route);
  }
  return table;
}

// Texts of 0..300 bytes (across the 64-byte blocks the matcher cuts texts into) made of
// keywords of the table in any case, pieces of them, and bytes around them that do or do not
// end a word.
std::string RandomText(const RouteTable& table, std::mt19937& rng) {
  static const std::string kBytes =
      std::string("ab_1AB9 .+#-\t\n(),\"'") + "\x80\xc3\xa9\xff" + std::string(1, '\0') + "\x7f";
  std::vector<std::string> keywords;
  for (const auto& r : table.routes)
    keywords.insert(keywords.end(), r.keywords.begin(), r.keywords.end());
  const std::size_t target = rng() % 4 == 0 ? 60 + rng() % 10 : rng() % 301;
  std::string text;
  while (text.size() < target) {
    const unsigned pick = rng() % 20;
    if (pick == 19) {
      static const std::vector<std::string> kUnicode = {
          "\u00e9", "\u00fa", "\u00da", "\u0301", "\u8db3", "\u7403", "\u03a3",
          "\u03c2", "ss",     "\u00df", "\u2019", "\u00a0", "\u200d", "\U0001F600"};
      text += kUnicode[rng() % kUnicode.size()];
    } else if (pick < 3 && !keywords.empty()) {
      std::string k = keywords[rng() % keywords.size()];
      if (rng() % 4 == 0) k = k.substr(0, rng() % (k.size() + 1));  // a piece of it
      text += RandomCase(k, rng);
    } else {
      text += kBytes[rng() % kBytes.size()];
    }
  }
  text.resize(target);
  return text;
}

TEST(MatcherDifferential, SameRoutesAsTheRegexMatcherAndTheNaiveRule) {
  std::mt19937 rng(20240601);
  int compared = 0;
  int matched = 0;
  for (int t = 0; t < 150; ++t) {
    const RouteTable table = RandomTable(rng);
    Matcher m = MustCompile(table);
    auto clone = m.clone();
    ASSERT_TRUE(clone) << clone.error().message();
    const RegexReference reference(table);
    for (int i = 0; i < 400; ++i) {
      const std::string text = RandomText(table, rng);
      // The regex matcher (ASCII \\b) is the reference for ASCII texts only.
      const int want = Naive(table, text);
      if (IsAscii(text)) {
        ASSERT_EQ(want, reference.match(text)) << "the references disagree on: " << text;
      }
      const int got = MatchExact(m, text);
      if (got != want) {
        std::string keywords;
        for (const auto& r : table.routes) {
          keywords += "[";
          for (const auto& k : r.keywords) keywords += "'" + k + "' ";
          keywords += "] ";
        }
        FAIL() << "table " << t << " text " << i << ": got " << got << ", want " << want
               << "\n  keywords: " << keywords << "\n  text (" << text.size() << " bytes): '"
               << text << "'";
      }
      ASSERT_EQ(MatchExact(*clone, text), want);
      ++compared;
      matched += want >= 0 ? 1 : 0;
    }
  }
  // The generator must produce both outcomes in quantity, or the comparison proves little.
  EXPECT_GT(matched, compared / 5);
  EXPECT_LT(matched, compared * 19 / 20);
}

TEST(MatcherDifferential, ManyKeywordsSameAsTheRegexMatcher) {
  // 1,000 word keywords (a hash table of 64 KiB) plus some symbolic ones, on texts of those
  // keywords and near misses.
  std::mt19937 rng(7);
  RouteTable table{"default", {}};
  std::vector<std::string> all;
  for (int r = 0; r < 10; ++r) {
    Route route{"t" + std::to_string(r), {}};
    for (int k = 0; k < 100; ++k) {
      std::string word;
      const int len = 1 + static_cast<int>(rng() % 20);
      for (int i = 0; i < len; ++i) word += "abcdefghijklmnopqrstuvwxyz_0123456789"[rng() % 37];
      route.keywords.push_back(word);
      all.push_back(word);
    }
    if (r % 3 == 1) route.keywords.push_back("c++" + std::to_string(r));
    table.routes.push_back(route);
  }
  Matcher m = MustCompile(table);
  const RegexReference reference(table);
  int matched = 0;
  for (int i = 0; i < 10000; ++i) {
    std::string text;
    const int words = static_cast<int>(rng() % 12);
    for (int w = 0; w < words; ++w) {
      std::string word = all[rng() % all.size()];
      switch (rng() % 4) {
        case 0:
          word += "x";
          break;  // near miss
        case 1:
          word = word.substr(1);
          break;  // near miss (or another keyword)
        case 2:
          word = RandomCase(word, rng);
          break;
        default:
          break;
      }
      text += word;
      text += " .,;-+_"[rng() % 7];
    }
    if (rng() % 20 == 0) text += "c++" + std::to_string(rng() % 10);
    const int want = reference.match(text);
    ASSERT_EQ(MatchExact(m, text), want) << text;
    matched += want >= 0 ? 1 : 0;
  }
  EXPECT_GT(matched, 1000);
  EXPECT_LT(matched, 9000);
}

TEST(Matcher, RunsAcrossTheScannersBlocks) {
  // The matcher reads texts 64 bytes at a time: keywords before, across and after a block's
  // end, and texts ending exactly at one.
  Matcher m = MustCompile(Table({{"A", {"messi"}}, {"B", {"internationalization"}}}));
  for (std::size_t pad = 40; pad <= 140; ++pad) {
    const std::string before(pad, '.');
    EXPECT_EQ(MatchExact(m, before + "messi"), 0) << pad;
    EXPECT_EQ(MatchExact(m, before + "messi."), 0) << pad;
    EXPECT_EQ(MatchExact(m, before + "messiah"), -1) << pad;
    EXPECT_EQ(MatchExact(m, before + "Internationalization"), 1) << pad;
    EXPECT_EQ(MatchExact(m, before + "internationalisation"), -1) << pad;
    EXPECT_EQ(MatchExact(m, std::string(pad, 'x') + " messi"), 0) << pad;
    EXPECT_EQ(MatchExact(m, std::string(pad, 'x') + "messi"), -1) << pad;
    EXPECT_EQ(MatchExact(m, "messi" + std::string(pad, 'x')), -1) << pad;
    EXPECT_EQ(MatchExact(m, "messi " + std::string(pad, 'x')), 0) << pad;
  }
}

TEST(Matcher, LongKeywordsCompareEveryByte) {
  // Past 16 bytes the matcher compares the middle of a run too.
  for (const std::string keyword : {"abcdefgh_middle_12345678", "abcdefghijklmnopq",
                                    "abcdefghijklmnop", "abcdefghi", "abcdefgh", "abcdefg"}) {
    Matcher m = MustCompile(Table({{"A", {keyword}}}));
    EXPECT_EQ(m.match("x " + keyword + " y"), 0) << keyword;
    std::string upper = keyword;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(m.match("x " + upper + " y"), 0) << upper;
    EXPECT_EQ(m.match("x " + keyword + "9 y"), -1) << keyword;
    EXPECT_EQ(m.match("x " + keyword.substr(1) + " y"), -1) << keyword;
    EXPECT_EQ(m.match("x " + keyword.substr(0, keyword.size() - 1) + " y"), -1) << keyword;
    for (std::size_t i = 0; i < keyword.size(); ++i) {  // any one byte changed: no match
      std::string changed = keyword;
      changed[i] = changed[i] == 'z' ? 'y' : 'z';
      EXPECT_EQ(m.match("x " + changed + " y"), -1) << changed;
    }
  }
}

TEST(Matcher, UnderscoreIsNotTheDelByte) {
  // Case folding of word characters maps '_' to 0x7f: 0x7f itself is no word character.
  Matcher m = MustCompile(Table({{"A", {"a_b"}}, {"B", {"x"}}}));
  EXPECT_EQ(m.match("a_b"), 0);
  EXPECT_EQ(m.match("A_B"), 0);
  EXPECT_EQ(m.match("a\x7f"
                    "b"),
            -1);
  EXPECT_EQ(m.match("a\x7fx"), 1);
}

TEST(Matcher, ShortTexts) {
  Matcher m = MustCompile(Table({{"A", {"abcdefghij"}}, {"B", {"ai", "c++"}}}));
  EXPECT_EQ(m.match("a"), -1);
  EXPECT_EQ(m.match("ai"), 1);
  EXPECT_EQ(m.match("Ai!"), 1);
  EXPECT_EQ(m.match("c++"), 1);
  EXPECT_EQ(m.match("xc++"), -1);
  EXPECT_EQ(m.match("abcdefghij"), 0);
  EXPECT_EQ(m.match("abcdefghi"), -1);
}

TEST(Matcher, KeywordUpToHyperscansLimitIsAccepted) {
  const std::string longest(16000, 'k');
  Matcher m = MustCompile(Table({{"A", {longest}}, {"B", {"c+" + std::string(15998, '+')}}}));
  EXPECT_EQ(m.match("x " + longest + " y"), 0);
  EXPECT_EQ(m.match("x " + longest + "k"), -1);
  auto too_long = Matcher::compile(Table({Route{"A", {longest + "k"}, 2}}));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().where, "line 2");
}

TEST(Matcher, HyperscanScanFailureFallsBackToAPlainSearch) {
  // Hyperscan 5.4.0's literal database fails hs_scan (HS_UNKNOWN_ERROR) for these keywords
  // (found by routes_fuzz): the matcher aborted the producer. It now searches them plainly.
  const std::string run = "abc" + std::string(34, '-');
  Matcher m = MustCompile(Table({{"A", {"#"}}, {"B", {run}}}));
  EXPECT_EQ(m.match("x " + run + " y"), 1);
  EXPECT_EQ(m.match("x " + run + " # y"), 0);
  EXPECT_EQ(m.match("x ABC" + std::string(34, '-') + " y"), 1);  // still case-insensitive
  EXPECT_EQ(m.match("x " + run + "z y"), -1);                    // still whole words
  EXPECT_EQ(m.match("nothing here"), -1);
}

// ---- Unicode words (issue 15's "Why"): keywords and texts folded, words by text/words.h ----

TEST(MatcherUnicode, TheIssuesCases) {
  Matcher m = MustCompile(Table(
      {{"Sport", {"f\u00fatbol", "messi", "\u0444\u0443\u0442\u0431\u043e\u043b"}}}, "default"));
  EXPECT_EQ(m.topic_for("F\u00daTBOL hoy"), "Sport");
  EXPECT_EQ(m.topic_for("F\u00fatbol hoy"), "Sport");
  EXPECT_EQ(m.topic_for("f\u00fatbol"), "Sport");
  EXPECT_EQ(m.topic_for("Fu\u0301tbol (decomposed)"), "Sport");
  EXPECT_EQ(m.topic_for(
                "\u0424\u0423\u0422\u0411\u041e\u041b \u0441\u0435\u0433\u043e\u0434\u043d\u044f"),
            "Sport");
  EXPECT_EQ(m.topic_for("Messi\u00f1 aqu\u00ed"), "default");
  EXPECT_EQ(m.topic_for("Messi aqu\u00ed"), "Sport");
  EXPECT_EQ(m.topic_for("futbol"), "default");           // no accent folding: another word
  EXPECT_EQ(m.topic_for("Messi\u2019s goal"), "Sport");  // apostrophes separate
  EXPECT_EQ(m.topic_for("\u00abMessi\u00bb"), "Sport");
  EXPECT_EQ(m.topic_for("\u00e9Messi"), "default");
}

TEST(MatcherUnicode, SharpSAndCaseFolding) {
  Matcher m = MustCompile(Table({{"A", {"stra\u00dfe"}}, {"B", {"STRASSE2"}}}));
  EXPECT_EQ(m.match("STRASSE"), 0);  // an ASCII text: the fast path
  EXPECT_EQ(m.match("Strasse!"), 0);
  EXPECT_EQ(m.match("die Stra\u00dfe"), 0);
  EXPECT_EQ(m.match("STRA\u1e9eE"), 0);
  EXPECT_EQ(m.match("stra\u00dfe2"), 1);
  EXPECT_EQ(m.match("strasser"), -1);
}

TEST(MatcherUnicode, GreekTurkishCyrillic) {
  Matcher m = MustCompile(Table(
      {{"gr", {"\u03bf\u03b4\u03bf\u03c2"}}, {"tr", {"\u0130stanbul"}}, {"tr2", {"isparta"}}}));
  EXPECT_EQ(m.match("\u039f\u0394\u039f\u03a3"), 0);  // final sigma folds to sigma
  EXPECT_EQ(m.match("\u0130STANBUL"), 1);
  EXPECT_EQ(m.match("istanbul"), -1);  // \u0130 folds to i + U+0307, not i
  EXPECT_EQ(m.match("ISPARTA"), 2);
  EXPECT_EQ(m.match("\u0131sparta"), -1);  // dotless i stays itself
}

TEST(MatcherUnicode, ScriptsWithoutSpaces) {
  Matcher m = MustCompile(
      Table({{"Sport", {"\u8db3\u7403", "\u30b5\u30c3\u30ab\u30fc"}}, {"One", {"\u7403"}}}));
  EXPECT_EQ(m.match("\u6211\u559c\u6b22\u8db3\u7403"), 0);  // a keyword of two characters
  EXPECT_EQ(m.match("\u4eca\u65e5\u306f\u30b5\u30c3\u30ab\u30fc\u3092"), 0);
  EXPECT_EQ(m.match("\u7bee\u7403"), 1);  // one character is a word
  EXPECT_EQ(m.match("\u8db3 \u8de1"), -1);
  EXPECT_EQ(m.match("AI\u82af\u7247"), -1);
}

TEST(MatcherUnicode, SymbolKeywordsOnNonAsciiText) {
  Matcher m = MustCompile(Table({{"cpp", {"c++"}}, {"tag", {"#f\u00fatbol"}}}));
  EXPECT_EQ(m.match("J'aime le C++ \u00e0 mort"), 0);
  EXPECT_EQ(m.match("\u00e9c++"), -1);
  EXPECT_EQ(m.match("#F\u00daTBOL \u00a1s\u00ed!"), 1);
  EXPECT_EQ(m.match("#f\u00fatbol\u00f1"), -1);
  EXPECT_EQ(m.match("x#f\u00fatbol \u00e9"), -1);
}

// The ASCII scan notices bytes >= 0x80 itself (no separate pass): wherever such a byte is,
// relative to the scanner's 64-byte blocks and to a keyword's run, the text takes the Unicode
// path, and a route 0 found early in an ASCII part stays route 0.
TEST(MatcherUnicode, NonAsciiBytesAnywhereInTheBlocks) {
  Matcher m = MustCompile(Table({{"Sport", {"messi"}}, {"AI", {"ai"}}}, "default"));
  for (std::size_t pad = 0; pad < 140; ++pad) {
    const std::string lead(pad, ' ');
    // The run "messi" ends at a non-ASCII letter: one word, "messiñ", so no match.
    EXPECT_EQ(m.match(lead + "Messi\u00f1 aqu\u00ed"), -1) << pad;
    EXPECT_EQ(m.match(lead + "Messi\u00f1"), -1) << pad;
    EXPECT_EQ(m.match(lead + "Messi\u0301"), -1) << pad;  // a combining mark joins the word
    EXPECT_EQ(m.match(lead + "\u00e9AI x"), -1) << pad;
    EXPECT_EQ(m.match(lead + "AI\u00e9"), -1) << pad;
    // Separated by ASCII: found, before or after the non-ASCII bytes.
    EXPECT_EQ(m.match(lead + "Messi \u00f1"), 0) << pad;
    EXPECT_EQ(m.match("\u00f1 " + lead + "MESSI"), 0) << pad;
    EXPECT_EQ(m.match(lead + "ai " + lead + "Messi " + lead + "\u00e9"), 0) << pad;
    EXPECT_EQ(m.match(lead + "AI " + lead + "Messi\u00e9"), 1) << pad;
    EXPECT_EQ(m.match(lead + "Messi" + lead + "\u00e9"), pad == 0 ? -1 : 0) << pad;
  }
}

// On an ASCII text only ASCII literals are scanned for; a non-ASCII one of an earlier route
// still wins on a text that holds it.
TEST(MatcherUnicode, NonAsciiLiteralsBeforeAsciiOnes) {
  Matcher m = MustCompile(Table({{"cn", {"\u8db3\u7403!"}}, {"cpp", {"c++"}}, {"w", {"ai"}}}));
  EXPECT_EQ(m.match("I like C++ and AI"), 1);
  EXPECT_EQ(m.match("I like AI"), 2);
  EXPECT_EQ(m.match("I like C++ and \u8db3\u7403!"), 0);
  EXPECT_EQ(m.match("\u8db3\u7403"), -1);
}

TEST(MatcherUnicode, ManyNonAsciiKeywords) {
  // 5,000 Cyrillic and accented keywords in 50 routes.
  std::vector<Route> routes(50);
  auto keyword = [](int i) {
    std::string k = i % 2 ? "\u0444\u0443\u0442" : "f\u00fat";
    for (char c : std::to_string(i))
      k += "\u00e0\u00e9\u00ed\u00f3\u00fa\u00f1\u00e7\u00fc\u00f6\u00e4"[static_cast<std::size_t>(
                                                                              c - '0') *
                                                                          2];
    return k;
  };
  (void)keyword;
  for (int i = 0; i < 5000; ++i) {
    routes[static_cast<std::size_t>(i / 100)].topic = "t" + std::to_string(i / 100);
    routes[static_cast<std::size_t>(i / 100)].keywords.push_back(
        (i % 2 ? "\u0444\u0443\u0442" : "f\u00fat") + std::to_string(i) + "\u00f1");
  }
  Matcher m = MustCompile(Table(routes));
  for (int i = 0; i < 5000; i += 7) {
    const std::string k = text::fold(
        routes[static_cast<std::size_t>(i / 100)].keywords[static_cast<std::size_t>(i % 100)]);
    std::string upper = (i % 2 ? "\u0424\u0423\u0422" : "F\u00daT") + std::to_string(i) + "\u00d1";
    ASSERT_EQ(m.match("hoy " + upper + "!"), i / 100) << upper;
    ASSERT_EQ(m.match("hoy " + k + "x"), -1) << k;
  }
}

}  // namespace
}  // namespace speedlayer::routing
