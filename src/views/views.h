// The speed layer's real-time views: tumbling-window aggregates of message counts and term
// frequencies per topic, kept as additive *partials* per (topic, input partition, window), so
// that state and consumed offsets can move together in one Kafka transaction, and any replica
// can serve a whole topic by merging every partition's partials from the changelog.
//
//   WindowConfig cfg;                                  // 60 s windows, 10 s grace, top 10
//   PartitionAggregator agg("Sport", 0, cfg, ChangelogKeys("my-group"));  // the processor's
//   auto text = extract_text(value, "text", "", 1 << 20);
//   agg.add(event_time_ms, text.text);                 // counted or late
//   std::vector<ChangelogRecord> records;
//   agg.take_changelog(records);                       // what changed: deltas, snapshots,
//   for (auto& r : records) send(r.key, r.value);      // tombstones, state (changelog_codec.h)
//
//   ViewStore store(cfg, "my-group");                  // fed by the changelog reader
//   store.apply(key, value);                           // value nullopt = tombstone
//   auto view = store.view("Sport", {}, {}, now_ms);   // merged across partitions
//
// Semantics (as Kafka Streams' TimeWindows): windows [start, start + size) aligned to the
// epoch; stream time = highest event time seen on the input partition; a record whose window
// end + grace <= stream time is *late*: not added, counted per partition (never silently
// dropped). A window is closed (final) when stream time passes end + grace, or, for an idle
// partition, when wall-clock time passes end + grace + idle (wall-clock fallback). A partition
// is idle when no record reached it for `idle_ms` of wall-clock time (mark_active): a
// partition catching up on old data closes its windows by stream time only, as in Kafka
// Streams, instead of closing every window at once and reopening it with the next record.
//
// A record for a window that the wall-clock fallback closed but that is not late by stream
// time is still counted (exactness first): the window reopens (closed = false, dirty), and
// once the partition is idle again close_due closes it again, so the processor re-emits its
// output record (keyed per input partition, it supersedes the earlier one).
//
// Term counts and their error bound (Space-Saving, Metwally et al. 2005). A partial keeps at
// most `max_terms` distinct terms. While it has fewer, counts are exact (term_error = 0). A new
// term arriving at a full partial replaces the term with the smallest count m, and gets count
// m + 1; term_error = max(term_error, m). Then for every kept term:
//     true count <= kept count <= true count + term_error,
// a term not kept has true count <= term_error, and term_error <= occurrences / max_terms
// (occurrences = all term occurrences added to the partial). So every term occurring more than
// occurrences / max_terms times is kept. Merged across partitions (the ViewStore sums counts
// per term), the overestimate of a merged count is at most the sum of the partials'
// term_error, and a term missing from some partial may be undercounted by that partial's
// term_error.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/error.h"
#include "views/changelog_codec.h"

