// FakeKernelClient: keel.ko's volume rules in memory, for unit tests of the
// logic above KernelClient.  Mirrors docs/netlink.md: lowest free id,
// EEXIST for a taken id or uuid, EBUSY for a backing file in use, ENOENT for
// a missing backing file, EALREADY/ENODEV for attach/detach twice, EBUSY for
// deleting an attached volume or detaching an open one without force.
// fail_next[op] makes the next call of that op fail with the given errno.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "manager/kernel/kernel_client.h"

namespace keel {

class FakeKernelClient : public KernelClient {
 public:
  std::map<uint32_t, VolumeStatus> volumes;
  std::set<uint32_t> open;               // disks held open (mounted)
  std::map<std::string, int> fail_next;  // "create", "attach", ... -> errno
  std::map<std::string, int> calls;
  bool check_backing_exists = true;

  Result<ModuleInfo> GetInfo() override {
    ModuleInfo m;
    m.version = "0.1.0-fake";
    m.api_version = 1;
    m.objects = volumes.size();
    return m;
  }
  Result<VolumeStatus> CreateVolume(const CreateVolumeRequest& req) override {
    if (Status s = Fail("create"); !s.ok()) return s;
    if (req.uuid.IsNil() || req.size == 0) return Status::Error(EINVAL, "bad create");
    struct stat st;
    if (check_backing_exists && stat(req.backing_path.c_str(), &st) != 0) {
      return Status::Error(ENOENT, "backing " + req.backing_path + " does not exist");
    }
    for (const auto& [id, v] : volumes) {
      if (v.uuid == req.uuid) return Status::Error(EEXIST, "uuid in use");
      if (v.backing_path == req.backing_path) return Status::Error(EBUSY, "backing in use");
    }
    uint32_t id = 0;
    if (req.id) {
      if (volumes.count(*req.id)) return Status::Error(EEXIST, "volume id taken");
      id = *req.id;
    } else {
      while (volumes.count(id)) id++;
    }
    VolumeStatus v;
    v.id = id;
    v.uuid = req.uuid;
    v.size = req.size;
    v.block_size = req.block_size ? req.block_size : 512;
    v.backing_path = req.backing_path;
    v.state = KEEL_STATE_DIRECT_IO;
    v.data_offset = 1 << 20;
    volumes[id] = v;
    return v;
  }
  Status DeleteVolume(uint32_t id, bool force) override {
    if (Status s = Fail("delete"); !s.ok()) return s;
    auto it = volumes.find(id);
    if (it == volumes.end()) return Status::Error(ENOENT, "no volume " + std::to_string(id));
    if ((it->second.state & KEEL_STATE_ATTACHED) && !force) {
      return Status::Error(EBUSY, "volume is attached");
    }
    open.erase(id);
    volumes.erase(it);
    return Status();
  }
  Result<VolumeStatus> AttachVolume(uint32_t id) override {
    if (Status s = Fail("attach"); !s.ok()) return s;
    auto it = volumes.find(id);
    if (it == volumes.end()) return Status::Error(ENOENT, "no volume " + std::to_string(id));
    if (it->second.state & KEEL_STATE_ATTACHED) return Status::Error(EALREADY, "attached");
    it->second.state |= KEEL_STATE_ATTACHED;
    it->second.device_name = "keel" + std::to_string(id);
    it->second.major = 252;
    it->second.minor = id;
    return it->second;
  }
  Status DetachVolume(uint32_t id, bool force) override {
    if (Status s = Fail("detach"); !s.ok()) return s;
    auto it = volumes.find(id);
    if (it == volumes.end()) return Status::Error(ENOENT, "no volume " + std::to_string(id));
    if (!(it->second.state & KEEL_STATE_ATTACHED)) return Status::Error(ENODEV, "not attached");
    if (open.count(id) && !force) return Status::Error(EBUSY, "disk is open");
    open.erase(id);
    it->second.state &= ~KEEL_STATE_ATTACHED;
    it->second.device_name.clear();
    it->second.major = it->second.minor = 0;
    return Status();
  }
  Result<VolumeStatus> GetVolume(uint32_t id) override {
    if (Status s = Fail("get"); !s.ok()) return s;
    auto it = volumes.find(id);
    if (it == volumes.end()) return Status::Error(ENOENT, "no volume " + std::to_string(id));
    return it->second;
  }
  Result<std::vector<VolumeStatus>> ListVolumes() override {
    if (Status s = Fail("list"); !s.ok()) return s;
    std::vector<VolumeStatus> out;
    for (const auto& [id, v] : volumes) out.push_back(v);
    return out;
  }

 private:
  Status Fail(const std::string& op) {
    calls[op]++;
    auto it = fail_next.find(op);
    if (it == fail_next.end()) return Status();
    int e = it->second;
    fail_next.erase(it);
    return Status::Error(e, "injected failure of " + op);
  }
};

}  // namespace keel
