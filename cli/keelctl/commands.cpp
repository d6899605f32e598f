#include "cli/keelctl/commands.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <istream>
#include <map>
#include <ostream>
#include <thread>

#include "cli/keelctl/format.h"
#include "manager/common/size.h"
#include "manager/config/config.h"

namespace keel {
namespace {

using nlohmann::json;

// The result object of a successful call, or the error to report.
struct Reply {
  bool ok = false;
  json result;
  CliError error;
};

Reply Send(ApiClient& api, const std::string& command, const json& args, const std::string& name) {
  Reply r;
  auto reply = api.Call(command, args);
  if (!reply.ok()) {
    r.error = TransportError(reply.status());
    return r;
  }
  // ApiClient::Call checked the shape; stay safe with any implementation.
  const json& j = *reply;
  auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean() || !ok->get<bool>()) {
    auto e = j.find("error");
    r.error = ApiErrorToCli(e != j.end() && e->is_object() ? *e : json::object(), command, name);
    return r;
  }
  auto result = j.find("result");
  r.ok = true;
  r.result = result != j.end() && result->is_object() ? *result : json::object();
  return r;
}

void PrintJson(const Output& o, const json& j) { o.out << j.dump(2) << "\n"; }

std::string Quoted(const std::string& name) { return "'" + name + "'"; }

// "1 replica", "2 replicas".
std::string Replicas(int64_t n) { return std::to_string(n) + (n == 1 ? " replica" : " replicas"); }

// Seconds as typed: "30s", "2.5s".
std::string Seconds(double s) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%gs", s);
  return buf;
}

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

// The commands that need keeld in cluster mode; a keeld without one answers
// them invalid_request (docs/api.md).
bool ClusterOnly(const std::string& command) {
  return (command.starts_with("node.") && command != "node.info") ||
         command.starts_with("cluster.") || command == "volume.status";
}

// Sleeps until the next poll of a wait that began at `start`; false when
// its --wait-timeout is over instead.
bool NextPoll(const Wait& w, int64_t start) {
  int64_t pause = kPollMs;
  if (w.timeout_s > 0) {
    int64_t left = std::llround(w.timeout_s * 1000) - (w.ticker.now_ms() - start);
    if (left <= 0) return false;
    pause = std::min(pause, left);
  }
  w.ticker.sleep_ms(pause);
  return true;
}

// A wait's progress on one stream.  On a terminal each frame replaces the
// one before (cursor up, clear to the end of the screen).  Elsewhere (a log,
// a pipe) the first frame, then only the lines that changed, each keyed by
// its replica: at most a line per replica per poll.
class Progress {
 public:
  using Lines = std::vector<std::pair<std::string, std::string>>;
  Progress(std::ostream& os, bool tty) : os_(os), tty_(tty) {}

  void Show(const std::string& frame, const Lines& lines) {
    if (tty_) {
      if (height_ > 0) os_ << "\x1b[" << height_ << "A\r\x1b[J";
      os_ << frame;
      height_ = std::count(frame.begin(), frame.end(), '\n');
    } else {
      if (!shown_) os_ << frame;
      for (const auto& [key, line] : lines) {
        if (shown_ && last_[key] != line) os_ << line << "\n";
        last_[key] = line;
      }
      shown_ = true;
    }
    os_ << std::flush;
  }
  // The lines as a frame of their own.
  void Show(const Lines& lines) {
    std::string frame;
    for (const auto& l : lines) frame += l.second + "\n";
    Show(frame, lines);
  }

 private:
  std::ostream& os_;
  bool tty_;
  int64_t height_ = 0;
  bool shown_ = false;
  std::map<std::string, std::string> last_;
};

}  // namespace

Ticker RealTicker() {
  return {[] {
            return std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                .count();
          },
          [](int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }};
}

int Report(const Output& o, const CliError& e) {
  o.err << "keelctl: " << e.message << "\n";
  if (!e.hint.empty()) o.err << "hint: " << e.hint << "\n";
  if (o.format == Format::kJson) {
    json j = {{"code", e.code}, {"message", e.message}, {"exit_code", e.exit_code}};
    if (!e.hint.empty()) j["hint"] = e.hint;
    if (!e.errno_name.empty()) j["errno"] = e.errno_name;
    PrintJson(o, {{"error", j}});
  }
  return e.exit_code;
}

