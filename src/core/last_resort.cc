#include "core/last_resort.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <new>

namespace speedlayer {
namespace {

std::atomic<const char*> g_command{"speedlayer"};

[[noreturn]] void report_and_exit(const char* what) {
  std::fprintf(stderr,
               "%s: internal error: %s (this is a bug in speedlayer; please report it with the "
               "command line)\n",
               g_command.load(), what);
  std::fflush(nullptr);
  // Not exit(): other threads may still run, and static destructors under them could hang.
  _exit(1);
}

[[noreturn]] void on_terminate() {
  if (auto current = std::current_exception()) exit_for_exception(current);
  report_and_exit("terminated without an exception");
}

}  // namespace

void install_last_resort_handler() {
  std::set_terminate(on_terminate);
}

void set_last_resort_command(const char* command) {
  g_command.store(command);
}

void exit_for_exception(std::exception_ptr exception) {
  try {
    std::rethrow_exception(std::move(exception));
  } catch (const std::bad_alloc&) {
    report_and_exit("out of memory (raise the container's memory limit or lower the budget)");
  } catch (const std::exception& e) {
    report_and_exit(e.what());
  } catch (...) {
    report_and_exit("an exception of unknown type");
  }
}

}  // namespace speedlayer
