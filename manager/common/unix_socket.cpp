#include "manager/common/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace keel {
namespace {

Status Errno(int e, const std::string& what) { return Status::Error(e, what + ": " + strerror(e)); }

}  // namespace

Result<int> ListenUnixSocket(const std::string& path, int backlog, bool nonblocking) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::Error(ENAMETOOLONG, "socket path is empty or too long: " + path);
  }
  memcpy(addr.sun_path, path.data(), path.size());
  // Is another process serving there?
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return Errno(errno, "socket");
  bool live = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(probe);
  if (live) {
    return Status::Error(EADDRINUSE,
                         "another process (keeld?) is serving " + path + ": stop it first");
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Errno(errno, "cannot remove stale socket " + path);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return Errno(errno, "socket");
  mode_t old = umask(0177);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int e = errno;
  umask(old);
  if (rc != 0) {
    close(fd);
    return Errno(e, "cannot bind " + path);
  }
  if (chmod(path.c_str(), 0600) != 0 || listen(fd, backlog) != 0) {
    e = errno;
    close(fd);
    unlink(path.c_str());
    return Errno(e, "cannot listen on " + path);
  }
  return fd;
}

}  // namespace keel
