// speedlayer's one error and result type, used across every module boundary.
//
// An Error says what failed (`what`), where (`where`: a flag, "file:line", a broker address, an
// input line), and what to do about it (`hint`). Its `kind` decides the process exit code that
// DESIGN.md documents.
//
//   Result<int> parse_port(std::string_view text) {
//     if (text.empty()) return fail(ErrorKind::usage, "empty port", "--listen");
//     ...
//   }
//   auto port = parse_port(arg);
//   if (!port) { print_error(port.error()); return exit_code(port.error()); }
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace speedlayer {

// Process exit codes (DESIGN.md, "Exit codes").
enum class ExitCode : int {
  ok = 0,           // success
  partial = 1,      // ran, but some messages failed or problems were found
  usage = 2,        // bad usage or configuration
  unreachable = 3,  // cluster unreachable
};

enum class ErrorKind {
  usage,         // bad flag, value, or config file content -> exit 2
  io,            // a file could not be read or written -> exit 2
  invalid_data,  // one input record is bad (skipped and dead-lettered, not fatal)
  kafka,         // a Kafka operation failed -> exit 1
  unreachable,   // no broker answered -> exit 3
  internal,      // a bug; should not happen -> exit 1
};

struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string what;
  std::string where;
  std::string hint;

  // "where: what (hint)" in one line, the way every command prints errors.
  std::string message() const;
};

// std::expected with [[nodiscard]] (libstdc++ 12's is not): a dropped Result or Status is a
// compile error under -Werror, so no failure is ignored by accident. To ignore one on purpose,
// say why and cast it to void.
template <class T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using std::expected<T, Error>::expected;
  Result(std::expected<T, Error> other) : std::expected<T, Error>(std::move(other)) {}
};
class [[nodiscard]] Status : public std::expected<void, Error> {
 public:
  using std::expected<void, Error>::expected;
  Status(std::expected<void, Error> other) : std::expected<void, Error>(std::move(other)) {}
};

inline std::unexpected<Error> fail(ErrorKind kind, std::string what, std::string where = {},
                                   std::string hint = {}) {
  return std::unexpected(Error{kind, std::move(what), std::move(where), std::move(hint)});
}

ExitCode exit_code_for(ErrorKind kind);
inline int exit_code(const Error& e) {
  return static_cast<int>(exit_code_for(e.kind));
}

}  // namespace speedlayer

// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` is a declaration (`auto x`), and `expr` is
// already parenthesised where it is used.

// Unwraps a Result into `lhs`, or returns its error from the enclosing function (which must
// return a Result or Status).
#define SL_CONCAT_INNER(a, b) a##b
#define SL_CONCAT(a, b) SL_CONCAT_INNER(a, b)
#define SL_ASSIGN_OR_RETURN(lhs, expr)                                          \
  auto SL_CONCAT(sl_result_, __LINE__) = (expr);                                \
  if (!SL_CONCAT(sl_result_, __LINE__))                                         \
    return std::unexpected(std::move(SL_CONCAT(sl_result_, __LINE__).error())); \
  lhs = std::move(*SL_CONCAT(sl_result_, __LINE__))

// Returns the error of a Status or Result from the enclosing function, if it holds one.
#define SL_RETURN_IF_ERROR(expr)                                            \
  do {                                                                      \
    auto sl_status_ = (expr);                                               \
    if (!sl_status_) return std::unexpected(std::move(sl_status_.error())); \
  } while (false)
// NOLINTEND(bugprone-macro-parentheses)
