#include "kafka/admin.h"

#include <chrono>
#include <optional>
#include <string_view>
#include <thread>

#include "kafka/error.h"

namespace speedlayer::kafka {
namespace {

// The admin request's own timeout (request_timeout) produces a result event with
// RD_KAFKA_RESP_ERR__TIMED_OUT; waiting a little longer for the queue lets that event, which
// says why, arrive instead of nothing.
constexpr int kQueueGraceMs = 1000;

std::string where_topic(const std::string& topic) {
  return "topic " + topic;
}

// Errors that mean no broker answered (in time), as opposed to a broker refusing.
bool no_answer(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE ||
         err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
}

ErrorKind kind_for(rd_kafka_resp_err_t err) {
  return no_answer(err) ? ErrorKind::unreachable : ErrorKind::kafka;
}

std::string unreachable_hint(int timeout_ms) {
  return "no broker answered within " + std::to_string(timeout_ms) +
         " ms: check bootstrap.servers and that the cluster is up";
}

Status check_args(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  if (!rk) return fail(ErrorKind::internal, "no Kafka client handle", where_topic(topic));
  if (topic.empty()) return fail(ErrorKind::usage, "empty topic name", "topic");
  if (timeout_ms <= 0) {
    return fail(ErrorKind::usage, "timeout must be positive, got " + std::to_string(timeout_ms),
                where_topic(topic));
  }
  return {};
}

// The topic's partition count, or nullopt when the cluster does not know the topic. Asks for
// all topics: a request naming the topic would auto-create it on a producer handle.
Result<std::optional<int>> find_topic(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return fail(kind_for(err), "cannot read cluster metadata: " + error_name(err),
                where_topic(topic), no_answer(err) ? unreachable_hint(timeout_ms) : "");
  }
  MetadataPtr owned(md);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (!t.topic || topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return std::optional<int>();
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return fail(
          ErrorKind::kafka, "cannot read metadata of the topic: " + error_name(t.err),
          where_topic(topic),
          t.err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ? "grant Describe on it" : "");
    }
    return std::optional<int>(t.partition_cnt);
  }
  return std::optional<int>();
}

Result<AdminOptionsPtr> admin_options(rd_kafka_t* rk, rd_kafka_admin_op_t op, int timeout_ms,
                                      const std::string& topic) {
  AdminOptionsPtr options(rd_kafka_AdminOptions_new(rk, op));
  if (!options) {
    return fail(ErrorKind::internal, "cannot create admin options", where_topic(topic));
  }
  char err[256];
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, err, sizeof err)) {
    return fail(ErrorKind::usage, std::string("bad admin request timeout: ") + err,
                where_topic(topic));
  }
  return options;
}

// Waits for the admin result event on `queue`: an error unless it arrived without a
// request-level error.
Result<EventPtr> await_result(rd_kafka_queue_t* queue, int timeout_ms, const std::string& action,
                              const std::string& topic, const std::string& refused_hint) {
  EventPtr ev(rd_kafka_queue_poll(queue, timeout_ms + kQueueGraceMs));
  if (!ev) {
    return fail(ErrorKind::unreachable, "no answer to " + action, where_topic(topic),
                unreachable_hint(timeout_ms));
  }
  rd_kafka_resp_err_t err = rd_kafka_event_error(ev.get());
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return ev;
  const char* text = rd_kafka_event_error_string(ev.get());
  std::string hint = refused_hint;
  if (no_answer(err)) hint = unreachable_hint(timeout_ms);
  // Admin requests go to the controller broker. librdkafka's mock cluster never names one
  // (and implements neither CreateTopics nor DescribeConfigs), so there they time out here.
  if (no_answer(err) && text &&
      std::string_view(text).find("controller") != std::string_view::npos) {
    hint = "no controller broker became known within " + std::to_string(timeout_ms) +
           " ms (librdkafka's mock cluster never has one)";
  }
  if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
    hint = "the cluster does not support this request";
  }
  return fail(kind_for(err), "cannot " + action + ": " + (text ? text : error_name(err)),
              where_topic(topic), std::move(hint));
}

}  // namespace

