#include "manager/api/request.h"

#include <cerrno>
#include <cstring>
#include <set>

#include "manager/common/json_depth.h"
#include "manager/common/size.h"
#include "manager/config/config.h"

namespace keel {
namespace {

using nlohmann::json;

ApiError Err(const char* code, std::string msg) { return ApiError{code, std::move(msg), 0}; }

struct CommandSpec {
  const char* name;
  Command command;
  std::set<std::string> fields;    // allowed args
  std::set<std::string> required;  // required args
};

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> kCommands = {
      {"node.info", Command::kNodeInfo, {}, {}},
      {"volume.create",
       Command::kVolumeCreate,
       {"name", "size", "block_size", "labels", "replicas", "zone_spread"},
       {"name", "size"}},
      {"volume.list", Command::kVolumeList, {}, {}},
      {"volume.inspect", Command::kVolumeInspect, {"name"}, {"name"}},
      {"volume.attach", Command::kVolumeAttach, {"name", "node"}, {"name"}},
      {"volume.status", Command::kVolumeStatus, {"name"}, {"name"}},
      {"volume.detach", Command::kVolumeDetach, {"name", "force"}, {"name"}},
      {"volume.delete", Command::kVolumeDelete, {"name", "force"}, {"name"}},
      {"node.list", Command::kNodeList, {}, {}},
      {"node.cordon", Command::kNodeCordon, {"name"}, {"name"}},
      {"node.uncordon", Command::kNodeUncordon, {"name"}, {"name"}},
      {"node.drain", Command::kNodeDrain, {"name"}, {"name"}},
      {"node.maintenance", Command::kNodeMaintenance, {"name", "on"}, {"name"}},
      {"cluster.status", Command::kClusterStatus, {}, {}},
      {"cluster.volumes", Command::kClusterVolumes, {}, {}},
      {"cluster.rebalance",
       Command::kClusterRebalance,
       {"threshold_pct", "max_moves", "dry_run"},
       {}},
  };
  return kCommands;
}

std::string TypeName(const json& v) { return v.type_name(); }

// Printable and short, for echoing client input in messages.
std::string Shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    out.push_back(static_cast<unsigned char>(c) < ' ' || c == 0x7f ? '?' : c);
  }
  if (s.size() > 64) out += "...";
  return out;
}

std::optional<ApiError> ParseName(const json& v, std::string* out, const char* field,
                                  const char* what) {
  if (!v.is_string()) {
    return Err(api_error::kWrongType,
               std::string("field '") + field + "' must be a string, not " + TypeName(v));
  }
  std::string name = v.get<std::string>();
  Status s = ValidateName(what, name);
  if (!s.ok()) {
    ApiError e = Err(api_error::kInvalidArgument, s.message());
    e.err = EINVAL;
    return e;
  }
  *out = std::move(name);
  return std::nullopt;
}

std::optional<ApiError> ParseSizeField(const json& v, uint64_t* out) {
  if (v.is_string()) {
    auto size = ParseSize(v.get<std::string>());
    if (!size.ok())
      return Err(api_error::kInvalidArgument, "field 'size': " + size.status().message());
    *out = *size;
  } else if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
  } else if (v.is_number_integer()) {
    return Err(api_error::kInvalidArgument, "field 'size' must not be negative");
  } else {
    return Err(
        api_error::kWrongType,
        "field 'size' must be a size string (\"10G\") or a number of bytes, not " + TypeName(v));
  }
  if (*out == 0) return Err(api_error::kInvalidArgument, "field 'size' must not be 0");
  return std::nullopt;
}

}  // namespace

