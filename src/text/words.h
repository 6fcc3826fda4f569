// What a word is, for routing and for views alike: the one definition of speedlayer's words,
// and their comparison form (full Unicode case folding after NFC normalization).
//
//   std::string scratch;
//   text::for_each_word("FÚTBOL hoy: Messi's 2 goles", scratch,
//                       [](std::string_view w) { ... });  // fútbol hoy messi s 2 goles
//   text::fold("STRASSE") == text::fold("straße");          // "strasse" both
//
// The rule (Unicode 15, from utf8proc's tables):
// - Word characters: letters (L*), marks (M*), numbers (Nd, Nl, No), connector punctuation
//   (Pc: `_` and its kin) and the joiners U+200C/U+200D (ZWNJ, ZWJ, which Persian and Indic
//   scripts write inside words): what Unicode regular expressions call \w (UTS #18, Annex
//   C), plus Nl and No. A word is a maximal run of them. Everything else separates words:
//   spaces, punctuation (apostrophes ' and ’ and hyphens included: `Messi's` is `messi` and
//   `s`, `AI-powered` is `ai` and `powered`, so a keyword matches a possessive or a compound,
//   and English contractions split as most stop-word lists expect), symbols, emoji, controls,
//   and bytes that are not UTF-8.
// - Marks (and ZWNJ/ZWJ) belong to the character before them: a word never starts at a mark
//   unless a separator or the text's start comes before it.
// - Scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar):
//   each of their letters, with the marks after it, is a word by itself. So a Chinese
//   keyword `足球` matches wherever those two characters follow each other, and views count
//   characters of these scripts. Dictionary segmentation (ICU's) would give better terms for
//   these scripts; it is not done.
// - Comparison form: NFC, then Unicode full case folding (CaseFolding.txt C+F, language
//   independent): `ß` and `ẞ` fold to `ss`, Greek final `ς` to `σ`, `İ` (dotted capital I) to
//   `i̇` (i + U+0307) and `I` to `i`: Turkish dotless `ı` stays `ı`, so Turkish `ISPARTA` and
//   `ısparta` differ; a language-specific (Turkish) folding would need a per-topic language,
//   which speedlayer does not have. Compatibility forms are not merged (NFC, not NFKC):
//   fullwidth `ＡＩ` stays apart from `ai`.
// - On ASCII text this is: words are runs of [A-Za-z0-9_], lowercased. That case has its own
//   fast path (16 bytes at a time with SSE2); the tests compare it with the general one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace speedlayer::text {

// How a code point takes part in words.
enum class CharKind : std::uint8_t {
  separator,  // ends a word
  word,       // a word character
  mark,       // a word character belonging to the character before it (M*, ZWNJ, ZWJ)
  solo,       // a letter of a script written without spaces: a word by itself (with marks)
};
CharKind char_kind(char32_t cp);

// Decodes the code point at text[i] (i < size) and sets `len` to its bytes. A byte that does
// not start valid UTF-8 decodes as U+FFFD (a separator) of length 1.
char32_t decode_at(std::string_view text, std::size_t i, std::size_t& len);

// The comparison form of a string: NFC, then full case folding. Bytes that are not valid
// UTF-8 are kept as they are (ASCII letters around them still fold).
std::string fold(std::string_view s);
// Appends fold(s) to out.
void fold_append(std::string_view s, std::string& out);

// Whether the byte range [from, to) of `text` starts and ends at word boundaries, i.e. no
// word of `text` continues across either edge: the character before `from` and the first one
// of the range are not parts of one word, nor are the range's last character and the one at
// `to`. (A range starting with a separator needs a separator or the text's start before it,
// one ending with a separator a separator or the text's end after it, as a regular
// expression's \b / \B would.) Used by routing for keywords that are not single words.
bool at_word_edges(std::string_view text, std::size_t from, std::size_t to);

// Calls sink(ctx, begin, end) for each word of `text` (byte offsets), by the rule above,
// without folding. Any bytes.
using SpanSink = void (*)(void* ctx, std::size_t begin, std::size_t end);
void word_spans(std::string_view text, SpanSink sink, void* ctx);

template <class F>
void for_each_word_span(std::string_view text, F&& f) {
  word_spans(
      text,
      [](void* ctx, std::size_t b, std::size_t e) {
        (*static_cast<std::remove_reference_t<F>*>(ctx))(b, e);
      },
      const_cast<void*>(static_cast<const void*>(&f)));
}

// Calls f(std::string_view word) for each word of `text`, folded (the term form). Words are
// views into `text` when already folded (lower-case ASCII), else into `scratch`, valid until
// the next call of f. An f that takes (std::string_view word, bool ascii) also learns, for free,
// that the word is ASCII when `ascii` is true (the fast path's words); false says nothing
// (a word from the Unicode path may still be ASCII).
template <class F>
void for_each_word(std::string_view text, std::string& scratch, F&& f);

// Words of a text that is not pure ASCII (any bytes): for_each_word's slow path, one run of
// non-separator bytes (as the fast path sees them) at a time.
using WordSink = void (*)(void* ctx, std::string_view word);
void unicode_words(std::string_view run, std::string& scratch, WordSink sink, void* ctx);

