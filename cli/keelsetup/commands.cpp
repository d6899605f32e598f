#include "cli/keelsetup/commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
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
  if (args.diskless) {
    if (!args.backing.empty())
      return Status::Error(EINVAL, "--diskless and --backing exclude each other");
    if (args.force_format || args.create_backing)
      return Status::Error(EINVAL,
                           "--force-format and --create-backing need a backing store, not "
                           "--diskless");
    req.diskless = true;
  } else {
    if (args.backing.empty())
      return Status::Error(EINVAL, "--backing needs a path (or --diskless for no local replica)");
    std::filesystem::path backing(args.backing);
    if (backing.is_relative()) backing = std::filesystem::path(cwd) / backing;
    req.backing_path = backing.lexically_normal().string();
  }
  if (!args.granularity.empty()) {
    auto g = ParseSize(args.granularity);
    if (!g.ok()) return g.status();
    if (*g < KEEL_META_GRANULARITY_MIN || *g > KEEL_META_GRANULARITY_MAX || (*g & (*g - 1)) != 0)
      return Status::Error(EINVAL, "invalid --granularity '" + args.granularity +
                                       "': must be a power of two from 4K to 16M");
    req.granularity = static_cast<uint32_t>(*g);
  }

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

Result<std::vector<uint8_t>> ParseHexSecret(const std::string& hex) {
  std::string digits;
  size_t start = 0;
  while (start < hex.size() && isspace(static_cast<unsigned char>(hex[start]))) ++start;
  if (hex.compare(start, 2, "0x") == 0 || hex.compare(start, 2, "0X") == 0) start += 2;
  for (size_t i = start; i < hex.size(); ++i) {
    char c = hex[i];
    if (isspace(static_cast<unsigned char>(c))) continue;
    if (!isxdigit(static_cast<unsigned char>(c)))
      return Status::Error(EINVAL, "invalid --secret-hex: character " + std::to_string(i + 1) +
                                       " is not a hex digit");
    digits += c;
  }
  if (digits.size() % 2)
    return Status::Error(EINVAL, "invalid --secret-hex: an odd number of hex digits");
  std::vector<uint8_t> out;
  for (size_t i = 0; i < digits.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return out;
}

Result<std::vector<uint8_t>> ReadSecretFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return Status::Error(e, "cannot read the secret file " + path + ": " + strerror(e));
  }
  std::vector<uint8_t> out;
  uint8_t buf[256];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return Status::Error(e, "cannot read the secret file " + path + ": " + strerror(e));
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
    if (out.size() > KEEL_SECRET_MAX) break;  // too long; the check below says so
  }
  close(fd);
  return out;
}

