// Feeds GET /v1/stream: compares every topic's view with what was last published, at most
// `events_per_second` times a second, and publishes the windows that changed (a window that
// closed is a change: it arrives with final=true). Also publishes a status event (readiness,
// lag, topic totals) when it changes, at most once a second.
//
//   ViewStreamer streamer(store, hub, status_fn, clock, {.events_per_second = 4});
//   streamer.start();  ...  streamer.stop();   // or tick() by hand (tests)
//
// Event data ("view"): {"snapshot": bool, "oldest": ms|null, "topic", "window_ms", "late",
// "windows": [...]} where windows are /v1/views window objects: all of them when snapshot is
// true (the hub keeps that for new subscribers), else only the changed ones; "oldest" is the
// start of the oldest window kept, so a client drops older ones. Nothing is computed while no
// one subscribes: the state then stays as last published, so deltas stay consistent with the
// hub's snapshots when someone comes back.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "http/stream_hub.h"
#include "serve/processor.h"
#include "views/views.h"

namespace speedlayer::serve {

class ViewStreamer {
 public:
  struct Options {
    int events_per_second = 4;
    std::chrono::milliseconds status_interval{1000};
  };
  // `status` returns the status event's JSON object.
  ViewStreamer(const views::ViewStore& store, http::StreamHub& hub,
               std::function<std::string()> status, WallClock clock, Options options);
  ~ViewStreamer();  // stop()
  ViewStreamer(const ViewStreamer&) = delete;
  ViewStreamer& operator=(const ViewStreamer&) = delete;

  void start();
  void stop();
  // One round: publishes what changed since the last one. Returns the events published.
  std::size_t tick();

 private:
  const views::ViewStore& store_;
  http::StreamHub& hub_;
  std::function<std::string()> status_;
  WallClock clock_;
  Options options_;
  std::map<std::string, views::TopicView> published_;
  std::string last_status_;
  std::chrono::steady_clock::time_point next_status_{};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// The status event's data: {"ready", "reason", "lag": {topic: records behind}, "topics": [...]}
// ("topics" as in /v1/topics).
std::string stream_status_json(bool ready, const std::string& reason,
                               const std::map<std::string, std::int64_t>& lag,
                               const std::vector<views::TopicTotals>& totals);

}  // namespace speedlayer::serve
