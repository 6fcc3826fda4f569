// Reading the small files a user points speedlayer at (config, routes, password files), safely.
//
//   auto text = read_small_file("/etc/speedlayer/routes.yaml", 1 << 20, "routing file");
//   if (!text) return std::unexpected(text.error());   // ErrorKind::io, where = the path
//
// Only a regular file is read (symlinks to one are fine: Kubernetes mounts ConfigMaps and
// Secrets through them). A directory, FIFO, device (/dev/zero) or socket is refused before any
// read, so nothing blocks or grows without bound; so is a file over `max_bytes`.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.h"

namespace speedlayer {

inline constexpr std::size_t kMaxConfigFileBytes = 1 << 20;   // config and routing files
inline constexpr std::size_t kMaxSecretFileBytes = 64 << 10;  // password files

// `what` names the file's role in messages: "config file: /x is a directory, not a file".
Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes,
                                    std::string_view what);

}  // namespace speedlayer
