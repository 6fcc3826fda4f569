#include "routing/matcher.h"

#include <hs/hs.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "text/term_hash.h"
#include "text/words.h"

namespace speedlayer::routing {
namespace {

// [A-Za-z0-9_], as Hyperscan's \w without HS_FLAG_UCP: bytes outside ASCII are non-word.
constexpr std::array<bool, 256> kWordChar = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[static_cast<std::size_t>(c)] =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  return t;
}();

bool is_word_char(unsigned char c) {
  return kWordChar[c];
}

bool all_word_chars(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char ch) { return is_word_char(static_cast<unsigned char>(ch)); });
}

// Whether any byte is >= 0x80 (16 bytes at a time with SSE2).
bool has_high_byte(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
#if defined(__SSE2__)
  for (; end - p >= 16; p += 16) {
    if (_mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))) != 0) return true;
  }
#endif
  for (; p < end; ++p)
    if (*p >= 0x80) return true;
  return false;
}

// Whether folded `keyword` is one word by the word rule (text/words.h).
bool is_one_word(std::string_view keyword) {
  std::size_t spans = 0;
  bool whole = false;
  text::for_each_word_span(keyword, [&](std::size_t b, std::size_t e) {
    ++spans;
    whole = b == 0 && e == keyword.size();
  });
  return spans == 1 && whole;
}

// Hyperscan's limit on a pattern's length, which the old one-regex-per-keyword matcher hit;
// kept for every keyword so the same rules files are accepted as before (and a runaway
// keyword stays an error naming its line).
constexpr std::size_t kMaxKeywordBytes = 16000;

std::string where_of(const Route& route, std::size_t index) {
  if (route.line > 0) return "line " + std::to_string(route.line);
  return "route " + std::to_string(index + 1);
}

// A keyword as shown in an error message: long ones are cut.
std::string shown(const std::string& keyword) {
  return keyword.size() <= 60 ? keyword : keyword.substr(0, 57) + "...";
}

// ---- Word keywords: runs of word characters looked up in a hash table ----------------------
//
// A run is a maximal stretch of word characters in the text. Its key is (head, tail, length):
// head = its first min(length, 8) bytes and tail = its last 8 bytes if it is longer than 8
// (else 0), both folded and read as little-endian words. Folding a word character is `| 0x20`:
// it maps A-Z to a-z, leaves a-z and 0-9 alone and sends '_' (0x5f) to 0x7f, which no other word
// character reaches; so two runs are equal ignoring ASCII case exactly when their folded bytes
// are. Runs up to 16 bytes are equal exactly when their keys are; longer ones also compare the
// middle.

constexpr std::uint64_t kFold8 = 0x2020202020202020ULL;

[[gnu::always_inline]] inline std::uint64_t load8(const unsigned char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;  // x86-64 (Hyperscan's platform): little-endian, byte 0 in the low bits
}

// The folded head of the run p[start, start + len), with branch-free loads: every load is 8
// bytes inside p[0, readable), and readable >= 8.
[[gnu::always_inline]] inline std::uint64_t run_head(const unsigned char* p, std::size_t readable,
                                                     std::size_t start, std::size_t len) {
  // The 8 bytes at `start`, or, near the end, the last 8 readable bytes shifted down so the
  // run's first byte comes first.
  const std::size_t at = std::min(start, readable - 8);
  const std::uint64_t head = load8(p + at) >> (8 * (start - at));
  return (head | kFold8) & (~std::uint64_t{0} >> (8 * (8 - std::min<std::size_t>(len, 8))));
}

// The folded tail of the run p[start, start + len).
inline std::uint64_t run_tail(const unsigned char* p, std::size_t start, std::size_t len) {
  return len > 8 ? load8(p + start + len - 8) | kFold8 : 0;
}

// Hash for the filter: cheap, from the head and length only (runs that share them are rare).
[[gnu::always_inline]] inline std::uint64_t filter_hash(std::uint64_t head, std::size_t len) {
  return (head + static_cast<std::uint64_t>(len) * 0xff51afd7ed558ccdULL) * 0x9e3779b97f4a7c15ULL;
}

