#include "consume/consume_service.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "core/ascii.h"
#include "kafka/error.h"

namespace speedlayer::consume {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kFlushBytes = 64 * 1024;
constexpr std::size_t kFlushMessages = 1000;
constexpr auto kWarningInterval = std::chrono::seconds(10);

bool is_authorization_error(kafka::ErrorCode err) {
  return err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
         err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
         err == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED;
}

bool is_unknown_topic_error(kafka::ErrorCode err) {
  return err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
         err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
}

// One run of the consumer. librdkafka's callbacks (rebalance, errors, commits) all arrive on
// this thread, inside Consumer::poll().
class ConsumeRun final : public kafka::ConsumerEvents {
 public:
  ConsumeRun(const ConsumeOptions& options, const std::atomic<bool>& stop, ConsumeSummary& summary)
      : o_(options), stop_(stop), s_(summary) {}

  ExitCode run(kafka::Consumer& consumer);

  void on_assigned(const std::vector<kafka::TopicPartition>& added) noexcept override {
    if (o_.quiet) return;
    try {
      if (added.empty() && consumer_ && consumer_->assignment().empty()) {
        std::fprintf(o_.err,
                     "consume: no partitions assigned (no matching topic has partitions, or "
                     "other members of group %s hold them all)\n",
                     o_.group.c_str());
      } else if (!added.empty()) {
        std::fprintf(o_.err, "consume: assigned %s\n", format_partitions(added).c_str());
      }
    } catch (...) {
      // swallowed: a status line on stderr must not throw out of a librdkafka callback
    }
  }

  void on_revoked(const std::vector<kafka::TopicPartition>& removed, bool lost) noexcept override {
    // Print and store what was read from these partitions while they are still ours.
    if (consumer_) flush_output(*consumer_);
    if (o_.quiet || removed.empty() || closing_) return;
    try {
      std::fprintf(o_.err, "consume: %s %s\n", lost ? "lost" : "revoked",
                   format_partitions(removed).c_str());
    } catch (...) {
      // swallowed: a status line on stderr must not throw out of a librdkafka callback
    }
  }

  void on_client_error(kafka::ErrorCode error, std::string_view reason,
                       bool fatal) noexcept override {
    if (error == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !down_since_) down_since_ = Clock::now();
    try {
      last_error_ = std::string(reason);
      if (fatal) {
        fatal_ = true;
        std::fprintf(o_.err, "speedlayer consume: fatal Kafka client error: %s\n",
                     last_error_.c_str());
        return;
      }
      warn(last_error_);
    } catch (...) {
      // swallowed: a warning must not throw out of a librdkafka callback
    }
  }

  void on_commit_error(kafka::ErrorCode error) noexcept override {
    try {
      warn("offset commit for group " + o_.group + " failed: " + kafka::error_name(error));
    } catch (...) {
      // swallowed: a warning must not throw out of a librdkafka callback; the commit error itself
      // is counted by the caller
    }
  }

 private:
  // Transient problems: printed (unless --quiet), the same text at most every 10 s.
  void warn(const std::string& text) {
    ++s_.errors;
    if (o_.quiet || connecting_) return;
    auto now = Clock::now();
    if (text == last_warning_ && now - last_warning_at_ < kWarningInterval) return;
    last_warning_ = text;
    last_warning_at_ = now;
    std::fprintf(o_.err, "speedlayer consume: warning: %s\n", text.c_str());
  }
  void error(const std::string& text) {
    ++s_.errors;
    std::fprintf(o_.err, "speedlayer consume: %s\n", text.c_str());
  }

  bool check_topics(kafka::Consumer& consumer);
  void on_consumer_error(const kafka::Message& msg);
  bool still_reachable(kafka::Consumer& consumer);
  void flush_output(kafka::Consumer& consumer) noexcept;

  const ConsumeOptions& o_;
  const std::atomic<bool>& stop_;
  ConsumeSummary& s_;
  kafka::Consumer* consumer_ = nullptr;

