#include "http/stream_hub.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <random>
#include <utility>

namespace speedlayer::http {
namespace {

std::string random_token() {
  std::random_device rd;
  const std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string sse_frame(std::string_view id, std::string_view event, std::string_view data) {
  std::string out;
  out.reserve(data.size() + id.size() + event.size() + 32);
  if (!id.empty()) out.append("id: ").append(id).append("\n");
  if (!event.empty()) out.append("event: ").append(event).append("\n");
  // A data line ends at \n, \r or \r\n (the SSE grammar): split on all three.
  std::size_t start = 0;
  for (std::size_t i = 0; i <= data.size(); ++i) {
    if (i == data.size() || data[i] == '\n' || data[i] == '\r') {
      out.append("data: ").append(data.substr(start, i - start)).append("\n");
      if (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  out.append("\n");
  return out;
}

StreamHub::StreamHub() : StreamHub(Options{}) {}

StreamHub::StreamHub(Options options) : options_(options), token_(random_token()) {}

std::string StreamHub::id_of(std::uint64_t seq) const {
  return token_ + "-" + std::to_string(seq);
}

bool StreamHub::wants(const Subscriber& s, const std::string& topic) {
  if (topic.empty() || s.topics.empty()) return true;
  return std::binary_search(s.topics.begin(), s.topics.end(), topic);
}

void StreamHub::fan_out(const Event& event) {
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    if (wants(it->second, event.topic) && !it->second.sink(event.frame)) {
      ++dropped_;
      it = subscribers_.erase(it);
    } else {
      ++it;
    }
  }
}

void StreamHub::append(Event event) {
  history_bytes_ += event.frame->size();
  history_.push_back(std::move(event));
  while (!history_.empty() &&
         (history_.size() > options_.history_events || history_bytes_ > options_.history_bytes)) {
    history_bytes_ -= history_.front().frame->size();
    history_.pop_front();
  }
}

void StreamHub::publish_topic(const std::string& topic, std::string_view delta,
                              std::string snapshot) {
  std::lock_guard lock(mu_);
  const std::uint64_t seq = ++seq_;
  Event event{seq, topic,
              std::make_shared<const std::string>(sse_frame(id_of(seq), "view", delta))};
  snapshots_[topic] = std::move(snapshot);
  fan_out(event);
  append(std::move(event));
}

void StreamHub::publish_status(std::string_view data) {
  std::lock_guard lock(mu_);
  const std::uint64_t seq = ++seq_;
  Event event{seq, "", std::make_shared<const std::string>(sse_frame(id_of(seq), "status", data))};
  status_ = std::string(data);
  fan_out(event);
  append(std::move(event));
}

std::optional<std::uint64_t> StreamHub::resumable(std::string_view last_event_id) const {
  if (!last_event_id.starts_with(token_) || last_event_id.size() <= token_.size() + 1 ||
      last_event_id[token_.size()] != '-') {
    return std::nullopt;
  }
  const std::string_view digits = last_event_id.substr(token_.size() + 1);
  std::uint64_t seq = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  if (seq > seq_) return std::nullopt;  // not an id we gave out
  // Every event after `seq` must still be kept: the oldest kept is at most seq + 1.
  const std::uint64_t oldest = history_.empty() ? seq_ + 1 : history_.front().seq;
  if (oldest > seq + 1) return std::nullopt;
  return seq;
}

std::uint64_t StreamHub::subscribe(std::vector<std::string> topics, std::string_view last_event_id,
                                   Sink sink) {
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  std::lock_guard lock(mu_);
  Subscriber sub{std::move(topics), std::move(sink)};
  bool alive = true;
  if (auto from = resumable(last_event_id)) {
    ++resumes_;
    for (const Event& e : history_) {
      if (e.seq <= *from || !wants(sub, e.topic)) continue;
      alive = sub.sink(e.frame);
      if (!alive) break;
    }
  } else {
    ++snapshots_sent_;
    const std::string id = id_of(seq_);
    for (const auto& [topic, data] : snapshots_) {
      if (!wants(sub, topic)) continue;
      alive = sub.sink(std::make_shared<const std::string>(sse_frame(id, "view", data)));
      if (!alive) break;
    }
    if (alive && !status_.empty()) {
      alive = sub.sink(std::make_shared<const std::string>(sse_frame(id, "status", status_)));
    }
  }
  const std::uint64_t handle = next_subscription_++;
  if (alive) {
    subscribers_.emplace(handle, std::move(sub));
  } else {
    ++dropped_;
  }
  return handle;
}

void StreamHub::unsubscribe(std::uint64_t subscription) {
  std::lock_guard lock(mu_);
  subscribers_.erase(subscription);
}

std::size_t StreamHub::subscribers() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

std::string StreamHub::last_id() const {
  std::lock_guard lock(mu_);
  return seq_ == 0 ? token_ : id_of(seq_);
}

std::uint64_t StreamHub::events_published() const {
  std::lock_guard lock(mu_);
  return seq_;
}
std::uint64_t StreamHub::resumes() const {
  std::lock_guard lock(mu_);
  return resumes_;
}
std::uint64_t StreamHub::snapshots() const {
  std::lock_guard lock(mu_);
  return snapshots_sent_;
}
std::uint64_t StreamHub::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace speedlayer::http
