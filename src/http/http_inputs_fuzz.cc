// Fuzz target: the HTTP module's public pure functions that take outside text (server.h):
// parse_listen (--listen HOST:PORT), json_quote, which puts request values (a query's topic,
// a path) into JSON error bodies, and the query parameters of /v1/views and /v1/expire: the
// bytes as a request target's query, decoded by parse_target as the server does, then
// parse_views_query and parse_expire_query.
//
// Queries: an accepted /v1/views query has a non-empty topic and from <= to; a refused one
// names topic, from or to (before for /v1/expire) with a bounded message.
// Properties: parse_listen fails only with a usage error at "--listen"; what it accepts has a
// port in 0..65535 and a host, and reads back the same from to_string(). json_quote's output is
// one JSON string, valid UTF-8 without raw control bytes, that decodes to the input with each
// byte that does not start a valid UTF-8 sequence replaced by U+FFFD.
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

// Length of the valid UTF-8 sequence starting at p[i] (shortest form, no surrogates, at most
// U+10FFFF), or 0.
std::size_t valid_sequence(const unsigned char* p, std::size_t n, std::size_t i) {
  const unsigned char b = p[i];
  if (b < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > n) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if (p[i + k] < lo || p[i + k] > hi) return 0;
    lo = 0x80;
    hi = 0xBF;
  }
  return len;
}

std::string replace_invalid_bytes(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (const std::size_t len = valid_sequence(p, s.size(), i); len > 0) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    }
  }
  return out;
}

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
  const std::string q = http::json_quote(s);
  SL_FUZZ_CHECK(speedlayer::json::find_invalid_utf8(q) == std::string_view::npos, shown(q));
  for (char c : q) {
    SL_FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f,
                  "raw control byte in " + shown(q));
  }
  auto doc = nlohmann::json::parse(q, nullptr, /*allow_exceptions=*/false);
  SL_FUZZ_CHECK(doc.is_string(), "not one JSON string: " + shown(q));
  const std::string want = replace_invalid_bytes(s);
  SL_FUZZ_CHECK(doc.get_ref<const std::string&>() == want,
                shown(s) + " quoted as " + shown(q) + ", expected " + shown(want));
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