std::variant<Request, ApiError> ParseRequest(std::string_view text) {
  if (JsonDepth(text, kMaxJsonDepth) > kMaxJsonDepth) {
    return Err(api_error::kInvalidJson,
               "request nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Err(api_error::kInvalidJson,
               "request is not valid JSON (send one JSON object followed by a newline)");
  }
  if (!j.is_object()) {
    return Err(api_error::kInvalidRequest, "request must be a JSON object, not " + TypeName(j));
  }
  for (const auto& [k, v] : j.items()) {
    (void)v;
    if (k != "api" && k != "command" && k != "args") {
      return Err(api_error::kUnknownField,
                 "unknown field '" + Shown(k) + "' (a request has api, command and args)");
    }
  }
  if (!j.contains("api")) {
    return Err(api_error::kMissingField, "field 'api' is missing (this keeld speaks api 1)");
  }
  const json& api = j["api"];
  if (!api.is_number_integer()) {
    return Err(api_error::kWrongType, "field 'api' must be an integer, not " + TypeName(api));
  }
  if (api.get<int64_t>() != kApiVersion) {
    return Err(api_error::kUnsupportedApi, "api version " + api.dump() +
                                               " is not supported: this keeld speaks api " +
                                               std::to_string(kApiVersion));
  }
  if (!j.contains("command")) return Err(api_error::kMissingField, "field 'command' is missing");
  const json& cmd = j["command"];
  if (!cmd.is_string()) {
    return Err(api_error::kWrongType, "field 'command' must be a string, not " + TypeName(cmd));
  }
  const std::string command = cmd.get<std::string>();
  const CommandSpec* spec = nullptr;
  for (const auto& c : Commands()) {
    if (command == c.name) spec = &c;
  }
  if (!spec) {
    std::string known;
    for (const auto& c : Commands()) known += std::string(known.empty() ? "" : ", ") + c.name;
    return Err(api_error::kUnknownCommand,
               "unknown command '" + Shown(command) + "' (known: " + known + ")");
  }
  static const json kEmpty = json::object();
  const json& args = j.contains("args") ? j["args"] : kEmpty;
  if (!args.is_object()) {
    return Err(api_error::kWrongType, "field 'args' must be an object, not " + TypeName(args));
  }
  for (const auto& [k, v] : args.items()) {
    (void)v;
    if (!spec->fields.count(k)) {
      return Err(api_error::kUnknownField,
                 "command " + command + " has no argument '" + Shown(k) + "'");
    }
  }
  for (const auto& k : spec->required) {
    if (!args.contains(k)) {
      return Err(api_error::kMissingField, "command " + command + " needs argument '" + k + "'");
    }
  }
  Request r;
  r.command = spec->command;
  if (args.contains("name")) {
    const bool node_command =
        r.command == Command::kNodeCordon || r.command == Command::kNodeUncordon ||
        r.command == Command::kNodeDrain || r.command == Command::kNodeMaintenance;
    if (auto e =
            ParseName(args["name"], &r.name, "name", node_command ? "node name" : "volume name"))
      return *e;
  }
  if (args.contains("node")) {
    if (auto e = ParseName(args["node"], &r.node, "node", "node name")) return *e;
  }
  if (args.contains("size")) {
    if (auto e = ParseSizeField(args["size"], &r.size)) return *e;
  }
  if (args.contains("block_size")) {
    const json& bs = args["block_size"];
    if (!bs.is_number_integer()) {
      return Err(api_error::kWrongType,
                 "field 'block_size' must be an integer, not " + TypeName(bs));
    }
    if (bs != 512 && bs != 4096) {
      return Err(api_error::kInvalidArgument,
                 "field 'block_size' must be 512 or 4096, not " + bs.dump());
    }
    r.block_size = bs.get<uint32_t>();
  }
  if (r.command == Command::kVolumeCreate && r.size % r.block_size != 0) {
    return Err(api_error::kInvalidArgument, "field 'size': " + std::to_string(r.size) +
                                                " bytes is not a multiple of the block size " +
                                                std::to_string(r.block_size));
  }
  if (args.contains("labels")) {
    const json& labels = args["labels"];
    if (!labels.is_object()) {
      return Err(api_error::kWrongType,
                 "field 'labels' must be an object of strings, not " + TypeName(labels));
    }
    if (labels.size() > 64) return Err(api_error::kInvalidArgument, "at most 64 labels");
    for (const auto& [k, v] : labels.items()) {
      if (!v.is_string()) {
        return Err(api_error::kWrongType,
                   "label '" + Shown(k) + "' must be a string, not " + TypeName(v));
      }
      Status s = ValidateLabel(k, v.get<std::string>());
      if (!s.ok()) return Err(api_error::kInvalidArgument, s.message());
      r.labels[k] = v.get<std::string>();
    }
  }
  if (args.contains("replicas")) {
    const json& n = args["replicas"];
    if (!n.is_number_integer()) {
      return Err(api_error::kWrongType, "field 'replicas' must be an integer, not " + TypeName(n));
    }
    if (n < 1 || n > 3) {
      return Err(api_error::kInvalidArgument,
                 "field 'replicas' must be 1, 2 or 3, not " + n.dump());
    }
    r.replicas = n.get<uint32_t>();
  }
  if (args.contains("zone_spread")) {
    if (!args["zone_spread"].is_boolean()) {
      return Err(api_error::kWrongType,
                 "field 'zone_spread' must be true or false, not " + TypeName(args["zone_spread"]));
    }
    r.zone_spread = args["zone_spread"].get<bool>();
  }
  if (args.contains("on")) {
    if (!args["on"].is_boolean()) {
      return Err(api_error::kWrongType,
                 "field 'on' must be true or false, not " + TypeName(args["on"]));
    }
    r.on = args["on"].get<bool>();
  }
  if (args.contains("dry_run")) {
    if (!args["dry_run"].is_boolean()) {
      return Err(api_error::kWrongType,
                 "field 'dry_run' must be true or false, not " + TypeName(args["dry_run"]));
    }
    r.dry_run = args["dry_run"].get<bool>();
  }
  if (args.contains("threshold_pct")) {
    const json& t = args["threshold_pct"];
    if (!t.is_number()) {
      return Err(api_error::kWrongType,
                 "field 'threshold_pct' must be a number, not " + TypeName(t));
    }
    if (!(t.get<double>() >= 1 && t.get<double>() <= 100)) {
      return Err(api_error::kInvalidArgument,
                 "field 'threshold_pct' must be between 1 and 100, not " + t.dump());
    }
    r.threshold_pct = t.get<double>();
  }
  if (args.contains("max_moves")) {
    const json& m = args["max_moves"];
    if (!m.is_number_integer()) {
      return Err(api_error::kWrongType, "field 'max_moves' must be an integer, not " + TypeName(m));
    }
    if (m < 1 || m > 100) {
      return Err(api_error::kInvalidArgument,
                 "field 'max_moves' must be between 1 and 100, not " + m.dump());
    }
    r.max_moves = m.get<uint32_t>();
  }
  if (args.contains("force")) {
    if (!args["force"].is_boolean()) {
      return Err(api_error::kWrongType,
                 "field 'force' must be true or false, not " + TypeName(args["force"]));
    }
    r.force = args["force"].get<bool>();
  }
  return r;
}