namespace speedlayer::views {

using Millis = std::int64_t;

struct WindowConfig {
  Millis size_ms = 60'000;
  Millis grace_ms = 10'000;
  Millis idle_ms = 10'000;          // wall-clock fallback for idle partitions
  Millis retention_ms = 7'200'000;  // windows kept this long behind stream time
  std::size_t top_k = 10;
  // Distinct terms kept per partial; beyond it, Space-Saving replaces the least counted term
  // (each kept count then overestimates by at most the evicted minimum, recorded in
  // Partial::term_error).
  std::size_t max_terms = 10'000;
  // Longer terms (bytes of UTF-8) are dropped and counted (PartitionState::long_terms): a
  // 64-byte "word" is an id, a hash or a URL, not a trend, and truncating it would merge
  // distinct strings into one false term. It also bounds every record serve writes.
  std::size_t max_term_bytes = 64;
  // Terms a window keeps once closed (0: max(10 x top_k, 100)). A closed window needs its top
  // terms for views and the output record, not 10,000 counters: keeping the largest counts
  // and raising term_error to the largest count dropped keeps Space-Saving's bounds true, and
  // cuts the memory and changelog bytes of the retained hours of closed windows ~100-fold.
  std::size_t closed_terms = 0;
  std::size_t effective_closed_terms() const {
    return closed_terms ? closed_terms : std::max<std::size_t>(10 * top_k, 100);
  }
};

// Keeps the `keep` largest counts of `p` (ties broken by term, so the result is the same on
// every replica); term_error becomes at least the largest count dropped, so every bound of
// the header comment still holds. No-op when p has at most `keep` terms.
void truncate_terms(Partial& p, std::size_t keep);
// A copy of `p` as truncate_terms(copy, keep) would leave it, without copying the terms it
// drops.
Partial top_terms_of(const Partial& p, std::size_t keep);

Millis window_start(Millis event_time, Millis size_ms);  // floor to the epoch-aligned window
                                                         // (also for negative times)

// ---- Text extraction and terms ----------------------------------------------------------
// future_time: an event time more than --max-future (default 1h, Kafka's own
// log.message.timestamp.after.max.ms default) ahead of the wall clock; it would push stream
// time so far that every later record became late. bad_time: a negative event time (before
// 1970). Both are checked by the processor (event_time_problem), for time fields and Kafka
// timestamps alike.
enum class Malformed {
  none, invalid_utf8, too_large, binary, no_text, future_time, bad_time, too_deep
};
// none, future_time or bad_time for an event time at wall-clock time `wall_now`.
Malformed event_time_problem(Millis event_time, Millis wall_now, Millis max_future_ms);
std::string_view malformed_name(Malformed m);  // "invalid_utf8", ...

struct Extracted {
  std::string text;
  Malformed problem = Malformed::none;
  std::optional<Millis> event_time;  // from time_field, when given and present (ms since epoch)
};
// A value is a JSON string (its text), a JSON object (its `text_field` string; `time_field`
// as a number of ms or an ISO-8601 string), or raw UTF-8 text. Invalid UTF-8, NUL/control
// bytes (binary) and values over `max_bytes` are malformed.
//   Checked in this order: too_large (value.size() > max_bytes), binary (a byte < 0x20 other
//   than \t \n \r, or 0x7f; also in a decoded JSON string), invalid_utf8, no_text (a JSON
//   object whose `text_field` is missing or not a string), too_deep (a value that starts as a
//   JSON object and nests arrays/objects deeper than json::kMaxJsonDepth). Anything that is not a JSON string
//   or object (other JSON, or not JSON) is raw text. time_field (empty = none): a JSON number
//   of ms (integral, |ms| < 2^53), a string of digits (ms), or ISO-8601
//   "YYYY-MM-DD[(T| )hh:mm[:ss[.fff...]]][Z|+hh:mm|-hh:mm|+hhmm]" (no zone = UTC); otherwise
//   (absent or unparsable) event_time stays nullopt and the caller uses the Kafka timestamp.
// Never throws.
Extracted extract_text(std::string_view value, const std::string& text_field,
                       const std::string& time_field, std::size_t max_bytes);
// The same without copying: `text` views `value` (a JSON string without escapes, raw text) or
// `scratch` (a decoded JSON string), so it lives as long as both. The processor's hot path.
struct ExtractedView {
  std::string_view text;
  Malformed problem = Malformed::none;
  std::optional<Millis> event_time;
};
ExtractedView extract_text_view(std::string_view value, const std::string& text_field,
                                const std::string& time_field, std::size_t max_bytes,
                                std::string& scratch);
// Lowercased ASCII words ([a-z0-9'] runs; other bytes separate; non-ASCII UTF-8 letters kept
// inside words, lowercased only for ASCII). Calls f(std::string_view term) per occurrence.
template <class F>
void for_each_term(std::string_view text, F&& f);

// ---- Partials ---------------------------------------------------------------------------
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

struct PartitionState {
  Millis stream_time = -1;  // -1: nothing seen yet
  std::uint64_t late = 0;
  std::uint64_t long_terms = 0;  // term occurrences dropped: longer than max_term_bytes
  std::uint64_t consumed = 0;  // = counted (in kept windows) + late + malformed + expired
  std::uint64_t expired = 0;   // counted records whose windows left by retention or a watermark
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
  // Terms longer than max_term_bytes are dropped and counted (state.long_terms).
  Outcome add(Millis event_time, std::string_view text);
  void add_malformed(Malformed reason);  // consumed++, malformed[name]++ (state dirty)
  // Records reached this partition at wall-clock time `wall_now` (the caller reads the clock
  // once per batch). Until it is called, the partition counts as idle since ever.
  void mark_active(Millis wall_now) { last_active_ = wall_now; }

