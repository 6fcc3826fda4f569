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

TEST(ForEachTerm, FoldedWordsByTheOneWordRule) {
  // text/words.h: letters, marks, numbers and `_`; apostrophes and hyphens separate.
  EXPECT_EQ(Terms("Hello, World! it's MESSI's 2024-goal"),
            (std::vector<std::string>{"hello", "world", "it", "s", "messi", "s", "2024", "goal"}));
  // Full Unicode case folding: fútbol and FÚTBOL are one term, Messiñ is not messi.
  EXPECT_EQ(Terms("CAF\xc3\x89 na\xc3\xafve F\u00daTBOL f\u00fatbol Messi\u00f1"),
            (std::vector<std::string>{"caf\xc3\xa9", "na\xc3\xafve", "f\u00fatbol", "f\u00fatbol",
                                      "messi\u00f1"}));
  EXPECT_EQ(Terms(""), std::vector<std::string>{});
  EXPECT_EQ(Terms("  ,;  "), std::vector<std::string>{});
  EXPECT_EQ(Terms("a"), std::vector<std::string>{"a"});
  EXPECT_EQ(Terms("A_very_LONG_word_beyond_the_small_string_buffer"),
            (std::vector<std::string>{"a_very_long_word_beyond_the_small_string_buffer"}));
}

}  // namespace
}  // namespace speedlayer::views