CliError UsageError(const std::string& message) {
  return {kExitUsage, "usage", message, "see 'keelctl --help' and 'keelctl COMMAND --help'", ""};
}

CliError TransportError(const Status& s) {
  const char* name = strerrorname_np(s.code());
  CliError e{kExitUnreachable, "keeld_unreachable", s.message(), "", name ? name : ""};
  switch (s.code()) {
    case ETIMEDOUT:
    case ECONNRESET:
      e.code = "no_reply";
      break;
    case EACCES:
    case EPERM:
      e.exit_code = kExitPermission;
      e.code = "permission_denied";
      break;
    case EPROTO:
      e.exit_code = kExitError;
      e.code = "bad_reply";
      break;
    case ENAMETOOLONG:
      e.exit_code = kExitUsage;
      e.code = "usage";
      break;
    default:
      break;
  }
  return e;
}

int ExitCodeForApiCode(const std::string& code) {
  if (code == "not_found") return kExitNotFound;
  if (code == "already_exists") return kExitExists;
  if (code == "busy" || code == "try_again") return kExitBusy;
  if (code == "permission_denied") return kExitPermission;
  if (code == "invalid_argument") return kExitUsage;
  return kExitError;
}

CliError ApiErrorToCli(const json& error, const std::string& command, const std::string& name) {
  CliError e;
  e.code = error.contains("code") && error["code"].is_string() ? error["code"].get<std::string>()
                                                               : "internal";
  e.message = error.contains("message") && error["message"].is_string()
                  ? error["message"].get<std::string>()
                  : "keeld failed (" + e.code + ")";
  if (error.contains("errno") && error["errno"].is_string()) e.errno_name = error["errno"];
  e.exit_code = ExitCodeForApiCode(e.code);
  const std::string& c = e.code;
  // Single-node keeld: cluster commands are invalid_request, replicas > 1
  // invalid_argument, both saying "cluster mode" (docs/api.md).
  bool cluster = ClusterOnly(command);
  if ((c == "invalid_request" && cluster) ||
      ((c == "invalid_request" || c == "invalid_argument") &&
       e.message.find("cluster mode") != std::string::npos)) {
    return {kExitError, "not_in_cluster",
            "keeld runs without a cluster (no etcd_endpoints in /etc/keel/keeld.conf); see "
            "docs/configuration.md",
            "", e.errno_name};
  }
  if (c == "try_again" && cluster) {
    e.exit_code = kExitError;
    e.hint = "etcd did not answer keeld; check etcd and the etcd_endpoints of keeld.conf";
    return e;
  }
  bool node = command == "node.cordon" || command == "node.uncordon" || command == "node.drain" ||
              command == "node.maintenance";
  if (c == "not_found" && node) {
    e.message = "node " + Quoted(name) + " is not in the cluster";
    e.hint = "see the nodes there are with 'keelctl node list'";
  } else if (c == "insufficient_capacity" && command == "node.drain") {
    e.hint =
        "its replicas need other nodes, up, not cordoned, with room: see 'keelctl node list' "
        "and 'keelctl cluster status'";
  } else if (c == "not_found") {
    e.hint = "see the volumes there are with 'keelctl volume list'";
  } else if (c == "already_exists") {
    e.hint = "choose another name, or look at it with 'keelctl volume inspect " + name + "'";
  } else if (c == "busy" && command == "volume.detach") {
    e.message = "volume " + Quoted(name) + " is open on this node (mounted, or held by a " +
                "process): " + e.message;
    e.hint =
        "unmount it or stop what holds it, then detach again; or remove the disk anyway with "
        "'keelctl volume detach " +
        name + " --force' (its users get IO errors)";
  } else if (c == "busy" && command == "volume.delete") {
    e.hint =
        "detach it first ('keelctl volume detach " + name + "'), or use --force, which detaches it";
  } else if (c == "try_again") {
    e.hint = "keeld is completing an earlier operation on it; try again in a moment";
  } else if (c == "permission_denied") {
    e.hint = "run keelctl as root (sudo keelctl ...)";
  } else if (c == "invalid_argument") {
    e.hint =
        "names are 1-63 characters of A-Z a-z 0-9 _ . - starting with a letter or digit; "
        "sizes look like 4096, 512M, 10G, 1.5T";
  } else if (c == "insufficient_capacity") {
    e.hint = "see the pool's free space with 'keelctl node inspect'";
  } else if (c == "kernel_timeout") {
    e.hint = "keel.ko did not answer; look at 'dmesg' and 'journalctl -u keeld'";
  } else if (c == "server_busy") {
    e.hint = "keeld has too many clients right now; try again";
  } else if (c == "internal") {
    e.hint = "see 'journalctl -u keeld' for details";
  } else if (c == "invalid_json" || c == "invalid_request" || c == "missing_field" ||
             c == "unknown_field" || c == "wrong_type" || c == "unsupported_api" ||
             c == "unknown_command" || c == "request_too_large" || c == "timeout") {
    e.message = "keeld refused keelctl's request: " + e.message;
    e.hint = std::string("keelctl ") + KEEL_VERSION +
             " and keeld may not match; compare with 'keelctl version'";
  }
  return e;
}