  // Marks due windows closed (see header comment) and returns their starts (ascending).
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
  void add_term(Slot& slot, std::string_view term);
  void evict_and_insert(Slot& slot, std::string_view term, std::uint64_t hash);
  static void refill_low(Slot& slot);
  void write_window(Millis start, Slot& slot, std::vector<ChangelogRecord>& out);

  std::string topic_;
  std::int32_t partition_;
  WindowConfig config_;
  ChangelogKeys keys_;
  PartitionState state_;
  std::map<Millis, Slot> windows_;
  std::vector<Millis> dirty_;  // starts whose Slot::dirty went true since the last take
  bool state_dirty_ = false;
  bool legacy_state_ = false;  // restored from format 1: its key is tombstoned once rewritten
  std::vector<std::string> pending_tombstones_;  // keys of expired windows' records
  Millis last_active_ = std::numeric_limits<Millis>::min();  // see mark_active
  std::uint64_t id_;           // AggregatorSnapshot::source
  std::uint64_t changes_ = 0;  // Slot::version
};

// ---- Changelog records: changelog_codec.h ------------------------------------------

// Closed-window record for the output topic (the serving layer merges it with batch views):
// key "<topic>|<start>|<partition>", value JSON {"topic","partition","start","end","count",
// "top":[{"term","count"}...],"term_error":E,"late":L} plus "group" when given, and, with all_terms,
// "terms":{...} (every kept term): partials of one window are additive (sum count and terms
// per window start; term_error bounds are additive too). Without all_terms the record's size
// is bounded by top_k, not by max_terms (output_value_bound).
std::string output_key(std::string_view topic, Millis start, std::int32_t partition);
std::string encode_output(std::string_view topic, std::int32_t partition, Millis start,
                          const Partial& p, const WindowConfig& config, bool all_terms = true,
                          std::string_view group = {});
// The largest value encode_output can write for this config (JSON escapes a byte as at most
// 6: \u00XX).
std::size_t output_value_bound(const WindowConfig& config, bool all_terms);

// ---- The merged, served view ------------------------------------------------------------
// A term of a view. Its true count lies in [count - error, count + error] (Space-Saving:
// error = the sum of the merged partials' term_error; 0 while no partial dropped a term).
// guaranteed: the term is certainly among the window's top_k true counts, i.e. count - error
// exceeds count + error of the (top_k + 1)-th term (or error alone when there is none): any
// term outside the list, kept or not, has a true count below it.
struct TermCount {
  std::string term;
  std::uint64_t count = 0;
  std::uint64_t error = 0;
  bool guaranteed = true;
};
struct WindowView {
  Millis start = 0, end = 0;
  std::uint64_t count = 0;
  std::uint64_t late = 0;  // records that came after the window's end + grace
  std::uint64_t term_error = 0;  // sum of the partials' Space-Saving bounds
  bool final = false;
  std::vector<TermCount> top;  // by count desc, then term asc; top_k entries at most
};
struct TopicView {
  std::string topic;
  Millis window_ms = 0;
  std::uint64_t late = 0;
  std::vector<WindowView> windows;  // oldest first
};
struct TopicTotals {
  std::string topic;
  std::uint64_t count = 0;     // messages counted in kept windows
  std::uint64_t late = 0;
  std::uint64_t expired = 0;   // counted, then dropped with their windows (retention, watermark)
  std::uint64_t consumed = 0;  // records consumed (count + late + malformed + expired)
  std::uint64_t long_terms = 0;  // term occurrences dropped as longer than max_term_bytes
  std::size_t windows = 0;
  std::size_t partitions = 0;
  std::map<std::string, std::uint64_t> malformed;
};

// Input partitions whose aggregators live in this process (serve's processor owns them). A
// ViewStore given one serves those partitions from the aggregators, records not committed
// yet included, instead of from their changelog partials, which lag by a commit. The views
// read an immutable snapshot (LiveSnapshotCache), so a view that merges and sorts for a
// second never holds the owner's lock: the processor never waits for a reader.
using LiveSnapshot = std::vector<std::shared_ptr<const AggregatorSnapshot>>;

class LiveAggregators {
 public:
  virtual ~LiveAggregators() = default;
  // A snapshot holding every change the owner made before the call (any thread).
  virtual std::shared_ptr<const LiveSnapshot> live_snapshot() const = 0;
};

// Snapshots of the aggregators one owner changes under its own lock (serve's processor
// thread), published for readers on other threads. The owner notes each change; a snapshot
// is made only when a reader needs a newer one, copying only the windows changed since the
// last (at most one copy per batch of changes, whatever the number of readers):
//  - a reader whose snapshot is stale makes it itself if the owner's lock is free (the owner
//    is between batches, so it waits at most for that copy);
//  - otherwise it asks, and the owner publishes at the end of its current batch.
// Either way the copy is made under the owner's lock, so copies are spaced: the next one
// waits until kCopySpacing times the last copy's duration has passed. Copies then take at
// most 1/(kCopySpacing + 1) of the owner's time however many readers poll; a reader waits
// for its snapshot up to that spacing (a copy holds each changed window's top terms only,
// about 0.2 ms for 10,000 terms), and a reader that comes after a quiet spell gets one at once.
//
//   Owner, under its lock, after a batch:   cache.changed(aggs_fn);
//   Reader:                                 auto live = cache.read(owner_mu, aggs_fn);
class LiveSnapshotCache {
 public:
  using Aggregators = std::vector<const PartitionAggregator*>;

