#include "cli/keelctl/commands.h"

#include <cctype>
#include <istream>
#include <ostream>

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

Reply Send(ApiClient& api, const std::string& command, const json& args,
           const std::string& volume) {
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
    r.error = ApiErrorToCli(e != j.end() && e->is_object() ? *e : json::object(), command, volume);
    return r;
  }
  auto result = j.find("result");
  r.ok = true;
  r.result = result != j.end() && result->is_object() ? *result : json::object();
  return r;
}

void PrintJson(const Output& o, const json& j) { o.out << j.dump(2) << "\n"; }

std::string Quoted(const std::string& name) { return "'" + name + "'"; }

}  // namespace

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

CliError ApiErrorToCli(const json& error, const std::string& command, const std::string& volume) {
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
  if ((c == "invalid_request" || c == "invalid_argument") &&
      e.message.find("cluster mode") != std::string::npos) {
    return {kExitError, "not_in_cluster",
            "keeld runs without a cluster (no etcd_endpoints in /etc/keel/keeld.conf); see "
            "docs/configuration.md",
            "", e.errno_name};
  }
  bool cluster = command.starts_with("node.list") || command.starts_with("cluster.");
  if (c == "try_again" && cluster) {
    e.exit_code = kExitError;
    e.hint = "etcd did not answer keeld; check etcd and the etcd_endpoints of keeld.conf";
    return e;
  }
  if (c == "not_found") {
    e.hint = "see the volumes there are with 'keelctl volume list'";
  } else if (c == "already_exists") {
    e.hint = "choose another name, or look at it with 'keelctl volume inspect " + volume + "'";
  } else if (c == "busy" && command == "volume.detach") {
    e.message = "volume " + Quoted(volume) + " is open on this node (mounted, or held by a " +
                "process): " + e.message;
    e.hint =
        "unmount it or stop what holds it, then detach again; or remove the disk anyway with "
        "'keelctl volume detach " +
        volume + " --force' (its users get IO errors)";
  } else if (c == "busy" && command == "volume.delete") {
    e.hint = "detach it first ('keelctl volume detach " + volume +
             "'), or use --force, which detaches it";
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

int RunVolumeInspect(ApiClient& api, const std::string& name, const Output& o) {
  Reply r = Send(api, "volume.inspect", {{"name", name}}, name);
  if (!r.ok) return Report(o, r.error);
  if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (!o.quiet) {
    o.out << VolumeText(r.result, o.color);
  }
  return kExitOk;
}

int RunVolumeAttach(ApiClient& api, const std::string& name, const Output& o) {
  Reply r = Send(api, "volume.attach", {{"name", name}}, name);
  if (!r.ok) return Report(o, r.error);
  if (o.format == Format::kJson) {
    PrintJson(o, r.result);
  } else if (o.quiet) {
    o.out << FieldText(r.result, "device") << "\n";
  } else {
    o.out << "volume " << Quoted(name) << " attached at " << FieldText(r.result, "device");
    if (r.result.contains("epoch")) o.out << " (epoch " << FieldText(r.result, "epoch") << ")";
    o.out << "\n";
  }
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
