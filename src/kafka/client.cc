#include "kafka/client.h"

namespace speedlayer::kafka {
namespace {

void no_log(const rd_kafka_t*, int, const char*, const char*) {}

}  // namespace

Result<KafkaPtr> new_client(ClientType type, const Properties& props,
                            const ClientCallbacks& callbacks, std::string_view failure,
                            std::string_view where, std::string_view hint) {
  auto conf = make_conf(props);
  if (!conf) return std::unexpected(conf.error());
  rd_kafka_conf_t* c = conf->get();
  if (callbacks.opaque) rd_kafka_conf_set_opaque(c, callbacks.opaque);
  if (callbacks.error) rd_kafka_conf_set_error_cb(c, callbacks.error);
  if (callbacks.delivery) rd_kafka_conf_set_dr_msg_cb(c, callbacks.delivery);
  if (callbacks.rebalance) rd_kafka_conf_set_rebalance_cb(c, callbacks.rebalance);
  if (callbacks.offset_commit) rd_kafka_conf_set_offset_commit_cb(c, callbacks.offset_commit);
  if (callbacks.quiet) rd_kafka_conf_set_log_cb(c, &no_log);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(
      type == ClientType::producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, c, err, sizeof err);
  if (!rk) {
    return fail(ErrorKind::usage, std::string(failure) + ": " + err, std::string(where),
                std::string(hint));
  }
  (void)conf->release();  // rd_kafka_new took ownership
  return KafkaPtr(rk);
}

std::string librdkafka_version() {
  return rd_kafka_version_str();
}

}  // namespace speedlayer::kafka
