// keel-api: send one request to keeld's local API and print the reply.
//
//   keel-api [-s SOCKET] '{"api":1,"command":"volume.list"}'
//   keel-api [-s SOCKET] volume.create name=db size=64M labels.zone=a
//   echo '{...}' | keel-api -s SOCKET -
//   keel-api --raw 'bytes' : sent verbatim (no newline added), for tests of
//                            bad input
//
// In the key=value form, true/false become booleans, digits numbers and
// labels.K=V goes into the labels object.  Exit status: 0 if the reply says
// ok, 1 if it is an error, 2 if there was no reply.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstring>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"keel-api: one request to keeld's local API (docs/api.md)"};
  std::string socket_path = "/run/keel/keeld.sock";
  std::vector<std::string> words;
  bool raw = false;
  int timeout_s = 60;
  app.add_option("-s,--socket", socket_path, "keeld's API socket");
  app.add_option("-t,--timeout", timeout_s, "seconds to wait for the reply");
  app.add_flag("--raw", raw, "send the argument verbatim, without a newline");
  // The request words are taken verbatim (an option would let CLI11 split
  // "[1,2]" into a list).
  app.allow_extras();
  app.footer("request: JSON, '-' for stdin, or COMMAND key=value...");
  CLI11_PARSE(app, argc, argv);
  words = app.remaining();

  std::string request;
  if (words.empty() || words[0] == "-") {
    request.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else if (raw || words[0].empty() || words[0][0] == '{' || words[0][0] == '[') {
    request = words[0];
  } else {
    nlohmann::json j = {{"api", 1}, {"command", words[0]}};
    nlohmann::json args = nlohmann::json::object();
    for (size_t i = 1; i < words.size(); i++) {
      auto eq = words[i].find('=');
      if (eq == std::string::npos) {
        std::cerr << "keel-api: argument '" << words[i] << "' is not key=value\n";
        return 2;
      }
      std::string k = words[i].substr(0, eq), v = words[i].substr(eq + 1);
      nlohmann::json value = v;
      if (v == "true" || v == "false") {
        value = v == "true";
      } else if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos &&
                 v.size() < 19) {
        value = std::stoull(v);
      }
      if (k.rfind("labels.", 0) == 0) {
        args["labels"][k.substr(7)] = v;
      } else {
        args[k] = value;
      }
    }
    if (!args.empty()) j["args"] = args;
    request = j.dump();
  }
  if (!raw && (request.empty() || request.back() != '\n')) request.push_back('\n');

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    std::cerr << "keel-api: socket path too long\n";
    return 2;
  }
  memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::cerr << "keel-api: cannot connect to " << socket_path << ": " << strerror(errno)
              << " (is keeld running?)\n";
    return 2;
  }
  size_t off = 0;
  while (off < request.size()) {
    ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n < 0) break;  // keeld may have answered (request too large) already
    off += static_cast<size_t>(n);
  }
  if (!raw) shutdown(fd, SHUT_WR);
  std::string reply;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) {
      std::cerr << "keel-api: no reply within " << timeout_s << " s\n";
      return 2;
    }
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (reply.empty()) {
    std::cerr << "keel-api: keeld closed the connection without a reply\n";
    return 2;
  }
  std::cout << reply;
  if (reply.back() != '\n') std::cout << "\n";
  auto j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    std::cerr << "keel-api: the reply is not a JSON object\n";
    return 2;
  }
  return j.value("ok", false) ? 0 : 1;
}
