// The main() of a fuzz target's replay test (cmake/fuzz.cmake: <target>_replay): feeds every
// file of the directories (or files) given on the command line through the target's
// LLVMFuzzerTestOneInput once, in name order. No libFuzzer needed, so the ordinary gcc build
// and its sanitizer run replay the checked-in seeds and regressions; a crash, a sanitizer
// report or a failed SL_FUZZ_CHECK fails the test.
//
//   routes_fuzz_replay src/routing/fuzz/routes/seeds src/routing/fuzz/routes/regressions
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

// Dot files (.gitkeep) and README files describe a corpus directory; they are no inputs.
bool is_input(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.starts_with('.') && !name.starts_with("README");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg = argv[i];
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      for (const auto& entry : fs::directory_iterator(arg)) {
        if (entry.is_regular_file() && is_input(entry.path())) inputs.push_back(entry.path());
      }
    } else if (fs::is_regular_file(arg, ec)) {
      inputs.push_back(arg);
    } else {
      // A missing directory is a broken CMake call, not an empty corpus: say so.
      std::fprintf(stderr, "fuzz replay: %s: no such file or directory\n", argv[i]);
      return 2;
    }
  }
  std::sort(inputs.begin(), inputs.end());
  for (const fs::path& p : inputs) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "fuzz replay: cannot read %s\n", p.c_str());
      return 2;
    }
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "fuzz replay: %s (%zu bytes)\n", p.c_str(), bytes.size());
    // A copy of exactly `size` bytes, as libFuzzer passes: reads past the end are caught.
    const std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(data.data(), data.size());
  }
  std::printf("fuzz replay: %zu input(s) passed\n", inputs.size());
  return 0;
}
