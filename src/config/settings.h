// Settings precedence shared by every subcommand: flags, then environment, then the optional
// YAML config file (--config / SPEEDLAYER_CONFIG), then defaults. Every value remembers its
// origin so errors can name it ("--topic", "env KAFKA_TOPIC", "speedlayer.yaml:3").
//
//   FlagSet flags(*produce_cmd);
//   flags.add("topic", "default topic");          // --topic
//   ... app.parse(argc, argv) ...
//   auto settings = Settings::load(flags, process_env());   // reads the config file if any
//   auto topic = settings->get("topic", {"KAFKA_TOPIC"});   // optional<Setting>
//
// Config file format (keys are the long flag names; `kafka:` holds librdkafka properties):
//   brokers: 127.0.0.1:9092
//   topic: my-topic
//   kafka:
//     linger.ms: 5
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kafka/properties.h"

namespace speedlayer::config {

struct Setting {
  std::string value;
  std::string origin;
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;
EnvLookup process_env();  // getenv; empty values count as unset

// Registers string options and boolean flags on a CLI11 command and remembers which were given.
class FlagSet {
 public:
  explicit FlagSet(CLI::App& app) : app_(app) {}
  CLI::Option* add(const std::string& name, const std::string& help);
  CLI::Option* add_flag(const std::string& name, const std::string& help);
  // -X key=value, repeatable.
  void add_librdkafka_passthrough();
  // A config-file-only map of named sections, each a map of `keys` to single values:
  //   topics:
  //     Sport: {stop-words: en, min-term-chars: 3}
  // (ConfigFile::sections). Not a flag.
  void add_section(const std::string& name, std::set<std::string> keys) {
    sections_[name] = std::move(keys);
  }
  const std::map<std::string, std::set<std::string>>& sections() const { return sections_; }

  std::map<std::string, Setting> given() const;
  const std::vector<std::string>& librdkafka_assignments() const { return x_values_; }
  const std::set<std::string>& names() const { return names_; }

 private:
  CLI::App& app_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> bools_;
  std::map<std::string, CLI::Option*> options_;
  std::set<std::string> names_;
  std::vector<std::string> x_values_;
  std::map<std::string, std::set<std::string>> sections_;
};

class ConfigFile {
 public:
  // Content errors are ErrorKind::usage with `where` = "path:line"; `allowed_keys` are the
  // command's long flag names (plus "kafka").
  // `sections`: the command's FlagSet::sections() (section name -> its allowed keys).
  static Result<ConfigFile> load(const std::string& path, const std::set<std::string>& allowed_keys,
                                 const std::map<std::string, std::set<std::string>>& sections = {});
  std::optional<Setting> get(std::string_view key) const;
  using Section = std::map<std::string, Setting>;  // key -> value
  // The named entries of section `name` (FlagSet::add_section), in name order.
  std::map<std::string, Section> sections(const std::string& name) const {
    auto it = sections_.find(name);
    return it == sections_.end() ? std::map<std::string, Section>{} : it->second;
  }
  const std::vector<kafka::Property>& kafka_properties() const { return kafka_; }

 private:
  std::map<std::string, Setting, std::less<>> values_;
  std::vector<kafka::Property> kafka_;
  std::map<std::string, std::map<std::string, Section>> sections_;
};

class Settings {
 public:
  Settings(std::map<std::string, Setting> flags, EnvLookup env, std::optional<ConfigFile> file,
           std::vector<std::string> librdkafka_assignments = {});

  // Loads the config file named by --config or SPEEDLAYER_CONFIG (if any).
  static Result<Settings> load(const FlagSet& flags, EnvLookup env);

  // Flag `--key`, then the first set environment variable of `env_names`, then the config
  // file's `key`. Empty when none is set (the caller applies its default).
  std::optional<Setting> get(std::string_view key,
                             std::initializer_list<std::string_view> env_names = {}) const;
  std::string get_or(std::string_view key, std::initializer_list<std::string_view> env_names,
                     std::string fallback) const;
  bool flag(std::string_view key) const;  // boolean flag given (or true in env/file)

  const std::optional<ConfigFile>& file() const { return file_; }
  const std::vector<std::string>& librdkafka_assignments() const { return x_; }
  const EnvLookup& env() const { return env_; }

 private:
  std::map<std::string, Setting> flags_;
  EnvLookup env_;
  std::optional<ConfigFile> file_;
  std::vector<std::string> x_;
};

// The librdkafka properties every client gets from the connection settings, lowest
// precedence first: config file `kafka:` map, environment (KAFKA_BROKERS, KAFKA_SECURITY_*,
// KAFKA_SASL_*, KAFKA_SSL_CA_LOCATION), flags (--brokers, --security-protocol, --sasl-*,
// --ssl-ca), then -X. A password file (--sasl-password-file / KAFKA_SASL_PASSWORD_FILE) is read
// here; its content is never printed.
Result<kafka::Properties> connection_properties(const Settings& settings);

// connection_properties() plus the bootstrap servers they name, which every client command
// needs: no bootstrap servers is a usage error naming --brokers / KAFKA_BROKERS.
struct Connection {
  kafka::Properties kafka;
  std::string bootstrap;
};
Result<Connection> client_connection(const Settings& settings);

// Adds the connection flags above to a command.
void add_connection_flags(FlagSet& flags);

// Prints "speedlayer <command>: <error>" to standard error and returns the error's exit code:
// how every subcommand reports an error that ends it.
int report_error(std::string_view command, const Error& error);

// A subcommand's start: its settings (flags, environment, config file) and the options
// `build(settings)` makes of them; on an error, reported as above, the exit code instead.
//   auto loaded = config::load_options("serve", flags_, build_serve_options);
//   if (!loaded) return loaded.error();
//   auto& [settings, options] = *loaded;
template <class Build>
auto load_options(std::string_view command, const FlagSet& flags, Build&& build) -> std::expected<
    std::pair<Settings, typename std::invoke_result_t<Build, const Settings&>::value_type>, int> {
  auto settings = Settings::load(flags, process_env());
  if (!settings) return std::unexpected(report_error(command, settings.error()));
  auto options = build(static_cast<const Settings&>(*settings));
  if (!options) return std::unexpected(report_error(command, options.error()));
  return std::pair{std::move(*settings), std::move(*options)};
}

}  // namespace speedlayer::config
