// ApiServer: the local API's UNIX socket (/run/keel/keeld.sock, mode 0600).
//
// Framing: one request per connection.  The client sends one JSON object
// terminated by a newline (or by shutting down its write side); keeld
// answers with one JSON object and a newline, then closes.  A request larger
// than max_request_bytes, or not complete within request_timeout, gets an
// error reply.  Only root (or keeld's own user) may connect (SO_PEERCRED).
//
// One thread, one poll() loop: connections are read and written without
// blocking, requests are handled one at a time in arrival order (volume
// operations are serialized anyway).  Other file descriptors (signals,
// kernel events) join the loop with Watch().
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "manager/common/status.h"

namespace keel {

class ApiServer {
 public:
  struct Options {
    std::string path;
    uint32_t max_request_bytes = 65536;
    std::chrono::milliseconds request_timeout{5000};
    uint32_t max_clients = 1024;
    // Peers with another uid are refused; root is always allowed.
    uid_t allowed_uid = 0;
  };
  // Returns the reply line (without the newline) for one request.
  using Handler = std::function<std::string(std::string_view request)>;

  // Binds and listens.  A stale socket file is replaced; a live one (another
  // keeld answering) is an error.
  static Result<std::unique_ptr<ApiServer>> Listen(const Options& opts, Handler handler);
  ~ApiServer();

  // Calls `cb` from the loop whenever `fd` is readable.
  void Watch(int fd, std::function<void()> cb);
  // Serves until Stop(); `tick` runs about every `interval`.
  void Run(const std::function<void()>& tick, std::chrono::milliseconds interval);
  void Stop() { stop_ = true; }
  size_t connections() const { return conns_.size(); }

 private:
  struct Conn {
    std::string in;
    std::string out;
    size_t written = 0;
    bool replying = false;
    std::chrono::steady_clock::time_point deadline;
  };
  ApiServer(Options opts, Handler handler, int fd)
      : opts_(std::move(opts)), handler_(std::move(handler)), listen_fd_(fd) {}
  void Accept();
  void OnReadable(int fd);
  void OnWritable(int fd);
  void Reply(int fd, std::string line);
  void Close(int fd);

  Options opts_;
  Handler handler_;
  int listen_fd_;
  bool stop_ = false;
  std::chrono::steady_clock::time_point accept_paused_until_{};
  std::map<int, Conn> conns_;
  std::map<int, std::function<void()>> watched_;
};

}  // namespace keel