CreateRequest BuildCreateRequest(const CreateArgs& a) {
  CreateRequest r;
  auto usage = [&r](const std::string& m) {
    r.error = UsageError(m);
    return r;
  };
  Status s = ValidateName("volume name", a.name);
  if (!s.ok()) return usage(s.message());
  if (a.replicas < 1 || a.replicas > 3) {
    return usage("--repl: " + std::to_string(a.replicas) + " is not 1, 2 or 3");
  }
  auto size = ParseSize(a.size);
  if (!size.ok()) return usage("--size: " + size.status().message());
  if (*size == 0) return usage("--size: a volume cannot be 0 bytes (examples: 512M, 10G, 1.5T)");
  if (a.block_size != 512 && a.block_size != 4096) {
    return usage("--block-size: " + std::to_string(a.block_size) + " is not 512 or 4096");
  }
  if (*size % a.block_size != 0) {
    return usage("--size: " + a.size + " (" + std::to_string(*size) +
                 " bytes) is not a multiple of the block size " + std::to_string(a.block_size));
  }
  json labels = json::object();
  for (const std::string& arg : a.labels) {
    std::string k, v;
    s = ParseLabelArg(arg, &k, &v);
    if (!s.ok()) return usage("--label: " + s.message());
    if (labels.contains(k)) return usage("--label: '" + k + "' is given twice");
    labels[k] = v;
  }
  r.args = {{"name", a.name}, {"size", *size}, {"block_size", a.block_size}};
  if (!labels.empty()) r.args["labels"] = labels;
  // Sent only when not the default, so a keeld without cluster volumes
  // still takes every single-node create.
  if (a.replicas != 1) r.args["replicas"] = a.replicas;
  if (a.zone_spread) r.args["zone_spread"] = true;
  r.ok = true;
  return r;
}

int RunVolumeCreate(ApiClient& api, const CreateArgs& a, const Output& o) {
  CreateRequest req = BuildCreateRequest(a);
  if (!req.ok) return Report(o, req.error);
  Reply r = Send(api, "volume.create", req.args, a.name);
  if (!r.ok) return Report(o, r.error);
  if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (!o.quiet) {
    o.out << "volume " << Quoted(a.name) << " created: " << SizeText(r.result, "size")
          << ", block size " << FieldText(r.result, "block_size") << ", "
          << PaintState(FieldText(r.result, "state"), o.color);
    // A cluster volume (docs/api.md): where its replicas are.
    const json& set = r.result.contains("replica_set") ? r.result["replica_set"] : json();
    if (set.is_array() && !set.empty()) {
      std::string nodes;
      for (const json& rep : set) nodes += (nodes.empty() ? "" : ", ") + FieldText(rep, "node");
      o.out << ", replicas on " << nodes;
    }
    o.out << "\n";
  }
  return kExitOk;
}

int RunVolumeList(ApiClient& api, const Output& o) {
  Reply r = Send(api, "volume.list", json::object(), "");
  if (!r.ok) return Report(o, r.error);
  const json& vs = r.result.contains("volumes") ? r.result["volumes"] : json::array();
  if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (o.quiet) {
    if (vs.is_array()) {
      for (const json& v : vs) o.out << FieldText(v, "name") << "\n";
    }
  } else if (!vs.is_array() || vs.empty()) {
    o.out << "no volumes (create one: keelctl volume create NAME --size 10G)\n";
  } else {
    o.out << VolumeTable(vs, o.color);
  }
  return kExitOk;
}

