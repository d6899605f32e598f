#include "cli/keelsetup/commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <ostream>

#include "cli/keelsetup/format.h"
#include "manager/common/size.h"

namespace keel {
namespace {

void PrintJson(const Output& o, const nlohmann::json& j) { o.out << j.dump(2) << "\n"; }

// Creates `path` if it does not exist, never touching an existing file.
// Sets *created when this call made it.
Status CreateBackingFile(const std::string& path, bool* created) {
  *created = false;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status();
    int e = errno;
    return Status::Error(e, "cannot create backing file " + path + ": " + strerror(e));
  }
  close(fd);
  *created = true;
  return Status();
}

}  // namespace

int Fail(const Output& o, const Status& s, int exit_code) {
  if (o.json) PrintJson(o, ErrorJson(s));
  o.err << "keelsetup: " << s.ToString() << "\n";
  return exit_code;
}

Result<CreateVolumeRequest> ParseCreateArgs(const CreateArgs& args, const std::string& cwd) {
  CreateVolumeRequest req;
  if (args.backing.empty()) return Status::Error(EINVAL, "--backing needs a path");
  std::filesystem::path backing(args.backing);
  if (backing.is_relative()) backing = std::filesystem::path(cwd) / backing;
  req.backing_path = backing.lexically_normal().string();

  auto size = ParseSize(args.size);
  if (!size.ok()) return size.status();
  if (*size == 0) return Status::Error(EINVAL, "invalid size '" + args.size + "': must not be 0");
  req.size = *size;

  if (args.uuid == "random") {
    auto u = Uuid::Random();
    if (!u.ok()) return u.status();
    req.uuid = *u;
  } else {
    auto u = Uuid::Parse(args.uuid);
    if (!u.ok()) return u.status();
    if (u->IsNil()) return Status::Error(EINVAL, "the nil UUID cannot name a volume");
    req.uuid = *u;
  }
  if (args.block_size != 0 && args.block_size != 512 && args.block_size != 4096)
    return Status::Error(EINVAL, "--block-size must be 512 or 4096");
  req.block_size = args.block_size;
  if (args.id && *args.id >= KEEL_MAX_VOLUMES)
    return Status::Error(EINVAL, "--id must be below " + std::to_string(KEEL_MAX_VOLUMES));
  req.id = args.id;
  req.force_format = args.force_format;
  return req;
}

int RunInfo(KernelClient& k, const Output& o) {
  auto info = k.GetInfo();
  if (!info.ok()) return Fail(o, info.status());
  if (o.json) {
    PrintJson(o, InfoJson(*info));
  } else {
    o.out << InfoText(*info);
  }
  return kExitOk;
}

int RunCreate(KernelClient& k, const CreateVolumeRequest& req, bool create_backing,
              const Output& o) {
  bool created = false;
  if (create_backing) {
    Status s = CreateBackingFile(req.backing_path, &created);
    if (!s.ok()) return Fail(o, s);
  }
  auto v = k.CreateVolume(req);
  if (!v.ok()) {
    if (created) unlink(req.backing_path.c_str());  // leave nothing behind
    return Fail(o, v.status());
  }
  if (o.json) {
    PrintJson(o, VolumeJson(*v));
  } else {
    o.out << "created volume " << v->id << (created ? " (backing file created)" : "") << "\n"
          << VolumeText(*v);
  }
  return kExitOk;
}

int RunDelete(KernelClient& k, uint32_t id, bool force, const Output& o) {
  Status s = k.DeleteVolume(id, force);
  if (!s.ok()) return Fail(o, s);
  if (o.json) {
    PrintJson(o, {{"id", id}, {"deleted", true}});
  } else {
    o.out << "deleted volume " << id << "\n";
  }
  return kExitOk;
}

int RunAttach(KernelClient& k, uint32_t id, const Output& o) {
  auto v = k.AttachVolume(id);
  if (!v.ok()) return Fail(o, v.status());
  if (o.json) {
    PrintJson(o, VolumeJson(*v));
  } else {
    std::string dev = DevicePath(*v);
    o.out << (dev.empty() ? "/dev/keel" + std::to_string(id) : dev) << "\n";
  }
  return kExitOk;
}

int RunDetach(KernelClient& k, uint32_t id, bool force, const Output& o) {
  Status s = k.DetachVolume(id, force);
  if (!s.ok()) return Fail(o, s);
  if (o.json) {
    PrintJson(o, {{"id", id}, {"detached", true}});
  } else {
    o.out << "detached volume " << id << "\n";
  }
  return kExitOk;
}

int RunStatus(KernelClient& k, std::optional<uint32_t> id, const Output& o) {
  if (id) {
    auto v = k.GetVolume(*id);
    if (!v.ok()) return Fail(o, v.status());
    if (o.json) {
      PrintJson(o, VolumeJson(*v));
    } else {
      o.out << VolumeText(*v);
    }
    return kExitOk;
  }
  auto all = k.ListVolumes();
  if (!all.ok()) return Fail(o, all.status());
  if (o.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& v : *all) j.push_back(VolumeJson(v));
    PrintJson(o, j);
  } else if (all->empty()) {
    o.out << "no volumes\n";
  } else {
    o.out << FormatTable(VolumeTable(*all));
  }
  return kExitOk;
}

int RunStats(KernelClient& k, uint32_t id, const Output& o) {
  auto v = k.GetVolume(id);
  if (!v.ok()) return Fail(o, v.status());
  if (o.json) {
    PrintJson(o, StatsReportJson(*v));
  } else {
    o.out << StatsText(*v);
  }
  return kExitOk;
}

int RunEvents(KernelEventSource& events, const EventsArgs& args, const Output& o) {
  using Clock = std::chrono::steady_clock;
  // Without --timeout, wait in long slices forever.
  const auto slice = std::chrono::milliseconds(std::chrono::hours(1));
  std::optional<Clock::time_point> deadline;
  if (args.timeout) deadline = Clock::now() + *args.timeout;
  o.err << "keelsetup: listening for keel events\n" << std::flush;
  uint64_t seen = 0;
  while (!args.count || seen < *args.count) {
    auto wait = slice;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
      if (left.count() <= 0) break;
      wait = std::min(wait, left);
    }
    auto ev = events.Next(wait);
    if (!ev.ok()) {
      if (ev.status().code() == ENOBUFS) {  // lost some; the rest still count
        o.err << "keelsetup: warning: " << ev.status().message() << "\n";
        continue;
      }
      return Fail(o, ev.status());
    }
    if (!*ev) continue;  // the deadline check above decides
    ++seen;
    if (o.json) {
      o.out << EventJson(**ev).dump() << "\n" << std::flush;
    } else {
      o.out << EventText(**ev) << "\n" << std::flush;
    }
  }
  if (args.count && seen < *args.count) {
    return Fail(o, Status::Error(ETIMEDOUT, "timed out after " + std::to_string(seen) + " of " +
                                                std::to_string(*args.count) + " events"));
  }
  return kExitOk;
}

}  // namespace keel
