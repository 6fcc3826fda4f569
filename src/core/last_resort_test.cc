#include "core/last_resort.h"

#include <gtest/gtest.h>

#include <new>
#include <stdexcept>
#include <thread>

namespace speedlayer {
namespace {

TEST(LastResortDeathTest, UncaughtExceptionOnAnyThreadExits1NamingIt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        install_last_resort_handler();
        set_last_resort_command("speedlayer produce");
        std::thread([] { throw std::out_of_range("number overflow parsing '1e400'"); }).join();
      },
      ::testing::ExitedWithCode(1),
      "^speedlayer produce: internal error: number overflow parsing '1e400' \\(this is a bug");
}

TEST(LastResortDeathTest, CaughtInMainExits1WithTheKind) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        try {
          throw std::bad_alloc();
        } catch (...) {
          exit_for_exception(std::current_exception());
        }
      },
      ::testing::ExitedWithCode(1), "speedlayer: internal error: out of memory");
  EXPECT_EXIT(
      {
        try {
          throw 42;
        } catch (...) {
          exit_for_exception(std::current_exception());
        }
      },
      ::testing::ExitedWithCode(1), "internal error: an exception of unknown type");
}

TEST(LastResortDeathTest, TerminateWithoutAnExceptionStillSaysSo) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        install_last_resort_handler();
        std::terminate();
      },
      ::testing::ExitedWithCode(1), "internal error: terminated without an exception");
}

}  // namespace
}  // namespace speedlayer
