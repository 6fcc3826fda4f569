// Fuzz target: the HTTP module's public pure functions that take outside text (server.h):
// parse_listen (--listen HOST:PORT), the JSON string writer (json::json_string) as it puts
// request values (a query's topic, a path) into JSON error bodies, and the query parameters of
// /v1/views and /v1/expire: the bytes as a request target's query, decoded by parse_target as the
// server does, then parse_views_query and parse_expire_query.
//
// Queries: an accepted /v1/views query has a non-empty topic and from <= to; a refused one
// names topic, from or to (before for /v1/expire) with a bounded message.
// Properties: parse_listen fails only with a usage error at "--listen"; what it accepts has a
// port in 0..65535 and a host, and reads back the same from to_string(). A quoted value is one
// JSON string, valid UTF-8 without raw control bytes, that decodes to the input when the input
// is valid UTF-8 (python_dumps_fuzz checks the replacement of invalid input byte for byte).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/fuzz_check.h"
#include "http/server.h"
#include "json/python_json.h"

namespace {

using speedlayer::fuzz::shown;
namespace http = speedlayer::http;

void check_listen(std::string_view text) {
  auto a = http::parse_listen(text);
  if (!a) {
    SL_FUZZ_CHECK(a.error().kind == speedlayer::ErrorKind::usage, a.error().message());
    SL_FUZZ_CHECK(a.error().where == "--listen", a.error().message());
    return;
  }
  SL_FUZZ_CHECK(a->port >= 0 && a->port <= 65535, std::to_string(a->port));
  SL_FUZZ_CHECK(!a->host.empty(), "empty host from " + shown(text));
  const std::string again = a->to_string();
  auto b = http::parse_listen(again);
  SL_FUZZ_CHECK(b.has_value(), shown(text) + " -> " + shown(again) + ": " + b.error().message());
  SL_FUZZ_CHECK(b->host == a->host && b->port == a->port,
                shown(text) + " -> " + shown(again) + " -> " + shown(b->host));
}

void check_quote(std::string_view s) {
  const std::string q = speedlayer::json::json_string(s);
  SL_FUZZ_CHECK(speedlayer::json::find_invalid_utf8(q) == std::string_view::npos, shown(q));
  for (char c : q) {
    SL_FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20, "raw control byte in " + shown(q));
  }
  auto doc = nlohmann::json::parse(q, nullptr, /*allow_exceptions=*/false);
  SL_FUZZ_CHECK(doc.is_string(), "not one JSON string: " + shown(q));
  if (speedlayer::json::find_invalid_utf8(s) == std::string_view::npos) {
    SL_FUZZ_CHECK(doc.get_ref<const std::string&>() == s, shown(s) + " quoted as " + shown(q));
  }
}

void check_query(std::string_view text) {
  auto target = http::parse_target("/v1/views?" + std::string(text));
  if (!target) return;  // the server answers 400 (bad percent-encoding)
  SL_FUZZ_CHECK(target->path == "/v1/views", "path " + shown(target->path));
  const http::QueryParams& params = target->params;
  auto views = http::parse_views_query(params);
  if (views) {
    SL_FUZZ_CHECK(!views->topic.empty(), "empty topic accepted from " + shown(text));
    SL_FUZZ_CHECK(!views->from || !views->to || *views->from <= *views->to,
                  "from after to accepted from " + shown(text));
  } else {
    const std::string& p = views.error().parameter;
    SL_FUZZ_CHECK(p == "topic" || p == "from" || p == "to", "parameter " + shown(p));
    SL_FUZZ_CHECK(views.error().message.size() < 300, shown(views.error().message));
    check_quote(views.error().message);
  }
  constexpr std::int64_t kNow = 1'700'000'000'000;
  auto expire = http::parse_expire_query(params, kNow);
  if (expire) {
    SL_FUZZ_CHECK(*expire <= kNow, "a before in the future accepted from " + shown(text));
  } else {
    SL_FUZZ_CHECK(expire.error().parameter == "before", shown(expire.error().parameter));
    SL_FUZZ_CHECK(expire.error().message.size() < 300, shown(expire.error().message));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_listen(text);
  check_quote(text);
  check_query(text);
  if (auto target = http::parse_target(text)) {
    SL_FUZZ_CHECK(target->path.starts_with('/'), "path " + shown(target->path));
  }
  return 0;
}
