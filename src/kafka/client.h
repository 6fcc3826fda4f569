// The one place a librdkafka client handle is made (rd_kafka_new): Producer, Consumer and
// TopicReader all come through here, with the callbacks they observe the client by. Only
// the mock cluster (kafka/mock_cluster.cc) makes its own handle, which hosts the cluster.
//
//   ClientCallbacks cb{.opaque = this, .error = &on_error_cb, .delivery = &on_delivery_cb};
//   auto rk = kafka::new_client(ClientType::producer, props, cb, "cannot create Kafka producer");
//   if (!rk) return rk.error();   // ErrorKind::usage: "<failure>: <librdkafka's reason>"
#pragma once

#include <string>
#include <string_view>

#include "core/error.h"
#include "kafka/handles.h"
#include "kafka/properties.h"

namespace speedlayer::kafka {

enum class ClientType { producer, consumer };

// What a client observes; null callbacks are not set (librdkafka's defaults apply).
struct ClientCallbacks {
  void* opaque = nullptr;  // passed to every callback
  void (*error)(rd_kafka_t* rk, int err, const char* reason, void* opaque) = nullptr;
  void (*delivery)(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque) = nullptr;
  void (*rebalance)(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                    rd_kafka_topic_partition_list_t* partitions, void* opaque) = nullptr;
  void (*offset_commit)(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* offsets, void* opaque) = nullptr;
  // No librdkafka log lines at all (the doctor: its report says what matters).
  bool quiet = false;
};

// Makes a client from `props` (kafka::make_conf: a rejected property is an ErrorKind::usage
// error naming its origin). When librdkafka refuses the configuration as a whole (e.g. an
// unreadable CA file), the error is ErrorKind::usage "<failure>: <librdkafka's reason>" with
// `where` and `hint` as given.
Result<KafkaPtr> new_client(ClientType type, const Properties& props,
                            const ClientCallbacks& callbacks, std::string_view failure,
                            std::string_view where = "Kafka client configuration",
                            std::string_view hint = "check -X properties and security settings");

// The librdkafka this process runs, e.g. "2.12.1".
std::string librdkafka_version();

}  // namespace speedlayer::kafka
