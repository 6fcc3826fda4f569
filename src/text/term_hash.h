// TermHash: the hash of terms (folded words) in term maps and the stop-word set, computed once
// per term occurrence and shared by both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>
#include <type_traits>

namespace speedlayer::text {

// Hash for term maps with heterogeneous lookup: terms.find(std::string_view) allocates nothing.
// Inline (8 bytes a step, then a 64-bit finalizer): terms are short words. The last 1-7 bytes
// are read with overlapping fixed-size loads, never copied byte by byte into a word: such a
// copy is a loop of byte stores followed by an 8-byte load, which stalls on store forwarding
// (it took a third of the aggregation's time, bench/README.md).
struct TermHash {
  using is_transparent = void;
  static std::uint64_t load64(const char* p) noexcept {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  }
  static std::uint32_t load32(const char* p) noexcept {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    return w;
  }
  std::size_t operator()(std::string_view s) const noexcept {
    constexpr std::uint64_t k = 0x9E3779B97F4A7C15ull;
    const char* p = s.data();
    const std::size_t size = s.size();
    std::size_t n = size;
    std::uint64_t h = k ^ (size * 0xff51afd7ed558ccdull);
    while (n >= 8) {
      h = (h ^ load64(p)) * k;
      h ^= h >> 29;
      p += 8;
      n -= 8;
    }
    if (n > 0) {
      std::uint64_t w;
      if (size >= 8) {
        w = load64(p + n - 8);  // the last 8 bytes, overlapping bytes already mixed in
      } else if (n >= 4) {
        w = load32(p) | static_cast<std::uint64_t>(load32(p + n - 4)) << 32;
      } else {
        const auto* u = reinterpret_cast<const unsigned char*>(p);
        w = u[0] | static_cast<std::uint64_t>(u[n / 2]) << 8 |
            static_cast<std::uint64_t>(u[n - 1]) << 16;
      }
      h = (h ^ w) * k;
    }
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return static_cast<std::size_t>(h);
  }
};

}  // namespace speedlayer::text

#ifdef __GLIBCXX__
// libstdc++ keeps each node's hash code only for hashers it deems slow; without it, every
// lookup re-hashes the neighbouring keys of a bucket to find the bucket's end.
template <>
struct std::__is_fast_hash<speedlayer::text::TermHash> : std::false_type {};
#endif
