// Parsing of the human units used on the command line and in config files.
//
//   parse_duration("500ms") -> 500ms; "10s", "5m", "1h", "1d"; "0". Any other bare number is
//     refused (is "60" seconds or milliseconds?), as is anything over kMaxDuration.
//   parse_bytes("128Mi") -> 134217728; "64M", "512k", "1Gi", a bare number is bytes (as in
//     Kafka's byte-valued properties: message.max.bytes=1048576).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace speedlayer {

// 2^31 - 1 ms, about 24.8 days: durations become int millisecond timeouts.
inline constexpr std::chrono::milliseconds kMaxDuration{2'147'483'647};

// `where` names the flag or file position for the error message.
Result<std::chrono::milliseconds> parse_duration(std::string_view text, std::string_view where);
Result<std::uint64_t> parse_bytes(std::string_view text, std::string_view where);
std::string format_bytes(std::uint64_t bytes);  // "128.0 MiB"

}  // namespace speedlayer
