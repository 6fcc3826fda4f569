#include "serve/view_stream.h"

#include <utility>

#include "http/server.h"
#include "json/python_json.h"

namespace speedlayer::serve {
namespace {

bool same_terms(const std::vector<views::TermCount>& a, const std::vector<views::TermCount>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].term != b[i].term || a[i].count != b[i].count || a[i].error != b[i].error ||
        a[i].guaranteed != b[i].guaranteed) {
      return false;
    }
  }
  return true;
}

bool same_window(const views::WindowView& a, const views::WindowView& b) {
  return a.start == b.start && a.end == b.end && a.count == b.count && a.late == b.late &&
         a.term_error == b.term_error && a.final == b.final && same_terms(a.top, b.top);
}

// views::to_json(view) with "snapshot" and "oldest" in front (to_json's body is an object).
std::string event_json(const views::TopicView& view, bool snapshot, const views::TopicView& all) {
  const std::string body = views::to_json(view);
  std::string out = "{\"snapshot\":";
  out += snapshot ? "true" : "false";
  out += ",\"oldest\":";
  out += all.windows.empty() ? "null" : std::to_string(all.windows.front().start);
  out += ",";
  out.append(body, 1, std::string::npos);
  return out;
}

}  // namespace

std::string stream_status_json(bool ready, const std::string& reason,
                               const std::map<std::string, std::int64_t>& lag,
                               const std::vector<views::TopicTotals>& totals) {
  std::string out = "{\"ready\":";
  out += ready ? "true" : "false";
  out += ",\"reason\":" + json::json_string(reason) + ",\"lag\":{";
  bool first = true;
  for (const auto& [topic, n] : lag) {
    if (!first) out += ",";
    first = false;
    out += json::json_string(topic) + ":" + std::to_string(n);
  }
  out += "},";
  const std::string topics = views::to_json(totals);  // {"topics": [...]}
  out.append(topics, 1, std::string::npos);
  return out;
}

ViewStreamer::ViewStreamer(const views::ViewStore& store, http::StreamHub& hub,
                           std::function<std::string()> status, WallClock clock, Options options)
    : store_(store),
      hub_(hub),
      status_(std::move(status)),
      clock_(std::move(clock)),
      options_(options) {
  if (options_.events_per_second < 1) options_.events_per_second = 1;
}

ViewStreamer::~ViewStreamer() {
  stop();
}

std::size_t ViewStreamer::tick() {
  if (hub_.subscribers() == 0) return 0;
  std::size_t events = 0;
  const views::Millis now = clock_();
  for (const auto& totals : store_.totals()) {
    auto view = store_.view(totals.topic, std::nullopt, std::nullopt, now);
    if (!view) continue;
    auto last = published_.find(totals.topic);
    if (last == published_.end()) {
      const std::string snapshot = event_json(*view, true, *view);
      hub_.publish_topic(totals.topic, snapshot, snapshot);
      published_.emplace(totals.topic, std::move(*view));
      ++events;
      continue;
    }
    // The windows that are new or differ from the last published ones (both lists oldest
    // first; a window that left the retention is not an event: "oldest" tells).
    views::TopicView delta;
    delta.topic = view->topic;
    delta.window_ms = view->window_ms;
    delta.late = view->late;
    const auto& before = last->second.windows;
    std::size_t j = 0;
    for (const auto& w : view->windows) {
      while (j < before.size() && before[j].start < w.start) ++j;
      if (j < before.size() && before[j].start == w.start && same_window(before[j], w)) continue;
      delta.windows.push_back(w);
    }
    const bool oldest_moved =
        !before.empty() &&
        (view->windows.empty() || view->windows.front().start != before.front().start);
    if (delta.windows.empty() && !oldest_moved && delta.late == last->second.late) continue;
    hub_.publish_topic(totals.topic, event_json(delta, false, *view),
                       event_json(*view, true, *view));
    last->second = std::move(*view);
    ++events;
  }
  const auto steady = std::chrono::steady_clock::now();
  if (status_ && steady >= next_status_) {
    next_status_ = steady + options_.status_interval;
    std::string status = status_();
    if (status != last_status_) {
      hub_.publish_status(status);
      last_status_ = std::move(status);
      ++events;
    }
  }
  return events;
}

void ViewStreamer::start() {
  thread_ = std::thread([this] {
    const auto interval = std::chrono::milliseconds(1000 / options_.events_per_second);
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      tick();
      lock.lock();
      cv_.wait_for(lock, interval, [this] { return stopping_; });
    }
  });
}

void ViewStreamer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace speedlayer::serve
