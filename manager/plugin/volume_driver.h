// VolumeDriver: Docker's volume plugin protocol (docs/docker-plugin.md) on
// top of keeld's own API.  Each request is a path (/VolumeDriver.Mount) and
// a JSON body; the answer is a JSON body with "Err" empty or saying what
// went wrong.  Docker, Swarm and DC/OS (dvdcli) all speak it.
//
//   Create   volume.create (size, replicas, fs, block_size, zone_spread
//            from the options); an existing volume is not an error
//   Mount    first mount ID on this node: volume.attach here (in cluster
//            mode a failover attach when the old node is down), a file
//            system made if the disk has none, mounted on
//            <mount_root>/<name>; later IDs share that mount
//   Unmount  last mount ID gone: unmounted, volume.detach
//   Remove   refused while mounted here; volume.delete
//   Path/Get/List/Capabilities as the protocol says ("global" scope in
//            cluster mode: every node sees every volume)
//
// Everything outside (keeld's API, mount and mkfs, the mount IDs kept on
// disk) sits behind the interfaces below; mount IDs survive a keeld restart
// (rule 8).  Requests are handled one at a time (a mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "manager/common/status.h"

namespace keel::plugin {

// keeld's local API (docs/api.md), one command at a time.
class KeelApi {
 public:
  virtual ~KeelApi() = default;
  // The reply's `result`, or a Status whose message is keeld's and whose
  // code is the errno of the API's error code (not_found: ENOENT,
  // already_exists: EEXIST, busy: EBUSY, try_again: EAGAIN,
  // insufficient_capacity: ENOSPC, invalid_argument and the request
  // errors: EINVAL, permission_denied: EPERM, anything else: EIO).
  virtual Result<nlohmann::json> Call(const std::string& command, const nlohmann::json& args) = 0;
};

// File systems and mounts on this node.
class Mounter {
 public:
  virtual ~Mounter() = default;
  // Waits (up to `timeout`) for the block device node to exist.
  virtual Status WaitDevice(const std::string& device, std::chrono::milliseconds timeout) = 0;
  // The file system type found on `device` ("ext4", "xfs"), "" for none.
  virtual Result<std::string> Probe(const std::string& device) = 0;
  virtual Status MakeFilesystem(const std::string& device, const std::string& fstype) = 0;
  virtual Status MakeDir(const std::string& dir) = 0;
  virtual Status Mount(const std::string& device, const std::string& dir,
                       const std::string& fstype) = 0;
  virtual Status Unmount(const std::string& dir) = 0;
  // Whether `dir` is a mount point now.
  virtual Result<bool> IsMounted(const std::string& dir) = 0;
};

// The Docker mount IDs of each volume on this node, kept on disk.
class MountRefs {
 public:
  virtual ~MountRefs() = default;
  virtual Result<std::set<std::string>> Get(const std::string& volume) = 0;
  virtual Result<std::map<std::string, std::set<std::string>>> All() = 0;
  virtual Status Add(const std::string& volume, const std::string& id) = 0;
  virtual Status Remove(const std::string& volume, const std::string& id) = 0;
  virtual Status Clear(const std::string& volume) = 0;
};

struct DriverOptions {
  std::string mount_root = "/var/lib/keel/mounts";
  uint64_t default_size = 10ull << 30;
  std::string default_fs = "ext4";
  // Cluster mode: volumes are cluster-wide ("global" scope).
  bool cluster = false;
  std::chrono::milliseconds device_timeout{10000};
  // This node's name (cluster mode: is the volume attached here?).
  std::string node;
};

struct DriverResponse {
  int http_status = 200;
  nlohmann::json body;
};

// The file systems Mount can make.
bool IsSupportedFilesystem(std::string_view fstype);

class VolumeDriver {
 public:
  VolumeDriver(DriverOptions options, KeelApi* api, Mounter* mounter, MountRefs* refs)
      : options_(std::move(options)), api_(api), mounter_(mounter), refs_(refs) {}

  // After a restart: mount IDs of volumes that are no longer mounted (the
  // node rebooted) are dropped, so their next Unmount detaches them.
  // Returns how many volumes were cleared.
  Result<int> Recover();

  // One request: `path` as Docker sent it ("/VolumeDriver.Create"), `body`
  // the request's JSON text (may be empty for /Plugin.Activate).
  DriverResponse Handle(std::string_view path, std::string_view body);

  std::string MountPoint(const std::string& name) const { return options_.mount_root + "/" + name; }

 private:
  nlohmann::json Create(const nlohmann::json& req);
  nlohmann::json Remove(const nlohmann::json& req);
  nlohmann::json Mount(const nlohmann::json& req);
  nlohmann::json Unmount(const nlohmann::json& req);
  nlohmann::json Path(const nlohmann::json& req);
  nlohmann::json Get(const nlohmann::json& req);
  nlohmann::json List();

  // This node has the volume attached (keeld's view).
  Result<bool> AttachedHere(const std::string& name);
  // The label "fs" of the volume, or the default.
  Result<std::string> WantedFs(const std::string& name);
  Result<bool> Mounted(const std::string& name) { return mounter_->IsMounted(MountPoint(name)); }

  DriverOptions options_;
  KeelApi* api_;
  Mounter* mounter_;
  MountRefs* refs_;
  std::mutex mu_;  // one request at a time: mounts and refs change together
};

}  // namespace keel::plugin