// Hash for the slots: the whole key, so that keywords sharing their first 8 bytes spread out.
inline std::uint64_t slot_hash(std::uint64_t head, std::uint64_t tail, std::size_t len) {
  std::uint64_t h = head ^ std::rotl(tail, 29) ^ (static_cast<std::uint64_t>(len) << 56);
  h *= 0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 29);
}

struct WordSlot {
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  std::uint32_t length = 0;  // 0: empty slot
  std::uint32_t route = 0;
  std::uint32_t pool = 0;  // offset of the folded keyword in Rules::pool when length > 16
};

// ---- Text scanning: bit i of a mask says whether byte i is a word character -----------------

// The word-character mask of the 64 bytes at p (all readable), and in `high` the mask of its
// bytes >= 0x80 (the same loads: the scan that finds the runs also tells whether the text is
// ASCII, so match() needs no separate pass for that).
[[gnu::always_inline]] inline std::uint64_t word_mask64(const unsigned char* p,
                                                        std::uint64_t& high) {
#if defined(__SSE2__)
  std::uint64_t mask = 0;
  std::uint64_t hi = 0;
  const __m128i fold = _mm_set1_epi8(0x20);
  const __m128i letter_shift = _mm_set1_epi8(static_cast<char>(0x80 - 'a'));
  const __m128i letter_limit = _mm_set1_epi8(static_cast<char>(-128 + 26));
  const __m128i digit_shift = _mm_set1_epi8(static_cast<char>(0x80 - '0'));
  const __m128i digit_limit = _mm_set1_epi8(static_cast<char>(-128 + 10));
  const __m128i underscore = _mm_set1_epi8('_');
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    // (x | 0x20) in 'a'..'z', x in '0'..'9': shifted so the range starts at -128, then one
    // signed compare.
    const __m128i letter =
        _mm_cmplt_epi8(_mm_add_epi8(_mm_or_si128(x, fold), letter_shift), letter_limit);
    const __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(x, digit_shift), digit_limit);
    const __m128i word = _mm_or_si128(_mm_or_si128(letter, digit), _mm_cmpeq_epi8(x, underscore));
    mask |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(_mm_movemask_epi8(word)))
            << (16 * k);
    hi |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(_mm_movemask_epi8(x))) << (16 * k);
  }
  high = hi;
  return mask;
#else
  std::uint64_t mask = 0;
  std::uint64_t hi = 0;
  for (int i = 0; i < 64; ++i) {
    mask |= static_cast<std::uint64_t>(kWordChar[p[i]]) << i;
    hi |= static_cast<std::uint64_t>(p[i] >> 7) << i;
  }
  high = hi;
  return mask;
#endif
}

// best_word_route's answer for a text with a byte >= 0x80: not a route (routes are numbered
// from 0 and far fewer).
constexpr unsigned int kNotAscii = UINT_MAX - 1;

}  // namespace

// Everything compile() derives from the table; read-only afterwards, so clones share it.
struct Matcher::Rules {
  // Keywords of word characters only: open addressing, linear probing, at most half full.
  std::vector<WordSlot> slots;  // size: a power of two, or empty when there are no such keywords
  unsigned int shift = 64;      // slot of a hash: hash >> shift
  std::string pool;             // folded keywords longer than 16 bytes
  // One bit per hash prefix (hash >> filter_shift), set for each word keyword: a run whose bit
  // is clear is no keyword. Far smaller than `slots` (16 bits per keyword), so it stays in the
  // L1 cache and most runs of a text never touch `slots`.
  std::vector<std::uint64_t> filter;
  unsigned int filter_shift = 64;

  // Keywords with a non-word byte, by Hyperscan pattern id.
  struct Literal {
    unsigned int route;
    unsigned int length;  // bytes: a match starts at `to - length`
    std::string lowered;  // the keyword in ASCII lower case, for the plain fallback scan
  };
  std::vector<Literal> literals;
  unsigned int literal_min_route = UINT_MAX;
  // The same among the literals that are pure ASCII: the only ones an ASCII text can hold (a
  // folded ASCII text is ASCII), so an ASCII text skips the scan when none could win.
  unsigned int ascii_literal_min_route = UINT_MAX;

