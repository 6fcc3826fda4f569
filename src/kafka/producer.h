// A thin owner of one librdkafka producer: cached topic handles, delivery reports and client
// errors forwarded to a handler, connectivity check, purge. It never throws; callbacks run on
// the thread that calls poll()/flush().
//
//   struct Handler : kafka::ProducerEvents { ... };
//   auto producer = kafka::Producer::create(props, &handler);
//   if (!producer) return producer.error();
//   (*producer)->produce("Sport", {}, "\"messi\"", /*tag=*/line_number);
//   (*producer)->poll(0);
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kafka/client_errors.h"
#include "kafka/error.h"
#include "kafka/handles.h"
#include "kafka/properties.h"

namespace speedlayer::kafka {

struct DeliveryReport {
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string_view topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string_view key;
  std::string_view value;
  std::uint64_t tag = 0;  // what the caller passed to produce()
  // librdkafka's view of whether a failed message may still have been written.
  bool possibly_persisted = false;
};

class ProducerEvents {
 public:
  virtual ~ProducerEvents() = default;
  virtual void on_delivery(const DeliveryReport& report) noexcept = 0;
  // Client-level errors (all brokers down, authentication, fatal idempotence errors...).
  virtual void on_client_error(rd_kafka_resp_err_t error, std::string_view reason,
                               bool fatal) noexcept = 0;
};

struct ProducerOptions {
  bool quiet = false;  // no librdkafka log lines (the doctor: its report says what matters)
  // Starts the error when librdkafka refuses the configuration: "<this>: <its reason>".
  std::string_view create_failure = "cannot create Kafka producer";
};

class Producer {
 public:
  static Result<std::unique_ptr<Producer>> create(const Properties& props, ProducerEvents* events,
                                                  const ProducerOptions& options = {});
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues one message (copied). A `value` whose data() is null is sent as a null value (a
  // tombstone in a compacted topic), unlike an empty one. Returns RD_KAFKA_RESP_ERR__QUEUE_FULL
  // when the local queue is at its limit: the caller polls and retries (back-pressure, never a
  // drop).
  rd_kafka_resp_err_t produce(std::string_view topic, std::string_view key, std::string_view value,
                              std::uint64_t tag);
  // The same into partition `partition` (RD_KAFKA_PARTITION_UA: the partitioner chooses).
  rd_kafka_resp_err_t produce(std::string_view topic, std::int32_t partition, std::string_view key,
                              std::string_view value, std::uint64_t tag);
  // The same with a record timestamp (ms; <= 0: now) and headers (name, value), e.g. to
  // forward a consumed record with what happened to it.
  rd_kafka_resp_err_t produce(std::string_view topic, std::string_view key, std::string_view value,
                              std::int64_t timestamp_ms,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              std::uint64_t tag);
  int poll(int timeout_ms) { return rd_kafka_poll(rk_.get(), timeout_ms); }
  rd_kafka_resp_err_t flush(int timeout_ms) { return rd_kafka_flush(rk_.get(), timeout_ms); }
  // Drops everything not yet confirmed; each gets a delivery report with a __PURGE_* error.
  void purge_all();
  int in_flight() const { return rd_kafka_outq_len(rk_.get()); }
  rd_kafka_t* handle() const { return rk_.get(); }

  // Waits until a broker answers a metadata request and every broker it advertises accepts
  // TCP from here, at most `timeout_ms` (kafka::wait_until_usable). Errors name the bootstrap
  // servers and the cause: ErrorKind::usage (exit 2) at once on an authentication or TLS
  // failure; ErrorKind::unreachable (exit 3) at the deadline when no broker answered or an
  // advertised address is unreachable (with the advertised-listeners fix).
  Status wait_for_cluster(int timeout_ms, std::string_view bootstrap);

  // Why the last client error happened, for diagnostics ("" if none).
  const std::string& last_client_error() const { return last_client_error_; }
  // Every client error seen, authentication and TLS errors kept apart.
  const ClientErrorLog& client_errors() const { return errors_; }

 private:
  Producer() = default;
  static void on_delivery_cb(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque);
  static void on_error_cb(rd_kafka_t*, int err, const char* reason, void* opaque);
  rd_kafka_topic_t* topic_handle(std::string_view topic);

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  ProducerEvents* events_ = nullptr;
  std::string last_client_error_;
  ClientErrorLog errors_;
  KafkaPtr rk_;  // declared before topics_: topic handles are destroyed first
  std::unordered_map<std::string, TopicPtr, StringHash, std::equal_to<>> topics_;
};

}  // namespace speedlayer::kafka
