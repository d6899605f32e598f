#include "manager/common/unix_socket.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "manager/state/temp_dir.h"

namespace keel {
namespace {

TEST_CASE("unix socket: 0600, a live one kept, a stale one replaced, a long path refused") {
  TempDir dir;
  const std::string path = dir.file("s.sock");
  auto fd = ListenUnixSocket(path, 8, false);
  REQUIRE(fd.ok());
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  auto again = ListenUnixSocket(path, 8, false);
  CHECK(again.status().code() == EADDRINUSE);
  close(*fd);  // the file stays: stale
  auto fresh = ListenUnixSocket(path, 8, true);
  REQUIRE(fresh.ok());
  close(*fresh);
  CHECK(ListenUnixSocket(dir.file(std::string(120, 'x')), 8, false).status().code() ==
        ENAMETOOLONG);
  CHECK(ListenUnixSocket("", 8, false).status().code() == ENAMETOOLONG);
}

}  // namespace
}  // namespace keel