  std::size_t min_length = SIZE_MAX;  // shortest folded keyword: shorter ASCII texts cannot match

  // Every word keyword, folded, for texts that are not pure ASCII (their words are looked up
  // after folding the text); the ASCII ones are also in `slots`.
  std::unordered_map<std::string, unsigned int, text::TermHash, std::equal_to<>> unicode_words;

  void add_word(std::string_view keyword, unsigned int route);
  // Lowest route among the word keywords equal to a run of `text`, stopping early at route 0;
  // UINT_MAX if none; kNotAscii as soon as a byte >= 0x80 shows (before any run next to it is
  // taken: a run is looked up only once the blocks holding it and the byte after it were seen
  // to be ASCII, so route 0 found early is route 0 of the Unicode path too).
  unsigned int best_word_route(const unsigned char* text, std::size_t size) const;

 private:
  // Position of the lowest edge of a block (base + its bit), cleared.
  [[gnu::always_inline]] static std::size_t next_edge(std::size_t base, std::uint64_t& edges) {
    const std::size_t at = base + static_cast<std::size_t>(std::countr_zero(edges));
    edges &= edges - 1;
    return at;
  }
  // Lowers `best` to the route of the run p[start, end) if it is a word keyword. `filter_bits`
  // and `filter_shift_` are `filter.data()` and `filter_shift`, held in registers by the caller.
  [[gnu::always_inline]] void take_run(const unsigned char* p, std::size_t readable,
                                       std::size_t start, std::size_t end,
                                       const std::uint64_t* filter_bits, unsigned int filter_shift_,
                                       unsigned int& best) const {
    const std::size_t len = end - start;
    const std::uint64_t head = run_head(p, readable, start, len);
    const std::uint64_t bit = filter_hash(head, len) >> filter_shift_;
    if (((filter_bits[bit / 64] >> (bit % 64)) & 1) == 0) return;  // most runs end here
    best = std::min(best, find_word(head, p + start, len));
  }
  // Route of the word keyword equal to the run `run` of `len` bytes with that head, or
  // UINT_MAX.
  unsigned int find_word(std::uint64_t head, const unsigned char* run, std::size_t len) const;
  // best_word_route on p[0, size), every load inside p[0, readable) (readable >= 64 and >= size).
  unsigned int scan_runs(const unsigned char* p, std::size_t size, std::size_t readable) const;
};

void Matcher::Rules::add_word(std::string_view keyword, unsigned int route) {
  std::string padded(keyword);
  padded.append(8, '\0');  // run_head reads 8 bytes at a time
  const auto* k = reinterpret_cast<const unsigned char*>(padded.data());
  const std::size_t len = keyword.size();
  WordSlot slot;
  slot.head = run_head(k, padded.size(), 0, len);
  slot.tail = run_tail(k, 0, len);
  slot.length = static_cast<std::uint32_t>(len);
  slot.route = route;
  if (len > 16) {
    slot.pool = static_cast<std::uint32_t>(pool.size());
    for (char ch : keyword) pool += static_cast<char>(ch | 0x20);
  }
  const std::uint64_t bit = filter_hash(slot.head, len) >> filter_shift;
  filter[bit / 64] |= std::uint64_t{1} << (bit % 64);
  const std::size_t mask = slots.size() - 1;
  for (std::size_t i = slot_hash(slot.head, slot.tail, len) >> shift;; i = (i + 1) & mask) {
    if (slots[i].length == 0) {
      slots[i] = slot;
      return;
    }
  }
}

unsigned int Matcher::Rules::find_word(std::uint64_t head, const unsigned char* run,
                                       std::size_t len) const {
  const std::uint64_t tail = run_tail(run, 0, len);
  const std::size_t mask = slots.size() - 1;
  for (std::size_t i = slot_hash(head, tail, len) >> shift;; i = (i + 1) & mask) {
    const WordSlot& s = slots[i];
    if (s.length == 0) return UINT_MAX;
    if (s.length != len || s.head != head || s.tail != tail) continue;
    if (len > 16) {  // head and tail cover bytes [0, 8) and [len - 8, len): compare the middle
      const unsigned char* t = run;
      const char* k = pool.data() + s.pool;
      bool same = true;
      for (std::size_t j = 8; j < len - 8 && same; ++j)
        same = static_cast<char>(t[j] | 0x20) == k[j];
      if (!same) continue;
    }
    return s.route;
  }
}

