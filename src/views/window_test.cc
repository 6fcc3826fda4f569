// Window alignment (window.h).
#include <gtest/gtest.h>

#include <cstdint>

#include "views/views.h"

namespace speedlayer::views {
namespace {

TEST(WindowStart, AlignsToTheEpochIncludingNegativeTimes) {
  EXPECT_EQ(window_start(0, 60'000), 0);
  EXPECT_EQ(window_start(1, 60'000), 0);
  EXPECT_EQ(window_start(59'999, 60'000), 0);
  EXPECT_EQ(window_start(60'000, 60'000), 60'000);
  EXPECT_EQ(window_start(1'704'164'645'678, 60'000), 1'704'164'640'000);
  EXPECT_EQ(window_start(-1, 60'000), -60'000);
  EXPECT_EQ(window_start(-59'999, 60'000), -60'000);
  EXPECT_EQ(window_start(-60'000, 60'000), -60'000);
  EXPECT_EQ(window_start(-60'001, 60'000), -120'000);
  EXPECT_EQ(window_start(7, 1), 7);
}

}  // namespace
}  // namespace speedlayer::views
