#include "demo/demo_command.h"

#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "config/settings.h"
#include "core/signals.h"
#include "core/units.h"
#include "kafka/mock_cluster.h"
#include "produce/produce_service.h"
#include "routing/routes.h"
#include "serve/serve_service.h"

namespace speedlayer::demo {
namespace {

using Clock = std::chrono::steady_clock;

struct Snapshot {
  std::map<std::string, std::uint64_t> consumed;  // per topic, from /v1/topics
  std::map<std::string, std::string> latest;      // per topic: newest window, one line
};

Snapshot query(httplib::Client& http, const std::vector<std::string>& topics) {
  Snapshot s;
  if (auto res = http.Get("/v1/topics"); res && res->status == 200) {
    auto body = nlohmann::json::parse(res->body, nullptr, false);
    if (body.is_object()) {
      for (const auto& t : body["topics"])
        s.consumed[t["topic"]] = t["consumed"].get<std::uint64_t>();
    }
  }
  for (const auto& topic : topics) {
    auto res = http.Get(("/v1/views?topic=" + topic).c_str());
    if (!res || res->status != 200) continue;
    auto body = nlohmann::json::parse(res->body, nullptr, false);
    if (!body.is_object() || body["windows"].empty()) continue;
    const auto& w = body["windows"].back();
    std::string line = std::to_string(w["count"].get<std::uint64_t>()) + " msgs, top:";
    int shown = 0;
    for (const auto& t : w["top"]) {
      if (shown++ == 4) break;
      line += " " + t["term"].get<std::string>() + "(" +
              std::to_string(t["count"].get<std::uint64_t>()) + ")";
    }
    s.latest[topic] = line;
  }
  return s;
}

void print_table(const Snapshot& s, const produce::ProduceSummary& produced, double seconds,
                 const std::string& url, bool tty) {
  if (tty) std::printf("\033[H\033[2J");
  std::printf("speedlayer demo: live page at %s/\n", url.c_str());
  std::printf("speedlayer demo: %.0f s on the in-process cluster (Ctrl-C to stop)\n", seconds);
  std::printf("views: %s/v1/views?topic=Sport   topics: %s/v1/topics   metrics: %s/metrics\n",
              url.c_str(), url.c_str(), url.c_str());
  std::printf("%-10s %10s  %s\n", "topic", "counted", "current window");
  for (const auto& [topic, n] : s.consumed) {
    auto it = s.latest.find(topic);
    std::printf("%-10s %10llu  %s\n", topic.c_str(), static_cast<unsigned long long>(n),
                it == s.latest.end() ? "" : it->second.c_str());
  }
  std::printf("generator: read %llu\n", static_cast<unsigned long long>(produced.read));
  std::fflush(stdout);
}

}  // namespace

DemoCommand::DemoCommand(CLI::App& parent)
    : app_(parent.add_subcommand(
          "demo",
          "Run the whole pipeline (generator, router, serve with its HTTP API) on an "
          "in-process Kafka cluster: nothing to install")) {
  app_->add_option("--duration", duration_, "how long to run, e.g. 10s, 5m (default 10s)");
  app_->add_option("--rate", rate_, "generated messages per second (default 2000)")
      ->check(CLI::PositiveNumber);
  app_->add_option("--mock-brokers", brokers_, "brokers in the in-process cluster (default 3)")
      ->check(CLI::Range(1, 9));
  app_->add_option("--routes", routes_,
                   "routing rules YAML file (default: the built-in "
                   "Sport/AI rules of config/routes.yaml)");
  app_->add_option("--listen", listen_,
                   "HTTP address of the views (default 127.0.0.1:8080; "
                   "port 0 picks a free one)");
  app_->add_option("--window", window_, "window size of the views (default 5s)");
}

int DemoCommand::run() {
  install_stop_signals();
  auto duration = parse_duration(duration_, "--duration");
  auto window = parse_duration(window_, "--window");
  for (auto* r : {&duration, &window}) {
    if (!*r) {
      return config::report_error("demo", r->error());
    }
  }
  routing::RouteTable routes = routing::default_route_table();
  if (!routes_.empty()) {
    auto loaded = routing::load_routes_file(routes_);
    if (!loaded) {
      return config::report_error("demo", loaded.error());
    }
    routes = std::move(*loaded);
    if (routes.default_topic.empty()) routes.default_topic = "my-topic";
  }

  auto cluster = kafka::MockCluster::create(brokers_);
  if (!cluster) {
    std::fprintf(stderr, "speedlayer demo: %s\n", cluster.error().message().c_str());
    return 1;
  }
  std::vector<std::string> topics{routes.default_topic};
  for (const auto& r : routes.routes) topics.push_back(r.topic);
  serve::ServeOptions serve_options;
  serve_options.group = "speedlayer-demo";
  serve_options.check_topic_limits = false;  // the mock cluster has no DescribeConfigs
  serve_options = serve::with_defaults(std::move(serve_options));
  for (const auto& t : topics) {
    if (auto st = (*cluster)->create_topic(t, 3, std::min(brokers_, 3)); !st) {
      std::fprintf(stderr, "speedlayer demo: %s\n", st.error().message().c_str());
      return 1;
    }
  }
  // The mock cluster has no CreateTopics: make serve's topics here.
  for (const auto& t : {serve_options.changelog_topic, serve_options.output_topic}) {
    (void)(*cluster)->create_topic(t, 3, std::min(brokers_, 3));
  }
  const std::string bootstrap = (*cluster)->bootstraps();
  // serve: the speed layer itself, on every routed topic.
  serve_options.kafka.set("bootstrap.servers", bootstrap, "demo");
  serve_options.bootstrap = bootstrap;
  serve_options.topics = topics;
  serve_options.group = "speedlayer-demo";
  serve_options.listen = listen_;
  serve_options.window.size_ms = window->count();
  serve_options.window.grace_ms = std::min<std::int64_t>(2000, window->count());
  serve_options.window.idle_ms = serve_options.window.grace_ms;
  std::atomic<bool> stop_serve{false};
  std::atomic<int> port{-1};
  int serve_code = 0;
  std::thread serve_thread([&] {
    serve_code = serve::run_serve(serve_options, stop_serve, serve::system_wall_clock,
                                  [&](int p) { port = p; });
    if (port.load() < 0) port = 0;  // failed before listening
  });
  while (port.load() < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (port.load() == 0) {
    serve_thread.join();
    std::fprintf(stderr,
                 "speedlayer demo: serve did not start (see above); try --listen 127.0.0.1:0\n");
    return serve_code ? serve_code : 1;
  }
  std::string host = listen_.substr(0, listen_.rfind(':'));
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  const std::string url = "http://" + host + ":" + std::to_string(port.load());
  // The page is what the demo shows off: its address comes first.
  std::printf("speedlayer demo: live page at %s/  (open it in a browser)\n", url.c_str());
  std::printf("speedlayer demo: views at %s/v1/views?topic=Sport\n", url.c_str());
  std::printf("speedlayer demo: in-process Kafka cluster with %d brokers at %s\n", brokers_,
              bootstrap.c_str());
  std::printf("  (any Kafka client can connect while it runs, e.g. kcat -b %s -L)\n",
              bootstrap.c_str());
  std::fflush(stdout);

  // The producer: the same service as `speedlayer produce --generate`.
  produce::ProduceOptions options;
  options.kafka.set("bootstrap.servers", bootstrap, "demo");
  options.bootstrap = bootstrap;
  options.routes = routes;
  options.generate = true;
  options.rate = rate_;
  options.dead_letter_path = "speedlayer-demo-dead-letter.jsonl";
  std::atomic<bool> stop_producer{false};
  produce::ProduceSummary produced;
  ExitCode produce_code = ExitCode::ok;
  std::thread producer(
      [&] { produce_code = produce::run_produce(options, stop_producer, produced); });

  httplib::Client http(host, port.load());
  http.set_connection_timeout(2);
  http.set_read_timeout(5);
  const bool tty = ::isatty(STDOUT_FILENO);
  auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  while (!stop_flag().load() && Clock::now() - start < *duration) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    print_table(query(http, topics), produced, elapsed(), url, tty);
  }
  stop_producer = true;
  producer.join();

  // Exactness: every delivered message must be counted by the views, once.
  auto matches = [&](const Snapshot& s) {
    for (const auto& topic : topics) {
      auto d = produced.per_topic.find(topic);
      std::uint64_t delivered = d == produced.per_topic.end() ? 0 : d->second;
      auto c = s.consumed.find(topic);
      if ((c == s.consumed.end() ? 0 : c->second) != delivered) return false;
    }
    return true;
  };
  Snapshot last = query(http, topics);
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (!matches(last) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    last = query(http, topics);
  }
  stop_serve = true;
  serve_thread.join();

  print_table(last, produced, elapsed(), url, false);
  std::printf("\n%-10s %10s %10s\n", "topic", "delivered", "counted");
  for (const auto& topic : topics) {
    auto d = produced.per_topic.find(topic);
    auto c = last.consumed.find(topic);
    std::uint64_t delivered = d == produced.per_topic.end() ? 0 : d->second;
    std::uint64_t counted = c == last.consumed.end() ? 0 : c->second;
    std::printf("%-10s %10llu %10llu  %s\n", topic.c_str(),
                static_cast<unsigned long long>(delivered),
                static_cast<unsigned long long>(counted), delivered == counted ? "ok" : "MISMATCH");
  }
  if (!matches(last) || produce_code != ExitCode::ok || serve_code != 0) {
    std::printf("demo: the views do not match what was delivered (see above)\n");
    return 1;
  }
  std::printf("demo: the views counted every delivered message exactly once\n");
  return 0;
}

}  // namespace speedlayer::demo
