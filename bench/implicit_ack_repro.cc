// Standalone reproduction of why `speedlayer produce` keeps one request in flight per broker
// connection (README, "Producer guarantees"): librdkafka's idempotent producer, with up to 5
// requests in flight, was seen to report messages delivered that never reached a just-created
// partition. A failed first request is "implicitly acked" when a later batch, already in
// flight, succeeds (IMPLICITACK in -X debug=eos): its messages get a delivery report without
// an error, and without an offset (librdkafka never learnt one).
//
//   implicit_ack_repro BROKERS TOPIC MESSAGES MAX_IN_FLIGHT [KEY=VALUE...]
//   implicit_ack_repro mock TOPIC MESSAGES MAX_IN_FLIGHT [KEY=VALUE...]
//
// With `mock`, the trigger is injected on librdkafka's mock cluster: the first Produce request
// is answered NOT_LEADER_OR_FOLLOWER (retriable, nothing written) while a 50 ms round trip and
// batches of 50 keep the next requests in flight behind it. What it shows (2.12.1): librdkafka
// waits for the requests in flight ("drain before retrying", -X debug=eos) and retries the
// failed batch with its old sequence numbers after the later batches were accepted. The mock
// checks sequences for transactional producers only and takes the retry, so nothing is lost
// there. A real broker, which takes any first sequence from a producer it has no state for,
// then refuses a retry numbered before what it accepted: the path of the implicit ack, which
// the mock cannot show.
//
// Produces MESSAGES small messages (idempotent, acks=all, librdkafka's other defaults) to TOPIC,
// which should not exist yet (the broker auto-creates it on the first metadata request), paced
// as produce's SIGTERM integration test feeds its input, the run that showed the loss: 2,000
// messages every 10 ms (~200,000/s), so the first requests are small and others follow them;
// waits for every delivery report, then reads the partitions' end offsets. One line on stdout:
//   delivered=N with_offset=N without_offset=N failed=N in_topic=N lost=N librdkafka=VERSION
// lost = delivered - in_topic when positive: a message reported delivered that is not in the
// topic (a failed message that was written anyway can only hide a loss, never fake one; with
// idempotence nothing is written twice), so lost > 0 is the bug.
// Exit status: 0 nothing lost, 1 lost > 0, 2 usage or set-up error.
// bench/implicit_ack_repro.sh runs it on fresh brokers, many rounds, both settings.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

struct Counts {
  std::int64_t with_offset = 0, without_offset = 0, failed = 0;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* c = static_cast<Counts*>(opaque);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++c->failed;
  } else if (m->offset < 0) {
    ++c->without_offset;
  } else {
    ++c->with_offset;
  }
}

bool set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK) {
    return true;
  }
  std::fprintf(stderr, "implicit_ack_repro: %s=%s: %s\n", key.c_str(), value.c_str(), err);
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: implicit_ack_repro BROKERS TOPIC MESSAGES MAX_IN_FLIGHT [KEY=VALUE...]\n");
    return 2;
  }
  const std::string topic = argv[2];
  const bool mock = std::string(argv[1]) == "mock";
  const long messages = std::strtol(argv[3], nullptr, 10);
  Counts counts;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  bool ok = (mock ? set(conf, "test.mock.num.brokers", "1") && set(conf, "batch.num.messages", "50")
                  : set(conf, "bootstrap.servers", argv[1])) &&
            set(conf, "enable.idempotence", "true") && set(conf, "acks", "all") &&
            set(conf, "linger.ms", "0") &&
            set(conf, "max.in.flight.requests.per.connection", argv[4]);
  for (int i = 5; ok && i < argc; ++i) {
    const std::string kv = argv[i];
    const auto eq = kv.find('=');
    ok = eq != std::string::npos && set(conf, kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (!ok || messages <= 0) {
    rd_kafka_conf_destroy(conf);
    return 2;
  }
  rd_kafka_conf_set_opaque(conf, &counts);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    std::fprintf(stderr, "implicit_ack_repro: %s\n", err);
    return 2;
  }
  if (mock) {
    rd_kafka_mock_cluster_t* cluster = rd_kafka_handle_mock_cluster(rk);
    if (!cluster || rd_kafka_mock_topic_create(cluster, topic.c_str(), 1, 1) != 0) {
      std::fprintf(stderr, "implicit_ack_repro: no mock cluster or topic\n");
      rd_kafka_destroy(rk);
      return 2;
    }
    rd_kafka_mock_broker_set_rtt(cluster, 1, 50);
    rd_kafka_mock_push_request_errors(cluster, /*Produce*/ 0, 1,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  }
  for (long i = 0; i < messages; ++i) {
    const std::string value = "message " + std::to_string(i);
    for (;;) {
      const rd_kafka_resp_err_t e =
          rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        std::fprintf(stderr, "implicit_ack_repro: produce: %s\n", rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return 2;
      }
      rd_kafka_poll(rk, 10);
    }
    rd_kafka_poll(rk, 0);
    if (i % 2'000 == 1'999) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // ~200,000 messages/s
    }
  }
  rd_kafka_flush(rk, 60'000);
  const std::int64_t delivered = counts.with_offset + counts.without_offset;
  // End offsets of every partition (the topic exists now).
  std::int64_t in_topic = 0;
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (rd_kafka_metadata(rk, 0, rkt, &md, 10'000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      md->topic_cnt != 1) {
    std::fprintf(stderr, "implicit_ack_repro: no metadata for %s\n", topic.c_str());
    return 2;
  }
  for (int p = 0; p < md->topics[0].partition_cnt; ++p) {
    std::int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), md->topics[0].partitions[p].id, &low,
                                         &high, 10'000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "implicit_ack_repro: no end offset for partition %d\n", p);
      return 2;
    }
    in_topic += high;
  }
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  const std::int64_t lost = delivered > in_topic ? delivered - in_topic : 0;
  std::printf(
      "delivered=%lld with_offset=%lld without_offset=%lld failed=%lld in_topic=%lld lost=%lld "
      "librdkafka=%s\n",
      static_cast<long long>(delivered), static_cast<long long>(counts.with_offset),
      static_cast<long long>(counts.without_offset), static_cast<long long>(counts.failed),
      static_cast<long long>(in_topic), static_cast<long long>(lost), rd_kafka_version_str());
  rd_kafka_destroy(rk);
  return lost > 0 ? 1 : 0;
}
