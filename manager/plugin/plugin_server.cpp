#include "manager/plugin/plugin_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "manager/common/unix_socket.h"
#include "manager/log/log.h"

namespace keel::plugin {
namespace {

constexpr char kContentType[] = "application/vnd.docker.plugins.v1.2+json";

std::string ErrBody(const std::string& message) { return nlohmann::json{{"Err", message}}.dump(); }

void SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace

Result<std::unique_ptr<PluginServer>> PluginServer::Listen(Options opts, Handler handler) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(opts.path).parent_path(), ec);
  if (ec) return Status::Error(ec.value(), "cannot create the directory of " + opts.path);
  auto fd = ListenUnixSocket(opts.path, 128, /*nonblocking=*/true);
  if (!fd.ok()) return fd.status();
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) {
    int e = errno;
    close(*fd);
    unlink(opts.path.c_str());
    return Status::Error(e, "eventfd failed");
  }
  return std::unique_ptr<PluginServer>(
      new PluginServer(std::move(opts), std::move(handler), *fd, efd));
}

PluginServer::~PluginServer() {
  Stop();
  close(listen_fd_);
  close(stop_fd_);
  unlink(opts_.path.c_str());
}

void PluginServer::Start() {
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

void PluginServer::Stop() {
  if (!stopping_.exchange(true)) {
    uint64_t one = 1;
    ssize_t unused = write(stop_fd_, &one, sizeof(one));
    (void)unused;
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::lock_guard lock(mu_);
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  workers_.clear();
}

void PluginServer::ReapFinished() {
  std::lock_guard lock(mu_);
  for (auto it = workers_.begin(); it != workers_.end();) {
    if ((*it)->done) {
      (*it)->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void PluginServer::AcceptLoop() {
  while (!stopping_) {
    pollfd pfd[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int n = poll(pfd, 2, 1000);
    ReapFinished();
    if (n <= 0 || stopping_) continue;
    if (!(pfd[0].revents & POLLIN)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        KLOG(kWarning, "docker plugin: cannot accept", {{"error", strerror(errno)}});
        poll(nullptr, 0, 100);
      }
      continue;
    }
    if (active_ >= opts_.max_connections) {
      SendAll(fd, HttpResponse(503, kContentType, ErrBody("keeld's plugin socket is busy")));
      close(fd);
      continue;
    }
    active_++;
    auto w = std::make_unique<Worker>();
    Worker* raw = w.get();
    std::lock_guard lock(mu_);
    workers_.push_back(std::move(w));
    raw->thread = std::thread([this, fd, raw] {
      Serve(fd);
      active_--;
      raw->done = true;
    });
  }
}

void PluginServer::Serve(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      (cred.uid != 0 && cred.uid != opts_.allowed_uid)) {
    SendAll(fd, HttpResponse(403, kContentType, ErrBody("only root may use keel's plugin socket")));
    close(fd);
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + opts_.request_timeout;
  std::string in;
  HttpParse parsed;
  for (;;) {
    parsed = ParseHttpRequest(in, opts_.limits);
    if (parsed.state != ParseState::kIncomplete) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || stopping_) {
      SendAll(fd, HttpResponse(408, kContentType, ErrBody("request not complete in time")));
      close(fd);
      return;
    }
    pollfd pfd = {fd, POLLIN, 0};
    int n = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 500)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    char buf[8192];
    ssize_t r = recv(fd, buf, sizeof(buf), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {  // closed before a whole request
      close(fd);
      return;
    }
    in.append(buf, static_cast<size_t>(r));
  }
  if (parsed.state == ParseState::kError) {
    KLOG(kDebug, "docker plugin: bad HTTP request", {{"error", parsed.error}});
    SendAll(fd, HttpResponse(parsed.status, kContentType, ErrBody(parsed.error)));
    close(fd);
    return;
  }
  const HttpRequest& req = parsed.request;
  if (req.method != "POST") {
    SendAll(fd, HttpResponse(405, kContentType,
                             ErrBody("method " + req.method.substr(0, 16) + " not allowed: POST")));
    close(fd);
    return;
  }
  std::string_view path = req.target;
  path = path.substr(0, path.find('?'));
  Reply reply = handler_(path, req.body);
  SendAll(fd, HttpResponse(reply.status, kContentType, reply.body));
  close(fd);
}

}  // namespace keel::plugin
