// ViewStore (view_store.h): the changelog applied, and the views merged from it and the live
// aggregators.
#include "views/view_store.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <utility>

#include "views/internal.h"

namespace speedlayer::views {

namespace {

using internal::kMaxMillis;
using internal::kMinMillis;
using internal::sat_add;
using internal::top_terms;

bool is_final(Millis start, Millis min_stream, Millis wall_now, const WindowConfig& config) {
  const Millis due = sat_add(sat_add(start, config.size_ms), config.grace_ms);
  return min_stream >= due || wall_now >= sat_add(due, config.idle_ms);
}

// Calls f(term, count) for each term of a stored window as of its latest record: the
// snapshot's terms with each delta's changes applied in order (count 0 removes a term).
template <class F>
void for_each_current_term(std::string_view snapshot, const std::vector<std::string>& deltas,
                           F&& f) {
  if (deltas.empty()) {
    codec::for_each_entry(snapshot, f);
    return;
  }
  std::unordered_map<std::string_view, std::uint64_t, TermHash> terms;
  codec::for_each_entry(snapshot, [&](std::string_view t, std::uint64_t c) { terms[t] = c; });
  for (const auto& d : deltas) {
    codec::for_each_entry(d, [&](std::string_view t, std::uint64_t c) {
      if (c == 0) {
        terms.erase(t);
      } else {
        terms[t] = c;
      }
    });
  }
  for (const auto& [t, c] : terms) f(t, c);
}

// Cuts a top list of k + 1 candidates to k and sets each term's error bound and guarantee
// (view_store.h, TermCount).
void finish_top(std::vector<TermCount>& top, std::size_t k, std::uint64_t error) {
  const bool has_next = top.size() > k;
  const std::uint64_t next_upper = has_next ? top[k].count + error : error;
  if (has_next) top.resize(k);
  for (auto& t : top) {
    t.error = error;
    t.guaranteed = t.count >= error && t.count - error > next_upper;
  }
}

}  // namespace

ViewStore::ViewStore(WindowConfig config, std::string group)
    : config_(std::move(config)), group_(std::move(group)) {
  if (config_.size_ms <= 0) config_.size_ms = 1;
}

std::uint64_t ViewStore::foreign_records() const {
  std::lock_guard lock(mu_);
  return foreign_;
}

Status ViewStore::apply(std::string_view key, std::optional<std::string_view> value) {
  SL_ASSIGN_OR_RETURN(ChangelogKey k, parse_changelog_key(key));
  if (!k.legacy() && k.group != group_) {
    std::lock_guard lock(mu_);
    ++foreign_;
    return {};
  }
  // Decoded before taking the lock: readers wait only for the map update.
  std::optional<WindowValue> window;
  std::optional<PartitionState> state;
  if (value) {
    if (k.is_window()) {
      auto d = decode_window_value(k.kind, *value);
      if (!d) {
        d.error().where = std::string(key);
        return std::unexpected(std::move(d.error()));
      }
      window = std::move(*d);
    } else {
      auto d = decode_state(*value);
      if (!d) {
        d.error().where = std::string(key);
        return std::unexpected(std::move(d.error()));
      }
      state = std::move(*d);
    }
  }
  std::lock_guard lock(mu_);
  if (!value) {
    auto t = partitions_.find(k.topic);
    if (t == partitions_.end()) return {};
    auto p = t->second.find(k.partition);
    if (p == t->second.end()) return {};
    PartitionData& data = p->second;
    if (k.legacy() && data.v2) return {};
    if (k.kind == RecordKind::delta) return {};  // a superseded delta's key: nothing to drop
    if (k.is_window()) {
      data.windows.erase(k.start);
    } else {
      data.state.reset();
    }
    if (data.windows.empty() && !data.state) t->second.erase(p);
    if (t->second.empty()) partitions_.erase(t);
    return {};
  }
  PartitionData& data = partitions_[k.topic][k.partition];
  if (k.legacy()) {
    if (data.v2) return {};  // format 2 state supersedes format 1 records
  } else if (!data.v2) {
    // The first format 2 record of this partition: whatever format 1 held is rewritten in
    // the same transaction (adopted), so it is dropped here.
    data.windows.clear();
    data.state.reset();
    data.v2 = true;
  }
  if (state) {
    data.state = std::move(*state);
    data.legacy_state = k.legacy();
    return {};
  }
  WindowValue& w = *window;
  if (k.kind != RecordKind::delta) {
    StoredPartial& sp = data.windows[k.start];
    sp = StoredPartial{};
    sp.count = w.count;
    sp.term_error = w.term_error;
    sp.closed = w.closed;
    sp.late = w.late;
    sp.gen = w.gen;
    sp.term_count = w.term_count;
    sp.terms = std::move(w.terms);
    sp.snapshot_bytes = value->size();
    sp.legacy = k.legacy();
    return {};
  }
  auto it = data.windows.find(k.start);
  if (it == data.windows.end()) {
    if (w.gen != 0 || w.seq != 0 || k.seq != 0) {
      return fail(ErrorKind::invalid_data,
                  "changelog delta " + std::to_string(w.seq) + " of generation " +
                      std::to_string(w.gen) + " without its window's earlier records",
                  std::string(key), "skipped; the changelog was written by another writer or cut");
    }
    it = data.windows.emplace(k.start, StoredPartial{}).first;
  } else if (it->second.gen != w.gen || it->second.deltas.size() != w.seq || k.seq != w.seq) {
    return fail(ErrorKind::invalid_data,
                "changelog delta " + std::to_string(w.seq) + " of generation " +
                    std::to_string(w.gen) + " does not follow generation " +
                    std::to_string(it->second.gen) + " with " +
                    std::to_string(it->second.deltas.size()) + " deltas",
                std::string(key), "skipped; the changelog was written by another writer or cut");
  }
  StoredPartial& sp = it->second;
  sp.count = w.count;
  sp.term_error = w.term_error;
  sp.closed = w.closed;
  sp.late = w.late;
  sp.delta_bytes += value->size();
  sp.deltas.push_back(std::move(w.terms));
  return {};
}

bool ViewStore::restore_into(PartitionAggregator& agg) const {
  std::lock_guard lock(mu_);
  auto t = partitions_.find(agg.topic());
  if (t == partitions_.end()) return false;
  auto p = t->second.find(agg.partition());
  if (p == t->second.end()) return false;
  const PartitionData& data = p->second;
  for (const auto& [start, stored] : data.windows) {
    Partial partial;
    partial.count = stored.count;
    partial.term_error = stored.term_error;
    partial.closed = stored.closed;
    partial.late = stored.late;
    partial.terms.reserve(static_cast<std::size_t>(stored.term_count));
    for_each_current_term(
        stored.terms, stored.deltas,
        [&](std::string_view term, std::uint64_t count) { partial.terms.emplace(term, count); });
    LogPosition position{stored.gen, stored.deltas.size(), stored.snapshot_bytes,
                         stored.delta_bytes, stored.legacy};
    agg.restore_window(start, std::move(partial), position);
  }
  if (data.state) agg.restore_state(*data.state, data.legacy_state);
  return data.state.has_value();
}

void ViewStore::read(const std::function<void(const Live&)>& f) const {
  // Taken before the store's lock: the owner of the live aggregators may be waiting for it
  // (restore_into) while a reader waits for the owner's snapshot.
  static const Live kNone;
  std::shared_ptr<const Live> live;
  if (live_ != nullptr) live = live_->live_snapshot();
  std::lock_guard lock(mu_);
  f(live ? *live : kNone);
}

ViewStore::TopicSources ViewStore::collect(const std::string& topic, std::optional<Millis> from,
                                           std::optional<Millis> to, const Live& live) const {
  TopicSources out;
  std::set<std::int32_t> live_partitions;
  for (const auto& agg : live) {
    if (agg->topic != topic) continue;
    live_partitions.insert(agg->partition);
    out.partitions.insert(agg->partition);
    out.states[agg->partition] = &agg->state;
    auto it = from ? agg->windows.lower_bound(*from) : agg->windows.begin();
    for (; it != agg->windows.end() && (!to || it->first < *to); ++it) {
      const Partial& p = *it->second.partial;
      WindowParts& parts = out.windows[it->first];
      parts.count += p.count;
      parts.live.push_back(&p);
    }
  }
  auto t = partitions_.find(topic);
  if (t == partitions_.end()) return out;
  for (const auto& [partition, data] : t->second) {
    if (live_partitions.count(partition)) continue;
    out.partitions.insert(partition);
    if (data.state) out.states[partition] = &*data.state;
    const auto& starts = data.windows;
    auto it = from ? starts.lower_bound(*from) : starts.begin();
    for (; it != starts.end() && (!to || it->first < *to); ++it) {
      WindowParts& parts = out.windows[it->first];
      parts.count += it->second.count;
      parts.stored.push_back(&it->second);
    }
  }
  return out;
}

std::set<std::string> ViewStore::topics(const Live& live) const {
  std::set<std::string> out;
  for (const auto& [topic, _] : partitions_) out.insert(topic);
  for (const auto& agg : live) out.insert(agg->topic);
  return out;
}

// Stream time is per partition: a window is final only when the partition that is furthest
// behind has passed its end + grace (otherwise that partition could still add to it).
Millis ViewStore::min_stream_time(const TopicSources& sources) const {
  if (sources.states.empty()) return kMinMillis;
  Millis min = kMaxMillis;
  for (const auto& [partition, s] : sources.states) min = std::min(min, s->stream_time);
  return min;
}

std::optional<TopicView> ViewStore::view(const std::string& topic, std::optional<Millis> from,
                                         std::optional<Millis> to, Millis wall_now) const {
  std::optional<TopicView> out;
  const std::size_t k = config_.top_k;
  read([&](const Live& live) {
    const TopicSources sources = collect(topic, from, to, live);
    if (sources.partitions.empty()) return;
    TopicView& v = out.emplace();
    v.topic = topic;
    if (config_.filters) v.filter = config_.filters->for_topic(topic);
    v.window_ms = config_.size_ms;
    for (const auto& [partition, s] : sources.states) v.late += s->late;
    const Millis min_stream = min_stream_time(sources);
    v.windows.reserve(sources.windows.size());
    for (const auto& [start, parts] : sources.windows) {
      WindowView w;
      w.start = start;
      w.end = sat_add(start, config_.size_ms);
      w.final = is_final(start, min_stream, wall_now, config_);
      w.count = parts.count;
      for (const StoredPartial* p : parts.stored) {
        w.term_error += p->term_error;
        w.late += p->late;
      }
      for (const Partial* p : parts.live) {
        w.term_error += p->term_error;
        w.late += p->late;
      }
      if (parts.stored.size() == 1 && parts.live.empty()) {
        std::vector<std::pair<std::string_view, std::uint64_t>> terms;
        terms.reserve(static_cast<std::size_t>(parts.stored[0]->term_count));
        for_each_current_term(
            parts.stored[0]->terms, parts.stored[0]->deltas,
            [&](std::string_view term, std::uint64_t count) { terms.emplace_back(term, count); });
        w.top = top_terms(terms, k + 1);
      } else if (parts.stored.empty() && parts.live.size() == 1) {
        w.top = top_terms(parts.live[0]->terms, k + 1);
      } else {
        std::unordered_map<std::string_view, std::uint64_t, TermHash> sums;
        std::size_t largest = 0;
        for (const StoredPartial* p : parts.stored)
          largest = std::max(largest, static_cast<std::size_t>(p->term_count));
        for (const Partial* p : parts.live) largest = std::max(largest, p->terms.size());
        sums.reserve(largest * 2);
        for (const StoredPartial* p : parts.stored)
          for_each_current_term(
              p->terms, p->deltas,
              [&](std::string_view term, std::uint64_t count) { sums[term] += count; });
        for (const Partial* p : parts.live)
          for (const auto& [term, count] : p->terms) sums[term] += count;
        w.top = top_terms(sums, k + 1);
      }
      finish_top(w.top, k, w.term_error);
      v.windows.push_back(std::move(w));
    }
  });
  return out;
}

std::vector<TopicTotals> ViewStore::totals() const {
  std::vector<TopicTotals> out;
  read([&](const Live& live) {
    for (const auto& topic : topics(live)) {
      const TopicSources sources = collect(topic, std::nullopt, std::nullopt, live);
      TopicTotals t;
      t.topic = topic;
      for (const auto& [start, parts] : sources.windows) t.count += parts.count;
      for (const auto& [partition, s] : sources.states) {
        t.late += s->late;
        t.expired += s->expired;
        t.consumed += s->consumed;
        t.long_terms += s->long_terms;
        for (const auto& [reason, n] : s->malformed) t.malformed[reason] += n;
      }
      t.windows = sources.windows.size();
      t.partitions = sources.partitions.size();
      out.push_back(std::move(t));
    }
  });
  return out;
}

std::size_t ViewStore::open_windows(Millis wall_now) const {
  std::size_t open = 0;
  read([&](const Live& live) {
    for (const auto& topic : topics(live)) {
      const TopicSources sources = collect(topic, std::nullopt, std::nullopt, live);
      const Millis min_stream = min_stream_time(sources);
      for (const auto& [start, parts] : sources.windows)
        if (!is_final(start, min_stream, wall_now, config_)) ++open;
    }
  });
  return open;
}

std::size_t ViewStore::expire_before(Millis before) {
  std::lock_guard lock(mu_);
  std::size_t dropped = 0;
  for (auto& [topic, partitions] : partitions_) {
    for (auto& [partition, data] : partitions) {
      auto& starts = data.windows;
      auto w = starts.begin();
      while (w != starts.end() && sat_add(w->first, config_.size_ms) <= before) {
        w = starts.erase(w);
        ++dropped;
      }
    }
  }
  return dropped;
}

}  // namespace speedlayer::views
