// PluginServer: Docker's volume plugin socket (/run/docker/plugins/keel.sock
// by default, docs/docker-plugin.md).  HTTP/1.1 over a UNIX socket, one
// request per connection ("Connection: close"), served on threads of its
// own so that a slow mkfs never stalls keeld's main loop; the VolumeDriver
// serializes the volume work.  Only root (or keeld's own user) is served
// (SO_PEERCRED); the socket file is 0600.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "manager/common/status.h"
#include "manager/plugin/http.h"

namespace keel::plugin {

class PluginServer {
 public:
  struct Options {
    std::string path = "/run/docker/plugins/keel.sock";
    std::chrono::milliseconds request_timeout{10000};
    HttpLimits limits;
    uint32_t max_connections = 64;
    uid_t allowed_uid = 0;  // besides root
  };
  struct Reply {
    int status = 200;
    std::string body;  // JSON
  };
  // (path, body) of a POST; called on the server's threads, concurrently.
  using Handler = std::function<Reply(std::string_view path, std::string_view body)>;

  // Binds and listens (creating the socket's directory); a stale socket
  // file is replaced, a live one is an error.  Serving starts with Start().
  static Result<std::unique_ptr<PluginServer>> Listen(Options opts, Handler handler);
  ~PluginServer();  // Stop()s

  void Start();
  // Stops accepting, waits for the requests being served.
  void Stop();

 private:
  PluginServer(Options opts, Handler handler, int listen_fd, int stop_fd)
      : opts_(std::move(opts)),
        handler_(std::move(handler)),
        listen_fd_(listen_fd),
        stop_fd_(stop_fd) {}
  void AcceptLoop();
  void Serve(int fd);
  void ReapFinished();

  Options opts_;
  Handler handler_;
  int listen_fd_;
  int stop_fd_;  // eventfd: Stop() wakes the accept loop
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> active_{0};
  struct Worker {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::mutex mu_;  // guards workers_
  std::list<std::unique_ptr<Worker>> workers_;
};

}  // namespace keel::plugin
