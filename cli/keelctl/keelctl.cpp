// keelctl: the user's command line for Keel.  It talks to keeld over its
// local API socket (docs/api.md); see docs/keelctl.md and `keelctl --help`.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli/keelctl/app.h"

int main(int argc, char** argv) {
  using namespace keel;
  const char* no_color = getenv("NO_COLOR");
  const char* socket = getenv("KEEL_SOCKET");
  Env env{std::cout, std::cerr, std::cin};
  env.stdin_tty = isatty(STDIN_FILENO);
  env.stdout_tty = isatty(STDOUT_FILENO);
  env.stderr_tty = isatty(STDERR_FILENO);
  env.no_color = no_color ? no_color : "";
  env.keel_socket = socket ? socket : "";
  env.connect = [](const std::string& path, std::chrono::milliseconds timeout) {
    return std::make_unique<SocketApiClient>(path, timeout);
  };
  return RunKeelctl(std::vector<std::string>(argv + 1, argv + argc), env);
}
