// Term filters (filters.h).
#include "text/filters.h"

#include <utf8proc.h>

#include <algorithm>
#include <bit>
#include <iterator>

#include "core/files.h"
#include "text/term_hash.h"
#include "text/words.h"

namespace speedlayer::text {
namespace {

constexpr std::size_t kMaxStopWordFileBytes = 1 << 20;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

const BuiltinList* find_builtin(std::string_view name) {
  for (const BuiltinList& l : builtin_stop_lists())
    if (l.name == name) return &l;
  return nullptr;
}

// Words of the built-in lists that are common content words in another of their languages
// (the lists are merged by default): French and Italian `ai` is the AI topic's own name,
// German `war` and `man` and Spanish `son` are English nouns. Files are taken as written.
constexpr std::string_view kNotStopWords[] = {"ai", "war", "man", "son"};

std::uint64_t nonzero(std::uint64_t h) {
  return h == 0 ? 1 : h;
}

// Whether every code point of `term` is a number (N*).
bool only_numbers(std::string_view term) {
  std::size_t i = 0;
  while (i < term.size()) {
    const auto c = static_cast<unsigned char>(term[i]);
    if (c < 0x80) {
      if (c < '0' || c > '9') return false;
      ++i;
      continue;
    }
    std::size_t len = 0;
    const char32_t cp = decode_at(term, i, len);
    const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
    if (cat != UTF8PROC_CATEGORY_ND && cat != UTF8PROC_CATEGORY_NL && cat != UTF8PROC_CATEGORY_NO)
      return false;
    i += len;
  }
  return !term.empty();
}

}  // namespace

std::string default_stop_words() {
  std::string out;
  for (const BuiltinList& l : builtin_stop_lists()) {
    if (!out.empty()) out += ',';
    out += l.name;
  }
  return out;
}

std::shared_ptr<const TermFilter> TermFilter::none() {
  static const std::shared_ptr<const TermFilter> none = [] {
    auto f = std::make_shared<TermFilter>();
    f->spec_.stop_words = "none";
    f->spec_.min_term_chars = 1;
    f->spec_.drop_numbers = false;
    return std::shared_ptr<const TermFilter>(std::move(f));
  }();
  return none;
}

void TermFilter::add(std::string_view word) {
  const std::uint64_t h = nonzero(TermHash{}(word));
  if (contains(word, h)) return;
  if (2 * (count_ + 1) > hashes_.size()) {
    std::vector<std::uint64_t> old_hashes = std::move(hashes_);
    std::vector<std::string> old_words = std::move(words_);
    const std::size_t size = std::max<std::size_t>(64, std::bit_ceil(2 * (count_ + 1)));
    hashes_.assign(size, 0);
    words_.assign(size, {});
    for (std::size_t i = 0; i < old_hashes.size(); ++i) {
      if (old_hashes[i] == 0) continue;
      std::size_t j = old_hashes[i] & (size - 1);
      while (hashes_[j] != 0) j = (j + 1) & (size - 1);
      hashes_[j] = old_hashes[i];
      words_[j] = std::move(old_words[i]);
    }
  }
  std::size_t j = h & (hashes_.size() - 1);
  while (hashes_[j] != 0) j = (j + 1) & (hashes_.size() - 1);
  hashes_[j] = h;
  bits_[(h >> 50) / 64] |= std::uint64_t{1} << ((h >> 50) % 64);
  words_[j] = std::string(word);
  ++count_;
  max_word_bytes_ = std::max(max_word_bytes_, word.size());
}

bool TermFilter::contains(std::string_view term, std::uint64_t h) const {
  if (hashes_.empty() || term.size() > max_word_bytes_) return false;
  if (((bits_[(h >> 50) / 64] >> ((h >> 50) % 64)) & 1) == 0) return false;
  const std::size_t mask = hashes_.size() - 1;
  for (std::size_t j = h & mask;; j = (j + 1) & mask) {
    if (hashes_[j] == 0) return false;
    if (hashes_[j] == h && words_[j] == term) return true;
  }
}

bool TermFilter::is_stop_word(std::string_view folded_word) const {
  return contains(folded_word, nonzero(TermHash{}(folded_word)));
}

bool TermFilter::keep_slow(std::string_view term, std::uint64_t hash) const {
  const std::size_t min = spec_.min_term_chars;
  if (term.size() < 4 * min) {
    // Characters: bytes that do not continue a UTF-8 sequence.
    std::size_t chars = 0;
    for (unsigned char c : term) chars += (c & 0xC0) != 0x80;
    if (chars < min) {
      // A letter of a script written without spaces is a word by itself (words.h): kept.
      std::size_t len = 0;
      if (term.empty() || char_kind(decode_at(term, 0, len)) != CharKind::solo) return false;
    }
  }
  if (spec_.drop_numbers) {
    const auto c = static_cast<unsigned char>(term.empty() ? 0 : term[0]);
    if (((c >= '0' && c <= '9') || c >= 0x80) && only_numbers(term)) return false;
  }
  return !contains(term, nonzero(hash));
}

Result<std::shared_ptr<const TermFilter>> TermFilter::build(const FilterSpec& spec,
                                                            std::string_view where) {
  auto f = std::make_shared<TermFilter>();
  f->spec_ = spec;
  std::string_view list = trim(spec.stop_words);
  std::vector<std::string> items;
  auto split = [&items](std::string_view s) {
    while (!s.empty()) {
      const std::size_t comma = s.find(',');
      const std::string_view item = trim(s.substr(0, comma));
      if (!item.empty()) items.emplace_back(item);
      if (comma == std::string_view::npos) break;
      s.remove_prefix(comma + 1);
    }
  };
  if (list.starts_with('+')) {
    split(default_stop_words());
    list.remove_prefix(1);
  }
  if (trim(list) != "none") split(list);
  std::string scratch;
  auto add_text = [&](std::string_view body, bool builtin) {
    while (!body.empty()) {
      const std::size_t nl = body.find('\n');
      std::string_view line = body.substr(0, nl);
      body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
      line = line.substr(0, std::min(line.find('|'), line.find('#')));
      for_each_word(line, scratch, [&](std::string_view w) {
        if (builtin && std::find(std::begin(kNotStopWords), std::end(kNotStopWords), w) !=
                           std::end(kNotStopWords))
          return;
        f->add(w);
      });
    }
  };
  for (const std::string& item : items) {
    if (std::find(f->sources_.begin(), f->sources_.end(), item) != f->sources_.end()) continue;
    if (const BuiltinList* builtin = find_builtin(item)) {
      add_text(builtin->body, true);
    } else {
      auto body = read_small_file(item, kMaxStopWordFileBytes, "stop-word file");
      if (!body) {
        Error e = body.error();
        e.where = std::string(where) + " " + item;
        e.hint = "built-in lists: " + default_stop_words() + "; anything else is a file";
        return std::unexpected(e);
      }
      add_text(*body, false);
    }
    f->sources_.push_back(item);
  }
  f->min_chars_ = std::max<std::size_t>(1, spec.min_term_chars);
  f->active_ = f->count_ > 0 || spec.min_term_chars > 1 || spec.drop_numbers;
  return std::shared_ptr<const TermFilter>(std::move(f));
}

std::shared_ptr<const TermFilters> default_filters() {
  static const std::shared_ptr<const TermFilters> filters = [] {
    auto f = std::make_shared<TermFilters>();
    auto built = TermFilter::build(FilterSpec{});
    f->default_filter = built ? *built : TermFilter::none();  // built-in lists: no I/O to fail
    return std::shared_ptr<const TermFilters>(std::move(f));
  }();
  return filters;
}

}  // namespace speedlayer::text
