// Fakes of the plugin's outside world, for its tests and its fuzz target:
// FakeApi answers keeld's commands from handlers the test sets (and logs
// every call), FakeMounter keeps devices, file systems and mounts in
// memory, MemoryMountRefs keeps mount IDs in a map.  Each can be told to
// fail a step.
#pragma once

#include <cerrno>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "manager/plugin/volume_driver.h"

namespace keel::plugin {

class FakeApi : public KeelApi {
 public:
  using Fn = std::function<Result<nlohmann::json>(const nlohmann::json& args)>;
  Result<nlohmann::json> Call(const std::string& command, const nlohmann::json& args) override {
    calls.push_back(command + " " + args.dump());
    auto it = handlers.find(command);
    if (it == handlers.end()) return Status::Error(EINVAL, "unknown command " + command);
    return it->second(args);
  }
  // The commands that change something, in order: every call but the
  // look-ups (node.info, volume.inspect, volume.status).
  std::vector<std::string> Changes() const {
    std::vector<std::string> out;
    for (const auto& c : calls) {
      if (c.starts_with("node.info") || c.starts_with("volume.inspect") ||
          c.starts_with("volume.status")) {
        continue;
      }
      out.push_back(c);
    }
    return out;
  }
  std::map<std::string, Fn> handlers;
  std::vector<std::string> calls;
};

class FakeMounter : public Mounter {
 public:
  Status WaitDevice(const std::string& device, std::chrono::milliseconds) override {
    if (!devices.contains(device)) return Status::Error(ETIMEDOUT, "device " + device + " absent");
    return Status();
  }
  Result<std::string> Probe(const std::string& device) override {
    if (fail_probe) return Status::Error(EIO, "blkid failed");
    auto it = fs.find(device);
    return it == fs.end() ? std::string() : it->second;
  }
  Status MakeFilesystem(const std::string& device, const std::string& fstype) override {
    if (fail_mkfs) return Status::Error(EIO, "mkfs failed");
    mkfs_calls.push_back(device + " " + fstype);
    fs[device] = fstype;
    return Status();
  }
  Status MakeDir(const std::string& dir) override {
    dirs.insert(dir);
    return Status();
  }
  Status Mount(const std::string& device, const std::string& dir,
               const std::string& fstype) override {
    if (fail_mount) return Status::Error(EINVAL, "mount failed");
    if (!dirs.contains(dir)) return Status::Error(ENOENT, dir + " does not exist");
    mounts[dir] = device + " " + fstype;
    return Status();
  }
  Status Unmount(const std::string& dir) override {
    if (busy.contains(dir)) return Status::Error(EBUSY, "unmount " + dir + ": busy");
    mounts.erase(dir);
    return Status();
  }
  Result<bool> IsMounted(const std::string& dir) override { return mounts.contains(dir); }

  std::set<std::string> devices;
  std::map<std::string, std::string> fs;      // device -> type
  std::map<std::string, std::string> mounts;  // dir -> "device type"
  std::set<std::string> dirs;
  std::set<std::string> busy;
  std::vector<std::string> mkfs_calls;
  bool fail_probe = false, fail_mkfs = false, fail_mount = false;
};

class MemoryMountRefs : public MountRefs {
 public:
  Result<std::set<std::string>> Get(const std::string& volume) override {
    auto it = refs.find(volume);
    return it == refs.end() ? std::set<std::string>() : it->second;
  }
  Result<std::map<std::string, std::set<std::string>>> All() override { return refs; }
  Status Add(const std::string& volume, const std::string& id) override {
    refs[volume].insert(id);
    return Status();
  }
  Status Remove(const std::string& volume, const std::string& id) override {
    refs[volume].erase(id);
    if (refs[volume].empty()) refs.erase(volume);
    return Status();
  }
  Status Clear(const std::string& volume) override {
    refs.erase(volume);
    return Status();
  }
  std::map<std::string, std::set<std::string>> refs;
};

}  // namespace keel::plugin