namespace {

// `volume inspect` in cluster mode: volume.status's `status`, then this
// node's replica (`node`) when it holds one.
int ShowClusterVolume(ApiClient& api, const std::string& name, const json& status,
                      const std::string& node, const Output& o) {
  if (o.quiet) return kExitOk;
  json local;  // null: this node holds no replica
  Reply r = Send(api, "volume.inspect", {{"name", name}}, name);
  if (r.ok) {
    local = r.result;
  } else if (r.error.code != "not_found") {
    return Report(o, r.error);
  }
  if (o.format == Format::kJson) {
    json j = status;
    j["local"] = local;
    PrintJson(o, j);
  } else if (local.is_object()) {
    o.out << ClusterVolumeText(status, o.color) << "\nThis node's replica (" << node << "):\n"
          << VolumeText(local, o.color);
  } else {
    o.out << ClusterVolumeText(status, o.color) << "\nThis node (" << node
          << ") holds no replica of it.\n";
  }
  return kExitOk;
}

// `volume inspect --watch` from volume.status's first `status`.
int WatchVolume(ApiClient& api, const std::string& name, json status, const Wait& w,
                const Output& o) {
  Progress progress(o.out, w.tty);
  for (;;) {
    if (o.format == Format::kJson) {
      o.out << status.dump() << "\n" << std::flush;
    } else if (!o.quiet) {
      progress.Show(ClusterVolumeText(status, o.color), SyncLines(status));
    }
    if (NotInSync(status).empty()) break;
    w.ticker.sleep_ms(kPollMs);
    Reply r = Send(api, "volume.status", {{"name", name}}, name);
    if (!r.ok) return Report(o, r.error);
    status = r.result;
  }
  if (o.format == Format::kText && !o.quiet) {
    o.out << "every replica of volume " << Quoted(name) << " is in sync\n";
  }
  return kExitOk;
}

// `volume attach --wait`: volume.status until every replica is in sync, the
// progress on err.  A keeld without a cluster has one replica: in sync.
int WaitInSync(ApiClient& api, const std::string& name, const Wait& w, const Output& o) {
  Progress progress(o.err, w.tty);
  int64_t start = w.ticker.now_ms();
  for (;;) {
    Reply r = Send(api, "volume.status", {{"name", name}}, name);
    if (!r.ok && r.error.code == "not_in_cluster") return kExitOk;
    if (!r.ok) return Report(o, r.error);
    if (!o.quiet) progress.Show(SyncLines(r.result));
    std::vector<std::string> behind = NotInSync(r.result);
    if (behind.empty()) return kExitOk;
    if (!NextPoll(w, start)) {
      return Report(
          o,
          {kExitError, "wait_timeout",
           "volume " + Quoted(name) + " is attached, but not in sync after " +
               Seconds(w.timeout_s) + ": " + Join(behind),
           "the resync goes on; follow it with 'keelctl volume inspect " + name + " --watch'", ""});
    }
  }
}

}  // namespace

int RunVolumeInspect(ApiClient& api, const std::string& name, const Wait& watch, const Output& o) {
  Reply info = Send(api, "node.info", json::object(), "");
  if (!info.ok) return Report(o, info.error);
  if (FieldText(info.result, "kvdb") == "etcd") {
    Reply st = Send(api, "volume.status", {{"name", name}}, name);
    if (st.ok) {
      if (watch.on) return WatchVolume(api, name, st.result, watch, o);
      return ShowClusterVolume(api, name, st.result, FieldText(info.result, "node_name"), o);
    }
    // Not in cluster mode after all: the single-node view.
    if (st.error.code != "not_in_cluster") return Report(o, st.error);
  }
  // Single-node: one replica, so --watch has nothing to wait for.
  Reply r = Send(api, "volume.inspect", {{"name", name}}, name);
  if (!r.ok) return Report(o, r.error);
  if (o.format == Format::kJson && watch.on) {
    o.out << r.result.dump() << "\n";
  } else if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (!o.quiet) {
    o.out << VolumeText(r.result, o.color);
  }
  return kExitOk;
}

