// Live snapshots: immutable copies of the aggregators one owner changes, for readers on other
// threads (a ViewStore's views). Part of views.h (include that one).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "views/aggregator.h"

namespace speedlayer::views {

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
  bool may_copy() const;                        // the spacing since the last copy has passed

  std::atomic<std::uint64_t> version_{0};
  mutable std::atomic<bool> wanted_{false};
  mutable std::atomic<std::uint64_t> published_{0};
  mutable std::atomic<std::int64_t> next_copy_ns_{0};  // steady_clock; see kCopySpacing
  mutable std::mutex mu_;                              // guards latest_, latest_version_
  mutable std::condition_variable published_cv_;
  mutable std::shared_ptr<const LiveSnapshot> latest_ = std::make_shared<const LiveSnapshot>();
  mutable std::uint64_t latest_version_ = 0;
};

}  // namespace speedlayer::views
