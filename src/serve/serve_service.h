// `speedlayer serve` as a whole: the exactly-once processor (this replica's partitions), a
// follower that reads the whole changelog into a ViewStore (so any replica answers for every
// partition of a topic), and the HTTP API with health, readiness and Prometheus metrics.
//
// Freshness: a replica serves the partitions it owns from its processor's aggregators, as of
// the last processed batch (milliseconds after the record reached the broker); the other
// partitions from the changelog: every record whose transaction the owning replica committed
// (at most --commit-interval plus the commit's duration after it was consumed) and that the
// follower has read since (typically a few milliseconds on a local network). As Kafka
// Streams' interactive queries, the owned part reads uncommitted state: after a crash the
// restarted (or new) owner serves the committed state until it has consumed the rest again,
// so a view can step back for a moment, never count a record twice.
//
//   std::atomic<bool> stop{false};
//   int code = run_serve(options, stop, system_wall_clock, [](int port) { ... });
#pragma once

#include <atomic>
#include <functional>

#include "serve/processor.h"

namespace speedlayer::serve {

// Runs until `stop` (or a fatal error); returns the process exit code. `on_listening` is
// called with the HTTP port once the server accepts connections.
int run_serve(const ServeOptions& options, const std::atomic<bool>& stop, WallClock clock,
              const std::function<void(int port)>& on_listening);

}  // namespace speedlayer::serve