  std::string buf_;                         // formatted messages not yet written
  std::vector<kafka::MessagePtr> pending_;  // their messages, to store offsets after writing
  bool write_failed_ = false;
  bool reader_gone_ = false;  // EPIPE: whoever read stdout stopped; a normal end
  bool fatal_ = false;
  std::optional<Clock::time_point> down_since_;
  std::string last_error_;
  std::string last_warning_;
  Clock::time_point last_warning_at_{};
  std::set<std::string> unknown_topics_warned_;
  bool store_failure_reported_ = false;
  bool closing_ = false;  // close() revokes everything: not worth a status line
 public:
  bool connecting_ = false;  // wait_for_cluster() names the last error itself
};

void ConsumeRun::flush_output(kafka::Consumer& consumer) noexcept {
  if (!buf_.empty() && !write_failed_) {
    if (std::fwrite(buf_.data(), 1, buf_.size(), o_.out) != buf_.size() ||
        std::fflush(o_.out) != 0) {
      write_failed_ = true;
      if (errno == EPIPE) {
        reader_gone_ = true;
      } else {
        std::fprintf(o_.err, "speedlayer consume: writing messages to stdout failed: %s\n",
                     std::strerror(errno));
      }
    }
  }
  buf_.clear();
  std::vector<kafka::MessagePtr> written;
  written.swap(pending_);
  if (write_failed_) return;
  try {
    // Offsets are stored only once the messages are written: at-least-once for a group.
    for (const auto& m : written) {
      auto stored = consumer.store(*m);
      if (!stored && !store_failure_reported_) {
        store_failure_reported_ = true;
        std::fprintf(o_.err, "speedlayer consume: warning: %s\n", stored.error().message().c_str());
      }
    }
  } catch (...) {
    // swallowed: out of memory leaves offsets unstored: those messages are read again
  }
}

bool ConsumeRun::check_topics(kafka::Consumer& consumer) {
  if (o_.topics.empty()) return true;
  auto names = consumer.list_topics(
      static_cast<int>(std::min<std::int64_t>(o_.connect_timeout.count(), 10'000)));
  if (!names) return true;  // not decisive: the subscription reports unknown topics too
  std::set<std::string, std::less<>> existing(names->begin(), names->end());
  bool ok = true;
  for (const auto& topic : o_.topics) {
    if (existing.count(topic)) continue;
    std::string hint = "topic names are case-sensitive";
    for (const auto& name : existing) {
      if (ascii_lower(name) == ascii_lower(topic)) hint = "did you mean " + name + "?";
    }
    if (o_.exit_at_end) {
      error("--topic " + topic + ": topic does not exist at " + o_.bootstrap + " (" + hint + ")");
      ok = false;
    } else {
      unknown_topics_warned_.insert(topic);
      if (!o_.quiet) {
        std::fprintf(o_.err, "consume: topic %s does not exist yet (%s); waiting for it\n",
                     topic.c_str(), hint.c_str());
      }
    }
  }
  return ok;
}

void ConsumeRun::on_consumer_error(const kafka::Message& msg) {
  std::string topic(kafka::message_topic(msg));
  std::string text = kafka::message_error(msg);
  if (is_unknown_topic_error(msg.err)) {
    // librdkafka 2.0.2 reports a regex subscription that matches no topic the same way, with
    // the regex as the topic name.
    bool pattern = !topic.empty() && topic[0] == '^';
    std::string what =
        pattern ? "no topic matches --pattern " + topic : "topic " + topic + " does not exist";
    if (o_.exit_at_end) {
      error(what + " at " + o_.bootstrap + " (" + text + ")");
      fatal_ = true;
    } else if (unknown_topics_warned_.insert(topic).second && !o_.quiet) {
      std::fprintf(o_.err, "consume: %s yet; waiting for it\n", what.c_str());
    }
    return;
  }
  if (is_authorization_error(msg.err)) {
    std::string what = msg.err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED
                           ? "not allowed to use consumer group " + o_.group
                           : "not allowed to read" + (topic.empty() ? "" : " topic " + topic);
    error(what + ": " + text +
          " (grant this user Read on the topic and on the group, e.g. in its KafkaUser acls; "
          "or pass --group with a group it may use)");
    fatal_ = true;
    return;
  }
  if (msg.err == RD_KAFKA_RESP_ERR__FATAL) {
    error("fatal Kafka client error: " + consumer_->fatal_error());
    fatal_ = true;
    return;
  }
  if (msg.err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !down_since_) down_since_ = Clock::now();
  warn((topic.empty() ? "" : topic + "[" + std::to_string(msg.partition) + "]: ") + text);
}

bool ConsumeRun::still_reachable(kafka::Consumer& consumer) {
  if (!down_since_ || Clock::now() - *down_since_ < o_.connect_timeout) return true;
  // All brokers were reported down for --connect-timeout: ask once more before giving up.
  auto up = consumer.wait_for_cluster(2000, o_.bootstrap);
  if (up) {
    down_since_.reset();
    return true;
  }
  std::fprintf(o_.err, "speedlayer consume: all brokers down for %lld s: %s\n",
               static_cast<long long>(o_.connect_timeout.count() / 1000),
               up.error().message().c_str());
  return false;
}

ExitCode ConsumeRun::run(kafka::Consumer& consumer) {
  consumer_ = &consumer;
  if (!o_.quiet) {
    std::string what;
    for (const auto& t : o_.topics) what += (what.empty() ? "" : ", ") + t;
    for (const auto& p : o_.patterns) what += (what.empty() ? "pattern " : ", pattern ") + p;
    std::fprintf(o_.err, "consume: reading %s from %s, %s %s\n", what.c_str(),
                 std::string(kafka::to_string(o_.from)).c_str(),
                 o_.commit ? "group" : "throwaway group (no commits)", o_.group.c_str());
  }
  if (!check_topics(consumer)) return ExitCode::partial;
  std::vector<std::string> subscription = o_.topics;
  subscription.insert(subscription.end(), o_.patterns.begin(), o_.patterns.end());
  if (auto subscribed = consumer.subscribe(subscription); !subscribed) {
    std::fprintf(o_.err, "speedlayer consume: %s\n", subscribed.error().message().c_str());
    return exit_code_for(subscribed.error().kind);
  }

  auto started = Clock::now();
  bool unreachable = false;
  const bool with_headers = o_.format == OutputFormat::json;
  while (true) {
    if (stop_.load(std::memory_order_relaxed)) {
      s_.stop_reason = "signal";
      break;
    }
    if (fatal_) {
      s_.stop_reason = "error";
      break;
    }
    kafka::MessagePtr msg = consumer.poll(buf_.empty() ? 100 : 0);
    if (!msg) {
      flush_output(consumer);  // idle: what was read goes out now
      if (write_failed_) break;
      if (!still_reachable(consumer)) {
        unreachable = true;
        s_.stop_reason = "cluster unreachable";
        break;
      }
      if (o_.exit_at_end && consumer.all_assigned_at_end()) {
        s_.stop_reason = "all partitions at end";
        break;
      }
      continue;
    }
    if (msg->err) {
      on_consumer_error(*msg);
      continue;
    }
    down_since_.reset();
    append_message(o_.format, kafka::view_of(*msg, with_headers), buf_);
    ++s_.messages;
    if (o_.commit) pending_.push_back(std::move(msg));
    if (buf_.size() >= kFlushBytes || pending_.size() >= kFlushMessages) {
      flush_output(consumer);
      if (write_failed_) break;
    }
    if (o_.count && s_.messages >= *o_.count) {
      s_.stop_reason = "--count reached";
      break;
    }
  }
  flush_output(consumer);
  if (write_failed_) s_.stop_reason = reader_gone_ ? "stdout closed" : "stdout write error";
  s_.seconds = std::chrono::duration<double>(Clock::now() - started).count();

  bool commit_failed = false;
  if (o_.commit && !unreachable) {
    if (auto committed = consumer.commit(); !committed) {
      std::fprintf(o_.err, "speedlayer consume: %s\n", committed.error().message().c_str());
      commit_failed = true;
    }
  }
  closing_ = true;
  if (!unreachable) (void)consumer.close();  // leaves the group now, not after a session timeout

  if (unreachable) return ExitCode::unreachable;
  if (fatal_ || commit_failed || (write_failed_ && !reader_gone_)) return ExitCode::partial;
  return ExitCode::ok;
}

}  // namespace

std::string format_summary(const ConsumeSummary& s) {
  char text[256];
  std::snprintf(text, sizeof text, "consume: %llu message%s in %.2f s (%.0f msg/s)",
                static_cast<unsigned long long>(s.messages), s.messages == 1 ? "" : "s", s.seconds,
                s.seconds > 0 ? static_cast<double>(s.messages) / s.seconds : 0.0);
  std::string out = text;
  if (s.errors > 0) out += ", " + std::to_string(s.errors) + " error(s) reported";
  if (!s.stop_reason.empty()) out += ", stopped: " + s.stop_reason;
  return out;
}

ExitCode run_consume(const ConsumeOptions& options, const std::atomic<bool>& stop,
                     ConsumeSummary& summary) {
  ConsumeRun run(options, stop, summary);
  run.connecting_ = true;
  auto consumer = kafka::Consumer::create(
      options.kafka, {.start = options.from, .fresh_group = !options.commit, .events = &run});
  if (!consumer) {
    std::fprintf(options.err, "speedlayer consume: %s\n", consumer.error().message().c_str());
    return exit_code_for(consumer.error().kind);
  }
  auto reachable = (*consumer)->wait_for_cluster(static_cast<int>(options.connect_timeout.count()),
                                                 options.bootstrap);
  if (!reachable) {
    // Exit 3 when no broker answered; 2 for authentication or TLS configuration errors.
    std::fprintf(options.err, "speedlayer consume: %s\n", reachable.error().message().c_str());
    return exit_code_for(reachable.error().kind);
  }
  run.connecting_ = false;
  ExitCode code = run.run(**consumer);
  if (!options.quiet) std::fprintf(options.err, "%s\n", format_summary(summary).c_str());
  return code;
}

}  // namespace speedlayer::consume
