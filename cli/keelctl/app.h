// keelctl's command line: the table of commands, their options and help,
// parsed with CLI11 and run against an ApiClient.  main() (keelctl.cpp) only
// fills in the Env from the process; app_test.cpp runs whole command lines
// against a scripted client.
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "cli/keelctl/commands.h"
#include "manager/api/api_client.h"

namespace keel {

struct Env {
  Env(std::ostream& o, std::ostream& e, std::istream& i) : out(o), err(e), in(i) {}
  std::ostream& out;
  std::ostream& err;
  std::istream& in;
  bool stdin_tty = false;
  bool stdout_tty = false;
  bool stderr_tty = false;  // where --wait shows its progress
  std::string no_color;     // $NO_COLOR: colours are off when it is set and not empty
  std::string keel_socket;  // $KEEL_SOCKET: the default for --socket when not empty
  // Makes the client for --socket and --timeout; called only by commands
  // that talk to keeld, after the command line is checked.
  std::function<std::unique_ptr<ApiClient>(const std::string& socket,
                                           std::chrono::milliseconds timeout)>
      connect;
  // How --wait and --watch pass time.
  Ticker ticker = RealTicker();
};

// Runs keelctl with `args` (without the program name); returns the exit
// status.
int RunKeelctl(const std::vector<std::string>& args, Env& env);

}  // namespace keel
