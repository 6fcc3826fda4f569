#include "core/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace speedlayer {
namespace {

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a pipe";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes,
                                    std::string_view what) {
  const std::string role(what);
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer; only regular files are read.
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (f.fd < 0) {
    return fail(ErrorKind::io, "cannot read " + role + ": " + std::strerror(errno), path);
  }
  struct stat st{};
  if (::fstat(f.fd, &st) != 0) {
    return fail(ErrorKind::io, "cannot read " + role + ": " + std::strerror(errno), path);
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(ErrorKind::io, role + " is " + kind_of(st.st_mode) + ", not a file", path);
  }
  auto too_big = [&] {
    return fail(ErrorKind::io,
                role + " is larger than the limit of " + std::to_string(max_bytes) + " bytes",
                path);
  };
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) return too_big();
  std::string text;
  text.reserve(static_cast<std::size_t>(st.st_size));
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return fail(ErrorKind::io, "cannot read " + role + ": " + std::strerror(errno), path);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > max_bytes) return too_big();  // it grew while being read
  }
  return text;
}

}  // namespace speedlayer
