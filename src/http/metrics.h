// A small thread-safe Prometheus metrics registry, rendered in the text exposition format 0.0.4
// (what `GET /metrics` serves). No external library: counters, gauges and histograms, with
// or without labels, plus callbacks evaluated at scrape time.
//
//   Registry metrics;
//   Counter& consumed = metrics.counter("speedlayer_records_consumed_total",
//                                       "Records consumed", {{"topic", "Sport"}});
//   consumed.inc();                                        // lock-free; keep the reference
//   Histogram& latency = metrics.histogram("speedlayer_processing_seconds",
//                                          "Processing latency per record");
//   latency.observe(0.0012);                               // default buckets: latency_buckets()
//   metrics.gauge_callback("speedlayer_open_windows", "Open windows",
//                          [&] { return double(store.open_windows(now_ms())); });
//   metrics.gauge_callback("speedlayer_consumer_lag", "Consumer lag per partition", [&] {
//     return std::vector<Sample>{{{{"topic", "Sport"}, {"partition", "0"}}, 42}};
//   });
//   std::string text = metrics.render();
//     // # HELP speedlayer_records_consumed_total Records consumed
//     // # TYPE speedlayer_records_consumed_total counter
//     // speedlayer_records_consumed_total{topic="Sport"} 1
//     // ...
//
// One metric name is one family: same type, help and (for histograms) buckets at every call;
// each distinct label set is one series. Labels are sorted by name, so their order in a call
// does not matter. Series are never removed: references returned stay valid as long as the
// registry lives, so look them up once and keep them (a lookup takes a mutex, inc() does not).
// Programming errors (invalid metric or label name, a name reused with another type, help or
// buckets, a reserved label such as "le" on a histogram) throw std::invalid_argument.
//
// Rendering: families sorted by name; within a family, stored series sorted by label text,
// then callback samples in registration and return order. Values print as the shortest text
// that reads back as the same double ("1", "0.25", "1e-05", "+Inf", "NaN").
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace speedlayer::http {

// The content type of render()'s output.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Label name -> value pairs, in any order.
using Labels = std::vector<std::pair<std::string, std::string>>;

// One sample a callback returns.
struct Sample {
  Labels labels;
  double value = 0;
};
using SamplesFn = std::function<std::vector<Sample>()>;

// Seconds: 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5.
const std::vector<double>& latency_buckets();

// A monotonically increasing value. inc() with a negative or NaN amount is ignored.
class Counter {
 public:
  void inc(double amount = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double amount = 1);
  void dec(double amount = 1) { inc(-amount); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted in fixed buckets (upper bounds, inclusive; +Inf is implicit).
// Rendered cumulative as <name>_bucket{le="..."}, then <name>_sum and <name>_count.
// NaN observations are ignored.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  // Observes a duration in seconds.
  void observe(std::chrono::steady_clock::duration d) {
    observe(std::chrono::duration<double>(d).count());
  }

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<double> sum_{0};
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The series of `name` with `labels`, created at zero on first use.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const Labels& labels = {},
                       const std::vector<double>& upper_bounds = latency_buckets());

  // Values computed at every render(), outside the registry's lock (callbacks may take their
  // own locks and may call counter()/gauge() but not render() or remove_callbacks()). A
  // callback that throws contributes no samples (render() then writes a "# ..." comment).
  void gauge_callback(const std::string& name, const std::string& help, std::function<double()> fn,
                      const Labels& labels = {});
  void gauge_callback(const std::string& name, const std::string& help, SamplesFn fn);
  void counter_callback(const std::string& name, const std::string& help,
                        std::function<double()> fn, const Labels& labels = {});
  void counter_callback(const std::string& name, const std::string& help, SamplesFn fn);
  // Drops the callbacks of `name` (waits for a render() in progress), e.g. before the objects
  // they capture die.
  void remove_callbacks(const std::string& name);

  // Prometheus text exposition format 0.0.4. Thread-safe.
  std::string render() const;

 private:
  struct Family;
  Family& family(const std::string& name, const std::string& help, int type,
                 const std::vector<double>* bounds);
  void add_callback(const std::string& name, const std::string& help, int type, SamplesFn fn);

  mutable std::mutex mu_;         // guards families_
  mutable std::mutex render_mu_;  // one render at a time; remove_callbacks waits for it
  std::map<std::string, std::unique_ptr<Family>> families_;
};

// Text-format helpers (exposed for tests and for other exporters).
std::string escape_label_value(std::string_view v);  // \ -> \\, " -> \", newline -> \n
std::string escape_help(std::string_view v);         // \ -> \\, newline -> \n
std::string format_value(double v);                  // shortest round-trip; +Inf, -Inf, NaN

}  // namespace speedlayer::http
