#include "manager/plugin/system_mounter.h"

#include <doctest/doctest.h>

#include "manager/state/temp_dir.h"

namespace keel::plugin {
namespace {

TEST_CASE("system mounter: mount points from mountinfo, escapes decoded") {
  const std::string text =
      "22 1 0:21 / / rw,relatime - 9p hostroot rw\n"
      "35 22 254:0 / /var/lib/keel/mounts/db rw,noatime shared:1 - ext4 /dev/keel0 rw\n"
      "36 22 254:16 / /mnt/with\\040space rw - xfs /dev/keel1 rw\n"
      "short line\n";
  auto points = MountPointsOf(text);
  CHECK(points == std::vector<std::string>{"/", "/var/lib/keel/mounts/db", "/mnt/with space"});
}

TEST_CASE("system mounter: blkid's answer; a partition table is never formatted over") {
  CHECK(*FsTypeFromBlkid("/dev/keel0",
                         "DEVNAME=/dev/keel0\nUUID=ab\nBLOCK_SIZE=4096\nTYPE=xfs\n") == "xfs");
  CHECK(FsTypeFromBlkid("/dev/keel0", "")->empty());
  auto pt = FsTypeFromBlkid("/dev/keel0", "DEVNAME=/dev/keel0\nPTUUID=1\nPTTYPE=gpt\n");
  CHECK(pt.status().code() == EEXIST);
  CHECK(pt.status().message() ==
        "/dev/keel0 holds a partition table (gpt) and no file system: not formatting it");
}

TEST_CASE("system mounter: programs run with their exit status and output") {
  std::string out;
  auto rc = RunProgram({"sh", "-c", "echo hello; echo oops >&2; exit 3"}, &out);
  REQUIRE(rc.ok());
  CHECK(*rc == 3);
  CHECK(out == "hello\noops\n");
  rc = RunProgram({"keel-no-such-program"}, &out);
  CHECK(!rc.ok());
}

TEST_CASE("system mounter: what is mounted, a missing device, a plain directory") {
  SystemMounter m;
  CHECK(*m.IsMounted("/proc"));
  TempDir dir;
  CHECK(!*m.IsMounted(dir.path()));
  CHECK(m.MakeDir(dir.file("a/b")).ok());
  CHECK(!*m.IsMounted(dir.file("a/b")));
  Status s = m.WaitDevice(dir.file("a"), std::chrono::milliseconds(100));  // a directory
  CHECK(s.code() == ETIMEDOUT);
  CHECK(m.MakeFilesystem("/dev/null", "btrfs").code() == EINVAL);
  CHECK(m.Unmount(dir.file("a/b")).ok());  // not mounted: nothing to do
}

}  // namespace
}  // namespace keel::plugin
