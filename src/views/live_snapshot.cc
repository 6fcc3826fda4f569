// LiveSnapshotCache (live_snapshot.h).
#include "views/live_snapshot.h"

#include <chrono>
#include <map>
#include <memory>

namespace speedlayer::views {

namespace {
std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

bool LiveSnapshotCache::may_copy() const {
  return steady_ns() >= next_copy_ns_.load(std::memory_order_relaxed);
}

void LiveSnapshotCache::changed(const std::function<Aggregators()>& aggs) {
  version_.fetch_add(1, std::memory_order_release);
  if (!wanted_.load(std::memory_order_acquire) || !may_copy()) return;
  wanted_.store(false, std::memory_order_relaxed);
  publish(aggs());
}

void LiveSnapshotCache::publish(const Aggregators& aggs) const {
  // The owner's lock is held: version_ and the aggregators stay as they are meanwhile.
  const std::uint64_t version = version_.load(std::memory_order_acquire);
  std::shared_ptr<const LiveSnapshot> previous;
  {
    std::lock_guard lock(mu_);
    if (latest_version_ == version) return;  // made by another reader meanwhile
    previous = latest_;
  }
  const std::int64_t copy_start = steady_ns();
  std::map<std::uint64_t, const AggregatorSnapshot*> by_source;
  for (const auto& s : *previous) by_source[s->source] = s.get();
  auto next = std::make_shared<LiveSnapshot>();
  next->reserve(aggs.size());
  for (const PartitionAggregator* agg : aggs) {
    auto it = by_source.find(agg->id());
    next->push_back(agg->snapshot(it == by_source.end() ? nullptr : it->second));
  }
  const std::int64_t copy_end = steady_ns();
  next_copy_ns_.store(copy_end + kCopySpacing * (copy_end - copy_start), std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    latest_ = std::move(next);
    latest_version_ = version;
  }
  published_.fetch_add(1, std::memory_order_relaxed);
  published_cv_.notify_all();
}

std::shared_ptr<const LiveSnapshot> LiveSnapshotCache::read(
    std::mutex& owner_mu, const std::function<Aggregators()>& aggs,
    std::chrono::milliseconds timeout) const {
  // Every change noted before this call; later ones may or may not be in the answer.
  const std::uint64_t wanted_version = version_.load(std::memory_order_acquire);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (latest_version_ >= wanted_version) return latest_;
    }
    if (may_copy()) {
      std::unique_lock owner(owner_mu, std::try_to_lock);
      if (owner.owns_lock()) {
        publish(aggs());
        std::lock_guard lock(mu_);
        return latest_;
      }
    }
    // The owner is in a batch, or the last copy was too recent: ask for a snapshot at the
    // end of a batch. Waits in short slices, and tries again: the owner may be idle.
    wanted_.store(true, std::memory_order_release);
    std::unique_lock lock(mu_);
    if (std::chrono::steady_clock::now() >= deadline) return latest_;
    published_cv_.wait_for(lock, std::chrono::milliseconds(2),
                           [&] { return latest_version_ >= wanted_version; });
    if (latest_version_ >= wanted_version) return latest_;
  }
}

}  // namespace speedlayer::views
