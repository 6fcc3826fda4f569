#include "http/metrics.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>
#include <vector>

namespace speedlayer::http {
namespace {

TEST(Metrics, RendersCounterAndGaugeWithHelpAndType) {
  Registry r;
  r.counter("speedlayer_records_consumed_total", "Records consumed").inc(3);
  Gauge& g = r.gauge("speedlayer_open_windows", "Open windows");
  g.set(7);
  g.dec(2);
  g.inc(0.5);
  EXPECT_EQ(r.render(),
            "# HELP speedlayer_open_windows Open windows\n"
            "# TYPE speedlayer_open_windows gauge\n"
            "speedlayer_open_windows 5.5\n"
            "# HELP speedlayer_records_consumed_total Records consumed\n"
            "# TYPE speedlayer_records_consumed_total counter\n"
            "speedlayer_records_consumed_total 3\n");
}

TEST(Metrics, LabelledFamilySharesHelpAndSortsSeries) {
  Registry r;
  const char* help = "Records consumed per topic";
  Counter& sport = r.counter("speedlayer_records_consumed_total", help, {{"topic", "Sport"}});
  Counter& ai = r.counter("speedlayer_records_consumed_total", help, {{"topic", "AI"}});
  sport.inc();
  sport.inc();
  ai.inc();
  // The same labels return the same series.
  EXPECT_EQ(&r.counter("speedlayer_records_consumed_total", help, {{"topic", "Sport"}}), &sport);
  EXPECT_EQ(sport.value(), 2);
  EXPECT_EQ(r.render(),
            "# HELP speedlayer_records_consumed_total Records consumed per topic\n"
            "# TYPE speedlayer_records_consumed_total counter\n"
            "speedlayer_records_consumed_total{topic=\"AI\"} 1\n"
            "speedlayer_records_consumed_total{topic=\"Sport\"} 2\n");
}

TEST(Metrics, LabelOrderDoesNotMatter) {
  Registry r;
  Gauge& a = r.gauge("speedlayer_consumer_lag", "Lag", {{"topic", "Sport"}, {"partition", "0"}});
  Gauge& b = r.gauge("speedlayer_consumer_lag", "Lag", {{"partition", "0"}, {"topic", "Sport"}});
  EXPECT_EQ(&a, &b);
  a.set(42);
  EXPECT_EQ(r.render(),
            "# HELP speedlayer_consumer_lag Lag\n"
            "# TYPE speedlayer_consumer_lag gauge\n"
            "speedlayer_consumer_lag{partition=\"0\",topic=\"Sport\"} 42\n");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  Registry r;
  r.counter("x_total", "Help with \\ backslash\nand newline \"quotes\" kept",
            {{"v", "a\\b\"c\"\nd"}})
      .inc();
  EXPECT_EQ(r.render(),
            "# HELP x_total Help with \\\\ backslash\\nand newline \"quotes\" kept\n"
            "# TYPE x_total counter\n"
            "x_total{v=\"a\\\\b\\\"c\\\"\\nd\"} 1\n");
  EXPECT_EQ(escape_label_value("\\\"\n"), "\\\\\\\"\\n");
  EXPECT_EQ(escape_help("a\\b\nc\"d"), "a\\\\b\\nc\"d");
}

TEST(Metrics, RendersHistogramCumulativeWithSumAndCount) {
  Registry r;
  Histogram& h = r.histogram("speedlayer_processing_seconds", "Processing latency");
  h.observe(0.0005);  // le is inclusive: first bucket
  h.observe(0.003);
  h.observe(0.003);
  h.observe(0.2);
  h.observe(10.0);  // +Inf only
  h.observe(std::chrono::milliseconds(30));
  EXPECT_EQ(r.render(),
            "# HELP speedlayer_processing_seconds Processing latency\n"
            "# TYPE speedlayer_processing_seconds histogram\n"
            "speedlayer_processing_seconds_bucket{le=\"0.0005\"} 1\n"
            "speedlayer_processing_seconds_bucket{le=\"0.001\"} 1\n"
            "speedlayer_processing_seconds_bucket{le=\"0.0025\"} 1\n"
            "speedlayer_processing_seconds_bucket{le=\"0.005\"} 3\n"
            "speedlayer_processing_seconds_bucket{le=\"0.01\"} 3\n"
            "speedlayer_processing_seconds_bucket{le=\"0.025\"} 3\n"
            "speedlayer_processing_seconds_bucket{le=\"0.05\"} 4\n"
            "speedlayer_processing_seconds_bucket{le=\"0.1\"} 4\n"
            "speedlayer_processing_seconds_bucket{le=\"0.25\"} 5\n"
            "speedlayer_processing_seconds_bucket{le=\"0.5\"} 5\n"
            "speedlayer_processing_seconds_bucket{le=\"1\"} 5\n"
            "speedlayer_processing_seconds_bucket{le=\"2.5\"} 5\n"
            "speedlayer_processing_seconds_bucket{le=\"+Inf\"} 6\n"
            "speedlayer_processing_seconds_sum " +
                format_value(0.0005 + 0.003 + 0.003 + 0.2 + 10.0 + 0.03) +
                "\n"
                "speedlayer_processing_seconds_count 6\n");
}

TEST(Metrics, HistogramWithLabelsAndCustomBuckets) {
  Registry r;
  Histogram& h = r.histogram("size_bytes", "Sizes", {{"topic", "AI"}}, {10, 100});
  h.observe(5);
  h.observe(50);
  h.observe(500);
  EXPECT_EQ(r.render(),
            "# HELP size_bytes Sizes\n"
            "# TYPE size_bytes histogram\n"
            "size_bytes_bucket{topic=\"AI\",le=\"10\"} 1\n"
            "size_bytes_bucket{topic=\"AI\",le=\"100\"} 2\n"
            "size_bytes_bucket{topic=\"AI\",le=\"+Inf\"} 3\n"
            "size_bytes_sum{topic=\"AI\"} 555\n"
            "size_bytes_count{topic=\"AI\"} 3\n");
  EXPECT_THROW(r.histogram("size_bytes", "Sizes", {{"topic", "AI"}}, {10, 200}),
               std::invalid_argument);
  EXPECT_THROW(r.histogram("other", "x", {{"le", "1"}}), std::invalid_argument);
}

TEST(Metrics, CallbacksAreEvaluatedAtScrapeTime) {
  Registry r;
  double open = 1;
  r.gauge_callback("speedlayer_open_windows", "Open windows", [&] { return open; });
  r.gauge_callback("speedlayer_consumer_lag", "Consumer lag", [] {
    return std::vector<Sample>{{{{"topic", "Sport"}, {"partition", "1"}}, 7},
                               {{{"topic", "Sport"}, {"partition", "0"}}, 3}};
  });
  r.counter_callback("speedlayer_late_records_total", "Late records", [] { return 4.0; },
                     {{"topic", "AI"}});
  open = 2;
  EXPECT_EQ(r.render(),
            "# HELP speedlayer_consumer_lag Consumer lag\n"
            "# TYPE speedlayer_consumer_lag gauge\n"
            "speedlayer_consumer_lag{partition=\"1\",topic=\"Sport\"} 7\n"
            "speedlayer_consumer_lag{partition=\"0\",topic=\"Sport\"} 3\n"
            "# HELP speedlayer_late_records_total Late records\n"
            "# TYPE speedlayer_late_records_total counter\n"
            "speedlayer_late_records_total{topic=\"AI\"} 4\n"
            "# HELP speedlayer_open_windows Open windows\n"
            "# TYPE speedlayer_open_windows gauge\n"
            "speedlayer_open_windows 2\n");
  r.remove_callbacks("speedlayer_open_windows");
  EXPECT_EQ(r.render().find("speedlayer_open_windows 2"), std::string::npos);
}

TEST(Metrics, ThrowingCallbackBecomesACommentNotAFailure) {
  Registry r;
  r.gauge_callback("broken", "Broken", []() -> double { throw std::runtime_error("boom"); });
  EXPECT_EQ(r.render(),
            "# HELP broken Broken\n"
            "# TYPE broken gauge\n"
            "# callback of broken failed: boom\n");
}

TEST(Metrics, CallbackMayRegisterMetricsWithoutDeadlock) {
  Registry r;
  r.gauge_callback("a", "A", [&] {
    r.counter("b_total", "B").inc();
    return 1.0;
  });
  EXPECT_NE(r.render().find("a 1\n"), std::string::npos);
  // The family appears from the next render on ("a" sorts first, so its callback ran again).
  EXPECT_NE(r.render().find("b_total 2\n"), std::string::npos);
}

TEST(Metrics, FormatsValues) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(1), "1");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(123456789), "123456789");
  EXPECT_EQ(format_value(0.0005), "0.0005");
  EXPECT_EQ(format_value(2.5), "2.5");
  EXPECT_EQ(format_value(1e-05), "1e-05");
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
}

