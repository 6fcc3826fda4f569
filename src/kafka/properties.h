// librdkafka configuration as an ordered list of properties, each remembering where it came
// from (a flag, an environment variable, a config file line), so that a rejected property is
// reported with its origin.
//
//   Properties props;
//   props.set("bootstrap.servers", "127.0.0.1:9092", "--brokers");
//   props.set("linger.ms", "5", "-X");
//   auto conf = make_conf(props);   // Result<ConfPtr>; errors name the property and origin
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "kafka/handles.h"

namespace speedlayer::kafka {

struct Property {
  std::string name;
  std::string value;
  std::string origin;  // "--brokers", "env KAFKA_BROKERS", "config.yaml:4", "default"
};

class Properties {
 public:
  // Later set() of the same name replaces the value (callers apply sources lowest first).
  void set(std::string name, std::string value, std::string origin);
  // Only sets when the property is not set yet (for computed defaults).
  void set_default(std::string name, std::string value, std::string origin = "default");
  std::optional<std::string> get(std::string_view name) const;
  const Property* find(std::string_view name) const;
  const std::vector<Property>& all() const { return props_; }

  // Whether the property is secret (passwords, keys): never printed.
  static bool is_secret(std::string_view name);

 private:
  std::vector<Property> props_;
};

// Builds an rd_kafka_conf_t; every rejected property is an ErrorKind::usage error whose
// `where` is the property's origin.
Result<ConfPtr> make_conf(const Properties& props);

// Defaults every consumer handle of speedlayer gets (the group consumer and the changelog
// reader alike), and the connection default every handle gets (reconnect.backoff.ms: see
// properties.cc); a value the user set wins.
void set_consumer_defaults(Properties& props);

// What differs between speedlayer's producers (produce, serve), on purpose.
struct ProducerDefaults {
  std::string client_id;      // "speedlayer-produce"
  std::string log_level;      // librdkafka's syslog level: "2" (produce), "3" (serve)
  std::string max_in_flight;  // max.in.flight.requests.per.connection (see the callers)
};
// Defaults every producer handle of speedlayer gets: idempotence, the murmur2 partitioner,
// the connection default every handle gets, and `role`'s client.id, log_level and
// max.in.flight; a value the user set wins.
void set_producer_defaults(Properties& props, const ProducerDefaults& role);

// The security settings a client runs with, read back from its configuration (never the
// password).
struct SecuritySummary {
  std::string protocol = "plaintext";  // lower case
  std::string mechanism;               // sasl.mechanisms, when SASL
  std::string username;
  bool tls() const { return protocol == "ssl" || protocol == "sasl_ssl"; }
  bool sasl() const { return protocol == "sasl_plaintext" || protocol == "sasl_ssl"; }
};
SecuritySummary security_of(rd_kafka_t* rk);
// A librdkafka property of a live client ("" when unset).
std::string conf_value(rd_kafka_t* rk, const char* name);

// Parses "key=value" as given to -X; the property's origin is "<origin> key". A malformed text
// is an ErrorKind::usage error that never shows a secret ("sasl.password:x" shows as
// "sasl.password<hidden>").
Result<Property> parse_property_assignment(std::string_view text, std::string_view origin);

}  // namespace speedlayer::kafka
