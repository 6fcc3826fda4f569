#include "demo/demo_command.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "core/signals.h"
#include "core/units.h"
#include "json/python_json.h"
#include "kafka/consumer.h"
#include "kafka/mock_cluster.h"
#include "produce/produce_service.h"
#include "routing/routes.h"

namespace speedlayer::demo {
namespace {

using Clock = std::chrono::steady_clock;

struct TopicView {
  std::uint64_t consumed = 0;
  std::string last;
};

void print_table(const std::map<std::string, TopicView>& views, double seconds, bool tty) {
  if (tty) std::printf("\033[H\033[2J");
  std::printf("speedlayer demo: %.0f s on the in-process cluster (Ctrl-C to stop)\n", seconds);
  std::printf("%-10s %10s  %s\n", "topic", "consumed", "latest message");
  for (const auto& [topic, view] : views) {
    std::string last = view.last.size() > 60 ? view.last.substr(0, 57) + "..." : view.last;
    std::printf("%-10s %10llu  %s\n", topic.c_str(), static_cast<unsigned long long>(view.consumed),
                last.c_str());
  }
  std::fflush(stdout);
}

}  // namespace

DemoCommand::DemoCommand(CLI::App& parent)
    : app_(parent.add_subcommand(
          "demo", "Run the whole pipeline on an in-process Kafka cluster: nothing to install")) {
  app_->add_option("--duration", duration_, "how long to run, e.g. 10s, 5m (default 10s)");
  app_->add_option("--rate", rate_, "generated messages per second (default 2000)")
      ->check(CLI::PositiveNumber);
  app_->add_option("--mock-brokers", brokers_, "brokers in the in-process cluster (default 3)")
      ->check(CLI::Range(1, 9));
  app_->add_option("--routes", routes_, "routing rules YAML file (default: the built-in "
                                        "Sport/AI rules of config/routes.yaml)");
}

int DemoCommand::run() {
  install_stop_signals();
  auto duration = parse_duration(duration_, "--duration");
  if (!duration) {
    std::fprintf(stderr, "speedlayer demo: %s\n", duration.error().message().c_str());
    return exit_code(duration.error());
  }
  routing::RouteTable routes = routing::default_route_table();
  if (!routes_.empty()) {
    auto loaded = routing::load_routes_file(routes_);
    if (!loaded) {
      std::fprintf(stderr, "speedlayer demo: %s\n", loaded.error().message().c_str());
      return exit_code(loaded.error());
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
  for (const auto& t : topics) {
    if (auto st = (*cluster)->create_topic(t, 3, std::min(brokers_, 3)); !st) {
      std::fprintf(stderr, "speedlayer demo: %s\n", st.error().message().c_str());
      return 1;
    }
  }
  const std::string bootstrap = (*cluster)->bootstraps();
  std::printf("speedlayer demo: in-process Kafka cluster with %d brokers at %s\n", brokers_,
              bootstrap.c_str());
  std::printf("  (any Kafka client can connect while it runs, e.g. kcat -b %s -L)\n",
              bootstrap.c_str());

  // Producer: the same service as `speedlayer produce --generate`.
  produce::ProduceOptions options;
  options.kafka.set("bootstrap.servers", bootstrap, "demo");
  options.bootstrap = bootstrap;
  options.routes = routes;
  options.generate = true;
  options.rate = rate_;
  options.dead_letter_path = "speedlayer-demo-dead-letter.jsonl";
  options.err = stderr;
  std::atomic<bool> stop_producer{false};
  produce::ProduceSummary produced;
  ExitCode produce_code = ExitCode::ok;
  std::thread producer([&] { produce_code = produce::run_produce(options, stop_producer, produced); });

  // Consumer: reads every routed topic back.
  kafka::Properties props;
  props.set("bootstrap.servers", bootstrap, "demo");
  props.set("group.id", "speedlayer-demo", "demo");
  auto consumer = kafka::Consumer::create(props, kafka::StartFrom::beginning);
  if (!consumer) {
    stop_producer = true;
    producer.join();
    std::fprintf(stderr, "speedlayer demo: %s\n", consumer.error().message().c_str());
    return 1;
  }
  if (auto st = (*consumer)->subscribe(topics); !st) {
    stop_producer = true;
    producer.join();
    std::fprintf(stderr, "speedlayer demo: %s\n", st.error().message().c_str());
    return 1;
  }

  std::map<std::string, TopicView> views;
  for (const auto& t : topics) views[t];
  const bool tty = ::isatty(STDOUT_FILENO);
  auto start = Clock::now();
  auto last_print = start;
  auto consume_one = [&](int timeout_ms) {
    auto msg = (*consumer)->poll(timeout_ms);
    if (!msg || msg->err) return false;
    auto& view = views[rd_kafka_topic_name(msg->rkt)];
    ++view.consumed;
    view.last = json::decode_for_display(
        std::string_view(static_cast<const char*>(msg->payload), msg->len));
    return true;
  };
  while (!stop_flag().load() && Clock::now() - start < *duration) {
    consume_one(100);
    if (Clock::now() - last_print >= std::chrono::seconds(1)) {
      print_table(views, std::chrono::duration<double>(Clock::now() - start).count(), tty);
      last_print = Clock::now();
    }
  }
  stop_producer = true;
  producer.join();

  // Drain: everything delivered must be read back.
  auto total_consumed = [&] {
    std::uint64_t n = 0;
    for (const auto& [t, v] : views) n += v.consumed;
    return n;
  };
  auto drain_deadline = Clock::now() + std::chrono::seconds(15);
  while (total_consumed() < produced.delivered && Clock::now() < drain_deadline) consume_one(100);
  (*consumer)->close();

  print_table(views, std::chrono::duration<double>(Clock::now() - start).count(), false);
  std::printf("\nproduced: read %llu, delivered %llu, dead-lettered %llu\n",
              static_cast<unsigned long long>(produced.read),
              static_cast<unsigned long long>(produced.delivered),
              static_cast<unsigned long long>(produced.dead_lettered));
  bool exact = true;
  for (const auto& [topic, view] : views) {
    auto it = produced.per_topic.find(topic);
    std::uint64_t delivered = it == produced.per_topic.end() ? 0 : it->second;
    std::printf("  %-10s delivered %8llu  consumed %8llu  %s\n", topic.c_str(),
                static_cast<unsigned long long>(delivered),
                static_cast<unsigned long long>(view.consumed),
                delivered == view.consumed ? "ok" : "MISMATCH");
    exact = exact && delivered == view.consumed;
  }
  if (!exact || produce_code != ExitCode::ok) {
    std::printf("demo: some messages were not read back (see above)\n");
    return 1;
  }
  std::printf("demo: every delivered message was read back from its topic\n");
  return 0;
}

}  // namespace speedlayer::demo
