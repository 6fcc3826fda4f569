// Checks for the libFuzzer targets (src/<module>/*_fuzz.cc, cmake/fuzz.cmake).
//
// A property that does not hold must crash the process: libFuzzer (and the replay test that
// feeds the checked-in corpus through the same function) only notices crashes. SL_FUZZ_CHECK
// prints what failed with the values that show why, then aborts, so the saved input and the
// message together are a complete bug report.
//
//   SL_FUZZ_CHECK(decoded == input, "round trip changed " + hex(input));
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace speedlayer::fuzz {

// `bytes` as printable text: ASCII graphic characters as they are, everything else as \xHH, cut
// after `limit` bytes (fuzz inputs can be kilobytes long).
inline std::string shown(std::string_view bytes, std::size_t limit = 300) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (bytes.size() > limit) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

[[noreturn]] inline void check_failed(const char* condition, const char* file, int line,
                                      const std::string& details) {
  std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n  %s\n", file, line, condition,
               details.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace speedlayer::fuzz

// The details are only built when the check fails.
#define SL_FUZZ_CHECK(condition, details)                                                          \
  do {                                                                                             \
    if (!(condition)) ::speedlayer::fuzz::check_failed(#condition, __FILE__, __LINE__, (details)); \
  } while (false)