  // Owner, holding its lock, after changing its aggregators or their set: notes the change,
  // and publishes at once when a reader is waiting.
  void changed(const std::function<Aggregators()>& aggs);
  // Reader: the latest snapshot if it holds every change noted before the call; else makes
  // one under `owner_mu` when it is free, or waits for the owner's. After `timeout` (an
  // owner stuck in a batch) the latest snapshot, stale, rather than a hang.
  std::shared_ptr<const LiveSnapshot> read(
      std::mutex& owner_mu, const std::function<Aggregators()>& aggs,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) const;
  // Snapshots made so far (a test's and a metric's view of the cost).
  std::uint64_t published() const { return published_.load(std::memory_order_relaxed); }

  static constexpr int kCopySpacing = 19;  // copies: at most 5% of the owner's time

 private:
  void publish(const Aggregators& aggs) const;  // the owner's lock held
  bool may_copy() const;  // the spacing since the last copy has passed

  std::atomic<std::uint64_t> version_{0};
  mutable std::atomic<bool> wanted_{false};
  mutable std::atomic<std::uint64_t> published_{0};
  mutable std::atomic<std::int64_t> next_copy_ns_{0};  // steady_clock; see kCopySpacing
  mutable std::mutex mu_;  // guards latest_, latest_version_
  mutable std::condition_variable published_cv_;
  mutable std::shared_ptr<const LiveSnapshot> latest_ = std::make_shared<const LiveSnapshot>();
  mutable std::uint64_t latest_version_ = 0;
};

// Thread-safe: the changelog reader applies, HTTP handlers read.
class ViewStore {
 public:
  // `group`: the consumer group whose format 2 records this store applies; records of other
  // groups are ignored and counted (foreign_records). Format 1 records (no group) are taken.
  explicit ViewStore(WindowConfig config, std::string group = {});
  // Serve the partitions `live` holds from it (see LiveAggregators). Set before other threads
  // use the store; `live` outlives it. The snapshot is taken before the store's lock.
  void set_live(const LiveAggregators* live) { live_ = live; }
  // Applies one changelog record; nullopt value = tombstone. Records of one input partition
  // must come in the order they were written (they share a changelog partition). Bad records
  // (undecodable, or a delta that does not follow its window's last record) are errors (the
  // caller counts them), never a crash; they leave the store unchanged.
  Status apply(std::string_view key, std::optional<std::string_view> value);
  // Window partials, their changelog positions and the state of one input partition (for
  // restoring an aggregator). False when the store holds no state for it.
  bool restore_into(PartitionAggregator& agg) const;
  std::uint64_t foreign_records() const;

