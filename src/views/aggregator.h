// PartitionAggregator: the tumbling-window partials of one input partition, their state and
// the changelog records of their changes (semantics: views.h's header comment). Part of
// views.h (include that one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "views/changelog_codec.h"
#include "views/extract.h"
#include "views/term_counts.h"
#include "views/window.h"

namespace speedlayer::views {

struct PartitionState {
  Millis stream_time = -1;  // -1: nothing seen yet
  std::uint64_t late = 0;
  std::uint64_t long_terms = 0;  // term occurrences dropped: longer than max_term_bytes
  std::uint64_t consumed = 0;    // = counted (in kept windows) + late + malformed + expired
  std::uint64_t expired = 0;     // counted records whose windows left by retention or a watermark
  std::map<std::string, std::uint64_t> malformed;  // by reason name
};

// One changelog record to write; value nullopt = tombstone.
struct ChangelogRecord {
  std::string key;
  std::optional<std::string> value;
};

// Where a window stands in the changelog (format 2, changelog_codec.h): its generation, the
// next delta's seq and the bytes of the generation's snapshot and deltas, so a restored
// aggregator goes on writing the same generation.
struct LogPosition {
  std::uint64_t gen = 0;       // 0: no snapshot written yet
  std::uint64_t next_seq = 0;  // deltas 0..next_seq-1 of gen are in the changelog
  std::size_t snapshot_bytes = 0, delta_bytes = 0;
  bool legacy = false;  // restored from a format 1 record: rewritten as a snapshot, its key
                        // tombstoned, at the next take_changelog
};

// An immutable copy of one aggregator's kept windows and state, for readers on other threads
// (PartitionAggregator::snapshot). Each window holds what a closed window keeps: its top
// WindowConfig::effective_closed_terms() terms, term_error raised by what it leaves out, so
// the views' bounds hold; enough for any view's top_k. `version` tells whether a window
// changed since an earlier snapshot of the same aggregator (`source`); unchanged windows are
// shared, not copied.
struct AggregatorSnapshot {
  struct Window {
    std::uint64_t version = 0;
    std::shared_ptr<const Partial> partial;
  };
  std::string topic;
  std::int32_t partition = 0;
  std::uint64_t source = 0;  // the aggregator's id (unique in the process)
  PartitionState state;
  std::map<Millis, Window> windows;
};

class PartitionAggregator {
 public:
  // A generation's deltas may add up to their snapshot's size or this, whichever is larger,
  // before the next change is written as a new snapshot.
  static constexpr std::size_t kDeltaBudgetBytes = 64 * 1024;

  PartitionAggregator(std::string topic, std::int32_t partition, const WindowConfig& config,
                      ChangelogKeys keys = ChangelogKeys());

  // `partial` as of the changelog at `position` (a restore is not a change, unless the
  // record was format 1: then it is rewritten).
  void restore_window(Millis start, Partial partial, LogPosition position = {});
  void restore_state(PartitionState state, bool legacy = false);

  enum class Outcome { counted, late };
  // Hot path. consumed++ always; late (state.late++, and the window's late++ while it is
  // kept) when window end + grace <= stream time.
  // Terms longer than max_term_bytes are dropped and counted (state.long_terms); terms the
  // topic's filter (WindowConfig::filters) turns down are not counted.
  Outcome add(Millis event_time, std::string_view text);
  void add_malformed(Malformed reason);  // consumed++, malformed[name]++ (state dirty)
  // Records reached this partition at wall-clock time `wall_now` (the caller reads the clock
  // once per batch). Until it is called, the partition counts as idle since ever.
  void mark_active(Millis wall_now) { last_active_ = wall_now; }

  // Marks due windows closed (see views.h's header comment) and returns their starts
  // (ascending).
  std::vector<Millis> close_due(Millis wall_now);
  // Drops windows with end <= `before` (retention or a batch watermark); returns their starts
  // (their tombstones come with the next take_changelog). A later record for a dropped window
  // that is not late by stream time starts it again (only possible when `before` is ahead of
  // stream time - grace).
  std::vector<Millis> expire(Millis before);

  // Lowers (or raises) the distinct terms each window keeps (the memory budget). Open windows
  // holding more are truncated (truncate_terms: term_error grows, so views show the lost
  // accuracy) and written as snapshots at the next take_changelog. Never below 1.
  void set_max_terms(std::size_t max_terms);
  std::size_t max_terms() const { return config_.max_terms; }

  // Appends the changelog records (format 2) of everything changed since the last call, in
  // the order they must be written: tombstones of expired windows; per changed window a delta
  // of the terms whose counts changed, or, when the generation's deltas would outgrow its
  // budget, when the window closed or was restored from format 1, a snapshot of a new
  // generation followed by tombstones of the old generation's deltas; the state if changed.
  void take_changelog(std::vector<ChangelogRecord>& out);

