// Matcher: picks a message's topic from a RouteTable.
//
// Compiled once at start-up (5,000 keywords: well under a second), then each message is
// scanned once for all keywords of all routes at a cost that barely depends on the number of
// keywords. A keyword matches as a whole word, in any script, compared in its folded form
// (text/words.h: NFC + full Unicode case folding); the first route in file order with any
// matching keyword wins, whatever the keywords' positions in the text.
//
//   auto matcher = Matcher::compile(default_route_table());
//   if (!matcher) { print_error(matcher.error()); return exit_code(matcher.error()); }
//   matcher->topic_for("Messi scored!");   // "Sport"
//   matcher->topic_for("New NLP model");   // "AI"
//   matcher->topic_for("Hello");           // "my-topic" (the default topic)
//   matcher->match("Hello");               // -1: no route
//
// The rule: the folded keyword occurs in the folded text at word edges (text::at_word_edges):
// no word of the text (by the one word rule of text/words.h, which views use too) continues
// across either end of the occurrence. So `fútbol` matches "FÚTBOL" and "Fútbol", `футбол`
// "ФУТБОЛ", `straße` "STRASSE"; `messi` matches "(Messi)" and "Messi's" (apostrophes separate
// words) but not "messiah" or "Messiñ"; `AI` matches "AI-powered" but not "AI_model" or "AI2";
// `c++` matches "I like C++." and `c#` matches "c#," but neither matches inside "xc++" or
// "c#x"; a Chinese keyword `足球` matches inside "我喜欢足球" (each Han character is a word).
// On ASCII text word characters are [A-Za-z0-9_] and folding is ASCII lower case.
//
// How (same results as the rule read literally, several times faster):
// - A text with no byte >= 0x80 (the usual case) takes the ASCII path: a keyword that is one
//   ASCII word (`messi`, `AI`, `kw00042`, `straße` folded to `strasse`) matches exactly when some
//   maximal run of word characters in the text equals it ignoring case. match() cuts the text
//   into such runs (16 bytes at a time with SSE2) and looks each run up in a hash table of the
//   keywords, stopping at the first run of route 0. The same scan notices a byte >= 0x80 (its
//   loads give that mask too) and hands the text to the Unicode path below, before any run
//   next to such a byte is taken: no separate pass over the text looks for them.
// - Any other keyword (`c++`, `#ai`, `a.b`, `足球`) is compiled into Hyperscan as a plain
//   caseless literal of its folded form (its fast literal engines: no regex, no boundary
//   assertions), scanned only when such a keyword could still beat the best word-keyword route
//   (on an ASCII text, only when an ASCII one could: a non-ASCII literal cannot occur there).
//   The match callback checks the edges itself (on ASCII text: the byte before and the byte
//   after must not be word characters; keyword_pattern()'s rule).
// - A text with a byte >= 0x80 is folded first (into a buffer the Matcher reuses); its words
//   are looked up in a hash table of every one-word keyword, folded, and the literals are
//   scanned on the folded text with text::at_word_edges as the edge check. Hyperscan's \b is
//   ASCII-only, which is why the edges are checked outside it.
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
  // Compiles the keywords (pattern_count() of them, duplicates included; a keyword repeated in
  // a later route, ignoring case, can never win and is dropped). A keyword Hyperscan rejects
  // (longer than its 16,000-byte limit) is a usage error naming the keyword, its route and its
  // line; a CPU Hyperscan cannot run on is a usage error saying so. An empty route list is fine:
  // everything goes to the default topic.
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

  struct Rules;  // the compiled keywords, read-only, shared with clones (matcher.cc)
  struct ScanState;
  static int on_literal(unsigned int id, unsigned long long from, unsigned long long to,
                        unsigned int flags, void* context);
  // The literal keywords searched without Hyperscan, should its scan fail.
  void scan_plainly(ScanState& state) const;
  // match() for a text with bytes >= 0x80: folded into folded_, then its words looked up and
  // the literals scanned on it.
  int match_unicode(std::string_view text);

  Matcher() = default;

  RouteTable table_;
  std::size_t pattern_count_ = 0;       // keywords in table_, duplicates included
  std::shared_ptr<const Rules> rules_;  // null when there are no keywords
  // Keywords with a non-word byte, as Hyperscan literals; null when there are none.
  std::unique_ptr<hs_database, DatabaseDeleter> db_;
  std::unique_ptr<hs_scratch, ScratchDeleter> scratch_;
  std::string folded_;  // match_unicode's folded text, reused
};

// The regular expression (Hyperscan syntax, to compile with HS_FLAG_CASELESS) equivalent to how
// match() finds one ASCII keyword in ASCII text: the keyword with every byte that is not
// [A-Za-z0-9_] written as \xHH (so `c++` and `a.b` are literal), between whole-word boundaries: \b
// next to a word character of the keyword, \B next to a non-word one (Hyperscan has no lookbehind).
// `c++` -> `\bc\x2b\x2b\B`. match() does not use it (it scans literals and checks the
// boundaries itself, which is several times faster); the tests compare the two.
std::string keyword_pattern(std::string_view keyword);

}  // namespace speedlayer::routing