int RunVolumeAttach(ApiClient& api, const std::string& name, const std::string& node,
                    const Wait& wait, const Output& o) {
  json args = {{"name", name}};
  if (!node.empty()) args["node"] = node;
  Reply r = Send(api, "volume.attach", args, name);
  if (!r.ok) return Report(o, r.error);
  if (o.quiet) {
    o.out << FieldText(r.result, "device") << "\n";
  } else if (o.format == Format::kText) {
    o.out << "volume " << Quoted(name) << " attached";
    if (r.result.contains("node")) o.out << " on " << FieldText(r.result, "node");
    o.out << " at " << FieldText(r.result, "device");
    if (r.result.contains("epoch")) o.out << " (epoch " << FieldText(r.result, "epoch") << ")";
    o.out << "\n";
  }
  o.out << std::flush;
  if (wait.on) {
    int rc = WaitInSync(api, name, wait, o);
    if (rc != kExitOk) return rc;
  }
  // After the wait, so that stdout is one JSON document, the error's when it fails.
  if (o.format == Format::kJson) PrintJson(o, r.result);
  return kExitOk;
}

int RunVolumeDetach(ApiClient& api, const std::string& name, bool force, const Output& o) {
  Reply r = Send(api, "volume.detach", {{"name", name}, {"force", force}}, name);
  if (!r.ok) return Report(o, r.error);
  if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (!o.quiet) {
    o.out << "volume " << Quoted(name) << " detached\n";
  }
  return kExitOk;
}

int RunVolumeDelete(ApiClient& api, const std::string& name, bool force, bool yes,
                    const Confirm& confirm, const Output& o) {
  if (!yes) {
    if (!confirm.interactive || !confirm.in) {
      return Report(o, {kExitUsage, "confirmation_required",
                        "refusing to delete volume " + Quoted(name) +
                            " without confirmation: its data would be gone, and stdin is not a "
                            "terminal to ask on",
                        "add --yes to delete it: keelctl volume delete " + name + " --yes", ""});
    }
    // Show what would go, so a wrong (but existing) name is noticed.
    Reply v = Send(api, "volume.inspect", {{"name", name}}, name);
    if (!v.ok) return Report(o, v.error);
    std::string what = SizeText(v.result, "size") + ", " + FieldText(v.result, "state");
    if (v.result.contains("device") && v.result["device"].is_string()) {
      what += " at " + v.result["device"].get<std::string>();
    }
    o.err << "Delete volume " << Quoted(name) << " (" << what
          << ") and all its data? This cannot be undone. [y/N] " << std::flush;
    std::string answer;
    std::getline(*confirm.in, answer);
    for (char& ch : answer) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (answer != "y" && answer != "yes") {
      return Report(o,
                    {kExitError, "aborted", "volume " + Quoted(name) + " was not deleted", "", ""});
    }
  }
  Reply r = Send(api, "volume.delete", {{"name", name}, {"force", force}}, name);
  if (!r.ok) return Report(o, r.error);
  if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (!o.quiet) {
    o.out << "volume " << Quoted(name) << " deleted\n";
  }
  return kExitOk;
}

int RunNodeInspect(ApiClient& api, const Output& o) {
  Reply r = Send(api, "node.info", json::object(), "");
  if (!r.ok) return Report(o, r.error);
  if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (o.quiet) {
    o.out << FieldText(r.result, "node_name") << "\n";
  } else {
    o.out << NodeText(r.result);
  }
  return kExitOk;
}

int RunNodeList(ApiClient& api, const Output& o, int64_t now_ms) {
  Reply r = Send(api, "node.list", json::object(), "");
  if (!r.ok) return Report(o, r.error);
  const json& ns = r.result.contains("nodes") ? r.result["nodes"] : json::array();
  if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (o.quiet) {
    if (ns.is_array()) {
      for (const json& n : ns) o.out << FieldText(n, "name") << "\n";
    }
  } else {
    o.out << NodeTable(ns, now_ms, o.color);
  }
  return kExitOk;
}

int RunClusterNodeInspect(ApiClient& api, const std::string& name, const Output& o,
                          int64_t now_ms) {
  Reply r = Send(api, "node.list", json::object(), "");
  if (!r.ok) return Report(o, r.error);
  const json& ns = r.result.contains("nodes") ? r.result["nodes"] : json::array();
  const json* node = nullptr;
  if (ns.is_array()) {
    for (const json& n : ns) {
      if (n.is_object() && n.value("name", json()) == name) node = &n;
    }
  }
  if (!node) {
    return Report(o, {kExitNotFound, "not_found", "node " + Quoted(name) + " is not in the cluster",
                      "see the nodes there are with 'keelctl node list'", ""});
  }
  if (o.format == Format::kJson) {
    PrintJson(o, *node);
  } else if (o.quiet) {
    o.out << name << "\n";
  } else {
    o.out << ClusterNodeText(*node, now_ms, o.color);
  }
  return kExitOk;
}