ApiError ErrorFromStatus(const Status& s) {
  const char* code = api_error::kInternal;
  switch (s.code()) {
    case EINVAL:
      code = api_error::kInvalidArgument;
      break;
    case ENOENT:
      code = api_error::kNotFound;
      break;
    case EEXIST:
      code = api_error::kAlreadyExists;
      break;
    case ENOSPC:
      code = api_error::kInsufficientCapacity;
      break;
    case EBUSY:
      code = api_error::kBusy;
      break;
    case EAGAIN:
      code = api_error::kTryAgain;
      break;
    case EPERM:
    case EACCES:
      code = api_error::kPermissionDenied;
      break;
    case ETIMEDOUT:
      code = api_error::kKernelTimeout;
      break;
    default:
      break;
  }
  return ApiError{code, s.message(), s.code()};
}

std::string OkReply(const nlohmann::json& result) {
  return json{{"api", kApiVersion}, {"ok", true}, {"result", result}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

std::string ErrorReply(const ApiError& e) {
  json err = {{"code", e.code}, {"message", e.message}};
  if (e.err != 0) {
    const char* name = strerrorname_np(e.err);
    err["errno"] = name ? name : std::to_string(e.err);
  }
  return json{{"api", kApiVersion}, {"ok", false}, {"error", err}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

}  // namespace keel