unsigned int Matcher::Rules::best_word_route(const unsigned char* text, std::size_t size) const {
  if (size >= 64) return scan_runs(text, size, size);
  // Short text: a zero-padded copy (zero is no word character), so that every load of
  // scan_runs is a full one.
  unsigned char padded[64 + 8] = {};
  std::memcpy(padded, text, size);
  return scan_runs(padded, size, sizeof padded);
}

unsigned int Matcher::Rules::scan_runs(const unsigned char* p, std::size_t size,
                                       std::size_t readable) const {
  const std::uint64_t* const fbits = filter.data();
  const unsigned int fshift = filter_shift;
  unsigned int best = UINT_MAX;
  bool in_run = false;  // a run started in an earlier block and has not ended yet
  std::size_t run_start = 0;
  std::uint64_t carry = 0;  // whether the byte before this block is a word character
  for (std::size_t base = 0; base < size; base += 64) {
    std::uint64_t m;
    std::uint64_t high;
    if (size - base >= 64 || readable - base >= 64) {
      m = word_mask64(p + base, high);
      if (size - base < 64) {
        m &= (std::uint64_t{1} << (size - base)) - 1;
        high &= (std::uint64_t{1} << (size - base)) - 1;
      }
    } else {  // the last, partial block: the 64 bytes ending at the text's end, shifted down
      m = word_mask64(p + size - 64, high) >> (64 - (size - base));
      high >>= 64 - (size - base);
    }
    if (high != 0) return kNotAscii;
    // Bit i set where byte base + i starts a run (word after non-word) or ends one (non-word
    // after word); bits past the text's end are 0, so a run reaching it ends there unless the
    // text ends exactly at this block's end (handled after the loop).
    std::uint64_t edges = m ^ ((m << 1) | carry);
    carry = m >> 63;
    if (in_run && edges != 0) {
      take_run(p, readable, run_start, next_edge(base, edges), fbits, fshift, best);
      if (best == 0) return 0;  // route 0 cannot be beaten
      in_run = false;
    }
    while (edges != 0) {
      run_start = next_edge(base, edges);
      if (edges == 0) {
        in_run = true;
        break;
      }
      take_run(p, readable, run_start, next_edge(base, edges), fbits, fshift, best);
      if (best == 0) return 0;
    }
  }
  if (in_run)
    take_run(p, readable, run_start, size, fbits, fshift, best);  // a run up to a block's end
  return best;
}

// Scan state of the Hyperscan pass: the text, the literals, the lowest route seen so far.
struct Matcher::ScanState {
  const unsigned char* text;
  unsigned long long length;
  const Rules::Literal* literals;
  unsigned int best;
  bool unicode = false;  // text is folded non-ASCII text: boundaries by text::at_word_edges
};

// Called for every occurrence of a literal, in order of `to` (its end offset). Keeps it only if
// it is a whole word: the bytes on either side of it are not word characters (or are outside
// the text).
int Matcher::on_literal(unsigned int id, unsigned long long /*from*/, unsigned long long to,
                        unsigned int /*flags*/, void* context) {
  auto* state = static_cast<ScanState*>(context);
  const Rules::Literal& k = state->literals[id];
  if (k.route >= state->best) return 0;  // cannot improve: skip the boundary check
  const unsigned long long from = to - k.length;
  if (state->unicode) {
    const std::string_view text(reinterpret_cast<const char*>(state->text), state->length);
    if (!text::at_word_edges(text, from, to)) return 0;
  } else {
    if (from > 0 && kWordChar[state->text[from - 1]]) return 0;
    if (to < state->length && kWordChar[state->text[to]]) return 0;
  }
  state->best = k.route;
  // Route 0 cannot be beaten: stop scanning (hs_scan then returns HS_SCAN_TERMINATED).
  return k.route == 0 ? 1 : 0;
}

