#include "manager/plugin/volume_driver.h"

#include <cerrno>
#include <ctime>
#include <string>

#include "manager/common/json_depth.h"
#include "manager/common/size.h"
#include "manager/log/log.h"

namespace keel::plugin {
namespace {

using nlohmann::json;

json Ok() { return json{{"Err", ""}}; }
json Err(const std::string& message) { return json{{"Err", message}}; }

// The options `docker volume create -o KEY=VALUE` may pass.
constexpr const char* kOptions = "size, replicas, fs, block_size, zone_spread";

// RFC 3339 in UTC, as Docker shows CreatedAt.
std::string Rfc3339(int64_t unix_ms) {
  time_t t = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The request's "Name" (required, a string).
Result<std::string> NameOf(const json& req) {
  if (!req.contains("Name")) return Status::Error(EINVAL, "missing field 'Name'");
  if (!req["Name"].is_string()) return Status::Error(EINVAL, "field 'Name' must be a string");
  std::string name = req["Name"].get<std::string>();
  if (name.empty()) return Status::Error(EINVAL, "field 'Name' is empty");
  if (name.find('/') != std::string::npos || name == "." || name == "..") {
    return Status::Error(EINVAL, "volume name '" + name + "' is not valid");
  }
  return name;
}

// The request's "ID" (the container's mount id; required, a string).
Result<std::string> IdOf(const json& req) {
  if (!req.contains("ID")) return Status::Error(EINVAL, "missing field 'ID'");
  if (!req["ID"].is_string() || req["ID"].get<std::string>().empty()) {
    return Status::Error(EINVAL, "field 'ID' must be a non-empty string");
  }
  const std::string id = req["ID"].get<std::string>();
  if (id.size() > 256) return Status::Error(EINVAL, "field 'ID' is longer than 256 characters");
  return id;
}

std::string OptionText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace

bool IsSupportedFilesystem(std::string_view fstype) { return fstype == "ext4" || fstype == "xfs"; }

Result<int> VolumeDriver::Recover() {
  std::lock_guard lock(mu_);
  auto all = refs_->All();
  if (!all.ok()) return all.status();
  int cleared = 0;
  for (const auto& [volume, ids] : *all) {
    auto m = Mounted(volume);
    if (!m.ok()) return m.status();
    if (*m) continue;
    KLOG(kWarning, "docker plugin: volume no longer mounted; its mount ids are dropped",
         {{"volume", volume}, {"ids", std::to_string(ids.size())}});
    Status s = refs_->Clear(volume);
    if (!s.ok()) return s;
    cleared++;
  }
  return cleared;
}

DriverResponse VolumeDriver::Handle(std::string_view path, std::string_view body) {
  json req = json::object();
  if (!body.empty()) {
    if (JsonDepth(body, 8) > 8) return {400, Err("request body nests deeper than 8 levels")};
    req = json::parse(body, nullptr, false);
    if (req.is_discarded()) return {400, Err("request body is not valid JSON")};
    if (req.is_null()) req = json::object();
    if (!req.is_object()) return {400, Err("request body must be a JSON object")};
  }
  if (path == "/Plugin.Activate") return {200, json{{"Implements", {"VolumeDriver"}}}};
  if (path == "/VolumeDriver.Capabilities") {
    return {200, json{{"Capabilities", {{"Scope", options_.cluster ? "global" : "local"}}}}};
  }
  std::lock_guard lock(mu_);
  if (path == "/VolumeDriver.Create") return {200, Create(req)};
  if (path == "/VolumeDriver.Remove") return {200, Remove(req)};
  if (path == "/VolumeDriver.Mount") return {200, Mount(req)};
  if (path == "/VolumeDriver.Unmount") return {200, Unmount(req)};
  if (path == "/VolumeDriver.Path") return {200, Path(req)};
  if (path == "/VolumeDriver.Get") return {200, Get(req)};
  if (path == "/VolumeDriver.List") return {200, List()};
  return {404, Err("unknown endpoint '" + std::string(path.substr(0, 64)) + "'")};
}

json VolumeDriver::Create(const json& req) {
  auto name = NameOf(req);
  if (!name.ok()) return Err(name.status().message());
  json args = {{"name", *name}, {"size", options_.default_size}};
  std::string fs = options_.default_fs;
  if (req.contains("Opts") && !req["Opts"].is_null()) {
    if (!req["Opts"].is_object()) return Err("field 'Opts' must be an object");
    for (const auto& [key, value] : req["Opts"].items()) {
      const std::string v = OptionText(value);
      if (key == "size") {
        auto bytes = ParseSize(v);
        if (!bytes.ok()) return Err("option size: " + bytes.status().message());
        if (*bytes == 0) return Err("option size: must be more than 0");
        args["size"] = *bytes;
      } else if (key == "replicas" || key == "repl") {
        if (v != "1" && v != "2" && v != "3") {
          return Err("option " + key + ": '" + v + "' is not 1, 2 or 3");
        }
        args["replicas"] = std::stoi(v);
      } else if (key == "fs") {
        if (!IsSupportedFilesystem(v)) return Err("option fs: '" + v + "' is not ext4 or xfs");
        fs = v;
      } else if (key == "block_size") {
        if (v != "512" && v != "4096")
          return Err("option block_size: '" + v + "' is not 512 or 4096");
        args["block_size"] = std::stoi(v);
      } else if (key == "zone_spread") {
        if (v != "true" && v != "false") {
          return Err("option zone_spread: '" + v + "' is not true or false");
        }
        args["zone_spread"] = v == "true";
      } else {
        return Err("unknown option '" + key + "' (known: " + kOptions + ")");
      }
    }
  }
  args["labels"] = {{"fs", fs}};
  auto r = api_->Call("volume.create", args);
  if (!r.ok()) {
    // Docker creates a volume it does not know yet, so an existing one is
    // the one it names.
    if (r.status().code() == EEXIST) return Ok();
    return Err(r.status().message());
  }
  KLOG(kInfo, "docker plugin: volume created", {{"volume", *name}, {"fs", fs}});
  return Ok();
}

json VolumeDriver::Remove(const json& req) {
  auto name = NameOf(req);
  if (!name.ok()) return Err(name.status().message());
  auto ids = refs_->Get(*name);
  if (!ids.ok()) return Err(ids.status().message());
  auto mounted = Mounted(*name);
  if (!mounted.ok()) return Err(mounted.status().message());
  if (!ids->empty() || *mounted) {
    return Err("volume '" + *name + "' is in use: mounted for " + std::to_string(ids->size()) +
               " container(s) on this node");
  }
  // Left attached here (a Mount that failed half-way, an operator): detach
  // first; a disk that is open refuses, so nothing in use goes.
  auto here = AttachedHere(*name);
  if (!here.ok()) return Err(here.status().message());
  if (*here) {
    auto d = api_->Call("volume.detach", {{"name", *name}});
    if (!d.ok()) return Err(d.status().message());
  }
  auto r = api_->Call("volume.delete", {{"name", *name}});
  if (!r.ok()) return Err(r.status().message());
  KLOG(kInfo, "docker plugin: volume removed", {{"volume", *name}});
  return Ok();
}

Result<bool> VolumeDriver::AttachedHere(const std::string& name) {
  if (options_.cluster) {
    auto st = api_->Call("volume.status", {{"name", name}});
    if (!st.ok()) return st.status();
    const std::string at = st->value("attached_node", "");
    return !at.empty() && at == options_.node;
  }
  auto v = api_->Call("volume.inspect", {{"name", name}});
  if (!v.ok()) return v.status();
  return v->value("state", "") == "attached";
}

Result<std::string> VolumeDriver::WantedFs(const std::string& name) {
  auto v = api_->Call(options_.cluster ? "volume.status" : "volume.inspect", {{"name", name}});
  if (!v.ok()) return v.status();
  std::string fs = options_.default_fs;
  if (v->contains("labels") && (*v)["labels"].is_object()) {
    const json& labels = (*v)["labels"];
    if (labels.contains("fs") && labels["fs"].is_string()) fs = labels["fs"].get<std::string>();
  }
  if (!IsSupportedFilesystem(fs)) {
    return Status::Error(EINVAL, "volume '" + name + "' asks for file system '" + fs +
                                     "' (label fs): only ext4 and xfs are made");
  }
  return fs;
}

json VolumeDriver::Mount(const json& req) {
  auto name = NameOf(req);
  if (!name.ok()) return Err(name.status().message());
  auto id = IdOf(req);
  if (!id.ok()) return Err(id.status().message());
  const std::string dir = MountPoint(*name);
  auto mounted = Mounted(*name);
  if (!mounted.ok()) return Err(mounted.status().message());
  if (*mounted) {
    // Another container on this node has it: share the mount.
    Status s = refs_->Add(*name, *id);
    if (!s.ok()) return Err(s.message());
    return json{{"Mountpoint", dir}, {"Err", ""}};
  }

  auto was_attached = AttachedHere(*name);
  if (!was_attached.ok()) return Err(was_attached.status().message());
  auto attached = api_->Call("volume.attach", {{"name", *name}});
  if (!attached.ok()) return Err(attached.status().message());
  const std::string device = attached->value("device", "");
  // Whatever fails from here on leaves the volume as it found it.
  auto undo = [&](const std::string& why) {
    if (!*was_attached) {
      auto d = api_->Call("volume.detach", {{"name", *name}});
      if (!d.ok()) {
        KLOG(kError, "docker plugin: detach after a failed mount failed",
             {{"volume", *name}, {"error", d.status().ToString()}});
      }
    }
    KLOG(kError, "docker plugin: mount failed", {{"volume", *name}, {"error", why}});
    return Err(why);
  };
  if (device.empty()) return undo("keeld's attach of '" + *name + "' named no device");
  Status s = mounter_->WaitDevice(device, options_.device_timeout);
  if (!s.ok()) return undo(s.message());
  auto found = mounter_->Probe(device);
  if (!found.ok()) return undo(found.status().message());
  std::string fstype = *found;
  if (fstype.empty()) {
    auto wanted = WantedFs(*name);
    if (!wanted.ok()) return undo(wanted.status().message());
    s = mounter_->MakeFilesystem(device, *wanted);
    if (!s.ok()) return undo(s.message());
    fstype = *wanted;
    KLOG(kInfo, "docker plugin: file system made",
         {{"volume", *name}, {"device", device}, {"fs", fstype}});
  }
  s = mounter_->MakeDir(dir);
  if (!s.ok()) return undo(s.message());
  s = mounter_->Mount(device, dir, fstype);
  if (!s.ok()) return undo(s.message());
  s = refs_->Add(*name, *id);
  if (!s.ok()) {
    Status u = mounter_->Unmount(dir);
    (void)u;
    return undo(s.message());
  }
  KLOG(kInfo, "docker plugin: volume mounted",
       {{"volume", *name}, {"device", device}, {"mountpoint", dir}, {"id", *id}});
  return json{{"Mountpoint", dir}, {"Err", ""}};
}

json VolumeDriver::Unmount(const json& req) {
  auto name = NameOf(req);
  if (!name.ok()) return Err(name.status().message());
  auto id = IdOf(req);
  if (!id.ok()) return Err(id.status().message());
  auto ids = refs_->Get(*name);
  if (!ids.ok()) return Err(ids.status().message());
  if (!ids->contains(*id)) {
    return Err("volume '" + *name + "' is not mounted for '" + *id + "' on this node");
  }
  if (ids->size() > 1) {
    Status s = refs_->Remove(*name, *id);
    return s.ok() ? Ok() : Err(s.message());
  }
  // The last user: unmount and detach.
  auto mounted = Mounted(*name);
  if (!mounted.ok()) return Err(mounted.status().message());
  if (*mounted) {
    Status s = mounter_->Unmount(MountPoint(*name));
    if (!s.ok()) return Err(s.message());  // busy: the id stays, Docker may retry
  }
  Status s = refs_->Remove(*name, *id);
  if (!s.ok()) return Err(s.message());
  // Not attached here any more (fenced: attached on another node after this
  // one was cut off, or deleted): nothing to detach.
  auto here = AttachedHere(*name);
  if (!here.ok() && here.status().code() != ENOENT) {
    return Err("unmounted, but the volume's state is unknown: " + here.status().message());
  }
  if (here.ok() && *here) {
    auto d = api_->Call("volume.detach", {{"name", *name}});
    if (!d.ok() && d.status().code() != ENOENT) {
      return Err("unmounted, but the detach failed: " + d.status().message());
    }
  }
  KLOG(kInfo, "docker plugin: volume unmounted and detached", {{"volume", *name}, {"id", *id}});
  return Ok();
}

json VolumeDriver::Path(const json& req) {
  auto name = NameOf(req);
  if (!name.ok()) return Err(name.status().message());
  auto mounted = Mounted(*name);
  if (!mounted.ok()) return Err(mounted.status().message());
  return json{{"Mountpoint", *mounted ? MountPoint(*name) : ""}, {"Err", ""}};
}

json VolumeDriver::Get(const json& req) {
  auto name = NameOf(req);
  if (!name.ok()) return Err(name.status().message());
  auto v = api_->Call(options_.cluster ? "volume.status" : "volume.inspect", {{"name", *name}});
  if (!v.ok()) return Err(v.status().message());
  auto mounted = Mounted(*name);
  if (!mounted.ok()) return Err(mounted.status().message());
  json status = {{"size", v->value("size", uint64_t{0})},
                 {"uuid", v->value("uuid", "")},
                 {"state", v->value("state", "")}};
  int64_t created = 0;
  if (options_.cluster) {
    status["attached_node"] = v->value("attached_node", "");
    status["epoch"] = v->value("epoch", uint64_t{0});
    status["in_sync"] = v->value("in_sync", json::array());
    json nodes = json::array();
    if (v->contains("replica_set") && (*v)["replica_set"].is_array()) {
      for (const json& r : (*v)["replica_set"]) nodes.push_back(r.value("node", ""));
    }
    status["replicas"] = nodes;
    created = v->value("created_ms", int64_t{0});
  } else {
    status["device"] = (*v)["device"].is_string() ? (*v)["device"] : json("");
    created = v->value("created_at_ms", int64_t{0});
  }
  if (v->contains("labels") && (*v)["labels"].is_object() && (*v)["labels"].contains("fs")) {
    status["fs"] = (*v)["labels"]["fs"];
  }
  json vol = {
      {"Name", *name}, {"Mountpoint", *mounted ? MountPoint(*name) : ""}, {"Status", status}};
  if (created > 0) vol["CreatedAt"] = Rfc3339(created);
  return json{{"Volume", vol}, {"Err", ""}};
}

json VolumeDriver::List() {
  auto r = api_->Call(options_.cluster ? "cluster.volumes" : "volume.list", json::object());
  if (!r.ok()) return Err(r.status().message());
  json out = json::array();
  if (r->contains("volumes") && (*r)["volumes"].is_array()) {
    for (const json& v : (*r)["volumes"]) {
      if (!v.contains("name") || !v["name"].is_string()) continue;
      const std::string name = v["name"].get<std::string>();
      auto mounted = Mounted(name);
      out.push_back(
          {{"Name", name}, {"Mountpoint", mounted.ok() && *mounted ? MountPoint(name) : ""}});
    }
  }
  return json{{"Volumes", out}, {"Err", ""}};
}

}  // namespace keel::plugin