int RunClusterStatus(ApiClient& api, const Output& o, int64_t now_ms) {
  Reply r = Send(api, "cluster.status", json::object(), "");
  if (!r.ok) return Report(o, r.error);
  if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (o.quiet) {
    o.out << FieldText(r.result, "coordinator") << "\n";
  } else {
    o.out << ClusterText(r.result, now_ms, o.color);
  }
  return kExitOk;
}

int RunNodeCordon(ApiClient& api, const std::string& name, bool cordon, const Output& o) {
  Reply r = Send(api, cordon ? "node.cordon" : "node.uncordon", {{"name", name}}, name);
  if (!r.ok) return Report(o, r.error);
  if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (!o.quiet && cordon) {
    o.out << "node " << Quoted(name) << " cordoned: no new replicas go there";
    const json& n = r.result.contains("replicas") ? r.result["replicas"] : json();
    if (n.is_number_integer() && n.get<int64_t>() > 0) {
      o.out << "; it holds " << Replicas(n.get<int64_t>())
            << " (move them with 'keelctl node drain " << name << "')";
    }
    o.out << "\n";
  } else if (!o.quiet) {
    o.out << "node " << Quoted(name) << " uncordoned: new replicas may go there again\n";
  }
  return kExitOk;
}

int RunNodeMaintenance(ApiClient& api, const std::string& name, bool on, const Output& o) {
  Reply r = Send(api, "node.maintenance", {{"name", name}, {"on", on}}, name);
  if (!r.ok) return Report(o, r.error);
  if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (!o.quiet && on) {
    o.out << "node " << Quoted(name)
          << " in maintenance: not counted down while away, its replicas are not replaced\n";
  } else if (!o.quiet) {
    o.out << "node " << Quoted(name)
          << " out of maintenance: up, suspect or down again by its heartbeats\n";
  }
  return kExitOk;
}

int RunNodeDrain(ApiClient& api, const std::string& name, const Wait& wait, const Output& o) {
  int64_t start = wait.ticker.now_ms();
  int64_t shown = -1;
  for (;;) {
    // node.drain is idempotent and answers how many replicas are still there.
    Reply r = Send(api, "node.drain", {{"name", name}}, name);
    if (!r.ok) return Report(o, r.error);
    const json& n = r.result.contains("replicas") ? r.result["replicas"] : json();
    int64_t left = n.is_number_integer() ? n.get<int64_t>() : 0;
    if (!wait.on || left <= 0) {
      if (o.format == Format::kJson) {
        PrintJson(o, r.result);
      } else if (!o.quiet && left <= 0) {
        o.out << "node " << Quoted(name) << " drained: it holds no replicas\n";
      } else if (!o.quiet) {
        o.out << "node " << Quoted(name) << " draining: " << Replicas(left)
              << " to move off it (wait for it with 'keelctl node drain " << name << " --wait')\n";
      }
      return kExitOk;
    }
    if (left != shown && !o.quiet) {
      o.err << "draining " << name << ": " << Replicas(left) << " left\n" << std::flush;
    }
    shown = left;
    if (!NextPoll(wait, start)) {
      return Report(o, {kExitError, "wait_timeout",
                        "node " + Quoted(name) + " still holds " + Replicas(left) + " after " +
                            Seconds(wait.timeout_s),
                        "the coordinator moves them one at a time, each once its new copy is in "
                        "sync; wait on with 'keelctl node drain " +
                            name + " --wait'",
                        ""});
    }
  }
}

