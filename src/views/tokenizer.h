// The tokenizer (for_each_term: text to terms, i.e. folded words by the one word rule of
// text/words.h, shared with routing) and the hash of the term maps (TermHash). Part of
// views.h (include that one).
#pragma once

#include <string>
#include <string_view>

#include "text/term_hash.h"
#include "text/words.h"

namespace speedlayer::views {

using text::TermHash;

// Calls f(std::string_view term) per word occurrence, folded (NFC + full case folding):
// text::for_each_word. Lower-case ASCII words are views into `text`; others live until the
// next call of f.
template <class F>
void for_each_term(std::string_view text, F&& f) {
  std::string scratch;
  text::for_each_word(text, scratch, f);
}

}  // namespace speedlayer::views
