#include "kafka/mock_cluster.h"

#include "kafka/producer.h"  // error_name

namespace speedlayer::kafka {

Result<std::unique_ptr<MockCluster>> MockCluster::create(int brokers) {
  if (brokers < 1) {
    return fail(ErrorKind::usage,
                "a mock cluster needs at least one broker, got " + std::to_string(brokers),
                "mock cluster");
  }
  std::unique_ptr<MockCluster> cluster(new MockCluster());
  cluster->brokers_ = brokers;
  ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  // The handle only does the mock's bookkeeping: no bootstrap servers, quiet logs.
  if (rd_kafka_conf_set(conf.get(), "log_level", "2", err, sizeof err) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf.get(), "client.id", "speedlayer-mock-cluster", err, sizeof err) !=
          RD_KAFKA_CONF_OK) {
    return fail(ErrorKind::internal, std::string("mock cluster configuration: ") + err,
                "mock cluster");
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err);
  if (!rk) {
    return fail(ErrorKind::internal, std::string("cannot create the mock cluster's client: ") + err,
                "mock cluster");
  }
  (void)conf.release();  // rd_kafka_new took ownership
  cluster->rk_.reset(rk);
  cluster->mock_.reset(rd_kafka_mock_cluster_new(rk, brokers));
  if (!cluster->mock_) {
    return fail(ErrorKind::internal, "cannot start the mock cluster (no free port?)",
                "mock cluster", "check that 127.0.0.1 accepts listening sockets");
  }
  return cluster;
}

MockCluster::~MockCluster() = default;

std::string MockCluster::bootstraps() const {
  const char* b = rd_kafka_mock_cluster_bootstraps(mock_.get());
  return b ? b : "";
}

Status MockCluster::check(rd_kafka_resp_err_t err, const std::string& what) const {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return fail(ErrorKind::kafka, what + ": " + error_name(err), "mock cluster " + bootstraps());
}

Status MockCluster::create_topic(const std::string& name, int partitions, int replication) {
  return check(rd_kafka_mock_topic_create(mock_.get(), name.c_str(), partitions, replication),
               "cannot create topic " + name);
}

Status MockCluster::set_broker_down(std::int32_t id) {
  return check(rd_kafka_mock_broker_set_down(mock_.get(), id),
               "cannot take broker " + std::to_string(id) + " down");
}

Status MockCluster::set_broker_up(std::int32_t id) {
  return check(rd_kafka_mock_broker_set_up(mock_.get(), id),
               "cannot bring broker " + std::to_string(id) + " up");
}

Status MockCluster::set_broker_rtt(std::int32_t id, int rtt_ms) {
  return check(rd_kafka_mock_broker_set_rtt(mock_.get(), id, rtt_ms),
               "cannot set the round-trip time of broker " + std::to_string(id));
}

void MockCluster::push_request_errors(std::int16_t api_key,
                                      const std::vector<rd_kafka_resp_err_t>& errors) {
  if (errors.empty()) return;
  rd_kafka_mock_push_request_errors_array(mock_.get(), api_key, errors.size(), errors.data());
}

Status MockCluster::push_broker_request_errors(
    std::int32_t broker_id, std::int16_t api_key,
    const std::vector<std::pair<rd_kafka_resp_err_t, int>>& errors) {
  // The C API takes (err, rtt_ms) pairs as varargs; push them one at a time, in order.
  for (const auto& [err, rtt_ms] : errors) {
    auto status = check(rd_kafka_mock_broker_push_request_error_rtts(mock_.get(), broker_id,
                                                                     api_key, 1, err, rtt_ms),
                        "cannot push a request error to broker " + std::to_string(broker_id));
    if (!status) return status;
  }
  return {};
}

Result<std::size_t> MockCluster::pending_broker_request_errors(std::int32_t broker_id,
                                                               std::int16_t api_key) const {
  std::size_t count = 0;
  auto status = check(rd_kafka_mock_broker_error_stack_cnt(mock_.get(), broker_id, api_key, &count),
                      "cannot count the request errors of broker " + std::to_string(broker_id));
  if (!status) return std::unexpected(status.error());
  return count;
}

void MockCluster::clear_request_errors(std::int16_t api_key) {
  rd_kafka_mock_clear_request_errors(mock_.get(), api_key);
}

}  // namespace speedlayer::kafka
