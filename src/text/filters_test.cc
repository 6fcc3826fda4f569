// Term filters (filters.h): built-in lists, files, lengths, numbers.
#include "text/filters.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "text/term_hash.h"
#include "text/words.h"

namespace speedlayer::text {
namespace {

bool Keep(const TermFilter& f, std::string_view term) {
  return f.keep(term, TermHash{}(term));
}

std::shared_ptr<const TermFilter> Build(FilterSpec spec) {
  auto f = TermFilter::build(spec);
  EXPECT_TRUE(f) << f.error().message();
  return f ? *f : TermFilter::none();
}

TEST(TermFilter, BuiltInListsCoverTheSevenLanguages) {
  ASSERT_EQ(builtin_stop_lists().size(), 7u);
  EXPECT_EQ(default_stop_words(), "en,es,pt,fr,de,it,ru");
  const auto f = Build({});
  for (const char* w : {"the", "and", "in", "an", "is", "a", "de", "la", "que", "und", "der", "le",
                        "il", "\u0438", "\u043d\u0435", "n\u00e3o", "\u00e9l", "don"}) {
    EXPECT_FALSE(Keep(*f, fold(w))) << w;
  }
  for (const char* w : {"messi", "football", "basketball", "ai", "f\u00fatbol", "war", "man",
                        "\u0444\u0443\u0442\u0431\u043e\u043b", "model"}) {
    EXPECT_TRUE(Keep(*f, fold(w))) << w;
  }
  EXPECT_GT(f->stop_word_count(), 800u);
}

TEST(TermFilter, MinimumCharactersCountCodePointsNotBytes) {
  FilterSpec spec{.stop_words = "none", .min_term_chars = 3, .drop_numbers = false};
  const auto f = Build(spec);
  EXPECT_FALSE(Keep(*f, "ab"));
  EXPECT_TRUE(Keep(*f, "abc"));
  EXPECT_FALSE(Keep(*f, "\u00e9\u00e9"));  // 4 bytes, 2 characters
  EXPECT_TRUE(Keep(*f, "\u00e9\u00e9\u00e9"));
  EXPECT_TRUE(Keep(*f, "\u7403"));  // a Han character is a word by itself
}

TEST(TermFilter, DropNumbers) {
  FilterSpec spec{.stop_words = "none", .min_term_chars = 1, .drop_numbers = true};
  const auto f = Build(spec);
  EXPECT_FALSE(Keep(*f, "2024"));
  EXPECT_FALSE(Keep(*f, "\u0661\u0662"));  // Arabic-Indic digits
  EXPECT_FALSE(Keep(*f, "\u00bd"));
  EXPECT_TRUE(Keep(*f, "covid19"));
  EXPECT_TRUE(Keep(*f, "x"));
  spec.drop_numbers = false;
  EXPECT_TRUE(Keep(*Build(spec), "2024"));
}

TEST(TermFilter, FilesReplaceOrExtendTheBuiltInLists) {
  const std::string path = ::testing::TempDir() + "/stop.txt";
  {
    std::ofstream out(path);
    out << "| a comment\nMessi   | a player\n# another comment\nF\u00daTBOL Goal\n";
  }
  const auto replaced = Build({.stop_words = path});
  EXPECT_FALSE(Keep(*replaced, "messi"));
  EXPECT_FALSE(Keep(*replaced, "f\u00fatbol"));
  EXPECT_FALSE(Keep(*replaced, "goal"));
  EXPECT_TRUE(Keep(*replaced, "the"));  // the built-in lists are replaced
  EXPECT_EQ(replaced->stop_word_sources(), std::vector<std::string>{path});

  const auto extended = Build({.stop_words = "+" + path});
  EXPECT_FALSE(Keep(*extended, "messi"));
  EXPECT_FALSE(Keep(*extended, "the"));
  EXPECT_EQ(extended->stop_word_sources().size(), 8u);

  const auto english = Build({.stop_words = "en"});
  EXPECT_FALSE(Keep(*english, "the"));
  EXPECT_TRUE(Keep(*english, "und"));

  auto missing = TermFilter::build({.stop_words = "en,/nonexistent/stop.txt"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::io);
  EXPECT_NE(missing.error().where.find("/nonexistent/stop.txt"), std::string::npos);
  std::remove(path.c_str());
}

// keep_ascii (for words the tokenizer's fast path found ASCII) answers as keep does: every
// ASCII word of the built-in lists, and random terms of [a-z0-9_] (numbers, short and long
// ones), under several filters.
TEST(TermFilter, KeepAsciiAgreesWithKeep) {
  std::vector<std::string> terms = {"_", "0", "00", "2024", "a1", "1a", "x", "xy", "the", "thex"};
  std::string scratch;
  for (const BuiltinList& l : builtin_stop_lists()) {
    for_each_word(l.body, scratch, [&](std::string_view w, bool ascii) {
      if (ascii) terms.emplace_back(w);
    });
  }
  std::mt19937 rng(15);
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_";
  for (int i = 0; i < 20000; ++i) {
    std::string t;
    const std::size_t len = 1 + rng() % (i % 2 ? 4 : 16);
    for (std::size_t k = 0; k < len; ++k) t += alphabet[rng() % (i % 3 ? 26 : alphabet.size())];
    terms.push_back(t);
  }
  std::vector<std::shared_ptr<const TermFilter>> filters = {Build({}), TermFilter::none()};
  for (const std::size_t min : {0, 1, 2, 3, 5}) {
    for (const bool numbers : {false, true}) {
      for (const char* stop : {"none", "en", "+ru"}) {
        filters.push_back(
            Build({.stop_words = stop, .min_term_chars = min, .drop_numbers = numbers}));
      }
    }
  }
  std::size_t dropped = 0;
  for (const auto& f : filters) {
    for (const std::string& t : terms) {
      const std::uint64_t h = TermHash{}(t);
      ASSERT_EQ(f->keep_ascii(t, h), f->keep(t, h))
          << t << " stop=" << f->spec().stop_words << " min=" << f->spec().min_term_chars
          << " numbers=" << f->spec().drop_numbers;
      dropped += !f->keep(t, h);
    }
  }
  EXPECT_GT(dropped, 1000u);  // the cases that drop were reached
}

TEST(TermFilter, NoneKeepsEverything) {
  const auto none = TermFilter::none();
  EXPECT_TRUE(Keep(*none, "the"));
  EXPECT_TRUE(Keep(*none, "1"));
  const auto off = Build({.stop_words = "none", .min_term_chars = 1, .drop_numbers = false});
  EXPECT_TRUE(Keep(*off, "the"));
  EXPECT_EQ(off->stop_word_count(), 0u);
}

}  // namespace
}  // namespace speedlayer::text
