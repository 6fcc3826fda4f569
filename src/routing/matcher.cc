#include "routing/matcher.h"

#include <hs/hs.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>
#include <utility>

namespace speedlayer::routing {
namespace {

// [A-Za-z0-9_], as Hyperscan's \w without HS_FLAG_UCP: bytes outside ASCII are non-word.
constexpr std::array<bool, 256> kWordChar = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[static_cast<std::size_t>(c)] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                     (c >= '0' && c <= '9') || c == '_';
  return t;
}();

bool is_word_char(unsigned char c) { return kWordChar[c]; }

// ASCII lower case (Hyperscan's HS_FLAG_CASELESS folds ASCII letters only).
std::string folded(std::string_view s) {
  std::string out(s);
  for (char& ch : out)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return out;
}

std::string where_of(const Route& route, std::size_t index) {
  if (route.line > 0) return "line " + std::to_string(route.line);
  return "route " + std::to_string(index + 1);
}

// A keyword as shown in an error message: long ones are cut.
std::string shown(const std::string& keyword) {
  return keyword.size() <= 60 ? keyword : keyword.substr(0, 57) + "...";
}

}  // namespace

// Scan state: the text, the compiled keywords, and the lowest route index seen so far.
struct Matcher::ScanState {
  const unsigned char* text;
  unsigned long long length;
  const Keyword* keywords;
  unsigned int best = UINT_MAX;
};

// Called for every occurrence of a keyword's literal, in order of `to` (its end offset). Keeps
// the occurrence only if it is a whole word: the bytes on either side of it are not word
// characters (or are outside the text).
int Matcher::on_literal(unsigned int id, unsigned long long /*from*/, unsigned long long to,
                        unsigned int /*flags*/, void* context) {
  auto* state = static_cast<ScanState*>(context);
  const Keyword& k = state->keywords[id];
  if (k.route >= state->best) return 0;  // cannot improve: skip the boundary check
  const unsigned long long from = to - k.length;
  if (from > 0 && kWordChar[state->text[from - 1]]) return 0;
  if (to < state->length && kWordChar[state->text[to]]) return 0;
  state->best = k.route;
  // Route 0 cannot be beaten: stop scanning (hs_scan then returns HS_SCAN_TERMINATED).
  return k.route == 0 ? 1 : 0;
}

namespace {

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

  // One literal per distinct keyword (ignoring ASCII case, as the scan does): a repeat can
  // only name a later route, which never beats the first.
  std::vector<std::string> literals;
  std::vector<std::pair<std::size_t, std::size_t>> origin;  // (route, keyword) per literal
  std::unordered_map<std::string, std::size_t> seen;
  for (std::size_t r = 0; r < table.routes.size(); ++r) {
    const Route& route = table.routes[r];
    for (std::size_t k = 0; k < route.keywords.size(); ++k) {
      const std::string& keyword = route.keywords[k];
      if (keyword.empty())
        return fail(ErrorKind::usage, "route '" + route.topic + "' has an empty keyword",
                    where_of(route, r), "remove it or write a word");
      ++m.pattern_count_;
      if (!seen.emplace(folded(keyword), literals.size()).second) continue;
      literals.push_back(keyword);
      origin.emplace_back(r, k);
      m.keywords_.push_back(
          Keyword{static_cast<unsigned int>(r),
                  static_cast<unsigned int>(std::min<std::size_t>(keyword.size(), UINT_MAX))});
      m.min_length_ = m.min_length_ == 0 ? keyword.size() : std::min(m.min_length_, keyword.size());
    }
  }
  if (literals.empty()) return m;  // Hyperscan cannot compile zero patterns; match() says -1.

  if (hs_valid_platform() != HS_SUCCESS)
    return fail(ErrorKind::usage,
                "this CPU cannot run the routing matcher (Hyperscan needs x86-64 with SSSE3)",
                "routing rules", "run on a machine with SSSE3 (any x86-64 CPU since 2006)");

  std::vector<const char*> expressions;
  std::vector<std::size_t> lengths;
  std::vector<unsigned int> ids;
  expressions.reserve(literals.size());
  lengths.reserve(literals.size());
  ids.reserve(literals.size());
  for (const std::string& l : literals) {
    ids.push_back(static_cast<unsigned int>(expressions.size()));
    expressions.push_back(l.data());
    lengths.push_back(l.size());
  }
  // No HS_FLAG_SINGLEMATCH: the first occurrence of a keyword may fail the whole-word check
  // while a later one passes ("messiah messi").
  const std::vector<unsigned int> flags(literals.size(), HS_FLAG_CASELESS);

  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  const hs_error_t rc =
      hs_compile_lit_multi(expressions.data(), flags.data(), ids.data(), lengths.data(),
                           static_cast<unsigned int>(expressions.size()), HS_MODE_BLOCK, nullptr,
                           &db, &err);
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
  m.keywords_ = keywords_;
  m.min_length_ = min_length_;
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
  // No keywords, or a text shorter than every keyword (this covers the empty text: keywords are
  // never empty; hs_scan rejects a null pointer).
  if (!db_ || text.size() < min_length_) return -1;
  // Kafka messages are far below 4 GiB; hs_scan takes an unsigned int length.
  const auto length = static_cast<unsigned int>(std::min<std::size_t>(text.size(), UINT_MAX));
  ScanState state{reinterpret_cast<const unsigned char*>(text.data()), length, keywords_.data()};
  const hs_error_t rc = hs_scan(db_.get(), text.data(), length, 0, scratch_.get(),
                                on_literal, &state);
  if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) die("hs_scan failed", rc);
  return state.best == UINT_MAX ? -1 : static_cast<int>(state.best);
}

const std::string& Matcher::topic_for(std::string_view text) {
  const int route = match(text);
  return route < 0 ? table_.default_topic : table_.routes[static_cast<std::size_t>(route)].topic;
}

}  // namespace speedlayer::routing
