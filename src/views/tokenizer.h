// The tokenizer (for_each_term: text to lowercased words) and the hash of the term maps
// (TermHash). Part of views.h (include that one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace speedlayer::views {

// Lowercased ASCII words ([a-z0-9'] runs; other bytes separate; non-ASCII UTF-8 letters kept
// inside words, lowercased only for ASCII). Calls f(std::string_view term) per occurrence.
template <class F>
void for_each_term(std::string_view text, F&& f);

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
}  // namespace speedlayer::views

#ifdef __GLIBCXX__
// libstdc++ keeps each node's hash code only for hashers it deems slow; without it, every
// lookup re-hashes the neighbouring keys of a bucket to find the bucket's end.
template <>
struct std::__is_fast_hash<speedlayer::views::TermHash> : std::false_type {};
#endif

namespace speedlayer::views {

// ---- template implementation ------------------------------------------------------------
namespace detail {
// 0: separator, 1: word byte kept as is ([a-z0-9'] and bytes >= 0x80), 2: ASCII upper case.
inline constexpr struct TermClass {
  unsigned char v[256];
  constexpr TermClass() : v{} {
    for (int c = 0; c < 256; ++c) {
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\'' || c >= 0x80) v[c] = 1;
      if (c >= 'A' && c <= 'Z') v[c] = 2;
    }
  }
} kTermClass;

// A 64-byte block of text as bit masks (bit j = byte base + j): word bytes, and ASCII upper
// case among them. Bytes past the end of the text are separators.
struct TermBlock {
  std::uint64_t word = 0, upper = 0;
};
inline TermBlock classify_block_scalar(const unsigned char* p, std::size_t len) {
  TermBlock b;
  for (std::size_t j = 0; j < len && j < 64; ++j) {
    const unsigned c = kTermClass.v[p[j]];
    b.word |= static_cast<std::uint64_t>(c != 0) << j;
    b.upper |= static_cast<std::uint64_t>(c >> 1) << j;
  }
  return b;
}
#ifdef __SSE2__
// 16 bytes at a time, the same classes as kTermClass by range compares (signed bytes: the
// bytes >= 0x80 are the negative ones).
inline TermBlock classify_block(const unsigned char* p, std::size_t len) {
  if (len < 64) {
    // The text's last, partial block: a zero-padded copy (NUL is a separator) in SSE2 too,
    // not byte by byte (28 of a 92-byte text's bytes were).
    alignas(16) unsigned char tail[64] = {};
    if (len > 0) std::memcpy(tail, p, len);  // p may be null for an empty text (a null value)
    return classify_block(tail, 64);
  }
  TermBlock b;
  const __m128i lower_bit = _mm_set1_epi8(0x20);
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    const __m128i folded = _mm_or_si128(v, lower_bit);  // A-Z -> a-z; no other byte lands there
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(folded, _mm_set1_epi8('a' - 1)),
                                         _mm_cmplt_epi8(folded, _mm_set1_epi8('z' + 1)));
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    const __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('\''));
    const __m128i high = _mm_cmplt_epi8(v, _mm_setzero_si128());
    const __m128i upper = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('A' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8('Z' + 1)));
    const __m128i word = _mm_or_si128(_mm_or_si128(letter, digit), _mm_or_si128(quote, high));
    b.word |= static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(word)))
              << (16 * k);
    b.upper |= static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(upper)))
               << (16 * k);
  }
  return b;
}
#else
inline TermBlock classify_block(const unsigned char* p, std::size_t len) {
  return classify_block_scalar(p, len);
}
#endif
}  // namespace detail

// Terms without upper case are passed as views into `text` (no copy); others are lowercased
// into one buffer reused across the call. The text is classified 64 bytes at a time into bit
// masks and words are found with count-trailing-zeros: a byte-at-a-time scan mispredicted a
// branch at the end of every word, which made it the aggregation's largest cost
// (bench/README.md).
template <class F>
void for_each_term(std::string_view text, F&& f) {
  const auto* const p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::string lower;
  std::size_t base = 0;  // offset of the current block
  detail::TermBlock block = detail::classify_block(p, n);
  std::size_t pos = 0;  // base <= pos < base + 64 while looking for the next word
  for (;;) {
    // The next word byte at or after pos.
    std::uint64_t starts = block.word & (~std::uint64_t{0} << (pos - base));
    while (starts == 0) {
      base += 64;
      if (base >= n) return;
      block = detail::classify_block(p + base, n - base);
      starts = block.word;
    }
    const std::size_t begin = base + static_cast<std::size_t>(__builtin_ctzll(starts));
    // The next separator after it (the end of the text when none).
    std::uint64_t from = ~std::uint64_t{0} << (begin - base);
    std::uint64_t ends = ~block.word & from;
    std::uint64_t upper = 0;
    while (ends == 0) {
      upper |= block.upper & from;
      base += 64;
      if (base >= n) break;
      block = detail::classify_block(p + base, n - base);
      from = ~std::uint64_t{0};
      ends = ~block.word;
    }
    std::size_t end = n;
    if (ends != 0) {
      const unsigned e = static_cast<unsigned>(__builtin_ctzll(ends));
      end = base + e;
      upper |= block.upper & from & ((std::uint64_t{1} << e) - 1);  // e < 64
    }
    if (upper == 0) {
      f(std::string_view(text.data() + begin, end - begin));
    } else {
      lower.assign(text.data() + begin, end - begin);
      for (char& c : lower)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      f(std::string_view(lower));
    }
    if (end >= n) return;
    pos = end;
  }
}

}  // namespace speedlayer::views