// ---- template implementation ------------------------------------------------------------
namespace detail {
// 0: separator, 1: word byte kept as is ([a-z0-9_]), 2: ASCII upper case, 3: a byte >= 0x80.
inline constexpr struct ByteClass {
  unsigned char v[256];
  constexpr ByteClass() : v{} {
    for (int c = 0; c < 256; ++c) {
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') v[c] = 1;
      if (c >= 'A' && c <= 'Z') v[c] = 2;
      if (c >= 0x80) v[c] = 3;
    }
  }
} kByteClass;

// A 64-byte block of text as bit masks (bit j = byte base + j): candidate word bytes
// ([A-Za-z0-9_] and every byte >= 0x80), ASCII upper case, bytes >= 0x80. Bytes past the end
// of the text are separators.
struct Block {
  std::uint64_t word = 0, upper = 0, high = 0;
};
inline Block classify_block_scalar(const unsigned char* p, std::size_t len) {
  Block b;
  for (std::size_t j = 0; j < len && j < 64; ++j) {
    const unsigned c = kByteClass.v[p[j]];
    b.word |= static_cast<std::uint64_t>(c != 0) << j;
    b.upper |= static_cast<std::uint64_t>(c == 2) << j;
    b.high |= static_cast<std::uint64_t>(c == 3) << j;
  }
  return b;
}
#ifdef __SSE2__
inline Block classify_block(const unsigned char* p, std::size_t len) {
  if (len < 64) {
    // The text's last, partial block: a zero-padded copy (NUL is a separator).
    alignas(16) unsigned char tail[64] = {};
    if (len > 0) std::memcpy(tail, p, len);  // p may be null for an empty text
    return classify_block(tail, 64);
  }
  Block b;
  const __m128i lower_bit = _mm_set1_epi8(0x20);
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    const __m128i folded = _mm_or_si128(v, lower_bit);  // A-Z -> a-z; no other byte lands there
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(folded, _mm_set1_epi8('a' - 1)),
                                         _mm_cmplt_epi8(folded, _mm_set1_epi8('z' + 1)));
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    const __m128i underscore = _mm_cmpeq_epi8(v, _mm_set1_epi8('_'));
    const unsigned high = static_cast<unsigned>(_mm_movemask_epi8(v));  // bytes >= 0x80
    const __m128i upper = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('A' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8('Z' + 1)));
    const unsigned word = static_cast<unsigned>(_mm_movemask_epi8(
                              _mm_or_si128(_mm_or_si128(letter, digit), underscore))) |
                          high;
    b.word |= static_cast<std::uint64_t>(word) << (16 * k);
    b.upper |= static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(upper)))
               << (16 * k);
    b.high |= static_cast<std::uint64_t>(high) << (16 * k);
  }
  return b;
}
#else
inline Block classify_block(const unsigned char* p, std::size_t len) {
  return classify_block_scalar(p, len);
}
#endif

template <class F>
[[gnu::always_inline]] inline void call_word(F& f, std::string_view word, bool ascii) {
  if constexpr (std::is_invocable_v<F&, std::string_view, bool>) {
    f(word, ascii);
  } else {
    f(word);
  }
}
}  // namespace detail

// The text is classified 64 bytes at a time into bit masks and runs of candidate bytes are
// found with count-trailing-zeros (a byte-at-a-time scan mispredicted a branch at the end of
// every word, bench/README.md). A run without bytes >= 0x80 is an ASCII word: passed as a view
// into `text` when it has no upper case, else lowercased into `scratch`. A run with such bytes
// holds zero or more words by the Unicode rule (its edges are ASCII separators, which end
// words in either rule): unicode_words.
template <class F>
void for_each_word(std::string_view text, std::string& scratch, F&& f) {
  const auto* const p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t base = 0;  // offset of the current block
  detail::Block block = detail::classify_block(p, n);
  std::size_t pos = 0;  // base <= pos < base + 64 while looking for the next run
  for (;;) {
    std::uint64_t starts = block.word & (~std::uint64_t{0} << (pos - base));
    while (starts == 0) {
      base += 64;
      if (base >= n) return;
      block = detail::classify_block(p + base, n - base);
      starts = block.word;
    }
    const std::size_t begin = base + static_cast<std::size_t>(__builtin_ctzll(starts));
    std::uint64_t from = ~std::uint64_t{0} << (begin - base);
    std::uint64_t ends = ~block.word & from;
    std::uint64_t upper = 0, high = 0;
    while (ends == 0) {
      upper |= block.upper & from;
      high |= block.high & from;
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
      const std::uint64_t before = from & ((std::uint64_t{1} << e) - 1);  // e < 64
      upper |= block.upper & before;
      high |= block.high & before;
    }
    const std::string_view run(text.data() + begin, end - begin);
    if (high != 0) {
      unicode_words(
          run, scratch,
          [](void* ctx, std::string_view w) {
            detail::call_word(*static_cast<std::remove_reference_t<F>*>(ctx), w, false);
          },
          const_cast<void*>(static_cast<const void*>(&f)));
    } else if (upper == 0) {
      detail::call_word(f, run, true);
    } else {
      scratch.assign(run);
      for (char& c : scratch)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      detail::call_word(f, std::string_view(scratch), true);
    }
    if (end >= n) return;
    pos = end;
  }
}

}  // namespace speedlayer::text
