// Server-Sent Events fan-out for GET /v1/stream: one publisher (serve's view streamer), many
// subscribers (HTTP connections), each event numbered so a reconnecting browser resumes.
//
//   StreamHub hub;
//   // publisher thread, at most N times per second per topic:
//   hub.publish_topic("Sport", delta_json, snapshot_json);   // event "view"
//   hub.publish_status(status_json);                        // event "status", to everyone
//   // a connection:
//   auto id = hub.subscribe({"Sport"}, request_last_event_id, [conn](const Frame& f) {
//     return conn->enqueue(f);                               // false: too slow, drop me
//   });
//   ...
//   hub.unsubscribe(id);
//
// Ids are "<hub token>-<sequence>": the token is random per hub (so per process), so an id
// from another replica or an earlier run is never mistaken for one of ours. A subscriber whose
// Last-Event-ID is ours and still within the kept history gets exactly the events after it;
// anyone else gets the latest snapshot of each of its topics and the latest status, then live
// events. Snapshot frames carry the id of the newest event published before them, so resuming
// from a snapshot loses nothing either.
//
// Sinks are called with the hub's lock held, in event order (replay before live): they must
// only queue the frame (never block, never call back into the hub).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace speedlayer::http {

// One SSE frame, ready to write, shared by every subscriber it goes to.
using Frame = std::shared_ptr<const std::string>;

// "id: ID\nevent: EVENT\ndata: ...\n\n"; each line of `data` becomes its own data: line (the
// browser joins them with \n again). An empty id or event is left out.
std::string sse_frame(std::string_view id, std::string_view event, std::string_view data);

class StreamHub {
 public:
  struct Options {
    std::size_t history_events = 4096;     // events kept for Last-Event-ID resumes
    std::size_t history_bytes = 8u << 20;  // and at most this many bytes of them
  };
  StreamHub();
  explicit StreamHub(Options options);
  StreamHub(const StreamHub&) = delete;
  StreamHub& operator=(const StreamHub&) = delete;

  // A change of `topic`: `delta` (event "view") goes to the topic's subscribers and into the
  // history; `snapshot` (also a "view" body) becomes what new subscribers of the topic get.
  void publish_topic(const std::string& topic, std::string_view delta, std::string snapshot);
  // Event "status", to every subscriber; the latest is what new subscribers get.
  void publish_status(std::string_view data);

  using Sink = std::function<bool(const Frame&)>;  // false: remove this subscriber
  // `topics` empty: every topic, including those that appear later. Delivers the resume or
  // snapshot frames through `sink` before returning; the sink may be called from the publisher's
  // thread from then on until unsubscribe() returns.
  std::uint64_t subscribe(std::vector<std::string> topics, std::string_view last_event_id,
                          Sink sink);
  void unsubscribe(std::uint64_t subscription);

  std::size_t subscribers() const;
  // Id of the newest event ("<token>-<sequence>"), the token alone before the first one.
  std::string last_id() const;
  std::uint64_t events_published() const;  // publish_topic + publish_status calls
  std::uint64_t resumes() const;           // subscriptions served from the history
  std::uint64_t snapshots() const;         // subscriptions served a snapshot
  std::uint64_t dropped() const;           // subscribers removed because their sink refused

 private:
  struct Event {
    std::uint64_t seq;
    std::string topic;  // empty: status, for everyone
    Frame frame;
  };
  struct Subscriber {
    std::vector<std::string> topics;  // sorted; empty: all
    Sink sink;
  };
  static bool wants(const Subscriber& s, const std::string& topic);
  std::string id_of(std::uint64_t seq) const;
  void fan_out(const Event& event);                                              // mu_ held
  void append(Event event);                                                      // mu_ held
  std::optional<std::uint64_t> resumable(std::string_view last_event_id) const;  // mu_ held

  const Options options_;
  const std::string token_;
  mutable std::mutex mu_;
  std::uint64_t seq_ = 0;
  std::deque<Event> history_;
  std::size_t history_bytes_ = 0;
  std::map<std::string, std::string> snapshots_;  // topic -> latest "view" data
  std::string status_;                            // latest "status" data
  std::map<std::uint64_t, Subscriber> subscribers_;
  std::uint64_t next_subscription_ = 1;
  std::uint64_t resumes_ = 0, snapshots_sent_ = 0, dropped_ = 0;
};

}  // namespace speedlayer::http
