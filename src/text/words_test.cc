// The word rule and folding (words.h): multilingual cases, and the ASCII fast path against the
// general Unicode path on random mixed text.
#include "text/words.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace speedlayer::text {
namespace {

std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> out;
  std::string scratch;
  for_each_word(text, scratch, [&](std::string_view w) { out.emplace_back(w); });
  return out;
}

// The general path alone: every word span, folded.
std::vector<std::string> SlowWords(std::string_view text) {
  std::vector<std::string> out;
  for_each_word_span(
      text, [&](std::size_t b, std::size_t e) { out.push_back(fold(text.substr(b, e - b))); });
  return out;
}

using V = std::vector<std::string>;

TEST(Words, AsciiWordsAreRunsOfLettersDigitsAndUnderscoresLowercased) {
  EXPECT_EQ(Words("Messi scored, AI-powered! snake_case x2"),
            (V{"messi", "scored", "ai", "powered", "snake_case", "x2"}));
  EXPECT_EQ(Words(""), V{});
  EXPECT_EQ(Words(" ,.;"), V{});
}

TEST(Words, ApostrophesAndHyphensSeparate) {
  EXPECT_EQ(Words("Messi's goal, don't"), (V{"messi", "s", "goal", "don", "t"}));
  EXPECT_EQ(Words("Messi\u2019s l\u2019\u00e9quipe"), (V{"messi", "s", "l", "\u00e9quipe"}));
  EXPECT_EQ(Words("state-of-the-art \u2014 ok"), (V{"state", "of", "the", "art", "ok"}));
}

TEST(Words, SpanishAccentsFoldAndStayInTheWord) {
  EXPECT_EQ(Words("F\u00daTBOL hoy, f\u00fatbol y F\u00fatbol"),
            (V{"f\u00fatbol", "hoy", "f\u00fatbol", "y", "f\u00fatbol"}));
  // Messi\u00f1 is one word, not messi.
  EXPECT_EQ(Words("Messi\u00f1 aqu\u00ed"), (V{"messi\u00f1", "aqu\u00ed"}));
  // A decomposed accent (e + U+0301) is the same word as the composed one (NFC).
  EXPECT_EQ(Words("Fu\u0301tbol"), V{"f\u00fatbol"});
}

TEST(Words, GermanSharpSFoldsToSs) {
  EXPECT_EQ(Words("STRASSE Stra\u00dfe STRA\u1e9eE"), (V{"strasse", "strasse", "strasse"}));
  EXPECT_EQ(fold("Stra\u00dfe"), "strasse");
}

TEST(Words, GreekFinalSigmaFoldsToSigma) {
  // \u039f\u0394\u039f\u03a3 (ODOS) and \u03bf\u03b4\u03bf\u03c2 (odos, final sigma): one term.
  EXPECT_EQ(
      Words("\u039f\u0394\u039f\u03a3 \u03bf\u03b4\u03bf\u03c2 \u03bf\u03b4\u03bf\u03c3"),
      (V{"\u03bf\u03b4\u03bf\u03c3", "\u03bf\u03b4\u03bf\u03c3", "\u03bf\u03b4\u03bf\u03c3"}));
}

TEST(Words, TurkishIsFoldedLanguageIndependently) {
  // \u0130 (dotted capital I) folds to i + U+0307; I to i; dotless \u0131 stays itself.
  EXPECT_EQ(fold("\u0130"), "i\u0307");
  EXPECT_EQ(fold("I"), "i");
  EXPECT_EQ(fold("\u0131"), "\u0131");
  EXPECT_EQ(Words("\u0130STANBUL istanbul"), (V{"i\u0307stanbul", "istanbul"}));
  EXPECT_EQ(Words("ISPARTA \u0131sparta"), (V{"isparta", "\u0131sparta"}));
}

TEST(Words, CyrillicFolds) {
  EXPECT_EQ(
      Words("\u0424\u0423\u0422\u0411\u041e\u041b \u0441\u0435\u0433\u043e\u0434\u043d\u044f"),
      (V{"\u0444\u0443\u0442\u0431\u043e\u043b", "\u0441\u0435\u0433\u043e\u0434\u043d\u044f"}));
}

TEST(Words, HanKanaAndThaiLettersAreWordsByThemselves) {
  // Chinese: "I like football" -> one word per character; Latin words next to them split.
  EXPECT_EQ(Words("\u6211\u559c\u6b22\u8db3\u7403"),
            (V{"\u6211", "\u559c", "\u6b22", "\u8db3", "\u7403"}));
  EXPECT_EQ(Words("AI\u82af\u7247"), (V{"ai", "\u82af", "\u7247"}));
  // Japanese: Katakana and Hiragana too.
  EXPECT_EQ(Words("\u30b5\u30c3\u30ab\u30fc\u306e"),
            (V{"\u30b5", "\u30c3", "\u30ab", "\u30fc", "\u306e"}));
  // Thai: a consonant with its vowel mark is one word.
  EXPECT_EQ(Words("\u0e1f\u0e38\u0e15"), (V{"\u0e1f\u0e38", "\u0e15"}));
  // The ideographic full stop separates.
  EXPECT_EQ(Words("\u8db3\u3002\u7403"), (V{"\u8db3", "\u7403"}));
}