void Matcher::scan_plainly(ScanState& state) const {
  const auto& literals = rules_->literals;
  for (unsigned int id = 0; id < literals.size(); ++id) {
    const Rules::Literal& k = literals[id];
    if (k.route >= state.best || k.length > state.length) continue;
    for (unsigned long long from = 0; from + k.length <= state.length; ++from) {
      bool equal = true;
      for (unsigned int i = 0; i < k.length && equal; ++i) {
        unsigned char c = state.text[from + i];
        if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
        equal = c == static_cast<unsigned char>(k.lowered[i]);
      }
      if (equal && on_literal(id, from, from + k.length, 0, &state) != 0) return;
      if (k.route >= state.best) break;  // this keyword matched: later ones of it cannot beat it
    }
  }
}

std::string keyword_pattern(std::string_view keyword) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(keyword.size() * 4 + 4);
  if (!keyword.empty()) out += is_word_char(keyword.front()) ? "\\b" : "\\B";
  for (char ch : keyword) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_word_char(c)) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (!keyword.empty()) out += is_word_char(keyword.back()) ? "\\b" : "\\B";
  return out;
}

void Matcher::DatabaseDeleter::operator()(hs_database* db) const {
  hs_free_database(db);
}
void Matcher::ScratchDeleter::operator()(hs_scratch* scratch) const {
  hs_free_scratch(scratch);
}

Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;
Matcher::~Matcher() = default;

