// Matcher: picks a message's topic from a RouteTable, with Hyperscan.
//
// Compiled once at start-up (compiling thousands of keywords takes seconds), then each
// message is scanned once for all keywords of all routes at a cost that barely depends on the
// number of keywords. A keyword matches as a whole word, ignoring ASCII case; the first route
// in file order with any matching keyword wins, whatever the keywords' positions in the text.
//
//   auto matcher = Matcher::compile(default_route_table());
//   if (!matcher) { print_error(matcher.error()); return exit_code(matcher.error()); }
//   matcher->topic_for("Messi scored!");   // "Sport"
//   matcher->topic_for("New NLP model");   // "AI"
//   matcher->topic_for("Hello");           // "my-topic" (the default topic)
//   matcher->match("Hello");               // -1: no route
//
// Whole word means the keyword is not adjacent to a word character ([A-Za-z0-9_]) on either
// side: `messi` matches "(Messi)" but not "messiah"; `AI` matches "AI-powered" but not
// "AI_model" or "AI2"; `c++` matches "I like C++." and `c#` matches "c#," but neither matches
// inside "xc++" or "c#x". Bytes outside ASCII count as non-word characters.
//
// How: every keyword is compiled as a plain caseless literal (Hyperscan's fast literal engines,
// FDR/Teddy: no regex, no word-boundary assertions), and the match callback checks the whole-word
// rule itself from the end offset and the keyword's length: the byte before the keyword and the
// byte after it must not be word characters (the text's edges count as non-word). That is exactly
// keyword_pattern()'s \b / \B rule: next to a word-character edge of the keyword \b asks for a
// non-word neighbour, and next to a non-word edge \B asks for the same thing.
//
// Threads: a Matcher owns one Hyperscan scratch space, so match() and topic_for() must not be
// called on the same Matcher from two threads at once. Give each thread its own clone().
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "routing/routes.h"

struct hs_database;
struct hs_scratch;

namespace speedlayer::routing {

class Matcher {
 public:
  // Compiles one caseless literal per distinct keyword (ignoring case; a keyword repeated in a
  // later route can never win, so only its first route's copy is kept). A keyword Hyperscan rejects is
  // a usage error naming the keyword, its route and its line; a CPU Hyperscan cannot run on is a
  // usage error saying so. An empty route list is fine: everything goes to the default topic.
  static Result<Matcher> compile(const RouteTable& table);

  // An independent Matcher with the same rules, for another thread (copies the compiled
  // database: no recompiling).
  Result<Matcher> clone() const;

  Matcher(Matcher&&) noexcept;
  Matcher& operator=(Matcher&&) noexcept;
  ~Matcher();

  // Index in table().routes of the first route (in file order) with a keyword in `text`,
  // or -1 if none. Not thread-safe: see above.
  int match(std::string_view text);

  // table().routes[match(text)].topic, or table().default_topic when no route matches.
  // Not thread-safe: see above.
  const std::string& topic_for(std::string_view text);

  const RouteTable& table() const { return table_; }
  std::size_t pattern_count() const { return pattern_count_; }

 private:
  struct DatabaseDeleter {
    void operator()(hs_database* db) const;
  };
  struct ScratchDeleter {
    void operator()(hs_scratch* scratch) const;
  };

  // One compiled literal (Hyperscan pattern id = index in keywords_).
  struct Keyword {
    unsigned int route;   // index in table_.routes
    unsigned int length;  // bytes: the match starts at `to - length`
  };

  struct ScanState;
  static int on_literal(unsigned int id, unsigned long long from, unsigned long long to,
                        unsigned int flags, void* context);

  Matcher() = default;

  RouteTable table_;
  std::size_t pattern_count_ = 0;     // keywords in table_, duplicates included
  std::vector<Keyword> keywords_;     // by pattern id
  std::size_t min_length_ = 0;        // shortest keyword: shorter texts cannot match
  std::unique_ptr<hs_database, DatabaseDeleter> db_;  // null when there are no keywords
  std::unique_ptr<hs_scratch, ScratchDeleter> scratch_;
};

// The regular expression (Hyperscan syntax, to compile with HS_FLAG_CASELESS) equivalent to how
// match() finds one keyword: the keyword with every byte that is not [A-Za-z0-9_] written as \xHH
// (so `c++` and `a.b` are literal), between whole-word boundaries: \b next to a word character
// of the keyword, \B next to a non-word one (Hyperscan has no lookbehind).
// `c++` -> `\bc\x2b\x2b\B`. match() does not use it (it scans literals and checks the
// boundaries itself, which is several times faster); the tests compare the two.
std::string keyword_pattern(std::string_view keyword);

}  // namespace speedlayer::routing
