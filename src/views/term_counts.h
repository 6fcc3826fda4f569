// The term sketch of a partial: TermCounts (term -> count) and the Space-Saving bookkeeping
// around it (error bounds: views.h's header comment). Part of views.h (include that one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "views/tokenizer.h"

namespace speedlayer::views {

// Term -> count of one partial: a dense vector of (term, count) entries in insertion order,
// indexed by an open-addressing table (linear probing, power-of-two size, at most half full)
// of entry numbers, each tagged with its term's hash. Entry numbers never change (no
// erase), so the Space-Saving bookkeeping refers to entries by number, and an evicted entry is
// re-keyed in place (rekey). This replaced std::unordered_map, whose node allocations, bucket
// chains and re-hashing on every eviction dominated serve's profile (bench/README.md).
// Equality ignores order.
class TermCounts {
 public:
  using value_type = std::pair<std::string, std::uint64_t>;
  using iterator = std::vector<value_type>::iterator;
  using const_iterator = std::vector<value_type>::const_iterator;
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  TermCounts() = default;
  TermCounts(std::initializer_list<value_type> items);
  TermCounts& operator=(std::initializer_list<value_type> items);

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  void reserve(std::size_t n);

  const_iterator find(std::string_view term) const;
  iterator find(std::string_view term);
  bool contains(std::string_view term) const { return find(term) != end(); }
  std::uint64_t& operator[](std::string_view term);  // inserts 0 when absent
  std::uint64_t at(std::string_view term) const;     // std::out_of_range when absent
  // Inserts (term, count) unless the term is present; true when inserted.
  std::pair<iterator, bool> emplace(std::string_view term, std::uint64_t count);

  // Hot path (the aggregator hashes once per occurrence with TermHash).
  std::size_t index_of(std::string_view term, std::uint64_t hash) const;  // npos: absent
  std::size_t insert_new(std::string_view term, std::uint64_t hash, std::uint64_t count);
  // Entry `i` becomes (term, count); `term` must be absent. Other entries keep their numbers.
  void rekey(std::size_t i, std::string_view term, std::uint64_t hash, std::uint64_t count);
  value_type& entry(std::size_t i) { return entries_[i]; }
  const value_type& entry(std::size_t i) const { return entries_[i]; }

  friend bool operator==(const TermCounts& a, const TermCounts& b);

 private:
  std::size_t slot_of(std::string_view term, std::uint64_t hash) const;  // its slot or empty one
  void grow_slots(std::size_t min_entries);

  // A slot: 0 when empty, else (the low 32 bits of the term's hash) << 32 | (entry number + 1).
  // The hash bits give the home slot (tables stay below 2^32 slots) and reject most other
  // terms without touching their entries: one cache miss per probe, not three.
  static std::uint64_t slot_value(std::size_t i, std::uint64_t hash) {
    return (hash & 0xffffffffu) << 32 | (i + 1);
  }

  std::vector<value_type> entries_;
  std::vector<std::uint64_t> slots_;
};

struct Partial {
  std::uint64_t count = 0;
  TermCounts terms;
  std::uint64_t term_error = 0;  // Space-Saving error bound (0 = exact)
  bool closed = false;
  std::uint64_t late = 0;  // records that arrived for this window after its end + grace
};

// Keeps the `keep` largest counts of `p` (ties broken by term, so the result is the same on
// every replica); term_error becomes at least the largest count dropped, so every bound of
// views.h's header comment still holds. No-op when p has at most `keep` terms.
void truncate_terms(Partial& p, std::size_t keep);
// A copy of `p` as truncate_terms(copy, keep) would leave it, without copying the terms it
// drops.
Partial top_terms_of(const Partial& p, std::size_t keep);

}  // namespace speedlayer::views
