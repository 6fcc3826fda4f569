#include "serve/serve_service.h"

#include <cstdio>
#include <map>
#include <optional>
#include <thread>

#include "config/settings.h"
#include "core/files.h"
#include "http/server.h"
#include "kafka/topic_reader.h"
#include "page/page.h"
#include "serve/view_stream.h"

namespace speedlayer::serve {
namespace {

double as_double(std::uint64_t v) {
  return static_cast<double>(v);
}

void register_metrics(http::Registry& registry, views::ViewStore& store, Processor& processor,
                      const WallClock& clock, std::atomic<std::uint64_t>& changelog_records,
                      std::atomic<std::uint64_t>& changelog_bad) {
  // Totals across all replicas: this replica's partitions as processed, the others' as
  // committed (the changelog).
  registry.counter_callback("speedlayer_records_consumed_total",
                            "Records consumed per topic (all replicas)", [&store] {
                              std::vector<http::Sample> out;
                              for (const auto& t : store.totals())
                                out.push_back({{{"topic", t.topic}}, as_double(t.consumed)});
                              return out;
                            });
  registry.counter_callback("speedlayer_records_counted_total",
                            "Records counted in kept windows per topic", [&store] {
                              std::vector<http::Sample> out;
                              for (const auto& t : store.totals())
                                out.push_back({{{"topic", t.topic}}, as_double(t.count)});
                              return out;
                            });
  registry.counter_callback("speedlayer_late_records_total",
                            "Records that arrived after their window's grace period, per topic",
                            [&store] {
                              std::vector<http::Sample> out;
                              for (const auto& t : store.totals())
                                out.push_back({{{"topic", t.topic}}, as_double(t.late)});
                              return out;
                            });
  registry.counter_callback(
      "speedlayer_malformed_records_total", "Records skipped as malformed, per topic and reason",
      [&store] {
        std::vector<http::Sample> out;
        for (const auto& t : store.totals())
          for (const auto& [reason, n] : t.malformed)
            out.push_back({{{"topic", t.topic}, {"reason", reason}}, as_double(n)});
        return out;
      });
  registry.gauge_callback("speedlayer_open_windows", "Windows not final yet",
                          [&store, &clock] { return as_double(store.open_windows(clock())); });
  registry.gauge_callback(
      "speedlayer_consumer_lag", "Records behind the end, per assigned input partition",
      [&processor] {
        std::vector<http::Sample> out;
        std::lock_guard lock(processor.stats().mu);
        for (const auto& [tp, lag] : processor.stats().lag)
          out.push_back({{{"topic", tp.first}, {"partition", std::to_string(tp.second)}},
                         static_cast<double>(lag)});
        return out;
      });
  registry.counter_callback("speedlayer_transactions_total", "Committed transactions",
                            [&processor] {
                              std::lock_guard lock(processor.stats().mu);
                              return as_double(processor.stats().transactions);
                            });
  registry.counter_callback("speedlayer_commit_failures_total",
                            "Transactions that failed (then aborted and restored, or fatal), by "
                            "reason: produce, delivery, send_offsets, commit, fatal",
                            [&processor] {
                              std::vector<http::Sample> out;
                              std::lock_guard lock(processor.stats().mu);
                              for (const auto& [reason, n] : processor.stats().commit_failures)
                                out.push_back({{{"reason", reason}}, as_double(n)});
                              return out;
                            });
  registry.gauge_callback("speedlayer_term_capacity",
                          "Distinct terms each open window keeps per partition (--max-terms, or "
                          "less when the memory budget binds)",
                          [&processor] { return as_double(processor.term_capacity()); });
  registry.counter_callback("speedlayer_changelog_foreign_records_total",
                            "Changelog records of another consumer group, ignored",
                            [&store] { return as_double(store.foreign_records()); });
  registry.counter_callback("speedlayer_long_terms_total",
                            "Term occurrences dropped as longer than --max-term-bytes, per topic",
                            [&store] {
                              std::vector<http::Sample> out;
                              for (const auto& t : store.totals())
                                out.push_back({{{"topic", t.topic}}, as_double(t.long_terms)});
                              return out;
                            });
  registry.counter_callback("speedlayer_transactions_aborted_total",
                            "Aborted transactions (state restored from the changelog)",
                            [&processor] {
                              std::lock_guard lock(processor.stats().mu);
                              return as_double(processor.stats().aborted_transactions);
                            });
  registry.counter_callback("speedlayer_changelog_records_total", "Changelog records read",
                            [&changelog_records] { return as_double(changelog_records.load()); });
  registry.counter_callback("speedlayer_changelog_bad_records_total",
                            "Changelog records that could not be decoded",
                            [&changelog_bad] { return as_double(changelog_bad.load()); });
}

// The admin token: the file's content without trailing whitespace (a Secret created with
// --from-file often ends in a newline). Too short a token is refused: it would be guessable.
Result<std::string> load_admin_token(const std::string& path) {
  SL_ASSIGN_OR_RETURN(auto text, read_small_file(path, kMaxSecretFileBytes, "admin token file"));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' ||
                           text.back() == '\t')) {
    text.pop_back();
  }
  if (text.size() < 16) {
    return fail(ErrorKind::usage,
                "admin token is " + std::to_string(text.size()) +
                    " characters long: at least 16 are needed",
                "--admin-token-file " + path, "e.g. openssl rand -hex 32 > " + path);
  }
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) == 0x7f) {
      return fail(ErrorKind::usage, "admin token has a space or control character",
                  "--admin-token-file " + path, "a token is one word, e.g. openssl rand -hex 32");
    }
  }
  return text;
}

