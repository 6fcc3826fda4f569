// Term filters: which words views count. Stop words (built-in lists for English, Spanish,
// Portuguese, French, German, Italian and Russian, from Snowball, embedded at build time; or
// files), a minimum length in characters, and terms that are only numbers. Applied to terms
// (folded words, words.h) before counting: record counts never change, and what is stored
// (the changelog, the output records) is already filtered.
//
//   FilterSpec spec;                                     // the defaults: every built-in list,
//   auto filter = TermFilter::build(spec);               // at least 2 characters, numbers out
//   if (!filter) return filter.error();
//   (*filter)->keep("the", TermHash{}("the"));           // false
//   (*filter)->keep("messi", TermHash{}("messi"));       // true
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace speedlayer::text {

// A built-in stop-word list, embedded at build time (config/stop-words/<name>.txt).
struct BuiltinList {
  std::string_view name;    // "en"
  std::string_view origin;  // where the list comes from, and its licence
  std::string_view body;    // Snowball format: a word at the start of a line, `|` comments
};
std::span<const BuiltinList> builtin_stop_lists();
// "en,es,pt,fr,de,it,ru": every built-in list.
std::string default_stop_words();

struct FilterSpec {
  // Comma-separated built-in names and files (anything that is not a built-in name is a
  // file). A leading `+` adds to the default lists instead of replacing them. "none" or ""
  // (after the `+`, if any): no stop words.
  std::string stop_words = default_stop_words();
  std::size_t min_term_chars = 2;  // characters (code points); 1 keeps every term
  bool drop_numbers = true;        // terms made of numbers only (Unicode N*: 2024, ²)
};

class TermFilter {
 public:
  // Reads the files named in spec.stop_words (usage error naming `where` and the file when one
  // cannot be read). Files: UTF-8, Snowball's format (words at the start of lines, `|` and `#`
  // start comments; several words a line are fine). Each entry is cut into words and folded
  // by the word rule, so `Don't` adds `don` and `t`.
  static Result<std::shared_ptr<const TermFilter>> build(const FilterSpec& spec,
                                                         std::string_view where = "--stop-words");
  // No filtering at all.
  static std::shared_ptr<const TermFilter> none();

  // Hot path: whether to count `term` (a folded word; `hash` is TermHash{}(term)). Inline for
  // the usual term (ASCII letters, long enough, not a stop word by the bit filter); the rest
  // out of line.
  bool keep(std::string_view term, std::uint64_t hash) const {
    if (!active_) return true;
    const std::size_t n = term.size();
    if (n < min_chars_ || n == 0) return keep_slow(term, hash);
    const auto c0 = static_cast<unsigned char>(term[0]);
    if (c0 >= 0x80 || (c0 >= '0' && c0 <= '9')) return keep_slow(term, hash);
    if (n < 4 * min_chars_) {  // fewer characters than bytes only with bytes >= 0x80
      for (const char c : term)
        if (static_cast<unsigned char>(c) >= 0x80) return keep_slow(term, hash);
    }
    const std::uint64_t bit = hash >> 50;
    if (((bits_[bit / 64] >> (bit % 64)) & 1) == 0) return true;
    return keep_slow(term, hash);
  }

  // keep() for a term known to be ASCII (for_each_word's `ascii`): characters are bytes, so
  // the length test needs no count, a number is a run of [0-9], and a term longer than every
  // stop word needs no look-up. Same answers as keep() (filters_test compares them).
  bool keep_ascii(std::string_view term, std::uint64_t hash) const {
    if (!active_) return true;
    const std::size_t n = term.size();
    if (n == 0) return keep_slow(term, hash);
    if (n < min_chars_) return false;  // a letter written without spaces is never ASCII
    if (spec_.drop_numbers && term[0] >= '0' && term[0] <= '9' && all_digits(term)) return false;
    if (n > max_word_bytes_) return true;
    const std::uint64_t bit = hash >> 50;
    if (((bits_[bit / 64] >> (bit % 64)) & 1) == 0) return true;
    return !contains(term, hash == 0 ? 1 : hash);
  }

  const FilterSpec& spec() const { return spec_; }
  // The stop-word sources after expanding `+` ("en", "es", ..., file paths), in order.
  const std::vector<std::string>& stop_word_sources() const { return sources_; }
  std::size_t stop_word_count() const { return count_; }
  bool is_stop_word(std::string_view folded_word) const;

 private:
  bool keep_slow(std::string_view term, std::uint64_t hash) const;
  static bool all_digits(std::string_view term) {
    for (const char c : term)
      if (c < '0' || c > '9') return false;
    return true;
  }
  void add(std::string_view word);
  bool contains(std::string_view term, std::uint64_t hash) const;

  FilterSpec spec_;
  bool active_ = false;
  std::vector<std::string> sources_;
  // One bit per hash prefix (hash >> 50: 16,384 bits, 2 KiB), set for each stop word: a term
  // whose bit is clear is no stop word, without touching the table (most terms end there).
  std::array<std::uint64_t, 256> bits_{};
  std::size_t min_chars_ = 1;  // spec_.min_term_chars
  // Open addressing, linear probing, at most half full: hashes (0 = empty) and words.
  std::vector<std::uint64_t> hashes_;
  std::vector<std::string> words_;
  std::size_t count_ = 0;
  std::size_t max_word_bytes_ = 0;
};

// The filter of each topic: one default, and overrides for some topics (the config file's
// `topic-filters`).
struct TermFilters {
  std::shared_ptr<const TermFilter> default_filter = TermFilter::none();
  std::map<std::string, std::shared_ptr<const TermFilter>, std::less<>> per_topic;
  const std::shared_ptr<const TermFilter>& for_topic(std::string_view topic) const {
    auto it = per_topic.find(topic);
    return it == per_topic.end() ? default_filter : it->second;
  }
};

// The default filters of every topic (FilterSpec{}: the built-in lists, which cannot fail).
std::shared_ptr<const TermFilters> default_filters();

}  // namespace speedlayer::text
