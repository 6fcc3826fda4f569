// ASCII case mapping for the names Kafka and its clients compare case-insensitively (security
// protocols, SASL mechanisms, topic-name hints): only A-Z change, so the result does not
// depend on the C locale (std::tolower does) and UTF-8 bytes pass through unchanged.
//
//   ascii_lower("SASL_SSL") -> "sasl_ssl";  ascii_lower("Fútbol") -> "fútbol" (ú as it was)
#pragma once

#include <string>
#include <string_view>

namespace speedlayer {

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace speedlayer