std::map<std::string, std::int64_t> lag_by_topic(Processor& processor) {
  std::map<std::string, std::int64_t> out;
  std::lock_guard lock(processor.stats().mu);
  for (const auto& [tp, lag] : processor.stats().lag) out[tp.first] += lag;
  return out;
}

}  // namespace

int run_serve(const ServeOptions& given, const std::atomic<bool>& stop, WallClock clock,
              const std::function<void(int port)>& on_listening) {
  const ServeOptions o = with_defaults(given);
  auto listen = http::parse_listen(o.listen);
  if (!listen) {
    return config::report_error("serve", listen.error());
  }
  std::optional<http::ListenAddress> probe_listen;
  if (!o.probe_listen.empty()) {
    auto parsed = http::parse_listen(o.probe_listen, "--probe-listen");
    if (!parsed) return config::report_error("serve", parsed.error());
    probe_listen = *parsed;
  }
  std::string admin_token;
  if (!o.admin_token_file.empty()) {
    auto token = load_admin_token(o.admin_token_file);
    if (!token) return config::report_error("serve", token.error());
    admin_token = std::move(*token);
  }
  http::Registry registry;
  views::ViewStore store(o.window, o.group);
  Processor processor(o, clock);
  store.set_live(&processor);  // this replica's partitions: served as processed, not committed
  processor.set_latency_histogram(
      &registry.histogram("speedlayer_processing_latency_seconds",
                          "From a record's timestamp to its processing by this replica"));
  processor.set_commit_histogram(&registry.histogram(
      "speedlayer_commit_duration_seconds",
      "Duration of each committed transaction (state, output and offsets together)"));
  std::atomic<bool> follower_caught_up{false};
  std::atomic<bool> healthy{true};
  std::atomic<std::uint64_t> changelog_records{0}, changelog_bad{0};
  std::string unhealthy_reason;
  std::mutex reason_mu;
  register_metrics(registry, store, processor, clock, changelog_records, changelog_bad);

  auto ready = [&] {
    if (!follower_caught_up.load()) return http::Health{false, "reading the changelog"};
    std::lock_guard lock(processor.stats().mu);
    const auto& reason = processor.stats().not_ready_reason;
    return http::Health{reason.empty(), reason};
  };
  http::StreamHub hub;
  registry.counter_callback("speedlayer_http_stream_events_total",
                            "Events published to /v1/stream clients (view and status)",
                            [&hub] { return as_double(hub.events_published()); });
  ViewStreamer streamer(store, hub,
                        [&] {
                          const http::Health r = ready();
                          return stream_status_json(r.ok, r.reason, lag_by_topic(processor),
                                                    store.totals());
                        },
                        clock, {.events_per_second = o.stream_rate});

  http::Server server(*listen, probe_listen);
  server
      .on_healthz([&] {
        std::lock_guard lock(reason_mu);
        return http::Health{healthy.load(), unhealthy_reason};
      })
      .on_readyz(ready)
      .on_metrics(registry)
      .on_views([&](const std::string& topic, std::optional<std::int64_t> from,
                    std::optional<std::int64_t> to) -> std::optional<std::string> {
        auto view = store.view(topic, from, to, clock());
        if (!view) return std::nullopt;
        return views::to_json(*view);
      })
      .on_topics([&] { return views::to_json(store.totals()); })
      .on_expire([&](std::int64_t before) {
        std::size_t n = store.expire_before(before);
        processor.request_expire(before);
        return "{\"expired\":" + std::to_string(n) + ",\"before\":" + std::to_string(before) + "}";
      })
      .on_stream(hub)
      .on_static([](std::string_view path) -> std::optional<http::StaticFile> {
        const page::Asset* asset = page::find_asset(path);
        if (asset == nullptr) return std::nullopt;
        return http::StaticFile{asset->content_type, asset->body};
      })
      .clock([clock] { return clock(); });
  if (!admin_token.empty()) server.admin_token(admin_token);
  if (auto st = server.start(); !st) {
    return config::report_error("serve", st.error());
  }
  std::fprintf(stderr,
               "speedlayer serve: HTTP on %s (live page: %s/, views: %s/v1/views?topic=T)\n",
               server.url().c_str(), server.url().c_str(), server.url().c_str());
  if (probe_listen) {
    std::fprintf(stderr, "speedlayer serve: probes on %s (/healthz, /readyz, /metrics)\n",
                 server.probe_url().c_str());
  }
  std::fprintf(stderr, "speedlayer serve: admin endpoints (POST /v1/expire) %s\n",
               admin_token.empty() ? "off (no --admin-token-file)" : "on, with the bearer token");
  if (on_listening) on_listening(server.port());
  streamer.start();

  if (auto st = processor.start(); !st) {
    return config::report_error("serve", st.error());
  }

  // The follower: every replica reads every partial, so it can serve whole topics.
  std::atomic<bool> stop_follower{false};
  std::string follower_error;  // written before follower_failed is set
  std::atomic<bool> follower_failed{false};
  std::thread follower([&] {
    auto apply = [&](std::string_view key, std::optional<std::string_view> value) {
      ++changelog_records;
      if (!store.apply(key, value)) ++changelog_bad;
    };
    auto reader = kafka::TopicReader::create(o.kafka, o.changelog_topic,
                                             static_cast<int>(o.connect_timeout.count()));
    if (!reader) {
      follower_error = reader.error().message();
      follower_failed = true;
      return;
    }
    while (!stop_follower.load()) {
      auto st = (*reader)->read_to_end(apply, 60'000);
      if (st) break;
      std::fprintf(stderr, "speedlayer serve: %s (retrying)\n", st.error().message().c_str());
    }
    follower_caught_up = true;
    while (!stop_follower.load()) (*reader)->poll_some(apply, 100);
  });

  int code = 0;
  while (!stop.load()) {
    if (auto st = processor.step(); !st) {
      std::fprintf(stderr, "speedlayer serve: %s\n", st.error().message().c_str());
      {
        std::lock_guard lock(reason_mu);
        unhealthy_reason = st.error().message();
      }
      healthy = false;
      code = exit_code(st.error());
      break;
    }
    if (follower_failed.load()) {
      std::fprintf(stderr, "speedlayer serve: %s\n", follower_error.c_str());
      code = 1;
      break;
    }
  }
  if (auto st = processor.shutdown(); !st && code == 0) code = exit_code(st.error());
  stop_follower = true;
  follower.join();
  streamer.stop();
  server.stop();
  return code;
}

}  // namespace speedlayer::serve