  // Merges the topic's partitions per window start (counts and terms summed; top from the
  // sums), each partition from its live aggregator when there is one, else the changelog.
  // final: the lowest stream time among the topic's partitions >= end + grace, or wall_now >=
  // end + grace + idle. late: sum over partitions. Windows with from <= start < to, oldest
  // first. nullopt for a topic with neither windows nor state.
  std::optional<TopicView> view(const std::string& topic, std::optional<Millis> from,
                                std::optional<Millis> to, Millis wall_now) const;
  std::vector<TopicTotals> totals() const;  // by topic name
  std::size_t open_windows(Millis wall_now) const;  // merged windows, all topics, not final
  // Drops windows with end <= before locally (the processor writes tombstones for its own).
  // Returns the number of partials dropped.
  std::size_t expire_before(Millis before);

 private:
  // A window as read from the changelog: the header of its latest record decoded, the terms
  // kept encoded (the snapshot's terms section, then each delta's) and decoded only when a
  // view asks for the window's top terms, so following the changelog costs a copy per
  // record, not a hash map rebuilt.
  struct StoredPartial {
    std::uint64_t count = 0;
    std::uint64_t term_error = 0;
    bool closed = false;
    std::uint64_t late = 0;
    std::uint64_t gen = 0;
    std::uint64_t term_count = 0;     // entries in `terms`
    std::string terms;                // the snapshot's terms: varint length, bytes, varint count
    std::vector<std::string> deltas;  // terms sections of gen's deltas 0.., in seq order
    std::size_t snapshot_bytes = 0, delta_bytes = 0;
    bool legacy = false;  // a format 1 record
  };
  struct PartitionData {
    std::map<Millis, StoredPartial> windows;
    std::optional<PartitionState> state;
    bool v2 = false;  // holds format 2 records: format 1 ones for it are stale
    bool legacy_state = false;
  };
  using Live = LiveSnapshot;

  // One topic's partitions as a view sees them (pointers valid under the locks).
  struct WindowParts {
    std::uint64_t count = 0;
    std::vector<const StoredPartial*> stored;
    std::vector<const Partial*> live;
  };
  struct TopicSources {
    std::map<std::int32_t, const PartitionState*> states;
    std::map<Millis, WindowParts> windows;  // start -> parts, from <= start < to
    std::set<std::int32_t> partitions;
  };
  Status apply_window(const ChangelogKey& k, std::optional<std::string_view> value,
                      PartitionData& data);
  // Runs f(a snapshot of the live aggregators) under the store's lock.
  void read(const std::function<void(const Live&)>& f) const;
  TopicSources collect(const std::string& topic, std::optional<Millis> from,
                       std::optional<Millis> to, const Live& live) const;
  std::set<std::string> topics(const Live& live) const;
  Millis min_stream_time(const TopicSources& sources) const;

  WindowConfig config_;
  std::string group_;
  const LiveAggregators* live_ = nullptr;
  mutable std::mutex mu_;
  // topic -> partition -> its windows and state
  std::map<std::string, std::map<std::int32_t, PartitionData>> partitions_;
  std::uint64_t foreign_ = 0;
};

std::string to_json(const TopicView& view);                      // the /v1/views body
std::string to_json(const std::vector<TopicTotals>& totals);     // the /v1/topics body

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
    std::memcpy(tail, p, len);
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

// The JSON decoding behind extract_text_view, for the differential test: a JSON string or
// object `json_text` (trimmed) into `out` (text in `scratch`, no_text, binary, event time).
// False when the parser turns the value down (then it is raw text, unless the other parser
// takes it: simdjson is asked first, and nlohmann has the last word on what it turns down).
bool extract_json_with_simdjson(std::string_view json_text, const std::string& text_field,
                                const std::string& time_field, std::string& scratch,
                                ExtractedView& out);
bool extract_json_with_nlohmann(std::string_view json_text, const std::string& text_field,
                                const std::string& time_field, std::string& scratch,
                                ExtractedView& out);
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