Result<SetVolumeRequest> ParseSetArgs(const SetArgs& args) {
  SetVolumeRequest req;
  req.epoch = args.epoch;
  if (!args.secret_file.empty() && !args.secret_hex.empty())
    return Status::Error(EINVAL, "--secret-file and --secret-hex exclude each other");
  std::optional<std::vector<uint8_t>> secret;
  std::string from;
  if (!args.secret_file.empty()) {
    auto s = ReadSecretFile(args.secret_file);
    if (!s.ok()) return Status::Error(EINVAL, s.status().message());
    secret = *s;
    from = "the secret file " + args.secret_file;
  } else if (!args.secret_hex.empty()) {
    auto s = ParseHexSecret(args.secret_hex);
    if (!s.ok()) return s.status();
    secret = *s;
    from = "--secret-hex";
  }
  if (secret) {
    if (secret->size() < KEEL_SECRET_MIN || secret->size() > KEEL_SECRET_MAX) {
      return Status::Error(EINVAL, "the secret from " + from + " has " +
                                       (secret->size() > KEEL_SECRET_MAX
                                            ? "more than " + std::to_string(KEEL_SECRET_MAX)
                                            : std::to_string(secret->size())) +
                                       " bytes: it needs " + std::to_string(KEEL_SECRET_MIN) +
                                       " to " + std::to_string(KEEL_SECRET_MAX));
    }
    req.secret = std::move(secret);
  }
  if (!args.freeze_policy.empty()) {
    auto p = ParseFreezePolicy(args.freeze_policy);
    if (!p.ok()) return p.status();
    req.freeze_policy = *p;
  }
  req.freeze_timeout_ms = args.freeze_timeout_ms;
  req.peer_timeout_ms = args.peer_timeout_ms;
  if (!args.resync_rate.empty()) {
    std::string rate = args.resync_rate;
    if (rate.size() > 2 && rate.compare(rate.size() - 2, 2, "/s") == 0)
      rate.resize(rate.size() - 2);
    auto r = ParseSize(rate);
    if (!r.ok())
      return Status::Error(EINVAL, "invalid --resync-rate '" + args.resync_rate +
                                       "': bytes per second such as 50M or 1G, 0 = unlimited");
    req.resync_rate = *r;
  }
  if (!args.digest.empty()) {
    if (args.digest != "on" && args.digest != "off")
      return Status::Error(EINVAL, "invalid --digest '" + args.digest + "': use on or off");
    req.data_digest = args.digest == "on";
  }
  if (!req.epoch && !req.secret && !req.freeze_policy && !req.freeze_timeout_ms &&
      !req.peer_timeout_ms && !req.resync_rate && !req.data_digest)
    return Status::Error(EINVAL, "nothing to set: give at least one option (see --help)");
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

int RunSet(KernelClient& k, uint32_t id, const SetVolumeRequest& req, const Output& o) {
  auto v = k.SetVolume(id, req);
  if (!v.ok()) return Fail(o, v.status());
  if (o.json) {
    PrintJson(o, VolumeJson(*v));
  } else {
    o.out << "volume " << id << " updated" << (req.secret ? " (secret set)" : "") << "\n"
          << VolumeText(*v);
  }
  return kExitOk;
}

int RunListen(KernelClient& k, uint32_t id, const std::string& addr, uint16_t port,
              const Output& o) {
  Status s = k.ListenStart(id, addr, port);
  if (!s.ok()) return Fail(o, s);
  if (o.json) {
    PrintJson(o, {{"id", id}, {"listening", true}, {"addr", addr}, {"port", port}});
  } else {
    o.out << "volume " << id << ": replica target listening on " << FormatEndpoint(addr, port)
          << "\n";
  }
  return kExitOk;
}

int RunUnlisten(KernelClient& k, uint32_t id, const Output& o) {
  Status s = k.ListenStop(id);
  if (!s.ok()) return Fail(o, s);
  if (o.json) {
    PrintJson(o, {{"id", id}, {"listening", false}});
  } else {
    o.out << "volume " << id << ": replica target stopped\n";
  }
  return kExitOk;
}

int RunPeerAdd(KernelClient& k, uint32_t id, uint32_t slot, const std::string& addr, uint16_t port,
               const std::string& name, PeerSync sync, const Output& o) {
  Status s = k.PeerAdd(id, slot, addr, port, name, sync);
  if (!s.ok()) return Fail(o, s);
  const char* how = sync == PeerSync::kFull ? "full" : sync == PeerSync::kPull ? "pull" : "bitmap";
  if (o.json) {
    PrintJson(o, {{"id", id},
                  {"slot", slot},
                  {"added", true},
                  {"addr", addr},
                  {"port", port},
                  {"name", name},
                  {"sync", how}});
  } else {
    o.out << "volume " << id << ": peer " << slot << (name.empty() ? "" : " (" + name + ")")
          << " at " << FormatEndpoint(addr, port) << " added, " << how << " sync\n";
  }
  return kExitOk;
}

int RunPeerRemove(KernelClient& k, uint32_t id, uint32_t slot, const Output& o) {
  Status s = k.PeerRemove(id, slot);
  if (!s.ok()) return Fail(o, s);
  if (o.json) {
    PrintJson(o, {{"id", id}, {"slot", slot}, {"removed", true}});
  } else {
    o.out << "volume " << id << ": peer " << slot << " removed\n";
  }
  return kExitOk;
}

int RunOutdate(KernelClient& k, uint32_t id, uint32_t slot, uint64_t epoch, const Output& o) {
  Status s = k.PeerOutdate(id, slot, epoch);
  if (!s.ok()) return Fail(o, s);
  if (o.json) {
    PrintJson(o, {{"id", id}, {"slot", slot}, {"epoch", epoch}, {"outdated", true}});
  } else {
    o.out << "volume " << id << ": peer " << slot << " outdated at epoch " << epoch << "\n";
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
