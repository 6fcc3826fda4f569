// Fuzz target: config files (settings.h: ConfigFile::load), for a command whose long flags are
// brokers, topic, routes, window and max-memory.
//
// ConfigFile::load takes a path, so each input is written to one temporary file (made once with
// mkstemp in $TMPDIR or /tmp, rewritten in place per input, removed at exit).
// Properties: nothing throws (yaml-cpp's conversions do on odd nodes); errors are usage errors
// (content) or io errors at the file's path; a loaded file only holds allowed keys, each with
// its origin "path:line".
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <string_view>

#include "config/settings.h"
#include "core/fuzz_check.h"

namespace {

using speedlayer::fuzz::shown;
namespace config = speedlayer::config;

const std::set<std::string> kAllowed = {"brokers", "topic", "routes", "window", "max-memory"};

// The one temporary file, created on first use.
struct TempFile {
  std::string path;
  int fd = -1;
  TempFile() {
    const char* dir = std::getenv("TMPDIR");
    path = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/sl-config-fuzz-XXXXXX";
    fd = mkstemp(path.data());
    if (fd < 0) {
      std::perror("config_file_fuzz: mkstemp");
      std::abort();
    }
  }
  ~TempFile() {
    close(fd);
    unlink(path.c_str());
  }
  void write_all(const std::uint8_t* data, std::size_t size) {
    if (ftruncate(fd, 0) != 0) std::abort();
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<std::size_t>(n);
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static TempFile file;
  file.write_all(data, size);
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  speedlayer::Result<config::ConfigFile> loaded = std::unexpected(speedlayer::Error{});
  try {
    loaded = config::ConfigFile::load(file.path, kAllowed);
  } catch (const std::exception& e) {
    SL_FUZZ_CHECK(false, std::string("ConfigFile::load threw: ") + e.what() + " on " + shown(text));
  }
  if (!loaded) {
    const auto& e = loaded.error();
    SL_FUZZ_CHECK(e.kind == speedlayer::ErrorKind::usage || e.kind == speedlayer::ErrorKind::io,
                  e.message());
    SL_FUZZ_CHECK(e.where.starts_with(file.path), e.message());
    return 0;
  }
  for (const std::string& key : kAllowed) {
    if (auto s = loaded->get(key)) SL_FUZZ_CHECK(s->origin.starts_with(file.path + ":"), s->origin);
  }
  for (const char* other : {"config", "kafka", "brokers2", ""})
    SL_FUZZ_CHECK(!loaded->get(other), std::string("not allowed, yet loaded: ") + other);
  for (const auto& p : loaded->kafka_properties())
    SL_FUZZ_CHECK(p.origin.starts_with(file.path + ":"), p.name + " from " + p.origin);
  return 0;
}
