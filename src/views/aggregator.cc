// PartitionAggregator (aggregator.h): counting, closing, expiring, the changelog records of
// its changes and its snapshots.
#include "views/aggregator.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "views/internal.h"
#include "views/tokenizer.h"

namespace speedlayer::views {

namespace {
using internal::sat_add;

std::uint64_t next_aggregator_id() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

PartitionAggregator::PartitionAggregator(std::string topic, std::int32_t partition,
                                         const WindowConfig& config, ChangelogKeys keys)
    : topic_(std::move(topic)),
      partition_(partition),
      config_(config),
      filter_(config.filters ? config.filters->for_topic(topic_) : text::TermFilter::none()),
      keys_(std::move(keys)),
      id_(next_aggregator_id()) {
  if (config_.size_ms <= 0) config_.size_ms = 1;
  if (config_.grace_ms < 0) config_.grace_ms = 0;
  if (config_.idle_ms < 0) config_.idle_ms = 0;
  if (config_.max_terms == 0) config_.max_terms = 1;
}

void PartitionAggregator::restore_window(Millis start, Partial partial, LogPosition position) {
  Slot& slot = windows_[start];
  slot.partial = std::move(partial);
  slot.version = ++changes_;
  slot.drop_low();
  slot.log = position;
  slot.evicted.clear();
  slot.admitted_only = std::all_of(
      slot.partial.terms.begin(), slot.partial.terms.end(),
      [this](const TermCounts::value_type& e) { return admits(e.first, TermHash{}(e.first)); });
  if (position.legacy) {
    if (slot.partial.closed) truncate_terms(slot.partial, config_.effective_closed_terms());
    slot.snapshot_due = true;
    mark_dirty(start, slot);
    slot.logged.clear();
  } else if (slot.partial.closed) {
    slot.logged_freed = true;  // a term change (a reopen) is written as a snapshot
    slot.logged.clear();
  } else {
    slot.logged.resize(slot.partial.terms.size());
    for (std::size_t i = 0; i < slot.logged.size(); ++i)
      slot.logged[i] = slot.partial.terms.entry(i).second;
  }
}

void PartitionAggregator::restore_state(PartitionState state, bool legacy) {
  state_ = std::move(state);
  legacy_state_ = legacy;
  if (legacy) state_dirty_ = true;
}

const LogPosition* PartitionAggregator::log_position(Millis start) const {
  auto it = windows_.find(start);
  return it == windows_.end() ? nullptr : &it->second.log;
}

PartitionAggregator::Slot& PartitionAggregator::slot_for(Millis start) {
  return windows_.try_emplace(start).first->second;
}

void PartitionAggregator::mark_dirty(Millis start, Slot& slot) {
  slot.version = ++changes_;  // every change of a partial comes here (snapshot's sharing)
  if (!slot.dirty) {
    slot.dirty = true;
    dirty_.push_back(start);
  }
}

PartitionAggregator::Outcome PartitionAggregator::add(Millis event_time, std::string_view text) {
  ++state_.consumed;
  state_dirty_ = true;
  if (event_time > state_.stream_time) state_.stream_time = event_time;
  const Millis start = window_start(event_time, config_.size_ms);
  if (sat_add(sat_add(start, config_.size_ms), config_.grace_ms) <= state_.stream_time) {
    ++state_.late;
    if (auto it = windows_.find(start); it != windows_.end()) {
      ++it->second.partial.late;
      mark_dirty(start, it->second);
    }
    return Outcome::late;
  }
  Slot& slot = slot_for(start);
  slot.partial.closed = false;  // reopens a window the wall-clock fallback closed
  ++slot.partial.count;
  slot.terms_changed = true;
  mark_dirty(start, slot);
  const std::size_t max_term_bytes = config_.max_term_bytes;
  const text::TermFilter& filter = *filter_;
  TermCounts& terms = slot.partial.terms;
  const bool admitted_only = slot.admitted_only;
  // Inlined into the tokenizer's loop (it is no longer by default: the loop grew a Unicode path).
  for_each_term(text, [&](std::string_view term, bool ascii) __attribute__((always_inline)) {
    const std::uint64_t h = TermHash{}(term);
    // A term already counted passed the rules when it came in (admitted_only): most terms
    // of a window are repeats, so the filter runs once per new term, not per occurrence.
    std::size_t i = admitted_only ? terms.index_of(term, h) : TermCounts::npos;
    if (i == TermCounts::npos) {
      if (term.size() > max_term_bytes) {
        ++state_.long_terms;
        return;
      }
      if (!(ascii ? filter.keep_ascii(term, h) : filter.keep(term, h))) return;
      if (!admitted_only) i = terms.index_of(term, h);
    }
    if (i != TermCounts::npos) {
      ++terms.entry(i).second;
    } else {
      add_new_term(slot, term, h);
    }
  });
  return Outcome::counted;
}

bool PartitionAggregator::admits(std::string_view term, std::uint64_t hash) const {
  return term.size() <= config_.max_term_bytes && filter_->keep(term, hash);
}

// `term` (not in the slot's table, admitted) with count 1, or by Space-Saving when full.
void PartitionAggregator::add_new_term(Slot& slot, std::string_view term, std::uint64_t h) {
  TermCounts& terms = slot.partial.terms;
  if (terms.size() < config_.max_terms) {
    terms.insert_new(term, h, 1);
  } else {
    evict_and_insert(slot, term, h);
  }
}

void PartitionAggregator::refill_low(Slot& slot) {
  const TermCounts& terms = slot.partial.terms;
  std::vector<std::uint64_t> counts;
  counts.reserve(terms.size());
  for (const auto& e : terms) counts.push_back(e.second);
  const std::size_t k = std::max<std::size_t>(1, counts.size() / 4);
  std::nth_element(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(k - 1),
                   counts.end());
  slot.low_base =
      *std::min_element(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(k));
  slot.low_limit = std::min(counts[k - 1], slot.low_base + (Slot::kLowBuckets - 1));
  const std::size_t buckets = static_cast<std::size_t>(slot.low_limit - slot.low_base) + 1;
  for (auto& bucket : slot.low_buckets) bucket.clear();  // keeps their capacity
  slot.low_buckets.resize(buckets);
  slot.low_cursor = 0;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    const std::uint64_t c = terms.entry(i).second;
    if (c <= slot.low_limit) {
      slot.low_buckets[c - slot.low_base].push_back(static_cast<std::uint32_t>(i));
    }
  }
}

// Space-Saving: `term` (not kept; `hash` its hash) replaces a term with the minimum count m and
// gets m + 1.
void PartitionAggregator::evict_and_insert(Slot& slot, std::string_view term, std::uint64_t hash) {
  TermCounts& terms = slot.partial.terms;
  auto file = [&slot](std::uint64_t count, std::uint32_t i) {
    if (count <= slot.low_limit) slot.low_buckets[count - slot.low_base].push_back(i);
  };
  for (;;) {
    while (slot.low_cursor < slot.low_buckets.size() && slot.low_buckets[slot.low_cursor].empty()) {
      ++slot.low_cursor;
    }
    if (slot.low_cursor == slot.low_buckets.size()) {
      refill_low(slot);
      continue;
    }
    auto& bucket = slot.low_buckets[slot.low_cursor];
    const std::uint32_t i = bucket.back();
    bucket.pop_back();
    const std::uint64_t filed = slot.low_base + slot.low_cursor;
    const std::uint64_t m = terms.entry(i).second;
    if (m == filed) {
      // A term the changelog holds leaves the partial: the next delta says so. logged[i] = 0
      // then says that entry i's new term is not in the changelog, so each slot adds at most
      // one term (the one written at the last commit) to `evicted` per commit: no duplicates.
      if (i < slot.logged.size() && slot.logged[i] != 0) {
        slot.evicted.push_back(terms.entry(i).first);
        slot.logged[i] = 0;
      }
      terms.rekey(i, term, hash, m + 1);
      slot.partial.term_error = std::max(slot.partial.term_error, m);
      file(m + 1, i);
      return;
    }
    file(m, i);  // counted again since: filed again under its current count
  }
}

void PartitionAggregator::set_max_terms(std::size_t max_terms) {
  config_.max_terms = std::max<std::size_t>(max_terms, 1);
  for (auto& [start, slot] : windows_) {
    if (slot.partial.terms.size() <= config_.max_terms) continue;
    truncate_terms(slot.partial, config_.max_terms);
    slot.drop_low();
    std::vector<std::uint64_t>().swap(slot.logged);  // entry numbers changed
    std::vector<std::string>().swap(slot.evicted);
    slot.snapshot_due = true;
    mark_dirty(start, slot);
  }
}

void PartitionAggregator::add_malformed(Malformed reason) {
  ++state_.consumed;
  ++state_.malformed[std::string(malformed_name(reason))];
  state_dirty_ = true;
}

std::vector<Millis> PartitionAggregator::close_due(Millis wall_now) {
  std::vector<Millis> closed;
  const bool idle = wall_now >= sat_add(last_active_, config_.idle_ms);
  for (auto& [start, slot] : windows_) {
    const Millis due = sat_add(sat_add(start, config_.size_ms), config_.grace_ms);
    // Later windows are due later: stop at the first one not due.
    if (state_.stream_time < due && !(idle && wall_now >= sat_add(due, config_.idle_ms))) break;
    if (slot.partial.closed) continue;
    slot.partial.closed = true;
    slot.drop_low();  // closed windows rarely change (refilled if one reopens)
    truncate_terms(slot.partial, config_.effective_closed_terms());
    std::vector<std::uint64_t>().swap(slot.logged);  // entry numbers changed: the next write
    std::vector<std::string>().swap(slot.evicted);   // is a snapshot anyway
    slot.snapshot_due = true;  // one record to restore from, the deltas tombstoned
    mark_dirty(start, slot);
    closed.push_back(start);
  }
  return closed;
}

std::vector<Millis> PartitionAggregator::expire(Millis before) {
  std::vector<Millis> expired;
  auto it = windows_.begin();
  while (it != windows_.end() && sat_add(it->first, config_.size_ms) <= before) {
    expired.push_back(it->first);
    const Slot& slot = it->second;
    state_.expired += slot.partial.count;  // accounted for, never silently gone
    state_dirty_ = true;
    if (slot.log.gen > 0)
      pending_tombstones_.push_back(keys_.snapshot(topic_, partition_, it->first));
    for (std::uint64_t seq = 0; seq < slot.log.next_seq; ++seq)
      pending_tombstones_.push_back(keys_.delta(topic_, partition_, it->first, seq));
    if (slot.log.legacy)
      pending_tombstones_.push_back(legacy_window_key(topic_, partition_, it->first));
    it = windows_.erase(it);
  }
  return expired;
}

std::vector<Millis> PartitionAggregator::take_dirty_windows() {
  std::vector<Millis> out;
  out.reserve(dirty_.size());
  for (Millis start : dirty_) {
    auto it = windows_.find(start);
    if (it != windows_.end() && it->second.dirty) {
      it->second.dirty = false;
      out.push_back(start);
    }
  }
  dirty_.clear();
  std::sort(out.begin(), out.end());
  return out;
}

bool PartitionAggregator::take_state_dirty() {
  return std::exchange(state_dirty_, false);
}

void PartitionAggregator::take_changelog(std::vector<ChangelogRecord>& out) {
  for (auto& key : pending_tombstones_) out.push_back({std::move(key), std::nullopt});
  pending_tombstones_.clear();
  for (Millis start : take_dirty_windows()) write_window(start, windows_.find(start)->second, out);
  if (take_state_dirty()) {
    out.push_back({keys_.state(topic_, partition_), encode_state_v2(state_)});
    if (legacy_state_) {
      out.push_back({legacy_state_key(topic_, partition_), std::nullopt});
      legacy_state_ = false;
    }
  }
}

void PartitionAggregator::write_window(Millis start, Slot& slot,
                                       std::vector<ChangelogRecord>& out) {
  const TermCounts& terms = slot.partial.terms;
  std::string value;
  bool snapshot = slot.snapshot_due || (slot.logged_freed && slot.terms_changed);
  if (!snapshot) {
    // The terms whose counts changed (none when only the header did: a late count).
    std::vector<std::pair<std::string_view, std::uint64_t>> changed;
    if (!slot.logged_freed) {
      for (std::size_t i = 0; i < terms.size(); ++i) {
        const auto& [term, count] = terms.entry(i);
        if (i >= slot.logged.size() || slot.logged[i] != count) changed.emplace_back(term, count);
      }
      // Distinct (see evict_and_insert); one evicted and counted again since is not gone.
      for (const auto& term : slot.evicted)
        if (!terms.contains(term)) changed.emplace_back(term, 0);
    }
    value = encode_delta(slot.log.gen, slot.log.next_seq, slot.partial, changed);
    if (slot.log.delta_bytes + value.size() > std::max(slot.log.snapshot_bytes, kDeltaBudgetBytes))
      snapshot = true;
  }
  slot.terms_changed = false;
  if (snapshot) {
    const std::uint64_t gen = slot.log.gen + 1;
    value = encode_snapshot(gen, slot.partial);
    const std::size_t bytes = value.size();
    out.push_back({keys_.snapshot(topic_, partition_, start), std::move(value)});
    for (std::uint64_t seq = 0; seq < slot.log.next_seq; ++seq)
      out.push_back({keys_.delta(topic_, partition_, start, seq), std::nullopt});
    if (slot.log.legacy)
      out.push_back({legacy_window_key(topic_, partition_, start), std::nullopt});
    slot.log = LogPosition{gen, 0, bytes, 0, false};
    slot.snapshot_due = false;
  } else {
    slot.log.delta_bytes += value.size();
    out.push_back({keys_.delta(topic_, partition_, start, slot.log.next_seq), std::move(value)});
    ++slot.log.next_seq;
  }
  slot.evicted.clear();
  if (slot.partial.closed) {
    // A closed window's terms change again only if it reopens, and that is written as a
    // snapshot: its bookkeeping is not worth its memory.
    std::vector<std::uint64_t>().swap(slot.logged);
    std::vector<std::string>().swap(slot.evicted);
    slot.logged_freed = true;
    return;
  }
  slot.logged_freed = false;
  slot.logged.resize(terms.size());
  for (std::size_t i = 0; i < terms.size(); ++i) slot.logged[i] = terms.entry(i).second;
}

std::shared_ptr<const AggregatorSnapshot> PartitionAggregator::snapshot(
    const AggregatorSnapshot* previous) const {
  auto out = std::make_shared<AggregatorSnapshot>();
  out->topic = topic_;
  out->partition = partition_;
  out->source = id_;
  out->state = state_;
  const bool same_source = previous != nullptr && previous->source == id_;
  for (const auto& [start, slot] : windows_) {
    AggregatorSnapshot::Window w{slot.version, nullptr};
    if (same_source) {
      auto it = previous->windows.find(start);
      if (it != previous->windows.end() && it->second.version == slot.version)
        w.partial = it->second.partial;
    }
    if (!w.partial) {
      w.partial = std::make_shared<const Partial>(
          top_terms_of(slot.partial, config_.effective_closed_terms()));
    }
    out->windows.emplace_hint(out->windows.end(), start, std::move(w));
  }
  return out;
}

const Partial* PartitionAggregator::window(Millis start) const {
  auto it = windows_.find(start);
  return it == windows_.end() ? nullptr : &it->second.partial;
}

}  // namespace speedlayer::views
