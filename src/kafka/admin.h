// Cluster administration through any client handle (producer or consumer): create a topic
// when it is missing, read a topic's configuration, count its partitions. Every call blocks
// for at most about `timeout_ms` and never throws. Errors name the topic (`where`) and use
// ErrorKind::unreachable when no broker answered in time, ErrorKind::kafka when a broker
// refused (the broker's own text in `what`), ErrorKind::usage for bad arguments.
//
//   rd_kafka_t* rk = producer->handle();
//   if (auto st = kafka::ensure_topic(rk, "views-changelog", 6, {{"cleanup.policy", "compact"}},
//                                     30'000);
//       !st) {
//     return st;
//   }
//   auto partitions = kafka::topic_partition_count(rk, "views-changelog", 10'000);  // 6
//   auto configs = kafka::describe_topic_configs(rk, "views-changelog", 10'000);
//   if (configs) std::puts((*configs)["cleanup.policy"].c_str());                   // compact
//
// librdkafka's mock cluster (kafka/mock_cluster.h) implements neither CreateTopics nor
// DescribeConfigs, and never names a controller broker (where admin requests go): there
// ensure_topic() only succeeds for topics that already exist (create them with
// MockCluster::create_topic()), and creating a topic or describe_topic_configs() waits the
// whole timeout, then fails with ErrorKind::unreachable.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kafka/handles.h"

namespace speedlayer::kafka {

// Creates `topic` with `partitions` partitions (-1: the broker's default), the broker's default
// replication factor and the given topic configs, unless it exists already. A topic created
// concurrently by someone else (TOPIC_ALREADY_EXISTS) counts as success. Existing topics are
// left as they are: neither their partition count nor their configs are checked or changed.
// Existence is checked with an all-topics metadata request, which never auto-creates a topic.
Status ensure_topic(rd_kafka_t* rk, const std::string& topic, int partitions,
                    const std::vector<std::pair<std::string, std::string>>& configs,
                    int timeout_ms);

// Every config entry of `topic` the broker describes (DescribeConfigs), name -> value;
// entries without a value (sensitive or unset ones) are left out. A missing topic is an
// ErrorKind::kafka error.
Result<std::map<std::string, std::string>> describe_topic_configs(rd_kafka_t* rk,
                                                                  const std::string& topic,
                                                                  int timeout_ms);

// Number of partitions of `topic`, from an all-topics metadata request (which never
// auto-creates it). A missing topic is an ErrorKind::kafka error.
Result<int> topic_partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms);

}  // namespace speedlayer::kafka
