// Tests of NetlinkKernelClient that run on a build machine, where keel.ko is
// not loaded: they talk to the real generic-netlink controller.  The
// round-trip with the module itself is tests/vm/basic/keelsetup-info.sh.
#include "manager/kernel/netlink_client.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <fstream>
#include <string>

namespace keel {

static bool KeelLoaded() {
  std::ifstream f("/proc/modules");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("keel ", 0) == 0) return true;
  return false;
}

TEST_CASE("Connect without the module says how to load it") {
  if (KeelLoaded()) return;  // covered by the VM suite instead
  auto c = NetlinkKernelClient::Connect(std::chrono::milliseconds(500));
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == ENOENT);
  CHECK(c.status().message().find("modprobe keel") != std::string::npos);
}

}  // namespace keel
