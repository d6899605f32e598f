#include "manager/api/api_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace keel {
namespace {

using nlohmann::json;

// The most keelctl reads of one reply: far above any real one (a volume list
// of thousands), so a broken server cannot make it eat the memory.
constexpr size_t kMaxReplyBytes = 64 << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string Seconds(std::chrono::milliseconds t) {
  auto ms = t.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

const char kMayHaveHappened[] =
    "; the operation may or may not have been done: check with 'keelctl volume list'";

}  // namespace

std::string RequestLine(const std::string& command, const json& args) {
  json req = {{"api", 1}, {"command", command}};
  if (args.is_object() && !args.empty()) req["args"] = args;
  return req.dump() + "\n";
}

Result<json> ParseReply(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  auto bad = [](const std::string& why) {
    return Status::Error(EPROTO, "keeld's reply is not an API reply (" + why +
                                     "); are keelctl and keeld the same version? "
                                     "(keelctl version)");
  };
  if (line.empty()) return bad("it is empty");
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded()) return bad("it is not JSON");
  if (!j.is_object()) return bad("it is not a JSON object");
  auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) return bad("no boolean \"ok\"");
  if (ok->get<bool>()) {
    auto r = j.find("result");
    if (r == j.end() || !r->is_object()) return bad("no \"result\" object");
    return j;
  }
  auto e = j.find("error");
  if (e == j.end() || !e->is_object()) return bad("no \"error\" object");
  auto code = e->find("code");
  if (code == e->end() || !code->is_string()) return bad("the error has no \"code\"");
  auto message = e->find("message");
  if (message != e->end() && !message->is_string()) return bad("the error message is no string");
  return j;
}

Result<json> SocketApiClient::Call(const std::string& command, const json& args) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.empty() || path_.size() >= sizeof(addr.sun_path)) {
    return Status::Error(ENAMETOOLONG, "socket path '" + path_ + "' must be 1-" +
                                           std::to_string(sizeof(addr.sun_path) - 1) +
                                           " bytes long");
  }
  memcpy(addr.sun_path, path_.data(), path_.size());

  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    int e = errno;
    return Status::Error(e, std::string("cannot make a socket: ") + strerror(e));
  }
  // Bounds connect() (a full backlog) and send() (a server that does not read).
  timeval tv{};
  tv.tv_sec = timeout_.count() / 1000;
  tv.tv_usec = (timeout_.count() % 1000) * 1000;
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    std::string why = strerror(e);
    switch (e) {
      case ENOENT:
      case ECONNREFUSED:
      case ENOTDIR:
        return Status::Error(e, "keeld is not running (cannot connect to " + path_ + ": " + why +
                                    "): start it with 'systemctl start keeld', or point "
                                    "--socket / KEEL_SOCKET at its socket");
      case EACCES:
      case EPERM:
        return Status::Error(e, "permission denied connecting to keeld at " + path_ +
                                    ": run keelctl as root (sudo keelctl ...)");
      case EAGAIN:
        return Status::Error(ETIMEDOUT, "keeld at " + path_ +
                                            " did not accept the connection "
                                            "within " +
                                            Seconds(timeout_) +
                                            " (overloaded or hung? see 'journalctl -u keeld')");
      default:
        return Status::Error(e, "cannot connect to keeld at " + path_ + ": " + why);
    }
  }

  std::string request = RequestLine(command, args);
  size_t off = 0;
  while (off < request.size()) {
    ssize_t n = send(fd.get(), request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // keeld may have replied (and closed) already: read it
    off += static_cast<size_t>(n);
  }
  shutdown(fd.get(), SHUT_WR);

  std::string reply;
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  char buf[8192];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      return Status::Error(ETIMEDOUT, "keeld did not reply within " + Seconds(timeout_) +
                                          " (busy or hung? see 'journalctl -u keeld'; a longer "
                                          "--timeout may help)" +
                                          kMayHaveHappened);
    }
    pollfd p{fd.get(), POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;  // the deadline check above reports it
    if (r < 0) {
      int e = errno;
      return Status::Error(e, std::string("waiting for keeld's reply: ") + strerror(e));
    }
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != ECONNRESET) {
      int e = errno;
      return Status::Error(e, std::string("reading keeld's reply: ") + strerror(e));
    }
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
    if (reply.find('\n') != std::string::npos) break;  // one line is the whole reply
    if (reply.size() > kMaxReplyBytes) {
      return Status::Error(
          EPROTO, "keeld's reply is larger than " + std::to_string(kMaxReplyBytes >> 20) + " MiB");
    }
  }
  if (reply.empty()) {
    return Status::Error(ECONNRESET,
                         "keeld closed the connection without a reply (did it crash? "
                         "see 'journalctl -u keeld')" +
                             std::string(kMayHaveHappened));
  }
  return ParseReply(reply);
}

}  // namespace keel
