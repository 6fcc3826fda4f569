// `speedlayer serve` as a whole: the exactly-once processor (this replica's partitions), a
// follower that reads the whole changelog into a ViewStore (so any replica answers for every
// partition of a topic), and the HTTP API with health, readiness and Prometheus metrics.
//
// Freshness: a view served by any replica includes every record whose transaction committed
// (at most --commit-interval after it was consumed) and that the follower has read since
// (typically a few milliseconds on a local network).
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
              std::function<void(int port)> on_listening);

}  // namespace speedlayer::serve
