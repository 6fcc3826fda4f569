#include "produce/produce_service.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>

#include "json/python_json.h"
#include "kafka/producer.h"
#include "produce/dead_letter.h"
#include "produce/generator.h"
#include "produce/line_reader.h"
#include "routing/matcher.h"

namespace speedlayer::produce {
namespace {

using Clock = std::chrono::steady_clock;

// Delivery tags of dead-letter messages (--dead-letter-topic): the high bit set, so they are
// never mistaken for an input line number.
constexpr std::uint64_t kDeadLetterTag = std::uint64_t{1} << 63;

std::string with_commas(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// One run of the producer: owns the counters and reacts to librdkafka's callbacks, which all
// arrive on this thread (inside poll/flush).
class ProduceRun final : public kafka::ProducerEvents {
 public:
  ProduceRun(const ProduceOptions& options, const std::atomic<bool>& stop, ProduceSummary& summary,
             DeadLetter& dead_letter, routing::Matcher& matcher)
      : o_(options), stop_(stop), s_(summary), dlq_(dead_letter), matcher_(matcher) {}

  ExitCode run(kafka::Producer& producer);

  void on_delivery(const kafka::DeliveryReport& r) noexcept override {
    if (r.tag & kDeadLetterTag) return on_dead_letter_delivery(r);
    if (r.tag == waiting_tag_) waiting_done_ = true;
    if (r.error == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++s_.delivered;
      all_down_since_.reset();
      try {
        auto it = s_.per_topic.find(r.topic);
        if (it == s_.per_topic.end()) it = s_.per_topic.emplace(std::string(r.topic), 0).first;
        ++it->second;
        if (o_.sync) {
          std::fprintf(o_.out, "delivered topic=%.*s partition=%d offset=%lld line=%llu\n",
                       static_cast<int>(r.topic.size()), r.topic.data(), r.partition,
                       static_cast<long long>(r.offset), static_cast<unsigned long long>(r.tag));
        }
      } catch (...) {
        // swallowed: the delivery is counted above; only its per-topic count or --sync line is lost
        // to out of memory
      }
      return;
    }
    ++s_.failed;
    try {
      std::string reason = kafka::error_name(r.error);
      if (shutting_down_ && (r.error == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                             r.error == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)) {
        reason = unreachable_ ? "cluster unreachable: " + s_.unreachable_reason
                              : "not confirmed within --flush-timeout at shutdown";
      }
      if (r.possibly_persisted) reason += " (possibly written: check the topic before resending)";
      dlq_.write_undelivered(r.tag, r.topic, reason, r.value);
      ++s_.dead_lettered;
      report_failure(r.tag, r.topic, reason);
    } catch (...) {
      // swallowed: out of memory while dead-lettering: the record is already counted in `failed`
      // (exit 1)
    }
  }

  void on_client_error(kafka::ErrorCode error, std::string_view reason,
                       bool fatal) noexcept override {
    if (error == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !all_down_since_) {
      all_down_since_ = Clock::now();
    }
    try {
      last_error_ = std::string(reason);
      if (fatal) {
        fatal_ = true;
        std::fprintf(o_.err, "speedlayer produce: fatal Kafka client error: %s\n",
                     last_error_.c_str());
      }
    } catch (...) {
      // swallowed: out of memory keeps the previous text; fatal_ is set before anything can throw
    }
  }

 private:
  // A dead-letter message's report: confirmed, or back to the file with why it failed.
  void on_dead_letter_delivery(const kafka::DeliveryReport& r) noexcept {
    if (r.error == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++s_.dead_letters_in_topic;
      return;
    }
    try {
      if (dead_letter_topic_failures_++ == 0) {
        std::fprintf(o_.err,
                     "speedlayer produce: --dead-letter-topic %s: %s; its dead letters go to "
                     "the file %s instead\n",
                     o_.dead_letter_topic.c_str(), kafka::error_name(r.error).c_str(),
                     dlq_.path().c_str());
      }
      dlq_.write_record(r.value);
    } catch (...) {
      // swallowed: out of memory while dead-lettering a dead letter; it is counted as not confirmed
    }
  }
  // Builds value, key and topic for one record; false if it was dead-lettered instead.
  bool prepare(std::uint64_t line_no, std::string_view line);
  void send(kafka::Producer& producer, std::uint64_t line_no) {
    send(producer, line_no, topic_, key_, value_);
  }
  void send(kafka::Producer& producer, std::uint64_t line_no, const std::string& topic,
            std::string_view key, std::string_view value);
  // Routed runs: messages are handed to librdkafka in runs of one topic (see Stage).
  void stage_or_send(kafka::Producer& producer, std::uint64_t line_no);
  void send_stage(kafka::Producer& producer, std::size_t stage_index);
  void send_staged(kafka::Producer& producer);
  const std::string& topic_of(int rule) const;  // -1: the default topic
  // The stage of a route: 0 for the default topic (rule -1), r + 1 for rule r.
  static std::size_t stage_of(int rule) {
    return rule < 0 ? 0 : static_cast<std::size_t>(rule) + 1;
  }
  void invalid(std::uint64_t line_no, std::string_view reason, std::string_view raw);
  void report_failure(std::uint64_t line_no, std::string_view topic, std::string_view reason);
  void check_health(kafka::Producer& producer);
  void progress(kafka::Producer& producer, bool force);
  void finish(kafka::Producer& producer);

  const ProduceOptions& o_;
  const std::atomic<bool>& stop_;
  ProduceSummary& s_;
  DeadLetter& dlq_;
  routing::Matcher& matcher_;

  std::string value_;
  std::string key_;
  std::string topic_;
  int rule_ = -1;  // prepare()'s route: index in o_.routes.routes, -1 for the default topic

  // Routed, not --sync: each prepared message waits in its route's stage, and a stage is sent
  // whole when it holds kStageBytes or kStageMessages, and every stage before the input could
  // block (no whole line buffered, the generator waits) and at the end: a message waits only
  // while the next line is already at hand. Why: librdkafka allocates each message when it is
  // produced and walks its partition's messages several times (batching, acks, delivery
  // reports); messages of several topics produced interleaved lie scattered in memory, and
  // those walks then miss the cache (routed produce cost twice the CPU of unrouted,
  // bench/README.md). Long runs of one topic keep each partition's messages side by side.
  // Order within a topic, hence within a partition, is kept; each message still goes through
  // send() (back-pressure, dead letters) with its own line number.
  // Staged bytes are outside librdkafka's buffer budget (sized from the cgroup limit), so they
  // are bounded: at kStagedBytes every stage is sent, whatever the line sizes; and the memory
  // kept between runs is bounded by kRetainedBytes, however many routes there are.
  static constexpr std::size_t kStageBytes = 64 << 10;
  static constexpr std::size_t kStageMessages = 1024;
  static constexpr std::size_t kStagedBytes = 1 << 20;
  static constexpr std::size_t kRetainedBytes = 2 << 20;
  struct Stage {
    struct Entry {
      std::uint64_t line_no;
      std::size_t key_size;
      std::size_t value_size;
    };
    std::string bytes;           // the waiting messages' keys and values, back to back
    std::vector<Entry> entries;  // one per waiting message, in input order
    std::size_t footprint() const { return bytes.capacity() + entries.capacity() * sizeof(Entry); }
  };
  bool staging_ = false;
  std::vector<Stage> stages_;     // [0]: the default topic, [r + 1]: route r (see stage_of)
  std::size_t staged_ = 0;        // messages waiting in all stages
  std::size_t staged_bytes_ = 0;  // their keys' and values' bytes
  std::size_t retained_ = 0;      // the stages' allocated bytes (Stage::footprint)

  std::uint64_t waiting_tag_ = 0;  // --sync: the line whose report we wait for (0 = none)
  bool waiting_done_ = false;
  bool shutting_down_ = false;
  bool unreachable_ = false;
  bool fatal_ = false;
  std::optional<Clock::time_point> all_down_since_;
  std::optional<Clock::time_point> stop_seen_;
  std::string last_error_;
  std::uint64_t failures_printed_ = 0;
  std::uint64_t dead_letter_seq_ = 0;
  std::uint64_t dead_letter_topic_failures_ = 0;

  Clock::time_point started_ = Clock::now();
  Clock::time_point last_progress_ = started_;
  std::uint64_t last_progress_delivered_ = 0;
};

void ProduceRun::invalid(std::uint64_t line_no, std::string_view reason, std::string_view raw) {
  ++s_.invalid;
  ++s_.dead_lettered;
  dlq_.write_invalid(line_no, reason, raw);
  report_failure(line_no, "", reason);
}

void ProduceRun::report_failure(std::uint64_t line_no, std::string_view topic,
                                std::string_view reason) {
  // The first failures are named one by one; after that only the summary counts them.
  constexpr std::uint64_t kNamed = 20;
  if (++failures_printed_ > kNamed) return;
  std::string where =
      o_.generate ? "generated message " : (o_.input_path ? *o_.input_path : "stdin");
  const std::string to = dlq_.last_record_forwarded() ? "dead-letter topic " + dlq_.forward_name()
                         : dlq_.last_record_in_file()
                             ? "dead-letter " + dlq_.path()
                             : std::string("stderr (dead-letter file not writable)");
  std::fprintf(o_.err, "speedlayer produce: %s%s%llu: %.*s%s%.*s -> %s\n", where.c_str(),
               o_.generate ? "" : ":line ", static_cast<unsigned long long>(line_no),
               static_cast<int>(reason.size()), reason.data(), topic.empty() ? "" : ", topic ",
               static_cast<int>(topic.size()), topic.data(), to.c_str());
  if (failures_printed_ == kNamed) {
    std::fprintf(o_.err, "speedlayer produce: further failures are only counted (see %s)\n",
                 dlq_.path().c_str());
  }
}

bool ProduceRun::prepare(std::uint64_t line_no, std::string_view line) {
  value_.clear();
  key_.clear();
  std::string_view route_text = line;
  std::string route_buf;
  if (o_.format == InputFormat::text) {
    auto bad = json::find_invalid_utf8(line);
    if (bad != std::string_view::npos) {
      invalid(line_no, "invalid UTF-8 at byte " + std::to_string(bad + 1), line);
      return false;
    }
    json::append_python_dumps(line, value_);
  } else {
    if (o_.key_field.empty() && o_.route_field.empty()) {
      // Only validation is needed: no DOM on the hot path.
      if (!json::is_valid_json(line)) {
        auto parsed = json::parse_json_line(line, "");
        invalid(line_no, parsed ? "invalid JSON" : parsed.error().what, line);
        return false;
      }
    } else {
      auto parsed = json::parse_json_line(line, "");
      if (!parsed) {
        invalid(line_no, parsed.error().what, line);
        return false;
      }
      auto field_text = [&](const std::string& field, std::string& out) -> bool {
        if (!parsed->is_object()) return false;
        auto it = parsed->find(field);
        if (it == parsed->end() || it->is_null()) return false;
        out = it->is_string() ? it->get<std::string>() : it->dump();
        return true;
      };
      if (!o_.key_field.empty()) field_text(o_.key_field, key_);
      if (!o_.route_field.empty()) {
        if (field_text(o_.route_field, route_buf))
          route_text = route_buf;
        else
          route_text = {};
      }
    }
    // Sent compact, otherwise byte for byte as given (key order, numbers, escapes).
    value_ = json::minify_json(line);
  }
  if (value_.size() > o_.max_message_bytes) {
    invalid(line_no,
            "message of " + std::to_string(value_.size()) + " bytes exceeds the limit of " +
                std::to_string(o_.max_message_bytes) +
                " bytes (message.max.bytes or the memory budget)",
            line);
    return false;
  }
  int rule = matcher_.match(route_text);
  if (rule < 0 && o_.strict) {
    ++s_.dead_lettered;
    dlq_.write_undelivered(line_no, "", "no route matched (--strict)", value_);
    report_failure(line_no, "", "no route matched (--strict)");
    return false;
  }
  rule_ = rule;
  if (!staging_) topic_ = topic_of(rule);
  return true;
}

const std::string& ProduceRun::topic_of(int rule) const {
  return rule < 0 ? o_.routes.default_topic
                  : o_.routes.routes[static_cast<std::size_t>(rule)].topic;
}

void ProduceRun::stage_or_send(kafka::Producer& producer, std::uint64_t line_no) {
  if (!staging_) return send(producer, line_no);
  const std::size_t stage_index = stage_of(rule_);
  Stage& stage = stages_[stage_index];
  const std::size_t before = stage.footprint();
  stage.entries.push_back({line_no, key_.size(), value_.size()});
  stage.bytes.append(key_).append(value_);
  retained_ += stage.footprint() - before;
  ++staged_;
  staged_bytes_ += key_.size() + value_.size();
  if (staged_bytes_ >= kStagedBytes) return send_staged(producer);
  if (stage.bytes.size() >= kStageBytes || stage.entries.size() >= kStageMessages) {
    send_stage(producer, stage_index);
  }
}

void ProduceRun::send_stage(kafka::Producer& producer, std::size_t stage_index) {
  Stage& stage = stages_[stage_index];
  const std::string& topic = topic_of(static_cast<int>(stage_index) - 1);
  std::string_view rest = stage.bytes;
  for (const Stage::Entry& e : stage.entries) {
    const std::string_view key = rest.substr(0, e.key_size);
    const std::string_view value = rest.substr(e.key_size, e.value_size);
    rest.remove_prefix(e.key_size + e.value_size);
    send(producer, e.line_no, topic, key, value);
  }
  staged_ -= stage.entries.size();
  staged_bytes_ -= stage.bytes.size();
  stage.entries.clear();
  stage.bytes.clear();
  // A stage that grew for a big message, or stages of many routes together, give memory back.
  if (stage.bytes.capacity() > 2 * kStageBytes || retained_ > kRetainedBytes) {
    const std::size_t before = stage.footprint();
    std::string().swap(stage.bytes);
    std::vector<Stage::Entry>().swap(stage.entries);
    retained_ -= before - stage.footprint();
  }
}

void ProduceRun::send_staged(kafka::Producer& producer) {
  for (std::size_t s = 0; staged_ > 0 && s < stages_.size(); ++s) send_stage(producer, s);
}

void ProduceRun::send(kafka::Producer& producer, std::uint64_t line_no, const std::string& topic,
                      std::string_view key, std::string_view value) {
  if (o_.sync) {
    waiting_tag_ = line_no;
    waiting_done_ = false;
  }
  while (true) {
    auto err = producer.produce(topic, key, value, line_no);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // Back-pressure: wait for deliveries to free the queue; never drop.
      producer.poll(10);
      check_health(producer);
      bool give_up =
          unreachable_ || fatal_ || (stop_seen_ && Clock::now() - *stop_seen_ > o_.flush_timeout);
      if (!give_up) continue;
      err = unreachable_ ? RD_KAFKA_RESP_ERR__TRANSPORT : RD_KAFKA_RESP_ERR__QUEUE_FULL;
    }
    ++s_.failed;
    ++s_.dead_lettered;
    std::string reason = "not sent: " + kafka::error_name(err);
    dlq_.write_undelivered(line_no, topic, reason, value);
    report_failure(line_no, topic, reason);
    waiting_tag_ = 0;
    return;
  }
  if (o_.sync) {
    // librdkafka fails the message itself after message.timeout.ms (= --timeout-ms); the
    // extra second only guards against a report that never comes.
    auto give_up = Clock::now() + o_.timeout + std::chrono::seconds(1);
    while (!waiting_done_ && Clock::now() < give_up) producer.poll(50);
    waiting_tag_ = 0;
  }
}

void ProduceRun::check_health(kafka::Producer& producer) {
  if (stop_.load(std::memory_order_relaxed) && !stop_seen_) stop_seen_ = Clock::now();
  if (all_down_since_ && !unreachable_ && producer.in_flight() > 0 &&
      Clock::now() - *all_down_since_ > o_.connect_timeout) {
    unreachable_ = true;
    s_.unreachable = true;
    s_.unreachable_reason = "no broker reachable for " +
                            std::to_string(o_.connect_timeout.count() / 1000) + " s (" +
                            last_error_ + ")";
    std::fprintf(o_.err, "speedlayer produce: cluster unreachable at %s: %s\n",
                 o_.bootstrap.c_str(), s_.unreachable_reason.c_str());
  }
}

void ProduceRun::progress(kafka::Producer& producer, bool force) {
  if (!o_.progress) return;
  auto now = Clock::now();
  double dt = std::chrono::duration<double>(now - last_progress_).count();
  if (!force && dt < 1.0) return;
  double rate = dt > 0 ? (s_.delivered - last_progress_delivered_) / dt : 0;
  std::fprintf(o_.err, "produce: %s msg/s, in flight %d, read %s, delivered %s, dead-lettered %s\n",
               with_commas(static_cast<std::uint64_t>(rate)).c_str(), producer.in_flight(),
               with_commas(s_.read).c_str(), with_commas(s_.delivered).c_str(),
               with_commas(s_.dead_lettered).c_str());
  last_progress_ = now;
  last_progress_delivered_ = s_.delivered;
}

void ProduceRun::finish(kafka::Producer& producer) {
  shutting_down_ = true;
  auto deadline = Clock::now() + o_.flush_timeout;
  while (producer.in_flight() > 0 && !unreachable_ && Clock::now() < deadline) {
    producer.flush(100);
    check_health(producer);
    progress(producer, false);
  }
  if (producer.in_flight() > 0) {
    // Whatever is left is reported as undelivered, never dropped silently.
    producer.purge_all();
    auto purge_deadline = Clock::now() + std::chrono::seconds(5);
    while (producer.in_flight() > 0 && Clock::now() < purge_deadline) producer.poll(50);
  }
}

ExitCode ProduceRun::run(kafka::Producer& producer) {
  if (!o_.dead_letter_topic.empty()) {
    // A record the client refuses at once (queue full, invalid topic) goes to the file now.
    dlq_.set_forward(
        [this, &producer](std::string_view record) {
          return producer.produce(o_.dead_letter_topic, {}, record,
                                  kDeadLetterTag | ++dead_letter_seq_) ==
                 RD_KAFKA_RESP_ERR_NO_ERROR;
        },
        o_.dead_letter_topic);
  }
  staging_ = !o_.sync && !o_.routes.routes.empty();
  if (staging_) stages_.resize(o_.routes.routes.size() + 1);
  // Sources: the generator, a file, or standard input.
  std::unique_ptr<Generator> generator;
  std::unique_ptr<LineReader> reader;
  int fd = -1;
  if (o_.generate) {
    generator = std::make_unique<Generator>(1, o_.rate);
  } else {
    fd = o_.input_path ? ::open(o_.input_path->c_str(), O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
    if (fd < 0) {
      std::fprintf(o_.err, "speedlayer produce: --input %s: cannot open: %s\n",
                   o_.input_path->c_str(), std::strerror(errno));
      return ExitCode::usage;
    }
    // While the input is quiet: deliveries confirmed, progress shown, health checked (an
    // unreachable cluster ends the run even if no further line comes).
    reader = std::make_unique<LineReader>(fd, o_.max_message_bytes, &stop_, [this, &producer] {
      producer.poll(0);
      check_health(producer);
      progress(producer, false);
      return !unreachable_ && !fatal_;
    });
  }

  std::uint64_t since_poll = 0;
  bool input_error = false;
  while (!unreachable_ && !fatal_) {
    std::string_view line;
    std::uint64_t line_no;
    if (generator) {
      if (stop_.load(std::memory_order_relaxed)) break;
      if (o_.count && s_.read >= *o_.count) break;
      auto wait = generator->wait_time();
      if (wait.count() > 0) {
        send_staged(producer);
        // Serve delivery reports while pacing.
        producer.poll(static_cast<int>(std::min<std::int64_t>(wait.count() / 1'000'000 + 1, 100)));
        progress(producer, false);
        check_health(producer);
        continue;
      }
      line = generator->next();
      line_no = s_.read + 1;
    } else {
      if (staged_ > 0 && !reader->line_ready()) send_staged(producer);  // before it may block
      auto status = reader->next(line);
      line_no = reader->line_number();
      if (status == LineReader::Status::too_long) {
        ++s_.read;
        invalid(line_no,
                "line of " + std::to_string(reader->skipped_bytes()) +
                    " bytes exceeds the limit of " + std::to_string(o_.max_message_bytes) +
                    " bytes (message.max.bytes or the memory budget)",
                "");
        continue;
      }
      if (status == LineReader::Status::incomplete) {
        ++s_.read;
        invalid(line_no, "incomplete line (no newline) when the stop signal came", line);
        break;
      }
      if (status != LineReader::Status::line) {
        if (status == LineReader::Status::error) {
          std::fprintf(o_.err, "speedlayer produce: reading %s failed: %s\n",
                       o_.input_path ? o_.input_path->c_str() : "stdin",
                       std::strerror(reader->error_number()));
          input_error = true;
        }
        break;
      }
    }
    ++s_.read;
    if (prepare(line_no, line)) stage_or_send(producer, line_no);
    if (++since_poll >= 64) {
      since_poll = 0;
      producer.poll(0);
      check_health(producer);
      progress(producer, false);
    }
  }
  if (fd > 0) ::close(fd);

  send_staged(producer);
  finish(producer);
  s_.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  if (s_.unreachable) return ExitCode::unreachable;
  if (input_error || fatal_ || s_.dead_lettered > 0 || s_.failed > 0) return ExitCode::partial;
  return ExitCode::ok;
}

}  // namespace

std::string format_summary(const ProduceSummary& s) {
  char rate[64];
  std::snprintf(
      rate, sizeof rate, "%.2f s (%s msg/s)", s.seconds,
      with_commas(static_cast<std::uint64_t>(s.seconds > 0 ? s.delivered / s.seconds : 0)).c_str());
  std::string out = "produce: read " + with_commas(s.read) + ", delivered " +
                    with_commas(s.delivered) + ", failed " + with_commas(s.failed) + ", invalid " +
                    with_commas(s.invalid) + ", dead-lettered " + with_commas(s.dead_lettered) +
                    " in " + rate;
  if (!s.per_topic.empty()) {
    out += "; per topic:";
    for (const auto& [topic, n] : s.per_topic) out += " " + topic + "=" + with_commas(n);
  }
  return out;
}

ExitCode run_produce(const ProduceOptions& options, const std::atomic<bool>& stop,
                     ProduceSummary& summary) {
  auto matcher = routing::Matcher::compile(options.routes);
  if (!matcher) {
    std::fprintf(options.err, "speedlayer produce: %s\n", matcher.error().message().c_str());
    return exit_code_for(matcher.error().kind);
  }
  kafka::Properties props = options.kafka;
  props.set_default("acks", "all");
  // One request in flight per broker connection. With up to 5 (librdkafka's idempotent
  // maximum), librdkafka 2.12.1 lost the first messages of a just-created partition: their
  // request failed (retriable), the next batch, already in flight, was accepted (a broker
  // takes any first sequence from a producer it has no state for), and librdkafka counted the
  // failed ones as "implicitly acked by subsequent batch success" (IMPLICITACK in
  // -X debug=eos): delivered by its report, not in the topic. Seen in 1 of ~6-18 runs of the
  // SIGTERM integration test on a fresh broker, and again on 2026-12-07: 1 of 14 runs of that
  // test, and 1 of 30 runs of bench/implicit_ack_repro.sh --speedlayer (none of 30 with one in
  // flight). It costs routed produce throughput (bench/README.md); -X can raise it again.
  const char* max_in_flight = "1";
  // Our own messages explain failures; librdkafka's log lines (retries, reconnects) stay off
  // unless asked for with -X log_level=7 or -X debug=.... Idempotence and the murmur2
  // partitioner: as every producer of speedlayer (kafka::set_producer_defaults).
  kafka::set_producer_defaults(
      props, {.client_id = "speedlayer-produce", .log_level = "2", .max_in_flight = max_in_flight});
  if (options.sync) {
    props.set("message.timeout.ms", std::to_string(options.timeout.count()), "--timeout-ms");
  }

  std::string source = options.generate ? "generator" : options.input_path.value_or("stdin");
  DeadLetter dead_letter(options.dead_letter_path, source);
  ProduceRun run(options, stop, summary, dead_letter, *matcher);
  auto producer = kafka::Producer::create(props, &run);
  if (!producer) {
    std::fprintf(options.err, "speedlayer produce: %s\n", producer.error().message().c_str());
    return exit_code_for(producer.error().kind);
  }
  auto reachable = (*producer)->wait_for_cluster(static_cast<int>(options.connect_timeout.count()),
                                                 options.bootstrap);
  if (!reachable) {
    // Unreachable -> 3; wrong credentials or TLS settings are configuration -> 2.
    summary.unreachable = reachable.error().kind == ErrorKind::unreachable;
    summary.unreachable_reason = reachable.error().what;
    std::fprintf(options.err, "speedlayer produce: %s\n", reachable.error().message().c_str());
    return exit_code_for(reachable.error().kind);
  }
  ExitCode code = run.run(**producer);
  std::fprintf(options.err, "%s\n", format_summary(summary).c_str());
  if (dead_letter.records_forwarded() > 0) {
    std::fprintf(options.err, "produce: %llu record(s) confirmed in dead-letter topic %s\n",
                 static_cast<unsigned long long>(summary.dead_letters_in_topic),
                 options.dead_letter_topic.c_str());
  }
  if (dead_letter.records_in_file() > 0) {
    std::fprintf(options.err, "produce: %llu record(s) written to dead-letter file %s\n",
                 static_cast<unsigned long long>(dead_letter.records_in_file()),
                 dead_letter.path().c_str());
  }
  if (dead_letter.records_on_stderr() > 0) {
    std::fprintf(options.err,
                 "produce: %llu record(s) could not be written to dead-letter file %s and were "
                 "printed to stderr instead (lines starting 'dead-letter: ')\n",
                 static_cast<unsigned long long>(dead_letter.records_on_stderr()),
                 dead_letter.path().c_str());
  }
  return code;
}

}  // namespace speedlayer::produce
