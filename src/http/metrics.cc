#include "http/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <stdexcept>

namespace speedlayer::http {
namespace {

enum Type : int { kCounter = 0, kGauge = 1, kHistogram = 2 };

const char* type_name(int type) {
  switch (type) {
    case kCounter:
      return "counter";
    case kGauge:
      return "gauge";
    default:
      return "histogram";
  }
}

bool valid_metric_name(std::string_view n) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool valid_label_name(std::string_view n) {
  if (n.empty() || n.starts_with("__")) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

[[noreturn]] void throw_bad_label(const std::string& metric, std::string_view a,
                                  std::string_view b = {}, std::string_view c = {}) {
  std::string message = "metric ";
  message.append(metric).append(": ").append(a).append(b).append(c);
  throw std::invalid_argument(message);
}

// `a="x",b="y"` with labels sorted by name; throws std::invalid_argument on bad labels.
std::string label_key(const std::string& metric, Labels labels, bool histogram) {
  std::sort(labels.begin(), labels.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto& [name, value] = labels[i];
    if (!valid_label_name(name)) throw_bad_label(metric, "invalid label name '", name, "'");
    if (histogram && name == "le") throw_bad_label(metric, "label 'le' is reserved in histograms");
    if (i > 0 && labels[i - 1].first == name)
      throw_bad_label(metric, "label '", name, "' given twice");
    if (i > 0) out += ',';
    out += name;
    out += "=\"";
    out += escape_label_value(value);
    out += '"';
  }
  return out;
}

std::vector<double> checked_bounds(const std::string& metric, std::vector<double> bounds) {
  if (!bounds.empty() && bounds.back() == INFINITY) bounds.pop_back();
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
      throw std::invalid_argument("histogram " + metric +
                                  ": bucket bounds must be finite and strictly increasing");
  }
  return bounds;
}

void atomic_add(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

// name{labels} value\n ; `extra` is appended inside the braces (e.g. le="0.5").
void append_line(std::string& out, std::string_view name, std::string_view labels,
                 std::string_view extra, double value) {
  out += name;
  if (!labels.empty() || !extra.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !extra.empty()) out += ',';
    out += extra;
    out += '}';
  }
  out += ' ';
  out += format_value(value);
  out += '\n';
}

}  // namespace

const std::vector<double>& latency_buckets() {
  static const std::vector<double> buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                              0.05,   0.1,   0.25,   0.5,   1,    2.5};
  return buckets;
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::to_chars_result r;
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {  // 2^53: exact integers
    r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  }
  return std::string(buf, r.ptr);
}

// ---- Counter, Gauge, Histogram ----------------------------------------------------------

void Counter::inc(double amount) {
  if (!(amount >= 0)) return;  // negative or NaN
  atomic_add(value_, amount);
}

void Gauge::inc(double amount) {
  atomic_add(value_, amount);
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(checked_bounds("histogram", std::move(upper_bounds))),
      buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  const auto idx = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                            bounds_.begin());
  buckets_[idx].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---- Registry ---------------------------------------------------------------------------

