#include "config/settings.h"

#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/ascii.h"
#include "core/files.h"

namespace speedlayer::config {

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
}

CLI::Option* FlagSet::add(const std::string& name, const std::string& help) {
  names_.insert(name);
  auto* opt = app_.add_option("--" + name, values_[name], help);
  options_[name] = opt;
  return opt;
}

CLI::Option* FlagSet::add_flag(const std::string& name, const std::string& help) {
  names_.insert(name);
  auto* opt = app_.add_flag("--" + name, bools_[name], help);
  options_[name] = opt;
  return opt;
}

void FlagSet::add_librdkafka_passthrough() {
  app_.add_option("-X", x_values_,
                  "librdkafka property key=value, passed straight to the Kafka client "
                  "(repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
}

std::map<std::string, Setting> FlagSet::given() const {
  std::map<std::string, Setting> out;
  for (const auto& [name, opt] : options_) {
    if (opt->count() == 0) continue;
    auto b = bools_.find(name);
    std::string value = b != bools_.end() ? (b->second ? "true" : "false") : values_.at(name);
    out[name] = Setting{value, "--" + name};
  }
  return out;
}

Result<ConfigFile> ConfigFile::load(const std::string& path,
                                    const std::set<std::string>& allowed_keys,
                                    const std::map<std::string, std::set<std::string>>& sections) {
  auto text = read_small_file(path, kMaxConfigFileBytes, "config file");
  if (!text) {
    text.error().hint = "pass an existing file with --config or SPEEDLAYER_CONFIG";
    return std::unexpected(text.error());
  }
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return fail(ErrorKind::usage, "invalid YAML: " + e.msg,
                path + ":" + std::to_string(e.mark.line + 1));
  }
  auto where = [&](const YAML::Node& n) { return path + ":" + std::to_string(n.Mark().line + 1); };
  // yaml-cpp's as<std::string>() throws on a key that is a list or map: checked first.
  auto scalar_key = [&](const YAML::Node& key, const std::string& under) -> Result<std::string> {
    if (key.IsScalar()) return key.as<std::string>();
    return fail(ErrorKind::usage, "a key" + under + " must be a plain name, not a list or map",
                where(key));
  };
  ConfigFile file;
  if (root.IsNull()) return file;
  if (!root.IsMap()) {
    return fail(ErrorKind::usage, "a config file must be a mapping of setting: value", where(root));
  }
  for (const auto& entry : root) {
    SL_ASSIGN_OR_RETURN(auto key, scalar_key(entry.first, ""));
    const YAML::Node& value = entry.second;
    if (key == "kafka") {
      if (!value.IsMap()) {
        return fail(ErrorKind::usage, "'kafka' must map librdkafka properties to values",
                    where(value));
      }
      for (const auto& prop : value) {
        SL_ASSIGN_OR_RETURN(auto name, scalar_key(prop.first, " under 'kafka'"));
        if (!prop.second.IsScalar()) {
          return fail(ErrorKind::usage,
                      "librdkafka property '" + name + "' must have a single value",
                      where(prop.second.IsNull() ? prop.first : prop.second));
        }
        file.kafka_.push_back(
            kafka::Property{name, prop.second.as<std::string>(), where(prop.first)});
      }
      continue;
    }
    if (auto section = sections.find(key); section != sections.end()) {
      if (value.IsNull()) continue;
      if (!value.IsMap()) {
        return fail(ErrorKind::usage, "'" + key + "' must map names to settings", where(value));
      }
      for (const auto& named : value) {
        SL_ASSIGN_OR_RETURN(auto name, scalar_key(named.first, " under '" + key + "'"));
        Section& out = file.sections_[key][name];
        if (named.second.IsNull()) continue;
        if (!named.second.IsMap()) {
          return fail(ErrorKind::usage, "'" + key + ": " + name + "' must map settings to values",
                      where(named.second));
        }
        for (const auto& entry2 : named.second) {
          SL_ASSIGN_OR_RETURN(auto sub,
                              scalar_key(entry2.first, " under '" + key + ": " + name + "'"));
          if (!section->second.count(sub)) {
            std::string allowed;
            for (const auto& k : section->second) allowed += (allowed.empty() ? "" : ", ") + k;
            return fail(ErrorKind::usage,
                        "unknown setting '" + sub + "' under '" + key + ": " + name + "'",
                        where(entry2.first), "allowed here: " + allowed);
          }
          if (!entry2.second.IsScalar()) {
            return fail(ErrorKind::usage, "setting '" + sub + "' must be a single value",
                        where(entry2.second.IsNull() ? entry2.first : entry2.second));
          }
          out[sub] = Setting{entry2.second.as<std::string>(), where(entry2.first)};
        }
      }
      continue;
    }
    if (!allowed_keys.count(key)) {
      std::string allowed;
      for (const auto& k : allowed_keys) allowed += (allowed.empty() ? "" : ", ") + k;
      return fail(ErrorKind::usage, "unknown setting '" + key + "'", where(entry.first),
                  "allowed here: kafka, " + allowed);
    }
    if (!value.IsScalar()) {
      return fail(ErrorKind::usage, "setting '" + key + "' must be a single value",
                  where(value.IsNull() ? entry.first : value));
    }
    file.values_[key] = Setting{value.as<std::string>(), where(entry.first)};
  }
  return file;
}

