#include "manager/api/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "manager/api/request.h"
#include "manager/common/unix_socket.h"
#include "manager/log/log.h"

namespace keel {

Result<std::unique_ptr<ApiServer>> ApiServer::Listen(const Options& opts, Handler handler) {
  auto fd = ListenUnixSocket(opts.path, 4096, /*nonblocking=*/true);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<ApiServer>(new ApiServer(opts, std::move(handler), *fd));
}

ApiServer::~ApiServer() {
  for (auto& [fd, c] : conns_) close(fd);
  close(listen_fd_);
  unlink(opts_.path.c_str());
}

void ApiServer::Watch(int fd, std::function<void()> cb) { watched_[fd] = std::move(cb); }

void ApiServer::Close(int fd) {
  close(fd);
  conns_.erase(fd);
}

void ApiServer::Accept() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: let clients wait in the backlog a moment.
        KLOG(kWarning, "cannot accept API connection", {{"error", strerror(errno)}});
        accept_paused_until_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
      }
      return;
    }
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        (cred.uid != 0 && cred.uid != opts_.allowed_uid)) {
      conns_[fd].deadline = std::chrono::steady_clock::now() + opts_.request_timeout;
      Reply(fd,
            ErrorReply({api_error::kPermissionDenied, "the keeld API is for root only", EPERM}));
      continue;
    }
    Conn& c = conns_[fd];
    c.deadline = std::chrono::steady_clock::now() + opts_.request_timeout;
    if (conns_.size() > opts_.max_clients) {
      Reply(fd, ErrorReply({api_error::kServerBusy,
                            "keeld is serving " + std::to_string(opts_.max_clients) +
                                " clients already: try again",
                            EAGAIN}));
    }
  }
}

void ApiServer::Reply(int fd, std::string line) {
  Conn& c = conns_[fd];
  c.replying = true;
  c.out = std::move(line);
  c.out.push_back('\n');
  c.written = 0;
  c.deadline = std::chrono::steady_clock::now() + opts_.request_timeout;
  OnWritable(fd);
}

void ApiServer::OnReadable(int fd) {
  Conn& c = conns_[fd];
  char buf[16384];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      Close(fd);
      return;
    }
    if (n == 0) {
      // End of the request (or a client that gave up).
      if (c.in.find_first_not_of(" \t\r\n") == std::string::npos) {
        Close(fd);
        return;
      }
      break;
    }
    size_t scan_from = c.in.size();
    c.in.append(buf, static_cast<size_t>(n));
    size_t nl = c.in.find('\n', scan_from);
    if (nl != std::string::npos) {
      c.in.resize(nl);
      break;
    }
    if (c.in.size() > opts_.max_request_bytes) {
      Reply(fd, ErrorReply(
                    {api_error::kRequestTooLarge,
                     "request is larger than " + std::to_string(opts_.max_request_bytes) + " bytes",
                     EMSGSIZE}));
      return;
    }
  }
  if (c.in.size() > opts_.max_request_bytes) {
    Reply(fd, ErrorReply(
                  {api_error::kRequestTooLarge,
                   "request is larger than " + std::to_string(opts_.max_request_bytes) + " bytes",
                   EMSGSIZE}));
    return;
  }
  std::string request = std::move(c.in);
  Reply(fd, handler_(request));
}

void ApiServer::OnWritable(int fd) {
  Conn& c = conns_[fd];
  while (c.written < c.out.size()) {
    ssize_t n = send(fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      Close(fd);
      return;
    }
    c.written += static_cast<size_t>(n);
  }
  // Discard what the client sent and we did not read (a busy or too-large
  // reply): closing over unread data would reset the connection and the
  // client could lose the reply.  Bounded; the socket is non-blocking.
  char sink[16384];
  for (int i = 0; i < 64 && recv(fd, sink, sizeof(sink), 0) > 0; i++) {
  }
  Close(fd);
}

void ApiServer::Run(const std::function<void()>& tick, std::chrono::milliseconds interval) {
  auto next_tick = std::chrono::steady_clock::now() + interval;
  std::vector<pollfd> fds;
  while (!stop_) {
    auto now = std::chrono::steady_clock::now();
    // Connections past their deadline.
    std::vector<int> expired;
    for (auto& [fd, c] : conns_) {
      if (now >= c.deadline) expired.push_back(fd);
    }
    for (int fd : expired) {
      if (!conns_[fd].replying) {
        // What the client sent while this loop was busy elsewhere counts:
        // read it before calling the client slow (and closing a socket
        // with unread data would reset the client's connection).
        OnReadable(fd);
        auto it = conns_.find(fd);
        if (it == conns_.end() || it->second.replying) continue;
      }
      Conn& c = conns_[fd];
      if (c.replying) {
        Close(fd);  // the client does not read its reply
      } else {
        Reply(fd, ErrorReply({api_error::kTimeout,
                              "no complete request within " +
                                  std::to_string(opts_.request_timeout.count()) +
                                  " ms (end the request with a newline)",
                              ETIMEDOUT}));
      }
    }
    if (now >= next_tick) {
      if (tick) tick();
      next_tick = std::chrono::steady_clock::now() + interval;
    }
    if (stop_) break;
    fds.clear();
    bool accepting = now >= accept_paused_until_;
    fds.push_back({listen_fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
    for (auto& [fd, cb] : watched_) fds.push_back({fd, POLLIN, 0});
    auto wake = next_tick;
    if (!accepting && accept_paused_until_ < wake) wake = accept_paused_until_;
    for (auto& [fd, c] : conns_) {
      fds.push_back({fd, static_cast<short>(c.replying ? POLLOUT : POLLIN), 0});
      if (c.deadline < wake) wake = c.deadline;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  wake - std::chrono::steady_clock::now())
                  .count();
    int rc = poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, ms) + 1));
    if (rc < 0) {
      if (errno == EINTR) continue;
      KLOG(kError, "poll failed", {{"error", strerror(errno)}});
      continue;
    }
    for (const pollfd& p : fds) {
      if (!p.revents) continue;
      if (p.fd == listen_fd_) {
        Accept();
      } else if (auto w = watched_.find(p.fd); w != watched_.end()) {
        w->second();
      } else if (auto it = conns_.find(p.fd); it != conns_.end()) {
        if (it->second.replying) {
          if (p.revents & (POLLOUT | POLLERR | POLLHUP)) OnWritable(p.fd);
        } else {
          OnReadable(p.fd);
        }
      }
      if (stop_) break;
    }
  }
}

}  // namespace keel