Status ensure_topic(rd_kafka_t* rk, const std::string& topic, int partitions,
                    const std::vector<std::pair<std::string, std::string>>& configs,
                    int timeout_ms) {
  if (auto st = check_args(rk, topic, timeout_ms); !st) return st;
  if (partitions == 0 || partitions < -1) {
    return fail(ErrorKind::usage, "bad partition count " + std::to_string(partitions),
                where_topic(topic), "give at least 1, or -1 for the broker's default");
  }
  // Already there (e.g. a KafkaTopic resource, or a topic of the mock cluster, which has no
  // CreateTopics)? A lookup the cluster refused is not final (CreateTopics says more); one
  // nobody answered is (CreateTopics would only wait as long again).
  auto found = find_topic(rk, topic, timeout_ms);
  if (found && found->has_value()) return {};
  if (!found && found.error().kind == ErrorKind::unreachable) {
    return std::unexpected(std::move(found.error()));
  }

  char err[256];
  NewTopicPtr nt(rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, err, sizeof err));
  if (!nt) return fail(ErrorKind::usage, err, where_topic(topic));
  for (const auto& [name, value] : configs) {
    if (auto e = rd_kafka_NewTopic_set_config(nt.get(), name.c_str(), value.c_str()); e) {
      return fail(ErrorKind::usage, "bad topic config " + name + "=" + value + ": " + error_name(e),
                  where_topic(topic));
    }
  }
  auto options = admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms, topic);
  if (!options) return std::unexpected(options.error());
  // The broker waits for the new topic to reach every broker, within the caller's budget.
  if (rd_kafka_AdminOptions_set_operation_timeout(options->get(), timeout_ms, err, sizeof err)) {
    return fail(ErrorKind::usage, std::string("bad admin operation timeout: ") + err,
                where_topic(topic));
  }
  const std::string grant = "create it beforehand (e.g. a KafkaTopic) or grant Create";
  QueuePtr queue(rd_kafka_queue_new(rk));
  rd_kafka_NewTopic_t* list[] = {nt.get()};
  rd_kafka_CreateTopics(rk, list, 1, options->get(), queue.get());
  auto ev = await_result(queue.get(), timeout_ms, "create topic", topic, grant);
  if (!ev) return std::unexpected(ev.error());

  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev->get());
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      res ? rd_kafka_CreateTopics_result_topics(res, &n) : nullptr;
  for (size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
    const char* msg = rd_kafka_topic_result_error_string(results[i]);
    std::string hint = grant;
    if (e == RD_KAFKA_RESP_ERR_INVALID_CONFIG || e == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS ||
        e == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR) {
      hint = "check the partition count and topic configs";
    } else if (e == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT) {
      hint = "the topic may still appear; try again";
    }
    return fail(ErrorKind::kafka,
                "cannot create topic: " + (msg && *msg ? std::string(msg) : error_name(e)),
                where_topic(topic), std::move(hint));
  }
  // Created (by us or by a replica racing us): a broker's metadata may lag a moment behind,
  // so callers that look the topic up next would find it missing. Wait until it shows.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    auto shown = find_topic(rk, topic, timeout_ms);
    if (shown && shown->has_value()) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return fail(ErrorKind::unreachable,
              "topic created but not in the cluster's metadata within " +
                  std::to_string(timeout_ms) + " ms",
              where_topic(topic));
}

Result<std::map<std::string, std::string>> describe_topic_configs(rd_kafka_t* rk,
                                                                  const std::string& topic,
                                                                  int timeout_ms) {
  if (auto st = check_args(rk, topic, timeout_ms); !st) return std::unexpected(st.error());
  auto options = admin_options(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms, topic);
  if (!options) return std::unexpected(options.error());
  ConfigResourcePtr resource(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  if (!resource) {
    return fail(ErrorKind::internal, "cannot create a config resource", where_topic(topic));
  }
  QueuePtr queue(rd_kafka_queue_new(rk));
  rd_kafka_ConfigResource_t* list[] = {resource.get()};
  rd_kafka_DescribeConfigs(rk, list, 1, options->get(), queue.get());
  auto ev = await_result(queue.get(), timeout_ms, "describe topic configs", topic,
                         "grant DescribeConfigs on the topic");
  if (!ev) return std::unexpected(ev.error());

  const rd_kafka_DescribeConfigs_result_t* res = rd_kafka_event_DescribeConfigs_result(ev->get());
  size_t n = 0;
  const rd_kafka_ConfigResource_t** resources =
      res ? rd_kafka_DescribeConfigs_result_resources(res, &n) : nullptr;
  if (n != 1) {
    return fail(ErrorKind::kafka, "the broker described " + std::to_string(n) + " resources, not 1",
                where_topic(topic));
  }
  if (rd_kafka_resp_err_t e = rd_kafka_ConfigResource_error(resources[0]); e) {
    const char* msg = rd_kafka_ConfigResource_error_string(resources[0]);
    std::string what =
        "cannot describe topic configs: " + (msg && *msg ? std::string(msg) : error_name(e));
    std::string hint = e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? "the topic does not exist"
                       : e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED
                           ? "grant DescribeConfigs on the topic"
                           : "";
    return fail(ErrorKind::kafka, std::move(what), where_topic(topic), std::move(hint));
  }
  std::map<std::string, std::string> configs;
  size_t count = 0;
  const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(resources[0], &count);
  for (size_t i = 0; i < count; ++i) {
    const char* name = rd_kafka_ConfigEntry_name(entries[i]);
    const char* value = rd_kafka_ConfigEntry_value(entries[i]);
    if (name && value) configs[name] = value;
  }
  return configs;
}

Result<int> topic_partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  if (auto st = check_args(rk, topic, timeout_ms); !st) return std::unexpected(st.error());
  auto found = find_topic(rk, topic, timeout_ms);
  if (!found) return std::unexpected(found.error());
  if (!found->has_value()) {
    return fail(ErrorKind::kafka, "topic does not exist", where_topic(topic),
                "create it first (e.g. kafka-topics.sh --create), or check its name");
  }
  return **found;
}

}  // namespace speedlayer::kafka
