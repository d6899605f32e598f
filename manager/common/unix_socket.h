// ListenUnixSocket: the listening side of a root-only local socket (keeld's
// API socket, the Docker plugin's socket).  A live socket at the path
// (another process answers) is an error, a stale one is replaced; the
// socket file is created mode 0600 (no window in which others could
// connect) and listened on.
#pragma once

#include <string>

#include "manager/common/status.h"

namespace keel {

// Returns the listening descriptor (SOCK_CLOEXEC, and SOCK_NONBLOCK if
// `nonblocking`).  ENAMETOOLONG for a path that does not fit sun_path,
// EADDRINUSE when another process serves it.  The umask is changed for the
// bind itself: call it before other threads create files.
Result<int> ListenUnixSocket(const std::string& path, int backlog, bool nonblocking);

}  // namespace keel
