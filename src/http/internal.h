// What server.cc (answers) and connection.cc (sockets) share; not part of the module's API.
#pragma once

#include <string>
#include <string_view>

namespace speedlayer::http::internal {

// {"error": "<reason phrase of status>", "path": path}: the body of the errors the connection
// code answers itself (400 unparsable request, 408, 413, 431, 503 too many connections).
std::string error_body(int status, std::string_view path);
// The hint of every --listen / --probe-listen error.
extern const char* const kListenHint;
// "[::1]" -> "::1"; anything else unchanged.
std::string strip_brackets(std::string_view host);

}  // namespace speedlayer::http::internal