TEST(Words, MarksBelongToTheCharacterBefore) {
  EXPECT_EQ(Words("a\u20dd b"), (V{"a\u20dd", "b"}));
  EXPECT_EQ(Words(" \u0301x"), V{"\u0301x"});  // a mark after a separator starts a word
  // Persian with a zero-width non-joiner inside a word.
  EXPECT_EQ(Words("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"),
            V{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"});
}

TEST(Words, SymbolsEmojiAndStrayBytesSeparate) {
  EXPECT_EQ(Words("goal\U0001F600messi \u00a9x \u00bfqu\u00e9?"),
            (V{"goal", "messi", "x", "qu\u00e9"}));
  EXPECT_EQ(Words("ab\xff"
                  "cd \xc3"),
            (V{"ab", "cd"}));
  EXPECT_EQ(Words("x\u00b2 \u00bd"), (V{"x\u00b2", "\u00bd"}));  // numbers (No) are word characters
}

TEST(Words, AtWordEdges) {
  const std::string t = "\u8db3\u7403 messi\u00f1 c++ x#ai";
  EXPECT_TRUE(at_word_edges(t, 0, 3));  // the first ideograph alone
  EXPECT_TRUE(at_word_edges(t, 3, 6));
  EXPECT_TRUE(at_word_edges(t, 0, 6));
  const std::size_t m = t.find("messi");
  EXPECT_FALSE(at_word_edges(t, m, m + 5));  // followed by \u00f1
  EXPECT_TRUE(at_word_edges(t, m, m + 7));
  const std::size_t c = t.find("c++");
  EXPECT_TRUE(at_word_edges(t, c, c + 3));
  EXPECT_TRUE(at_word_edges(t, c, c + 1));       // c, then a separator
  EXPECT_FALSE(at_word_edges(t, c + 1, c + 3));  // ++ after c
  const std::size_t h = t.find("#ai");
  EXPECT_FALSE(at_word_edges(t, h, h + 3));  // x before a range starting with #
  EXPECT_TRUE(at_word_edges(t, h + 1, h + 3));
}

// Random text of ASCII words and separators, Latin-1 and Greek letters, combining marks, CJK,
// Thai, emoji, joiners, stray bytes: the fast path's words equal the general path's.
TEST(Words, FastPathEqualsTheUnicodePathOnRandomMixedText) {
  std::mt19937 rng(15);
  const std::vector<std::string> pieces = {
      "a",      "Z",          "q",      "0",      "9",
      "_",      "'",          " ",      ",",      ".",
      "-",      "\t",         "\n",     "\x7f",   std::string(1, '\0'),
      "\u00e9", "\u00c9",     "\u00df", "\u1e9e", "\u0130",
      "\u0131", "\u03a3",     "\u03c2", "\u0444", "\u0424",
      "\u0301", "\u20dd",     "\u6211", "\u7403", "\u30ab",
      "\u306e", "\u0e1f",     "\u0e38", "\u2019", "\u2014",
      "\u00a0", "\U0001F600", "\u200c", "\u200d", "\u00b2",
      "\u0660", "\xff",       "\xc3",   "\x80",   "\u212a",
      "\uff21"};
  for (int round = 0; round < 4000; ++round) {
    std::string text;
    const std::size_t len = rng() % 300;
    while (text.size() < len) {
      if (rng() % 25 == 0) {
        text.append(40 + rng() % 60, rng() % 2 ? 'a' : 'B');  // words across 64-byte blocks
      } else {
        text += pieces[rng() % pieces.size()];
      }
    }
    ASSERT_EQ(Words(text), SlowWords(text)) << "round " << round;
  }
  for (std::size_t n : {63u, 64u, 65u, 127u, 128u, 129u}) {
    for (const std::string tail : {"", "\u00e9", " \u00e9", "\u6211"}) {
      const std::string text = std::string(n, 'X') + tail;
      EXPECT_EQ(Words(text), SlowWords(text)) << n;
    }
  }
}

TEST(Words, AsciiFastPathAgreesWithAByteAtATimeScan) {
  std::mt19937 rng(7);
  const std::string alphabet = std::string("aZq09_'  ,.-\t\n\x7f") + std::string(1, '\0');
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const std::size_t len = rng() % 300;
    while (text.size() < len) text.push_back(alphabet[rng() % alphabet.size()]);
    V want;
    std::string cur;
    for (unsigned char c : text) {
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
        cur.push_back(static_cast<char>(c));
      } else if (c >= 'A' && c <= 'Z') {
        cur.push_back(static_cast<char>(c - 'A' + 'a'));
      } else if (!cur.empty()) {
        want.push_back(cur);
        cur.clear();
      }
    }
    if (!cur.empty()) want.push_back(cur);
    ASSERT_EQ(Words(text), want) << "round " << round;
  }
}

TEST(Words, BlockClassificationMatchesTheByteTable) {
  for (int c = 0; c < 256; ++c) {
    for (std::size_t j = 0; j < 64; ++j) {
      std::string block(64, c == ' ' ? 'a' : ' ');
      block[j] = static_cast<char>(c);
      const auto* p = reinterpret_cast<const unsigned char*>(block.data());
      const detail::Block fast = detail::classify_block(p, 64);
      const detail::Block slow = detail::classify_block_scalar(p, 64);
      ASSERT_EQ(fast.word, slow.word) << "byte " << c << " at " << j;
      ASSERT_EQ(fast.upper, slow.upper) << "byte " << c << " at " << j;
      ASSERT_EQ(fast.high, slow.high) << "byte " << c << " at " << j;
    }
  }
}

}  // namespace
}  // namespace speedlayer::text
