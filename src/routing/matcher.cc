#include "routing/matcher.h"

#include <hs/hs.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace speedlayer::routing {
namespace {

bool is_word_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string where_of(const Route& route, std::size_t index) {
  if (route.line > 0) return "line " + std::to_string(route.line);
  return "route " + std::to_string(index + 1);
}

// A keyword as shown in an error message: long ones are cut.
std::string shown(const std::string& keyword) {
  return keyword.size() <= 60 ? keyword : keyword.substr(0, 57) + "...";
}

// Scan state: the lowest route index seen so far.
struct ScanState {
  unsigned int best = UINT_MAX;
};

int on_match(unsigned int id, unsigned long long /*from*/, unsigned long long /*to*/,
             unsigned int /*flags*/, void* context) {
  auto* state = static_cast<ScanState*>(context);
  state->best = std::min(state->best, id);
  // Route 0 cannot be beaten: stop scanning (hs_scan then returns HS_SCAN_TERMINATED).
  return id == 0 ? 1 : 0;
}

[[noreturn]] void die(const char* what, hs_error_t rc) {
  // Only reachable through a bug (e.g. one Matcher used from two threads at once).
  std::fprintf(stderr, "speedlayer: internal error: routing matcher: %s (hyperscan error %d)\n",
               what, static_cast<int>(rc));
  std::abort();
}

}  // namespace

std::string keyword_pattern(std::string_view keyword) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(keyword.size() * 4 + 4);
  if (!keyword.empty()) out += is_word_char(keyword.front()) ? "\\b" : "\\B";
  for (char ch : keyword) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_word_char(c)) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (!keyword.empty()) out += is_word_char(keyword.back()) ? "\\b" : "\\B";
  return out;
}

void Matcher::DatabaseDeleter::operator()(hs_database* db) const { hs_free_database(db); }
void Matcher::ScratchDeleter::operator()(hs_scratch* scratch) const { hs_free_scratch(scratch); }

Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;
Matcher::~Matcher() = default;

Result<Matcher> Matcher::compile(const RouteTable& table) {
  Matcher m;
  m.table_ = table;

  std::vector<std::string> patterns;
  std::vector<unsigned int> ids;
  std::vector<std::pair<std::size_t, std::size_t>> origin;  // (route, keyword) per pattern
  for (std::size_t r = 0; r < table.routes.size(); ++r) {
    const Route& route = table.routes[r];
    for (std::size_t k = 0; k < route.keywords.size(); ++k) {
      if (route.keywords[k].empty())
        return fail(ErrorKind::usage, "route '" + route.topic + "' has an empty keyword",
                    where_of(route, r), "remove it or write a word");
      patterns.push_back(keyword_pattern(route.keywords[k]));
      ids.push_back(static_cast<unsigned int>(r));
      origin.emplace_back(r, k);
    }
  }
  m.pattern_count_ = patterns.size();
  if (patterns.empty()) return m;  // Hyperscan cannot compile zero patterns; match() says -1.

  if (hs_valid_platform() != HS_SUCCESS)
    return fail(ErrorKind::usage,
                "this CPU cannot run the routing matcher (Hyperscan needs x86-64 with SSSE3)",
                "routing rules", "run on a machine with SSSE3 (any x86-64 CPU since 2006)");

  std::vector<const char*> expressions;
  expressions.reserve(patterns.size());
  for (const std::string& p : patterns) expressions.push_back(p.c_str());
  const std::vector<unsigned int> flags(patterns.size(),
                                        HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH);

  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  const hs_error_t rc =
      hs_compile_multi(expressions.data(), flags.data(), ids.data(),
                       static_cast<unsigned int>(expressions.size()), HS_MODE_BLOCK, nullptr, &db,
                       &err);
  if (rc != HS_SUCCESS) {
    std::string message = err != nullptr && err->message != nullptr ? err->message : "unknown";
    const int index = err != nullptr ? err->expression : -1;
    hs_free_compile_error(err);
    if (index >= 0 && static_cast<std::size_t>(index) < origin.size()) {
      const auto [r, k] = origin[static_cast<std::size_t>(index)];
      const Route& route = table.routes[r];
      return fail(ErrorKind::usage,
                  "cannot compile keyword '" + shown(route.keywords[k]) + "' of route '" +
                      route.topic + "': " + message,
                  where_of(route, r), "change or remove the keyword");
    }
    return fail(ErrorKind::usage, "cannot compile the routing rules: " + message,
                "routing rules", "use fewer or simpler keywords");
  }
  m.db_.reset(db);

  hs_scratch_t* scratch = nullptr;
  if (hs_error_t src = hs_alloc_scratch(db, &scratch); src != HS_SUCCESS)
    return fail(ErrorKind::internal,
                "cannot allocate routing scratch space (hyperscan error " + std::to_string(src) +
                    ")",
                "routing rules");
  m.scratch_.reset(scratch);
  return m;
}

Result<Matcher> Matcher::clone() const {
  Matcher m;
  m.table_ = table_;
  m.pattern_count_ = pattern_count_;
  if (!db_) return m;

  char* bytes = nullptr;
  std::size_t length = 0;
  if (hs_error_t rc = hs_serialize_database(db_.get(), &bytes, &length); rc != HS_SUCCESS)
    return fail(ErrorKind::internal,
                "cannot copy the routing database (hyperscan error " + std::to_string(rc) + ")",
                "routing rules");
  hs_database_t* db = nullptr;
  const hs_error_t rc = hs_deserialize_database(bytes, length, &db);
  std::free(bytes);  // hs_serialize_database allocates with the misc allocator: malloc
  if (rc != HS_SUCCESS)
    return fail(ErrorKind::internal,
                "cannot copy the routing database (hyperscan error " + std::to_string(rc) + ")",
                "routing rules");
  m.db_.reset(db);

  hs_scratch_t* scratch = nullptr;
  if (hs_error_t src = hs_clone_scratch(scratch_.get(), &scratch); src != HS_SUCCESS)
    return fail(ErrorKind::internal,
                "cannot allocate routing scratch space (hyperscan error " + std::to_string(src) +
                    ")",
                "routing rules");
  m.scratch_.reset(scratch);
  return m;
}

int Matcher::match(std::string_view text) {
  // No keywords, or nothing to scan (keywords are never empty; hs_scan rejects a null pointer).
  if (!db_ || text.empty()) return -1;
  // Kafka messages are far below 4 GiB; hs_scan takes an unsigned int length.
  const auto length = static_cast<unsigned int>(std::min<std::size_t>(text.size(), UINT_MAX));
  ScanState state;
  const hs_error_t rc =
      hs_scan(db_.get(), text.data(), length, 0, scratch_.get(), on_match, &state);
  if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) die("hs_scan failed", rc);
  return state.best == UINT_MAX ? -1 : static_cast<int>(state.best);
}

const std::string& Matcher::topic_for(std::string_view text) {
  const int route = match(text);
  return route < 0 ? table_.default_topic : table_.routes[static_cast<std::size_t>(route)].topic;
}

}  // namespace speedlayer::routing