TEST(Metrics, RejectsProgrammingErrors) {
  Registry r;
  r.counter("c_total", "C");
  EXPECT_THROW(r.gauge("c_total", "C"), std::invalid_argument);             // another type
  EXPECT_THROW(r.counter("c_total", "other help"), std::invalid_argument);  // another help
  EXPECT_THROW(r.counter("1bad", "x"), std::invalid_argument);
  EXPECT_THROW(r.counter("bad-name", "x"), std::invalid_argument);
  EXPECT_THROW(r.counter("ok_total", "x", {{"bad-label", "v"}}), std::invalid_argument);
  EXPECT_THROW(r.counter("ok_total", "x", {{"__reserved", "v"}}), std::invalid_argument);
  EXPECT_THROW(r.counter("ok_total", "x", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
}

TEST(Metrics, CounterIgnoresNegativeIncrements) {
  Counter c;
  c.inc(2);
  c.inc(-1);
  EXPECT_EQ(c.value(), 2);
}

TEST(Metrics, ConcurrentIncrementsAreNotLost) {
  Registry r;
  Counter& c = r.counter("n_total", "N");
  Histogram& h = r.histogram("h_seconds", "H");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.001);
        if (i % 1000 == 0) (void)r.render();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000);
  EXPECT_EQ(h.snapshot().count, 40000u);
  EXPECT_NE(r.render().find("h_seconds_count 40000\n"), std::string::npos);
}

}  // namespace
}  // namespace speedlayer::http
