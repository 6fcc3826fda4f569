#include "kafka/producer.h"

#include "kafka/client.h"
#include "kafka/cluster_wait.h"

namespace speedlayer::kafka {

Result<std::unique_ptr<Producer>> Producer::create(const Properties& props, ProducerEvents* events,
                                                   const ProducerOptions& options) {
  std::unique_ptr<Producer> producer(new Producer());
  producer->events_ = events;
  auto rk = new_client(ClientType::producer, props,
                       ClientCallbacks{.opaque = producer.get(),
                                       .error = &Producer::on_error_cb,
                                       .delivery = &Producer::on_delivery_cb,
                                       .quiet = options.quiet},
                       options.create_failure);
  if (!rk) return std::unexpected(rk.error());
  producer->rk_ = std::move(*rk);
  return producer;
}

Producer::~Producer() = default;

rd_kafka_topic_t* Producer::topic_handle(std::string_view topic) {
  auto it = topics_.find(topic);
  if (it != topics_.end()) return it->second.get();
  std::string name(topic);
  TopicPtr handle(rd_kafka_topic_new(rk_.get(), name.c_str(), nullptr));
  rd_kafka_topic_t* raw = handle.get();
  if (raw) topics_.emplace(std::move(name), std::move(handle));
  return raw;
}

rd_kafka_resp_err_t Producer::produce(std::string_view topic, std::string_view key,
                                      std::string_view value, std::uint64_t tag) {
  return produce(topic, RD_KAFKA_PARTITION_UA, key, value, tag);
}

rd_kafka_resp_err_t Producer::produce(std::string_view topic, std::int32_t partition,
                                      std::string_view key, std::string_view value,
                                      std::uint64_t tag) {
  rd_kafka_topic_t* rkt = topic_handle(topic);
  if (!rkt) return rd_kafka_last_error();
  int rc = rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY,
                            value.data() ? const_cast<char*>(value.data()) : nullptr,
                            value.data() ? value.size() : 0, key.empty() ? nullptr : key.data(),
                            key.size(), reinterpret_cast<void*>(static_cast<std::uintptr_t>(tag)));
  return rc == 0 ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_last_error();
}

rd_kafka_resp_err_t Producer::produce(
    std::string_view topic, std::string_view key, std::string_view value, std::int64_t timestamp_ms,
    const std::vector<std::pair<std::string, std::string>>& headers, std::uint64_t tag) {
  HeadersPtr hdrs(rd_kafka_headers_new(headers.size()));
  for (const auto& [name, v] : headers)
    rd_kafka_header_add(hdrs.get(), name.data(), static_cast<ssize_t>(name.size()), v.data(),
                        static_cast<ssize_t>(v.size()));
  const std::string topic_name(topic);
  rd_kafka_resp_err_t e = rd_kafka_producev(
      rk_.get(), RD_KAFKA_V_TOPIC(topic_name.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(key.empty() ? nullptr : const_cast<char*>(key.data()), key.size()),
      RD_KAFKA_V_VALUE(value.data() ? const_cast<char*>(value.data()) : nullptr,
                       value.data() ? value.size() : 0),
      RD_KAFKA_V_TIMESTAMP(timestamp_ms > 0 ? timestamp_ms : 0), RD_KAFKA_V_HEADERS(hdrs.get()),
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<std::uintptr_t>(tag))), RD_KAFKA_V_END);
  // On success librdkafka owns the headers; on failure they are still ours.
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) (void)hdrs.release();
  return e;
}

void Producer::purge_all() {
  rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  // Purged messages' delivery reports are served by poll.
  rd_kafka_poll(rk_.get(), 0);
}

Status Producer::wait_for_cluster(int timeout_ms, std::string_view bootstrap) {
  // Serving the main queue runs the error callbacks, which carry the reason.
  return wait_until_usable(rk_.get(), timeout_ms, bootstrap, errors_,
                           [this] { rd_kafka_poll(rk_.get(), 0); });
}

void Producer::on_delivery_cb(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  if (!self || !self->events_) return;
  DeliveryReport report;
  report.error = msg->err;
  report.topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "";
  report.partition = msg->partition;
  report.offset = msg->offset;
  if (msg->key) report.key = {static_cast<const char*>(msg->key), msg->key_len};
  if (msg->payload) report.value = {static_cast<const char*>(msg->payload), msg->len};
  report.tag = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(msg->_private));
  report.possibly_persisted = rd_kafka_message_status(msg) != RD_KAFKA_MSG_STATUS_NOT_PERSISTED;
  self->events_->on_delivery(report);
}

void Producer::on_error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  if (!self) return;
  bool fatal = false;
  std::string text = reason ? reason : "";
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    auto original = rd_kafka_fatal_error(rk, buf, sizeof buf);
    err = original;
    text = buf;
    fatal = true;
  }
  try {
    self->last_client_error_ = text;
  } catch (...) {
    // swallowed: out of memory keeps the previous text; the error is still recorded and reported
  }
  self->errors_.record(static_cast<rd_kafka_resp_err_t>(err), text);
  if (self->events_)
    self->events_->on_client_error(static_cast<rd_kafka_resp_err_t>(err), text, fatal);
}

}  // namespace speedlayer::kafka
