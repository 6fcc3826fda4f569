// Unit tests of ascii_lower: A-Z only, every other byte as it was.
#include "core/ascii.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

namespace speedlayer {
namespace {

TEST(AsciiLower, MapsOnlyUpperCaseAsciiLetters) {
  EXPECT_EQ(ascii_lower("SASL_SSL"), "sasl_ssl");
  EXPECT_EQ(ascii_lower("SCRAM-SHA-512"), "scram-sha-512");
  EXPECT_EQ(ascii_lower(""), "");
  // UTF-8 (É is C3 89) and every other non-letter byte pass through unchanged.
  EXPECT_EQ(ascii_lower("FÚTBOL Él"), "fÚtbol Él");
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::string lowered = ascii_lower(all);
  ASSERT_EQ(lowered.size(), 256u);
  for (int b = 0; b < 256; ++b) {
    const int want = b >= 'A' && b <= 'Z' ? b - 'A' + 'a' : b;
    EXPECT_EQ(static_cast<unsigned char>(lowered[static_cast<std::size_t>(b)]), want) << b;
  }
}

}  // namespace
}  // namespace speedlayer
