// TermCounts and the Space-Saving truncation of a partial's terms (term_counts.h).
#include "views/term_counts.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace speedlayer::views {

TermCounts::TermCounts(std::initializer_list<value_type> items) {
  *this = items;
}

TermCounts& TermCounts::operator=(std::initializer_list<value_type> items) {
  entries_.clear();
  slots_.clear();
  reserve(items.size());
  for (const auto& [term, count] : items) emplace(term, count);
  return *this;
}

namespace {
std::uint64_t load64(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
std::uint32_t load32(const char* p) {
  std::uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}
// a[0, n) == b[0, n), inline for words (a call to memcmp per probe showed in profiles).
bool same_bytes(const char* a, const char* b, std::size_t n) {
  if (n >= 8) {
    if (n > 16) return std::memcmp(a, b, n) == 0;
    return load64(a) == load64(b) && load64(a + n - 8) == load64(b + n - 8);
  }
  if (n >= 4) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
  if (n == 0) return true;
  return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
}
}  // namespace

void TermCounts::reserve(std::size_t n) {
  entries_.reserve(n);
  if (2 * n >= slots_.size()) grow_slots(n);
}

void TermCounts::grow_slots(std::size_t min_entries) {
  std::size_t size = 16;
  while (size <= 2 * std::max(min_entries, entries_.size())) size *= 2;
  std::vector<std::uint64_t> old(size, 0);
  old.swap(slots_);
  const std::size_t mask = size - 1;
  for (const std::uint64_t v : old) {
    if (v == 0) continue;
    std::size_t s = (v >> 32) & mask;  // the hash's low bits: the home slot
    while (slots_[s] != 0) s = (s + 1) & mask;
    slots_[s] = v;
  }
}

std::size_t TermCounts::slot_of(std::string_view term, std::uint64_t hash) const {
  const std::size_t mask = slots_.size() - 1;
  const std::uint64_t tag = (hash & 0xffffffffu) << 32;
  std::size_t s = hash & mask;
  for (std::uint64_t v; (v = slots_[s]) != 0; s = (s + 1) & mask) {
    if ((v & ~std::uint64_t{0xffffffffu}) != tag) continue;
    const std::string& kept = entries_[(v & 0xffffffffu) - 1].first;
    if (kept.size() == term.size() && same_bytes(kept.data(), term.data(), term.size())) return s;
  }
  return s;
}

std::size_t TermCounts::index_of(std::string_view term, std::uint64_t hash) const {
  if (slots_.empty()) return npos;
  const std::uint64_t v = slots_[slot_of(term, hash)];
  return v == 0 ? npos : (v & 0xffffffffu) - 1;
}

std::size_t TermCounts::insert_new(std::string_view term, std::uint64_t hash, std::uint64_t count) {
  if (2 * (entries_.size() + 1) >= slots_.size()) grow_slots(entries_.size() + 1);
  const std::size_t i = entries_.size();
  entries_.emplace_back(std::string(term), count);
  slots_[slot_of(term, hash)] = slot_value(i, hash);
  return i;
}

void TermCounts::rekey(std::size_t i, std::string_view term, std::uint64_t hash,
                       std::uint64_t count) {
  // Unindex entry i (backward-shift deletion keeps linear probing valid).
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = TermHash{}(entries_[i].first) & mask;
  while ((slots_[hole] & 0xffffffffu) != i + 1) hole = (hole + 1) & mask;
  for (std::size_t j = hole;;) {
    j = (j + 1) & mask;
    if (slots_[j] == 0) break;
    const std::size_t home = (slots_[j] >> 32) & mask;
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!stays) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = 0;
  entries_[i].first.assign(term);
  entries_[i].second = count;
  slots_[slot_of(term, hash)] = slot_value(i, hash);
}

TermCounts::const_iterator TermCounts::find(std::string_view term) const {
  const std::size_t i = index_of(term, TermHash{}(term));
  return i == npos ? end() : begin() + static_cast<std::ptrdiff_t>(i);
}

TermCounts::iterator TermCounts::find(std::string_view term) {
  const std::size_t i = index_of(term, TermHash{}(term));
  return i == npos ? end() : begin() + static_cast<std::ptrdiff_t>(i);
}

std::uint64_t& TermCounts::operator[](std::string_view term) {
  return emplace(term, 0).first->second;
}

std::uint64_t TermCounts::at(std::string_view term) const {
  auto it = find(term);
  if (it == end()) throw std::out_of_range("TermCounts::at: no term \"" + std::string(term) + "\"");
  return it->second;
}

std::pair<TermCounts::iterator, bool> TermCounts::emplace(std::string_view term,
                                                          std::uint64_t count) {
  const std::uint64_t h = TermHash{}(term);
  if (std::size_t i = index_of(term, h); i != npos) {
    return {begin() + static_cast<std::ptrdiff_t>(i), false};
  }
  const std::size_t i = insert_new(term, h, count);
  return {begin() + static_cast<std::ptrdiff_t>(i), true};
}

bool operator==(const TermCounts& a, const TermCounts& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::size_t j = b.index_of(a.entries_[i].first, TermHash{}(a.entries_[i].first));
    if (j == TermCounts::npos || b.entries_[j].second != a.entries_[i].second) return false;
  }
  return true;
}

void truncate_terms(Partial& p, std::size_t keep) {
  if (p.terms.size() <= keep) return;
  p = top_terms_of(p, keep);
}

Partial top_terms_of(const Partial& p, std::size_t keep) {
  if (p.terms.size() <= keep) return p;
  Partial out;
  out.count = p.count;
  out.term_error = p.term_error;
  out.closed = p.closed;
  out.late = p.late;
  std::vector<const TermCounts::value_type*> order;
  order.reserve(p.terms.size());
  for (const auto& e : p.terms) order.push_back(&e);
  auto before = [](const auto* a, const auto* b) {
    return a->second != b->second ? a->second > b->second : a->first < b->first;
  };
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                   before);
  std::uint64_t dropped_max = 0;
  for (std::size_t i = keep; i < order.size(); ++i)
    dropped_max = std::max(dropped_max, order[i]->second);
  out.terms.reserve(keep);
  for (std::size_t i = 0; i < keep; ++i) out.terms.emplace(order[i]->first, order[i]->second);
  out.term_error = std::max(out.term_error, dropped_max);
  return out;
}

}  // namespace speedlayer::views
