// Parsing of the human units used on the command line and in config files.
//
//   parse_duration("500ms") -> 500ms; "10s", "5m", "1h"; a bare number is milliseconds.
//   parse_bytes("128Mi") -> 134217728; "64M", "512k", "1Gi", a bare number is bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace speedlayer {

// `where` names the flag or file position for the error message.
Result<std::chrono::milliseconds> parse_duration(std::string_view text, std::string_view where);
Result<std::uint64_t> parse_bytes(std::string_view text, std::string_view where);
std::string format_bytes(std::uint64_t bytes);  // "128.0 MiB"

}  // namespace speedlayer