Result<Matcher> Matcher::compile(const RouteTable& table) {
  Matcher m;
  m.table_ = table;
  auto rules = std::make_shared<Rules>();

  // Each distinct keyword (ignoring ASCII case, as matching does) once, with its first route:
  // a repeat can only name a later route, which never beats the first.
  std::vector<std::pair<std::string, unsigned int>> words;  // folded, ASCII

  std::vector<std::pair<std::size_t, std::size_t>> literal_origin;  // (route, keyword)
  std::unordered_set<std::string> seen;
  std::optional<std::pair<std::size_t, std::size_t>> too_long;  // first (route, keyword)
  for (std::size_t r = 0; r < table.routes.size(); ++r) {
    const Route& route = table.routes[r];
    for (std::size_t k = 0; k < route.keywords.size(); ++k) {
      const std::string& keyword = route.keywords[k];
      if (keyword.empty())
        return fail(ErrorKind::usage, "route '" + route.topic + "' has an empty keyword",
                    where_of(route, r), "remove it or write a word");
      ++m.pattern_count_;
      if (keyword.size() > kMaxKeywordBytes) {
        if (!too_long) too_long.emplace(r, k);  // reported after the empty-keyword check
        continue;
      }
      std::string folded = text::fold(keyword);
      if (folded.size() > kMaxKeywordBytes) {  // folding lengthened it (ß -> ss)
        if (!too_long) too_long.emplace(r, k);
        continue;
      }
      if (!seen.insert(folded).second) continue;
      const auto route_id = static_cast<unsigned int>(r);
      rules->min_length = std::min(rules->min_length, folded.size());
      if (is_one_word(folded)) {
        if (all_word_chars(folded)) words.emplace_back(folded, route_id);
        rules->unicode_words.emplace(std::move(folded), route_id);
      } else {
        literal_origin.emplace_back(r, k);
        rules->literals.push_back(
            Rules::Literal{route_id, static_cast<unsigned int>(folded.size()), std::move(folded)});
        rules->literal_min_route = std::min(rules->literal_min_route, route_id);
        if (!has_high_byte(rules->literals.back().lowered))
          rules->ascii_literal_min_route = std::min(rules->ascii_literal_min_route, route_id);
      }
    }
  }
  if (too_long) {
    const auto [r, k] = *too_long;
    const Route& route = table.routes[r];
    return fail(ErrorKind::usage,
                "cannot compile keyword '" + shown(route.keywords[k]) + "' of route '" +
                    route.topic + "': longer than " + std::to_string(kMaxKeywordBytes) + " bytes",
                where_of(route, r), "change or remove the keyword");
  }
  if (m.pattern_count_ == 0) return m;  // match() says -1

  if (!words.empty()) {
    std::size_t capacity = 16;
    while (capacity < 2 * words.size()) capacity *= 2;
    rules->slots.resize(capacity);
    rules->shift = 64 - static_cast<unsigned int>(std::countr_zero(capacity));
    std::size_t filter_bits = 512;
    while (filter_bits < 16 * words.size()) filter_bits *= 2;
    rules->filter.resize(filter_bits / 64);
    rules->filter_shift = 64 - static_cast<unsigned int>(std::countr_zero(filter_bits));
    for (const auto& [keyword, route] : words) rules->add_word(keyword, route);
  }

  if (!rules->literals.empty()) {
    if (hs_valid_platform() != HS_SUCCESS)
      return fail(ErrorKind::usage,
                  "this CPU cannot run the routing matcher (Hyperscan needs x86-64 with SSSE3)",
                  "routing rules", "run on a machine with SSSE3 (any x86-64 CPU since 2006)");

    std::vector<const char*> expressions;
    std::vector<std::size_t> lengths;
    std::vector<unsigned int> ids;
    for (const Rules::Literal& l : rules->literals) {
      ids.push_back(static_cast<unsigned int>(expressions.size()));
      expressions.push_back(l.lowered.data());
      lengths.push_back(l.lowered.size());
    }
    // No HS_FLAG_SINGLEMATCH: the first occurrence of a keyword may fail the whole-word check
    // while a later one passes ("xc++ c++").
    const std::vector<unsigned int> flags(rules->literals.size(), HS_FLAG_CASELESS);

    // The literal API, although Hyperscan 5.4.0's hs_scan fails (HS_UNKNOWN_ERROR) on some of
    // its databases (a keyword ending in a run of 34+ equal bytes beside another non-word
    // keyword; found by routes_fuzz, intel/hyperscan#303): match() then searches plainly. The
    // same keywords as \xHH regexes through hs_compile_multi scan correctly, but a 16,000-byte
    // keyword (kMaxKeywordBytes) crashes that compiler.
    hs_database_t* db = nullptr;
    hs_compile_error_t* err = nullptr;
    const hs_error_t rc = hs_compile_lit_multi(
        expressions.data(), flags.data(), ids.data(), lengths.data(),
        static_cast<unsigned int>(expressions.size()), HS_MODE_BLOCK, nullptr, &db, &err);
    if (rc != HS_SUCCESS) {
      std::string message = err != nullptr && err->message != nullptr ? err->message : "unknown";
      const int index = err != nullptr ? err->expression : -1;
      hs_free_compile_error(err);
      if (index >= 0 && static_cast<std::size_t>(index) < literal_origin.size()) {
        const auto [r, k] = literal_origin[static_cast<std::size_t>(index)];
        const Route& route = table.routes[r];
        return fail(ErrorKind::usage,
                    "cannot compile keyword '" + shown(route.keywords[k]) + "' of route '" +
                        route.topic + "': " + message,
                    where_of(route, r), "change or remove the keyword");
      }
      return fail(ErrorKind::usage, "cannot compile the routing rules: " + message, "routing rules",
                  "use fewer or simpler keywords");
    }
    m.db_.reset(db);

    hs_scratch_t* scratch = nullptr;
    if (hs_error_t src = hs_alloc_scratch(db, &scratch); src != HS_SUCCESS)
      return fail(
          ErrorKind::internal,
          "cannot allocate routing scratch space (hyperscan error " + std::to_string(src) + ")",
          "routing rules");
    m.scratch_.reset(scratch);
  }
  m.rules_ = std::move(rules);
  return m;
}

Result<Matcher> Matcher::clone() const {
  Matcher m;
  m.table_ = table_;
  m.pattern_count_ = pattern_count_;
  m.rules_ = rules_;  // read-only: shared
  if (!db_) return m;

  char* bytes = nullptr;
  std::size_t length = 0;
  if (hs_error_t rc = hs_serialize_database(db_.get(), &bytes, &length); rc != HS_SUCCESS)
    return fail(ErrorKind::internal,
                "cannot copy the routing database (hyperscan error " + std::to_string(rc) + ")",
                "routing rules");
  hs_database_t* db = nullptr;
  const hs_error_t rc = hs_deserialize_database(bytes, length, &db);
  std::free(bytes);  // hs_serialize_database allocates with the misc allocator: malloc
  if (rc != HS_SUCCESS)
    return fail(ErrorKind::internal,
                "cannot copy the routing database (hyperscan error " + std::to_string(rc) + ")",
                "routing rules");
  m.db_.reset(db);

  hs_scratch_t* scratch = nullptr;
  if (hs_error_t src = hs_clone_scratch(scratch_.get(), &scratch); src != HS_SUCCESS)
    return fail(
        ErrorKind::internal,
        "cannot allocate routing scratch space (hyperscan error " + std::to_string(src) + ")",
        "routing rules");
  m.scratch_.reset(scratch);
  return m;
}

