// The tokenizer and the term hash (tokenizer.h).
#include <gtest/gtest.h>

#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "views/views.h"
#include "views/views_test_support.h"

namespace speedlayer::views {
namespace {

using test_support::Terms;

// The tokenizer as first written, a byte at a time: the reference for the block scanner.
std::vector<std::string> ReferenceTerms(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  auto word_byte = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '\'' || c >= 0x80;
  };
  for (unsigned char c : text) {
    if (word_byte(c)) {
      cur.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c));
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

TEST(ForEachTerm, MatchesAByteAtATimeScanOnRandomTexts) {
  std::mt19937 rng(7);
  const std::string alphabet =
      std::string("aZq09'  ,.-\t\n") + "\xc3\x80\xff\x7f" + std::string(1, '\0');
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const std::size_t len = rng() % 300;
    while (text.size() < len) {
      if (rng() % 20 == 0) {
        text.append(40 + rng() % 60, rng() % 2 ? 'a' : 'B');  // words across 64-byte blocks
      } else {
        text.push_back(alphabet[rng() % alphabet.size()]);
      }
    }
    ASSERT_EQ(Terms(text), ReferenceTerms(text)) << "round " << round;
  }
  // Words ending exactly at a block boundary, and texts of exactly one and two blocks.
  for (std::size_t n : {63u, 64u, 65u, 127u, 128u, 129u}) {
    const std::string words = std::string(n, 'X');
    EXPECT_EQ(Terms(words), ReferenceTerms(words)) << n;
    const std::string spaced = std::string(n - 1, 'y') + " z";
    EXPECT_EQ(Terms(spaced), ReferenceTerms(spaced)) << n;
  }
}

// The 16-bytes-at-a-time classification agrees with the table for every byte at every
// position of a block.
TEST(ForEachTerm, BlockClassificationMatchesTheByteTable) {
  for (int c = 0; c < 256; ++c) {
    for (std::size_t j = 0; j < 64; ++j) {
      std::string block(64, c == ' ' ? 'a' : ' ');
      block[j] = static_cast<char>(c);
      const auto* p = reinterpret_cast<const unsigned char*>(block.data());
      const detail::TermBlock fast = detail::classify_block(p, 64);
      const detail::TermBlock slow = detail::classify_block_scalar(p, 64);
      ASSERT_EQ(fast.word, slow.word) << "byte " << c << " at " << j;
      ASSERT_EQ(fast.upper, slow.upper) << "byte " << c << " at " << j;
    }
  }
}

TEST(TermHash, EveryByteCountsAndOnlyTheBytes) {
  const TermHash hash;
  for (std::size_t n = 1; n <= 40; ++n) {
    std::string a(n, 'x');
    for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<char>('a' + (i * 7) % 26);
    // Equal bytes elsewhere in memory, with other bytes around them: equal hash.
    const std::string padded = "##" + a + "##";
    EXPECT_EQ(hash(a), hash(std::string_view(padded).substr(2, n))) << n;
    for (std::size_t i = 0; i < n; ++i) {
      for (unsigned char flip : {0x01, 0x20, 0x80}) {
        std::string b = a;
        b[i] = static_cast<char>(b[i] ^ flip);
        EXPECT_NE(hash(a), hash(b)) << "length " << n << ", byte " << i;
      }
    }
    EXPECT_NE(hash(a), hash(a + '\0')) << n;  // the length counts too
  }
}

TEST(ForEachTerm, LowercasedWordsSplitOnOtherBytes) {
  EXPECT_EQ(Terms("Hello, World! it's MESSI's 2024-goal"),
            (std::vector<std::string>{"hello", "world", "it's", "messi's", "2024", "goal"}));
  // Non-ASCII bytes stay inside words; only ASCII is lowercased.
  EXPECT_EQ(Terms("CAF\xc3\x89 na\xc3\xafve"),
            (std::vector<std::string>{"caf\xc3\x89", "na\xc3\xafve"}));
  EXPECT_EQ(Terms(""), std::vector<std::string>{});
  EXPECT_EQ(Terms("  ,;  "), std::vector<std::string>{});
  EXPECT_EQ(Terms("a"), std::vector<std::string>{"a"});
  EXPECT_EQ(Terms("A_very_LONG_word_beyond_the_small_string_buffer"),
            (std::vector<std::string>{"a", "very", "long", "word", "beyond", "the", "small",
                                      "string", "buffer"}));
}

}  // namespace
}  // namespace speedlayer::views
