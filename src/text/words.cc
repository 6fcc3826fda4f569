// The word rule and folding (words.h), on utf8proc's Unicode tables.
#include "text/words.h"

#include <utf8proc.h>

#include <vector>

namespace speedlayer::text {
namespace {

// Letters of the scripts written without spaces: each one is a word by itself.
bool no_space_script(char32_t cp) {
  return (cp >= 0x0E00 && cp <= 0x0EFF) ||  // Thai, Lao
         (cp >= 0x1000 && cp <= 0x109F) ||  // Myanmar
         (cp >= 0x1780 && cp <= 0x17FF) ||  // Khmer
         (cp >= 0x19E0 && cp <= 0x19FF) ||  // Khmer symbols
         (cp >= 0x2E80 && cp <= 0x2FDF) ||  // CJK radicals, Kangxi radicals
         (cp >= 0x3005 && cp <= 0x3007) ||  // 々 〆 〇
         (cp >= 0x3021 && cp <= 0x3029) ||  // Hangzhou numerals
         (cp >= 0x3031 && cp <= 0x3035) ||  // kana repeat marks
         (cp >= 0x3038 && cp <= 0x303C) || (cp >= 0x3040 && cp <= 0x30FF) ||  // Hiragana, Katakana
         (cp >= 0x31F0 && cp <= 0x31FF) ||    // Katakana phonetic extensions
         (cp >= 0x3400 && cp <= 0x4DBF) ||    // CJK extension A
         (cp >= 0x4E00 && cp <= 0x9FFF) ||    // CJK unified ideographs
         (cp >= 0xA9E0 && cp <= 0xA9FF) ||    // Myanmar extended-B
         (cp >= 0xAA60 && cp <= 0xAA7F) ||    // Myanmar extended-A
         (cp >= 0xF900 && cp <= 0xFAFF) ||    // CJK compatibility ideographs
         (cp >= 0xFF66 && cp <= 0xFF9D) ||    // halfwidth Katakana
         (cp >= 0x1B000 && cp <= 0x1B16F) ||  // kana supplement, extended
         (cp >= 0x20000 && cp <= 0x3FFFF);    // CJK extensions B-H, compatibility supplement
}

CharKind kind_of_category(char32_t cp) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return no_space_script(cp) ? CharKind::solo : CharKind::word;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
      return CharKind::mark;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
    case UTF8PROC_CATEGORY_PC:
      return CharKind::word;
    default:
      return cp == 0x200C || cp == 0x200D ? CharKind::mark : CharKind::separator;
  }
}

// The kind of the character before byte `i` for joining purposes: a mark's base (a run of
// marks after a separator or at the start counts as a word character). `i` > 0.
CharKind base_kind_before(std::string_view text, std::size_t i) {
  bool marks = false;
  while (i > 0) {
    std::size_t start = i - 1;
    // Back to the start of the code point (at most 3 continuation bytes).
    while (start > 0 && i - start < 4 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
      --start;
    std::size_t len = 0;
    char32_t cp = decode_at(text, start, len);
    if (start + len != i) {  // no code point ends at i: its last byte is a stray one
      start = i - 1;
      cp = 0xFFFD;
    }
    const CharKind k = char_kind(cp);
    // Marks after a separator (or at the start) begin a word of their own.
    if (k != CharKind::mark) return marks && k == CharKind::separator ? CharKind::word : k;
    marks = true;
    i = start;
  }
  return CharKind::word;  // only marks before
}

// Whether a word continues from a character of (base) kind `a` into one of kind `b`.
bool joins(CharKind a, CharKind b) {
  if (a == CharKind::separator || b == CharKind::separator) return false;
  if (b == CharKind::mark) return true;
  return a == CharKind::word && b == CharKind::word;
}

// NFC + case folding of valid UTF-8 `s` appended to out; false if utf8proc refuses it.
bool fold_valid(std::string_view s, std::string& out) {
  thread_local std::vector<utf8proc_int32_t> buffer;
  const auto options =
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD);
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  const auto size = static_cast<utf8proc_ssize_t>(s.size());
  if (buffer.size() < s.size() + 8) buffer.resize(s.size() + 8);
  utf8proc_ssize_t n = utf8proc_decompose(bytes, size, buffer.data(),
                                          static_cast<utf8proc_ssize_t>(buffer.size()), options);
  if (n < 0) return false;
  if (static_cast<std::size_t>(n) > buffer.size()) {
    buffer.resize(static_cast<std::size_t>(n));
    n = utf8proc_decompose(bytes, size, buffer.data(), n, options);
    if (n < 0) return false;
  }
  n = utf8proc_reencode(buffer.data(), n, options);  // composes, then UTF-8 in place
  if (n < 0) return false;
  out.append(reinterpret_cast<const char*>(buffer.data()), static_cast<std::size_t>(n));
  return true;
}

