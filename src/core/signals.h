// Graceful-stop plumbing: SIGTERM and SIGINT set a flag that long-running loops poll.
//
//   install_stop_signals();
//   while (!stop_flag().load()) { ... }
#pragma once

#include <atomic>

namespace speedlayer {

// Process-wide flag set by SIGTERM/SIGINT once install_stop_signals() ran.
std::atomic<bool>& stop_flag();
void install_stop_signals();

}  // namespace speedlayer
