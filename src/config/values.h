// Typed reading of settings: every parse error names the setting's origin (flag, env, file:line).
//
//   auto count = config::to_uint(settings.get("count"));   // Result<optional<uint64_t>>
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/settings.h"
#include "core/error.h"

namespace speedlayer::config {

Result<std::optional<std::uint64_t>> to_uint(const std::optional<Setting>& s);
Result<std::optional<double>> to_double(const std::optional<Setting>& s);
Result<std::optional<std::chrono::milliseconds>> to_duration(const std::optional<Setting>& s);
Result<std::optional<std::uint64_t>> to_bytes(const std::optional<Setting>& s);
// One of `allowed`, else a usage error listing them.
Result<std::optional<std::string>> to_choice(const std::optional<Setting>& s,
                                             const std::vector<std::string>& allowed);

}  // namespace speedlayer::config
