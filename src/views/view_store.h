// ViewStore: the merged, served views of every partition, from the changelog and the live
// aggregators, and their HTTP bodies. Part of views.h (include that one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "views/aggregator.h"
#include "views/changelog_codec.h"
#include "views/live_snapshot.h"
#include "views/window.h"

namespace speedlayer::views {

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
  std::uint64_t late = 0;        // records that came after the window's end + grace
  std::uint64_t term_error = 0;  // sum of the partials' Space-Saving bounds
  bool final = false;
  std::vector<TermCount> top;  // by count desc, then term asc; top_k entries at most
};
struct TopicView {
  std::string topic;
  // The filter the topic's terms were counted with (WindowConfig::filters); null: none.
  std::shared_ptr<const text::TermFilter> filter;
  Millis window_ms = 0;
  std::uint64_t late = 0;
  std::vector<WindowView> windows;  // oldest first
};
struct TopicTotals {
  std::string topic;
  std::uint64_t count = 0;  // messages counted in kept windows
  std::uint64_t late = 0;
  std::uint64_t expired = 0;     // counted, then dropped with their windows (retention, watermark)
  std::uint64_t consumed = 0;    // records consumed (count + late + malformed + expired)
  std::uint64_t long_terms = 0;  // term occurrences dropped as longer than max_term_bytes
  std::size_t windows = 0;
  std::size_t partitions = 0;
  std::map<std::string, std::uint64_t> malformed;
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
  std::vector<TopicTotals> totals() const;          // by topic name
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

std::string to_json(const TopicView& view);                   // the /v1/views body
std::string to_json(const std::vector<TopicTotals>& totals);  // the /v1/topics body

}  // namespace speedlayer::views
