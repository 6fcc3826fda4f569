#include "kafka/properties.h"

#include <algorithm>

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
  auto it = std::find_if(props_.begin(), props_.end(),
                         [&](const Property& p) { return p.name == name; });
  return it == props_.end() ? nullptr : &*it;
}

std::optional<std::string> Properties::get(std::string_view name) const {
  if (const Property* p = find(name)) return p->value;
  return std::nullopt;
}

bool Properties::is_secret(std::string_view name) {
  return name.find("password") != std::string_view::npos ||
         name.find("secret") != std::string_view::npos ||
         name.find(".key.pem") != std::string_view::npos ||
         name == "ssl.key.location" || name == "ssl_key";
}

void set_consumer_defaults(Properties& props) {
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

Result<ConfPtr> make_conf(const Properties& props) {
  ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& p : props.all()) {
    if (rd_kafka_conf_set(conf.get(), p.name.c_str(), p.value.c_str(), err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
      std::string shown = Properties::is_secret(p.name) ? "<hidden>" : p.value;
      return fail(ErrorKind::usage,
                  "librdkafka rejected property " + p.name + "=" + shown + ": " + err, p.origin,
                  "see librdkafka CONFIGURATION.md for valid properties and values");
    }
  }
  return conf;
}

Result<Property> parse_property_assignment(std::string_view text, std::string_view origin) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return fail(ErrorKind::usage, "expected key=value, got '" + std::string(text) + "'",
                std::string(origin), "for example -X linger.ms=5");
  }
  return Property{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)),
                  std::string(origin)};
}

}  // namespace speedlayer::kafka
