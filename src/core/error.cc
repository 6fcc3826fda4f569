#include "core/error.h"

namespace speedlayer {

std::string Error::message() const {
  std::string out;
  if (!where.empty()) out += where + ": ";
  out += what;
  if (!hint.empty()) out += " (" + hint + ")";
  return out;
}

ExitCode exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::usage:
    case ErrorKind::io:
      return ExitCode::usage;
    case ErrorKind::unreachable:
      return ExitCode::unreachable;
    case ErrorKind::invalid_data:
    case ErrorKind::kafka:
    case ErrorKind::internal:
      return ExitCode::partial;
  }
  return ExitCode::partial;
}

}  // namespace speedlayer