int Matcher::match(std::string_view text) {
  // No keywords, or a text shorter than every keyword (this covers the empty text: keywords are
  // never empty).
  if (!rules_) return -1;
  const Rules& rules = *rules_;
  // A text with a byte >= 0x80 goes to match_unicode (folding may lengthen a short one). The
  // word scan finds such bytes itself; without it (or for a short text), one pass looks.
  if (text.size() < rules.min_length || rules.slots.empty()) {
    if (has_high_byte(text)) return match_unicode(text);
    if (text.size() < rules.min_length) return -1;
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());

  unsigned int best = UINT_MAX;
  if (!rules.slots.empty()) {
    best = rules.best_word_route(bytes, text.size());
    if (best == kNotAscii) return match_unicode(text);
  }

  if (db_ && rules.ascii_literal_min_route < best) {
    // Kafka messages are far below 4 GiB; hs_scan takes an unsigned int length.
    const auto length = static_cast<unsigned int>(std::min<std::size_t>(text.size(), UINT_MAX));
    ScanState state{bytes, length, rules.literals.data(), best};
    const hs_error_t rc =
        // NOLINTNEXTLINE(bugprone-suspicious-stringview-data-usage): hs_scan takes the length.
        hs_scan(db_.get(), text.data(), length, 0, scratch_.get(), on_literal, &state);
    if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) {
      // A Hyperscan failure (its own bug, see compile()) must not stop the producer or
      // misroute: the same keywords are searched plainly. Said once, on stderr.
      static std::atomic<bool> reported{false};
      if (!reported.exchange(true)) {
        std::fprintf(stderr,
                     "speedlayer: routing: hyperscan scan failed (error %d); the texts where it "
                     "fails are searched without it (slower, same routes)\n",
                     static_cast<int>(rc));
      }
      state.best = best;
      scan_plainly(state);
    }
    best = state.best;
  }
  return best == UINT_MAX ? -1 : static_cast<int>(best);
}

const std::string& Matcher::topic_for(std::string_view text) {
  const int route = match(text);
  return route < 0 ? table_.default_topic : table_.routes[static_cast<std::size_t>(route)].topic;
}

}  // namespace speedlayer::routing

namespace speedlayer::routing {

int Matcher::match_unicode(std::string_view text) {
  const Rules& rules = *rules_;
  folded_.clear();
  text::fold_append(text, folded_);
  const std::string_view folded = folded_;
  unsigned int best = UINT_MAX;
  if (!rules.unicode_words.empty()) {
    text::for_each_word_span(folded, [&](std::size_t b, std::size_t e) {
      if (best == 0) return;  // route 0 cannot be beaten
      auto it = rules.unicode_words.find(folded.substr(b, e - b));
      if (it != rules.unicode_words.end()) best = std::min(best, it->second);
    });
  }
  if (db_ && rules.literal_min_route < best) {
    const auto length = static_cast<unsigned int>(std::min<std::size_t>(folded.size(), UINT_MAX));
    ScanState state{reinterpret_cast<const unsigned char*>(folded.data()), length,
                    rules.literals.data(), best, true};
    const hs_error_t rc =
        // NOLINTNEXTLINE(bugprone-suspicious-stringview-data-usage): hs_scan takes the length.
        hs_scan(db_.get(), folded.data(), length, 0, scratch_.get(), on_literal, &state);
    if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) {
      state.best = best;
      scan_plainly(state);
    }
    best = state.best;
  }
  return best == UINT_MAX ? -1 : static_cast<int>(best);
}

}  // namespace speedlayer::routing