struct Registry::Family {
  std::string name;
  std::string help;
  int type = kCounter;
  std::vector<double> bounds;  // histograms
  std::map<std::string, std::unique_ptr<Counter>> counters;
  std::map<std::string, std::unique_ptr<Gauge>> gauges;
  std::map<std::string, std::unique_ptr<Histogram>> histograms;
  std::vector<std::shared_ptr<const SamplesFn>> callbacks;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Family& Registry::family(const std::string& name, const std::string& help, int type,
                                   const std::vector<double>* bounds) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name '" + name + "'");
    auto f = std::make_unique<Family>();
    f->name = name;
    f->help = help;
    f->type = type;
    if (bounds) f->bounds = checked_bounds(name, *bounds);
    it = families_.emplace(name, std::move(f)).first;
    return *it->second;
  }
  Family& f = *it->second;
  if (f.type != type)
    throw std::invalid_argument("metric " + name + " is a " + type_name(f.type) + ", not a " +
                                type_name(type));
  if (f.help != help)
    throw std::invalid_argument("metric " + name + " registered with another help text");
  if (bounds && checked_bounds(name, *bounds) != f.bounds)
    throw std::invalid_argument("histogram " + name + " registered with other buckets");
  return f;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = family(name, help, kCounter, nullptr);
  auto& slot = f.counters[label_key(name, labels, false)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = family(name, help, kGauge, nullptr);
  auto& slot = f.gauges[label_key(name, labels, false)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help,
                               const Labels& labels, const std::vector<double>& upper_bounds) {
  std::lock_guard lock(mu_);
  Family& f = family(name, help, kHistogram, &upper_bounds);
  auto& slot = f.histograms[label_key(name, labels, true)];
  if (!slot) slot = std::make_unique<Histogram>(f.bounds);
  return *slot;
}

void Registry::add_callback(const std::string& name, const std::string& help, int type,
                            SamplesFn fn) {
  std::lock_guard lock(mu_);
  Family& f = family(name, help, type, nullptr);
  f.callbacks.push_back(std::make_shared<const SamplesFn>(std::move(fn)));
}

void Registry::gauge_callback(const std::string& name, const std::string& help,
                              std::function<double()> fn, const Labels& labels) {
  label_key(name, labels, false);  // validate now, not at scrape time
  add_callback(name, help, kGauge,
               [fn = std::move(fn), labels] { return std::vector<Sample>{{labels, fn()}}; });
}

void Registry::gauge_callback(const std::string& name, const std::string& help, SamplesFn fn) {
  add_callback(name, help, kGauge, std::move(fn));
}

void Registry::counter_callback(const std::string& name, const std::string& help,
                                std::function<double()> fn, const Labels& labels) {
  label_key(name, labels, false);
  add_callback(name, help, kCounter,
               [fn = std::move(fn), labels] { return std::vector<Sample>{{labels, fn()}}; });
}

void Registry::counter_callback(const std::string& name, const std::string& help, SamplesFn fn) {
  add_callback(name, help, kCounter, std::move(fn));
}

void Registry::remove_callbacks(const std::string& name) {
  std::lock_guard render_lock(render_mu_);
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second->callbacks.clear();
}

std::string Registry::render() const {
  std::lock_guard render_lock(render_mu_);

  // Snapshot the structure under the lock; series are never removed, so pointers stay valid.
  struct View {
    const Family* family;
    std::vector<std::pair<std::string, const Counter*>> counters;
    std::vector<std::pair<std::string, const Gauge*>> gauges;
    std::vector<std::pair<std::string, const Histogram*>> histograms;
    std::vector<std::shared_ptr<const SamplesFn>> callbacks;
  };
  std::vector<View> views;
  {
    std::lock_guard lock(mu_);
    views.reserve(families_.size());
    for (const auto& [name, f] : families_) {
      View v{f.get(), {}, {}, {}, f->callbacks};
      for (const auto& [k, c] : f->counters) v.counters.emplace_back(k, c.get());
      for (const auto& [k, g] : f->gauges) v.gauges.emplace_back(k, g.get());
      for (const auto& [k, h] : f->histograms) v.histograms.emplace_back(k, h.get());
      views.push_back(std::move(v));
    }
  }

  std::string out;
  for (const View& v : views) {
    const Family& f = *v.family;  // name, help, type and bounds never change
    out += "# HELP ";
    out += f.name;
    out += ' ';
    out += escape_help(f.help);
    out += "\n# TYPE ";
    out += f.name;
    out += ' ';
    out += type_name(f.type);
    out += '\n';
    for (const auto& [labels, c] : v.counters) append_line(out, f.name, labels, {}, c->value());
    for (const auto& [labels, g] : v.gauges) append_line(out, f.name, labels, {}, g->value());
    for (const auto& [labels, h] : v.histograms) {
      const auto s = h->snapshot();
      const std::string bucket = f.name + "_bucket";
      for (std::size_t i = 0; i < s.cumulative.size(); ++i) {
        const std::string le =
            "le=\"" + (i < s.upper_bounds.size() ? format_value(s.upper_bounds[i]) : "+Inf") + "\"";
        append_line(out, bucket, labels, le, static_cast<double>(s.cumulative[i]));
      }
      append_line(out, f.name + "_sum", labels, {}, s.sum);
      append_line(out, f.name + "_count", labels, {}, static_cast<double>(s.count));
    }
    for (const auto& cb : v.callbacks) {
      std::vector<Sample> samples;
      try {
        samples = (*cb)();
      } catch (const std::exception& e) {
        out += "# callback of " + f.name + " failed: " + escape_help(e.what()) + "\n";
        continue;
      } catch (...) {
        out += "# callback of " + f.name + " failed\n";
        continue;
      }
      for (const auto& s : samples) {
        std::string labels;
        try {
          labels = label_key(f.name, s.labels, false);
        } catch (const std::exception& e) {
          out += "# sample of " + f.name + " skipped: " + escape_help(e.what()) + "\n";
          continue;
        }
        append_line(out, f.name, labels, {}, s.value);
      }
    }
  }
  return out;
}

}  // namespace speedlayer::http