void lower_ascii_append(std::string_view s, std::string& out) {
  const std::size_t at = out.size();
  out.append(s);
  for (std::size_t i = at; i < out.size(); ++i)
    if (out[i] >= 'A' && out[i] <= 'Z') out[i] = static_cast<char>(out[i] - 'A' + 'a');
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

}  // namespace

CharKind char_kind(char32_t cp) {
  if (cp < 0x80) {
    const unsigned char c = detail::kByteClass.v[cp];
    return c == 0 ? CharKind::separator : CharKind::word;
  }
  return kind_of_category(cp);
}

char32_t decode_at(std::string_view text, std::size_t i, std::size_t& len) {
  const auto c = static_cast<unsigned char>(text[i]);
  if (c < 0x80) {
    len = 1;
    return c;
  }
  utf8proc_int32_t cp = -1;
  const utf8proc_ssize_t n =
      utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                       static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
  if (n <= 0 || cp < 0) {
    len = 1;
    return 0xFFFD;
  }
  len = static_cast<std::size_t>(n);
  return static_cast<char32_t>(cp);
}

void fold_append(std::string_view s, std::string& out) {
  if (is_ascii(s)) {
    lower_ascii_append(s, out);
    return;
  }
  // Valid stretches folded, stray bytes kept (decode_at says U+FFFD of length 1 for them).
  std::size_t valid_from = 0, i = 0;
  auto flush = [&](std::size_t to) {
    if (to > valid_from) {
      const std::string_view piece = s.substr(valid_from, to - valid_from);
      if (!fold_valid(piece, out)) lower_ascii_append(piece, out);
    }
  };
  while (i < s.size()) {
    std::size_t len = 0;
    const char32_t cp = decode_at(s, i, len);
    if (cp == 0xFFFD && len == 1 && static_cast<unsigned char>(s[i]) >= 0x80) {
      flush(i);
      out.push_back(s[i]);
      valid_from = i + 1;
    }
    i += len;
  }
  flush(s.size());
}

std::string fold(std::string_view s) {
  std::string out;
  fold_append(s, out);
  return out;
}

bool at_word_edges(std::string_view text, std::size_t from, std::size_t to) {
  if (from >= to || to > text.size()) return false;
  std::size_t len = 0;
  if (from > 0) {
    const CharKind before = base_kind_before(text, from);
    const CharKind first = char_kind(decode_at(text, from, len));
    // A range starting with a separator needs a non-word character before it (\B).
    if (first == CharKind::separator ? before != CharKind::separator : joins(before, first))
      return false;
  }
  if (to < text.size()) {
    const CharKind last = base_kind_before(text, to);
    const CharKind next = char_kind(decode_at(text, to, len));
    if (last == CharKind::separator ? next != CharKind::separator : joins(last, next)) return false;
  }
  return true;
}

void word_spans(std::string_view text, SpanSink sink, void* ctx) {
  bool in_word = false;
  std::size_t begin = 0;
  CharKind base = CharKind::separator;  // kind of the current word's last base character
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t len = 0;
    const CharKind k = char_kind(decode_at(text, i, len));
    if (in_word && !joins(base, k)) {
      sink(ctx, begin, i);
      in_word = false;
    }
    if (!in_word && k != CharKind::separator) {
      in_word = true;
      begin = i;
      base = k == CharKind::mark ? CharKind::word : k;
    } else if (in_word && k != CharKind::mark) {
      base = k;
    }
    i += len;
  }
  if (in_word) sink(ctx, begin, text.size());
}

void unicode_words(std::string_view run, std::string& scratch, WordSink sink, void* ctx) {
  struct State {
    std::string_view run;
    std::string& scratch;
    WordSink sink;
    void* ctx;
  } state{run, scratch, sink, ctx};
  word_spans(
      run,
      [](void* c, std::size_t b, std::size_t e) {
        auto& s = *static_cast<State*>(c);
        const std::string_view word = s.run.substr(b, e - b);
        bool folded = true;  // lower-case ASCII: already in its comparison form
        for (unsigned char ch : word) {
          if (ch >= 0x80 || (ch >= 'A' && ch <= 'Z')) {
            folded = false;
            break;
          }
        }
        if (folded) {
          s.sink(s.ctx, word);
          return;
        }
        s.scratch.clear();
        fold_append(word, s.scratch);
        s.sink(s.ctx, s.scratch);
      },
      &state);
}

}  // namespace speedlayer::text