std::optional<Setting> ConfigFile::get(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

Settings::Settings(std::map<std::string, Setting> flags, EnvLookup env,
                   std::optional<ConfigFile> file, std::vector<std::string> x)
    : flags_(std::move(flags)), env_(std::move(env)), file_(std::move(file)), x_(std::move(x)) {}

Result<Settings> Settings::load(const FlagSet& flags, EnvLookup env) {
  auto given = flags.given();
  std::optional<ConfigFile> file;
  std::optional<std::string> path;
  if (auto it = given.find("config"); it != given.end())
    path = it->second.value;
  else if (auto from_env = env("SPEEDLAYER_CONFIG"))
    path = *from_env;
  if (path) {
    auto allowed = flags.names();
    allowed.erase("config");
    auto loaded = ConfigFile::load(*path, allowed, flags.sections());
    if (!loaded) return std::unexpected(loaded.error());
    file = std::move(*loaded);
  }
  return Settings(std::move(given), std::move(env), std::move(file),
                  flags.librdkafka_assignments());
}

std::optional<Setting> Settings::get(std::string_view key,
                                     std::initializer_list<std::string_view> env_names) const {
  if (auto it = flags_.find(std::string(key)); it != flags_.end()) return it->second;
  for (auto name : env_names) {
    if (auto v = env_(name)) return Setting{*v, "env " + std::string(name)};
  }
  if (file_) return file_->get(key);
  return std::nullopt;
}

std::string Settings::get_or(std::string_view key,
                             std::initializer_list<std::string_view> env_names,
                             std::string fallback) const {
  auto s = get(key, env_names);
  return s ? s->value : std::move(fallback);
}

bool Settings::flag(std::string_view key) const {
  auto s = get(key);
  return s && (s->value == "true" || s->value == "1" || s->value == "yes");
}

void add_connection_flags(FlagSet& flags) {
  flags.add("config", "YAML config file with settings (env SPEEDLAYER_CONFIG)");
  flags.add("brokers",
            "Kafka bootstrap servers host:port,... (env KAFKA_BROKERS, BOOTSTRAP_SERVERS)");
  flags.add("security-protocol",
            "plaintext, ssl, sasl_plaintext or sasl_ssl (env KAFKA_SECURITY_PROTOCOL)");
  flags.add("sasl-mechanism",
            "SCRAM-SHA-512 (the default when a user name is given), "
            "SCRAM-SHA-256, PLAIN... (env KAFKA_SASL_MECHANISM)");
  flags.add("sasl-username", "SASL user name (env KAFKA_SASL_USERNAME)");
  flags.add("sasl-password",
            "SASL password (env KAFKA_SASL_PASSWORD); prefer --sasl-password-file");
  flags.add("sasl-password-file",
            "file holding the SASL password, e.g. a mounted Secret (env KAFKA_SASL_PASSWORD_FILE)");
  flags.add("ssl-ca",
            "CA certificate file (PEM), or the PEM text, to verify brokers; the "
            "broker's certificate must also name the host used (env "
            "KAFKA_SSL_CA_LOCATION; KAFKA_SSL_CA_PEM for PEM text)");
  flags.add_librdkafka_passthrough();
}

namespace {

struct Mapping {
  std::string_view key;
  std::initializer_list<std::string_view> env;
  std::string_view property;
};

Result<std::string> read_secret_file(const Setting& s) {
  auto read = read_small_file(s.value, kMaxSecretFileBytes, "password file");
  if (!read) {
    read.error().where = s.origin;
    read.error().hint = "mount the Secret there or fix the path";
    return std::unexpected(read.error());
  }
  std::string secret = std::move(*read);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  return secret;
}

}  // namespace

Result<kafka::Properties> connection_properties(const Settings& settings) {
  kafka::Properties props;
  if (settings.file()) {
    for (const auto& p : settings.file()->kafka_properties()) props.set(p.name, p.value, p.origin);
  }
  static const Mapping kMappings[] = {
      {"brokers", {"KAFKA_BROKERS", "BOOTSTRAP_SERVERS"}, "bootstrap.servers"},
      {"security-protocol", {"KAFKA_SECURITY_PROTOCOL"}, "security.protocol"},
      {"sasl-mechanism", {"KAFKA_SASL_MECHANISM"}, "sasl.mechanism"},
      {"sasl-username", {"KAFKA_SASL_USERNAME"}, "sasl.username"},
      {"sasl-password", {"KAFKA_SASL_PASSWORD"}, "sasl.password"},
      {"ssl-ca", {"KAFKA_SSL_CA_LOCATION"}, "ssl.ca.location"},
  };
  for (const auto& m : kMappings) {
    if (auto s = settings.get(m.key, m.env))
      props.set(std::string(m.property), s->value, s->origin);
  }
  if (auto pem = settings.env()("KAFKA_SSL_CA_PEM")) {
    props.set("ssl.ca.pem", *pem, "env KAFKA_SSL_CA_PEM");
  }
  if (auto file = settings.get("sasl-password-file", {"KAFKA_SASL_PASSWORD_FILE"})) {
    auto secret = read_secret_file(*file);
    if (!secret) return std::unexpected(secret.error());
    props.set("sasl.password", *secret, file->origin);
  }
  for (const auto& x : settings.librdkafka_assignments()) {
    auto p = kafka::parse_property_assignment(x, "-X");
    if (!p) return std::unexpected(p.error());
    props.set(p->name, p->value, p->origin);
  }
  // --ssl-ca / KAFKA_SSL_CA_LOCATION may hold the PEM text itself (e.g. a Secret's ca.crt
  // passed through the environment): librdkafka wants that in ssl.ca.pem.
  if (const kafka::Property* ca = props.find("ssl.ca.location");
      ca && ca->value.find("-----BEGIN") != std::string::npos) {
    kafka::Properties moved;
    for (const auto& p : props.all()) {
      if (p.name == "ssl.ca.location")
        moved.set("ssl.ca.pem", p.value, p.origin);
      else
        moved.set(p.name, p.value, p.origin);
    }
    props = std::move(moved);
  }
  // Secure defaults, set explicitly so they do not depend on the librdkafka version: with TLS,
  // the broker's certificate must name the host the client connects to (librdkafka 1.x
  // defaulted to no check); -X ssl.endpoint.identification.algorithm=none turns it off.
  const std::string protocol = ascii_lower(props.get("security.protocol").value_or("plaintext"));
  if (protocol == "ssl" || protocol == "sasl_ssl") {
    props.set_default("ssl.endpoint.identification.algorithm", "https",
                      "default: verify the broker's host name");
  }
  // A user name means SCRAM (Strimzi's scram-sha-512 users) unless a mechanism is given;
  // librdkafka's own default, GSSAPI (Kerberos), takes no user name or password.
  if (props.find("sasl.username") && !props.find("sasl.mechanism") &&
      !props.find("sasl.mechanisms")) {
    props.set("sasl.mechanism", "SCRAM-SHA-512", "default for --sasl-username");
  }
  return props;
}

Result<Connection> client_connection(const Settings& settings) {
  Connection c;
  SL_ASSIGN_OR_RETURN(c.kafka, connection_properties(settings));
  c.bootstrap = c.kafka.get("bootstrap.servers").value_or("");
  if (c.bootstrap.empty()) {
    return fail(ErrorKind::usage, "no Kafka bootstrap servers given", "--brokers",
                "pass --brokers host:port or set KAFKA_BROKERS");
  }
  return c;
}

int report_error(std::string_view command, const Error& error) {
  std::fprintf(stderr, "speedlayer %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               error.message().c_str());
  return exit_code(error);
}

}  // namespace speedlayer::config