  // Format 1 style, for tests and benchmarks: the windows changed since the last call (the
  // marks take_changelog would have used), and whether the state changed.
  std::vector<Millis> take_dirty_windows();
  bool take_state_dirty();

  const Partial* window(Millis start) const;  // nullptr if not kept
  std::size_t window_count() const { return windows_.size(); }
  // f(start, partial) for every kept window, oldest first.
  template <class F>
  void for_each_window(F&& f) const {
    for (const auto& [start, slot] : windows_) f(start, slot.partial);
  }
  const PartitionState& state() const { return state_; }
  const std::string& topic() const { return topic_; }
  std::int32_t partition() const { return partition_; }
  const LogPosition* log_position(Millis start) const;  // nullptr if not kept

  // A copy for readers on other threads (see AggregatorSnapshot). Windows unchanged since
  // `previous` (an earlier snapshot of this aggregator, or nullptr) are shared with it, so a
  // snapshot costs the top terms of the windows changed since, not all their terms.
  std::shared_ptr<const AggregatorSnapshot> snapshot(const AggregatorSnapshot* previous) const;
  std::uint64_t id() const { return id_; }  // unique in the process

 private:
  struct Slot {
    Partial partial;
    std::uint64_t version = 0;  // the aggregator's change counter at the partial's last change
    bool dirty = false;
    // Changelog bookkeeping: logged[i] is entry i's count as last written (0: not written,
    // or re-keyed since; counts only grow, so a changed count means a changed entry);
    // evicted holds the written terms Space-Saving re-keyed away since, each once.
    LogPosition log;
    std::vector<std::uint64_t> logged;
    std::vector<std::string> evicted;
    bool snapshot_due = false;   // the next write is a snapshot
    bool terms_changed = false;  // records were counted since the last write
    bool logged_freed = false;   // closed and written: `logged` freed, so a term change is
                                 // written as a snapshot (a late count alone as a delta)
    // Every term in partial.terms passes this aggregator's term rules (max_term_bytes and
    // the filter): true for a window counted here, checked once for a restored one (written
    // under other settings, it may hold terms they now drop). Then a term found in the table
    // is counted without asking the rules again: only new terms are filtered.
    bool admitted_only = true;
    // Space-Saving eviction candidates, bucketed by the count they were filed under:
    // low_buckets[c - low_base] holds entry numbers (in partial.terms) filed with count c, for
    // low_base <= c <= low_limit; every bucket below low_cursor is empty. Counts never
    // decrease (an evicted entry is re-keyed in place), so an entry's filed count is <= its
    // current count: a popped entry whose count is unchanged is a current minimum; a stale
    // one is filed again under its current count if still <= low_limit. When every bucket is
    // empty, a scan refills them with the lowest quarter of the counts (at most kLowBuckets
    // distinct counts). This replaced a binary heap whose sifting cost 6% of serve's CPU with
    // a new term per record (bench/README.md); the queue now costs O(1) per eviction.
    static constexpr std::size_t kLowBuckets = 1024;
    std::vector<std::vector<std::uint32_t>> low_buckets;
    std::uint64_t low_base = 0, low_limit = 0;
    std::size_t low_cursor = 0;

    void drop_low() {
      std::vector<std::vector<std::uint32_t>>().swap(low_buckets);
      low_cursor = 0;
    }
  };
  Slot& slot_for(Millis start);
  void mark_dirty(Millis start, Slot& slot);
  void add_new_term(Slot& slot, std::string_view term, std::uint64_t hash);
  bool admits(std::string_view term, std::uint64_t hash) const;
  void evict_and_insert(Slot& slot, std::string_view term, std::uint64_t hash);
  static void refill_low(Slot& slot);
  void write_window(Millis start, Slot& slot, std::vector<ChangelogRecord>& out);

  std::string topic_;
  std::int32_t partition_;
  WindowConfig config_;
  std::shared_ptr<const text::TermFilter> filter_;  // config_.filters' for topic_
  ChangelogKeys keys_;
  PartitionState state_;
  std::map<Millis, Slot> windows_;
  std::vector<Millis> dirty_;  // starts whose Slot::dirty went true since the last take
  bool state_dirty_ = false;
  bool legacy_state_ = false;  // restored from format 1: its key is tombstoned once rewritten
  std::vector<std::string> pending_tombstones_;              // keys of expired windows' records
  Millis last_active_ = std::numeric_limits<Millis>::min();  // see mark_active
  std::uint64_t id_;                                         // AggregatorSnapshot::source
  std::uint64_t changes_ = 0;                                // Slot::version
};

}  // namespace speedlayer::views
