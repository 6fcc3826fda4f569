// An in-process Kafka cluster: librdkafka's mock cluster (rdkafka_mock.h), owned RAII. It
// speaks the Kafka protocol on real 127.0.0.1 TCP ports, so any client (ours, kcat,
// kafka-python) can use bootstraps(). For `speedlayer demo`, in-process unit tests and fault
// injection; not for correctness tests of data (see the limits below).
//
//   auto cluster = kafka::MockCluster::create(3);              // brokers 1..3
//   if (!cluster) return cluster.error();
//   (*cluster)->create_topic("Sport", 3, 1);
//   props.set("bootstrap.servers", (*cluster)->bootstraps(), "mock cluster");
//   (*cluster)->push_request_errors(RD_KAFKAP_Produce,          // the next 2 Produce requests
//       {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR__TRANSPORT});
//   (*cluster)->set_broker_down(2);                            // disconnect broker 2
//
// Limits of librdkafka 2.0.2's mock (checked; DESIGN.md, "Kafka for development"):
//   - each partition keeps only about 5 MiB or 100,000 message batches; older data is deleted
//     silently (the low watermark moves up), so long runs lose messages without an error;
//   - a fetch that finds no data waits the consumer's full fetch.wait.max.ms (default 500 ms)
//     before answering: lower it (e.g. -X fetch.wait.max.ms=10) for snappy tests;
//   - the first join of a consumer group waits about 3 s (the mock's initial rebalance delay)
//     before partitions are assigned; a join after a member left (e.g. the next consumer of
//     the same group.id) waits session.timeout.ms - 1 s (44 s by default): set
//     session.timeout.ms=6000 on consumers that reuse a group;
//   - offset lookup by timestamp (ListOffsets with a time) returns -1;
//   - the mock does not implement the CreateTopics Admin API: create topics with
//     create_topic() (a producer's metadata request for a missing topic auto-creates it with
//     the mock's default partition count). Nor DescribeConfigs (still so in 2.12.1), and its
//     metadata never names a controller broker, so such admin requests wait for one until
//     they time out (kafka/admin.h: ErrorKind::unreachable);
//   - offsets sent in a transaction (TxnOffsetCommit) are accepted but not stored, so
//     Consumer::committed() does not see them (plain commits are stored).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kafka/handles.h"

namespace speedlayer::kafka {

// Kafka protocol request types (ApiKey) commonly used with push_request_errors(); any other
// ApiKey number works too.
inline constexpr std::int16_t kApiProduce = 0;
inline constexpr std::int16_t kApiFetch = 1;
inline constexpr std::int16_t kApiListOffsets = 2;
inline constexpr std::int16_t kApiMetadata = 3;
inline constexpr std::int16_t kApiOffsetCommit = 8;
inline constexpr std::int16_t kApiOffsetFetch = 9;
inline constexpr std::int16_t kApiFindCoordinator = 10;
inline constexpr std::int16_t kApiJoinGroup = 11;
inline constexpr std::int16_t kApiHeartbeat = 12;
inline constexpr std::int16_t kApiSyncGroup = 14;
inline constexpr std::int16_t kApiInitProducerId = 22;
inline constexpr std::int16_t kApiAddPartitionsToTxn = 24;
inline constexpr std::int16_t kApiAddOffsetsToTxn = 25;
inline constexpr std::int16_t kApiEndTxn = 26;
inline constexpr std::int16_t kApiTxnOffsetCommit = 28;

class MockCluster {
 public:
  // Starts `brokers` mock brokers (ids 1..brokers) listening on free 127.0.0.1 ports.
  static Result<std::unique_ptr<MockCluster>> create(int brokers);
  ~MockCluster();  // stops the brokers (clients still connected see disconnects)
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // "127.0.0.1:port,..." for bootstrap.servers.
  std::string bootstraps() const;
  int broker_count() const { return brokers_; }

  Status create_topic(const std::string& name, int partitions, int replication);

  // Disconnects broker `id` (-1: all) and refuses new connections; no leader change happens.
  Status set_broker_down(std::int32_t id);
  Status set_broker_up(std::int32_t id);
  // Delays every response of broker `id` (-1: all) by `rtt_ms`.
  Status set_broker_rtt(std::int32_t id, int rtt_ms);

  // The next errors.size() requests of type `api_key` (to any broker) fail with these errors,
  // in order. RD_KAFKA_RESP_ERR__TRANSPORT makes the broker drop the connection instead.
  void push_request_errors(std::int16_t api_key, const std::vector<rd_kafka_resp_err_t>& errors);
  // Same for one broker, each error with a response delay in ms (err may be 0: delay only).
  Status push_broker_request_errors(std::int32_t broker_id, std::int16_t api_key,
                                    const std::vector<std::pair<rd_kafka_resp_err_t, int>>& errors);
  void clear_request_errors(std::int16_t api_key);
  // How many errors pushed with push_broker_request_errors() for `api_key` on broker `broker_id`
  // no request has taken yet: 0 once that many requests met them. (The cluster-wide errors of
  // push_request_errors() have no such count in librdkafka 2.12.1.)
  Result<std::size_t> pending_broker_request_errors(std::int32_t broker_id,
                                                    std::int16_t api_key) const;

  rd_kafka_mock_cluster_t* handle() const { return mock_.get(); }

 private:
  MockCluster() = default;
  Status check(rd_kafka_resp_err_t err, const std::string& what) const;

  int brokers_ = 0;
  // The mock cluster needs an rd_kafka_t for its bookkeeping and must be destroyed before it:
  // members are destroyed in reverse order, so mock_ (declared last) goes first.
  KafkaPtr rk_;
  MockClusterPtr mock_;
};

}  // namespace speedlayer::kafka
