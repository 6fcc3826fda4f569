// The safety net under every command's own error handling: an exception nobody caught, on any
// thread, ends the process with exit 1 and one line naming it, never a bare SIGABRT (exit 134)
// with nlohmann's or yaml-cpp's text and no summary. Each known failure has its own handling
// and test; reaching this is a bug, and the line says so.
//
//   int main(int argc, char** argv) {
//     speedlayer::install_last_resort_handler();          // std::terminate -> exit 1
//     try { ... set_last_resort_command("speedlayer produce"); ... }
//     catch (...) { speedlayer::exit_for_exception(std::current_exception()); }
//   }
//
//   stderr: "speedlayer produce: internal error: <what()> (this is a bug in speedlayer; ...)"
#pragma once

#include <exception>

namespace speedlayer {

void install_last_resort_handler();
// Names the process in the message; `command` must outlive the process (a string literal).
void set_last_resort_command(const char* command);
[[noreturn]] void exit_for_exception(std::exception_ptr exception);

}  // namespace speedlayer
