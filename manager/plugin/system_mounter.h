// SystemMounter: the real Mounter.  blkid(8) tells what file system a disk
// holds, mkfs.ext4 / mkfs.xfs make one (no discard pass: a new keel volume
// reads zeroes already), mount(2) and umount2(2) do the rest, and
// /proc/self/mountinfo says what is mounted.
//
// keeld's mounts must be seen by dockerd: keeld runs in the host's mount
// namespace (packaging/keeld.service creates no private one).
#pragma once

#include <string>
#include <vector>

#include "manager/plugin/volume_driver.h"

namespace keel::plugin {

class SystemMounter : public Mounter {
 public:
  Status WaitDevice(const std::string& device, std::chrono::milliseconds timeout) override;
  Result<std::string> Probe(const std::string& device) override;
  Status MakeFilesystem(const std::string& device, const std::string& fstype) override;
  Status MakeDir(const std::string& dir) override;
  Status Mount(const std::string& device, const std::string& dir,
               const std::string& fstype) override;
  Status Unmount(const std::string& dir) override;
  Result<bool> IsMounted(const std::string& dir) override;
};

// Runs `argv` (argv[0] looked up in PATH) and waits for it; its exit
// status, with stdout and stderr together (at most 64 KiB) in `*output`.
Result<int> RunProgram(const std::vector<std::string>& argv, std::string* output);

// The file system type in `blkid -p -o export` output ("" for none);
// EEXIST for a disk that holds a partition table but no file system (it is
// not blank: never formatted over).
Result<std::string> FsTypeFromBlkid(const std::string& device, const std::string& output);

// The mount points in a mountinfo text (its fifth field, \040-style
// escapes decoded).
std::vector<std::string> MountPointsOf(const std::string& mountinfo);

}  // namespace keel::plugin
