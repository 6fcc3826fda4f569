#include "kafka/properties.h"

#include <algorithm>

#include "core/ascii.h"

namespace speedlayer::kafka {

void Properties::set(std::string name, std::string value, std::string origin) {
  for (auto& p : props_) {
    if (p.name == name) {
      p.value = std::move(value);
      p.origin = std::move(origin);
      return;
    }
  }
  props_.push_back({std::move(name), std::move(value), std::move(origin)});
}

void Properties::set_default(std::string name, std::string value, std::string origin) {
  if (!find(name)) props_.push_back({std::move(name), std::move(value), std::move(origin)});
}

const Property* Properties::find(std::string_view name) const {
  auto it =
      std::find_if(props_.begin(), props_.end(), [&](const Property& p) { return p.name == name; });
  return it == props_.end() ? nullptr : &*it;
}

std::optional<std::string> Properties::get(std::string_view name) const {
  if (const Property* p = find(name)) return p->value;
  return std::nullopt;
}

namespace {

// Words that make a property name secret, longest spelling first at each start so that the
// shown prefix ends after the whole word ("password", not "pass").
constexpr std::string_view kSecretWords[] = {"password", "passwd", "pass",       "pwd",  "secret",
                                             "key",      "token",  "credential", "cred", "jaas"};

// Where the first secret word in `text` ends (case-insensitive), or npos.
std::size_t end_of_first_secret_word(std::string_view text) {
  const std::string lower = ascii_lower(text);
  std::size_t best_start = std::string::npos, best_end = std::string::npos;
  for (std::string_view word : kSecretWords) {
    auto at = lower.find(word);
    if (at == std::string::npos) continue;
    if (at < best_start || (at == best_start && at + word.size() > best_end)) {
      best_start = at;
      best_end = at + word.size();
    }
  }
  return best_end;
}

// Defaults of every handle, producer or consumer.
void set_client_defaults(Properties& props) {
  // librdkafka 2.12.1 keeps the bootstrap connection apart from the broker it learns from
  // the first metadata response (Debian's 2.0.2, which kcat uses, reuses it), and it connects
  // to that broker no sooner than reconnect.backoff.ms / 2 (at least 11 ms) after the
  // bootstrap connection: 50 ms of every start with the default of 100 ms, before the
  // idempotent producer can get its id or a consumer its coordinator. With 20: produce of one
  // message 60-70 ms -> 20-30 ms, consume --count 1 190-220 ms -> 140-160 ms
  // (bench/README.md). After a failed connection the backoff still doubles up to
  // reconnect.backoff.max.ms (10 s); it starts from 20 ms instead of 100.
  props.set_default("reconnect.backoff.ms", "20");
}

}  // namespace

bool Properties::is_secret(std::string_view name) {
  // Broad on purpose: a misspelt name ("sasl.pasword", "SASL.PASSWD") must hide its value too,
  // and hiding a harmless value costs nothing.
  return end_of_first_secret_word(name) != std::string::npos;
}

void set_consumer_defaults(Properties& props) {
  set_client_defaults(props);
  // When a partition's fetched-but-unconsumed queue is over queued.min.messages (100,000) or
  // queued.max.messages.kbytes, librdkafka >= 2.4 waits fetch.queue.backoff.ms (1 s) before it
  // looks again. A consumer that empties the queue faster than that (serve catching up:
  // 100,000 records in ~0.2 s) then idles most of each second: measured 150,000 records/s
  // wall at 20% of a core, and 430,000/s with 10 ms. The check is local (no request), so
  // 10 ms costs next to nothing. Older librdkafka (Debian's 2.0.2) has no such property.
  if (rd_kafka_version() >= 0x020400ff) props.set_default("fetch.queue.backoff.ms", "10");
  // What librdkafka fetches ahead of the application: by default up to 100,000 records per
  // partition and 64 MiB, all of it resident while a consumer catches up. serve reading 1M
  // pre-filled records peaked at 76 MiB RSS with the defaults and at 36 MiB with these, at
  // the same CPU and wall time (bench/README.md). 8 MiB still holds ~0.1 s of serve's
  // fastest reading of 100-byte records: more than a fetch round trip to a remote broker.
  props.set_default("queued.min.messages", "10000");
  props.set_default("queued.max.messages.kbytes", "8192");
}

void set_producer_defaults(Properties& props, const ProducerDefaults& role) {
  set_client_defaults(props);
  props.set_default("enable.idempotence", "true");
  props.set_default("max.in.flight.requests.per.connection", role.max_in_flight);
  // Keyed messages land on the partition Java clients, Kafka Streams and kafka-python pick
  // (murmur2); librdkafka's own default (CRC32) would disagree with them.
  props.set_default("partitioner", "murmur2_random");
  props.set_default("client.id", role.client_id);
  props.set_default("log_level", role.log_level);
}

Result<ConfPtr> make_conf(const Properties& props) {
  ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& p : props.all()) {
    const rd_kafka_conf_res_t res =
        rd_kafka_conf_set(conf.get(), p.name.c_str(), p.value.c_str(), err, sizeof err);
    if (res != RD_KAFKA_CONF_OK) {
      // An unknown name is often a misspelt secret ("sasl.pasword"): its value never helps
      // and is never shown.
      std::string shown =
          res == RD_KAFKA_CONF_UNKNOWN || Properties::is_secret(p.name) ? "<hidden>" : p.value;
      return fail(ErrorKind::usage,
                  "librdkafka rejected property " + p.name + "=" + shown + ": " + err, p.origin,
                  "see librdkafka CONFIGURATION.md for valid properties and values");
    }
  }
  return conf;
}

std::string conf_value(rd_kafka_t* rk, const char* name) {
  const rd_kafka_conf_t* conf = rd_kafka_conf(rk);
  if (!conf) return "";
  std::size_t size = 0;
  if (rd_kafka_conf_get(conf, name, nullptr, &size) != RD_KAFKA_CONF_OK || size == 0) return "";
  std::string value(size, '\0');
  if (rd_kafka_conf_get(conf, name, value.data(), &size) != RD_KAFKA_CONF_OK) return "";
  while (!value.empty() && value.back() == '\0') value.pop_back();
  return value;
}

SecuritySummary security_of(rd_kafka_t* rk) {
  SecuritySummary s;
  s.protocol = ascii_lower(conf_value(rk, "security.protocol"));
  if (s.protocol.empty()) s.protocol = "plaintext";
  s.mechanism = conf_value(rk, "sasl.mechanisms");
  s.username = conf_value(rk, "sasl.username");
  return s;
}

Result<Property> parse_property_assignment(std::string_view text, std::string_view origin) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    // "-X sasl.password:hunter2" must not print hunter2: a text that names a secret shows only
    // its leading property-name characters.
    std::string shown(text);
    if (auto end = end_of_first_secret_word(text); end != std::string::npos) {
      shown = std::string(text.substr(0, end));
      if (end < text.size()) shown += "<hidden>";
    }
    return fail(ErrorKind::usage, "expected key=value, got '" + shown + "'", std::string(origin),
                "for example -X linger.ms=5");
  }
  return Property{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)),
                  std::string(origin) + " " + std::string(text.substr(0, eq))};
}

}  // namespace speedlayer::kafka