namespace {

// Whether the move of `volume`'s replica off `from` is done: the replica
// left and every replica is in sync.  A volume deleted meanwhile is done.
Result<bool> MoveDone(ApiClient& api, const std::string& volume, const std::string& from) {
  Reply r = Send(api, "volume.status", {{"name", volume}}, volume);
  if (!r.ok) {
    if (r.error.code == "not_found") return true;
    return Status::Error(EIO, r.error.message);
  }
  const json& set = r.result.contains("replica_set") ? r.result["replica_set"] : json();
  const json& in = r.result.contains("in_sync") ? r.result["in_sync"] : json();
  if (!set.is_array() || !in.is_array()) return false;
  for (const json& rep : set) {
    if (FieldText(rep, "node") == from) return false;
  }
  return set.size() == in.size();
}

}  // namespace

int RunClusterRebalance(ApiClient& api, const RebalanceArgs& a, const Wait& wait, const Output& o) {
  Reply r = Send(
      api, "cluster.rebalance",
      {{"threshold_pct", a.threshold_pct}, {"max_moves", a.max_moves}, {"dry_run", a.dry_run}}, "");
  if (!r.ok) return Report(o, r.error);
  if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (!o.quiet) {
    o.out << RebalanceText(r.result);
  }
  if (!wait.on || a.dry_run) return kExitOk;
  // This plan's moves, and those of earlier ones still going on.
  std::vector<std::pair<std::string, std::string>> moves;
  for (const char* key : {"in_progress", "moves"}) {
    const json& list = r.result.contains(key) ? r.result[key] : json();
    if (!list.is_array()) continue;
    for (const json& m : list) {
      if (!m.contains("error")) moves.push_back({FieldText(m, "volume"), FieldText(m, "from")});
    }
  }
  int64_t start = wait.ticker.now_ms();
  size_t shown = SIZE_MAX;
  for (;;) {
    size_t done = 0;
    for (const auto& [volume, from] : moves) {
      auto d = MoveDone(api, volume, from);
      if (!d.ok()) {
        return Report(o, {kExitError, "error", d.status().message(), "", ""});
      }
      if (*d) done++;
    }
    if (done == moves.size()) {
      if (!o.quiet && !moves.empty()) {
        o.err << "rebalance: " << moves.size() << " of " << moves.size() << " moves done\n";
      }
      return kExitOk;
    }
    if (done != shown && !o.quiet) {
      o.err << "rebalance: " << done << " of " << moves.size() << " moves done\n" << std::flush;
    }
    shown = done;
    if (!NextPoll(wait, start)) {
      return Report(o,
                    {kExitError, "wait_timeout",
                     std::to_string(moves.size() - done) + " of " + std::to_string(moves.size()) +
                         " moves not done after " + Seconds(wait.timeout_s),
                     "the coordinator goes on with them; watch one with 'keelctl volume "
                     "inspect NAME --watch'",
                     ""});
    }
  }
}

int RunVersion(ApiClient& api, const Output& o) {
  if (o.quiet) {
    o.out << KEEL_VERSION << "\n";
    return kExitOk;
  }
  Reply r = Send(api, "node.info", json::object(), "");
  if (o.format == Format::kJson) {
    json j = {{"keelctl", KEEL_VERSION}, {"keeld", nullptr}, {"api", nullptr}, {"module", nullptr}};
    if (r.ok) {
      j["keeld"] = r.result.value("keeld_version", json());
      j["api"] = r.result.value("api", json());
      j["module"] = r.result.value("module", json());
      PrintJson(o, j);
      return kExitOk;
    }
    j["error"] = {{"code", r.error.code}, {"message", r.error.message}};
    PrintJson(o, j);
    o.err << "keelctl: " << r.error.message << "\n";
    if (!r.error.hint.empty()) o.err << "hint: " << r.error.hint << "\n";
    return r.error.exit_code;
  }
  std::vector<std::vector<std::string>> rows = {{"keelctl", KEEL_VERSION}};
  if (r.ok) {
    rows.push_back({"keeld", FieldText(r.result, "keeld_version") + " (API " +
                                 FieldText(r.result, "api") + ")"});
    json m = r.result.value("module", json::object());
    if (m.is_object() && m.contains("error")) {
      rows.push_back({"keel.ko", "unavailable: " + FieldText(m, "error")});
    } else {
      rows.push_back({"keel.ko", FieldText(m, "version") + " (API " + FieldText(m, "api_version") +
                                     ", kernel " + FieldText(m, "kernel_release") + ")"});
    }
  }
  o.out << FormatTable(rows);
  if (!r.ok) {
    o.out << std::flush;
    return Report(o, r.error);
  }
  return kExitOk;
}

}  // namespace keel
