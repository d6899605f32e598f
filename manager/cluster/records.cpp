#include "manager/cluster/records.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <set>

#include "manager/common/json_depth.h"
#include "manager/common/uuid.h"
#include "manager/config/config.h"

namespace keel::cluster {

using nlohmann::json;

namespace {

// Records are small; anything nested deeper than this is not one of ours,
// and refusing it before nlohmann parses bounds the parser's recursion.
constexpr int kMaxDepth = 8;

std::string TypeName(const json& v) {
  if (v.is_number_unsigned()) return "unsigned integer";
  if (v.is_number_integer()) return "negative integer";
  if (v.is_number_float()) return "fraction";
  return v.type_name();
}

// Reads the fields of one JSON object.  The first problem is kept (later
// reads become no-ops), so a parser reads straight down and checks once.
class Fields {
 public:
  Fields(const json& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  bool ok() const { return error_.empty(); }
  Status status() const { return ok() ? Status() : Status::Error(EUCLEAN, where_ + ": " + error_); }
  void Fail(const std::string& why) {
    if (ok()) error_ = why;
  }

  const json* Get(const char* key, bool optional = false) {
    seen_.insert(key);
    if (!ok()) return nullptr;
    auto it = obj_.find(key);
    if (it == obj_.end()) {
      if (!optional) Fail("field '" + std::string(key) + "' is missing");
      return nullptr;
    }
    return &*it;
  }
  void String(const char* key, std::string* out) {
    const json* v = Get(key);
    if (!v) return;
    if (!v->is_string()) return WrongType(key, "a string", *v);
    *out = v->get<std::string>();
  }
  void Bool(const char* key, bool* out, bool optional = false) {
    const json* v = Get(key, optional);
    if (!v) return;
    if (!v->is_boolean()) return WrongType(key, "true or false", *v);
    *out = v->get<bool>();
  }
  void U64(const char* key, uint64_t* out, uint64_t max = UINT64_MAX) {
    const json* v = Get(key);
    if (v) *out = U64Value(key, *v, max);
  }
  uint64_t U64Value(const std::string& key, const json& v, uint64_t max) {
    if (!v.is_number_unsigned()) {
      WrongType(key, "an unsigned integer", v);
      return 0;
    }
    uint64_t n = v.get<uint64_t>();
    if (n > max) {
      Fail("field '" + key + "' is " + std::to_string(n) + ", more than " + std::to_string(max));
    }
    return n;
  }
  void I64(const char* key, int64_t* out) {
    const json* v = Get(key);
    if (!v) return;
    if (!v->is_number_unsigned() || v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return WrongType(key, "a time in ms since the Unix epoch (>= 0)", *v);
    }
    *out = v->get<int64_t>();
  }
  void StringMap(const char* key, std::map<std::string, std::string>* out) {
    const json* v = Get(key);
    if (!v) return;
    if (!v->is_object()) return WrongType(key, "an object of strings", *v);
    for (const auto& [k, s] : v->items()) {
      if (!s.is_string())
        return Fail("field '" + std::string(key) + "': '" + k + "' is not a string");
      (*out)[k] = s.get<std::string>();
    }
  }
  void StringList(const char* key, std::vector<std::string>* out) {
    const json* v = Get(key);
    if (!v) return;
    if (!v->is_array()) return WrongType(key, "an array of strings", *v);
    for (const auto& s : *v) {
      if (!s.is_string()) return Fail("field '" + std::string(key) + "' has a non-string entry");
      out->push_back(s.get<std::string>());
    }
  }
  // Refuses fields the schema does not have: a typo or a newer writer's
  // field must not be silently dropped when we write the record back.
  void NoOthers() {
    if (!ok()) return;
    for (const auto& [k, v] : obj_.items()) {
      if (!seen_.contains(k)) return Fail("unknown field '" + k + "'");
    }
  }
  void WrongType(const std::string& key, const char* want, const json& v) {
    Fail("field '" + key + "' must be " + want + ", not " + TypeName(v));
  }

 private:
  const json& obj_;
  std::string where_;
  std::string error_;
  std::set<std::string> seen_;
};

Result<json> ParseObject(std::string_view text, const std::string& what) {
  if (JsonDepth(text, kMaxDepth) > kMaxDepth) {
    return Status::Error(EUCLEAN,
                         what + ": nests deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Error(EUCLEAN, what + ": not valid JSON");
  if (!j.is_object()) return Status::Error(EUCLEAN, what + ": not a JSON object");
  return j;
}

// Checks "v" first: a newer schema is refused as such, not as a pile of
// unknown fields.
void CheckVersion(Fields& f) {
  uint64_t v = 0;
  f.U64("v", &v);
  if (f.ok() && v != static_cast<uint64_t>(kRecordVersion)) {
    f.Fail("schema version " + std::to_string(v) + " is not " + std::to_string(kRecordVersion) +
           (v > static_cast<uint64_t>(kRecordVersion) ? " (written by a newer keeld)" : ""));
  }
}

// Records are valid UTF-8 when they come from a JSON parser, but a byte
// string built in code might not be; nlohmann would throw on it.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Status Invalid(const std::string& what, const std::string& why) {
  return Status::Error(EUCLEAN, what + ": " + why);
}

Status CheckLabels(const std::string& what, const std::map<std::string, std::string>& labels) {
  for (const auto& [k, v] : labels) {
    Status s = ValidateLabel(k, v);
    if (!s.ok()) return Invalid(what, s.message());
  }
  return Status();
}

// "" or a name.
Status CheckOptionalName(const std::string& what, const char* field, const std::string& v) {
  if (v.empty()) return Status();
  Status s = ValidateName(field, v);
  return s.ok() ? s : Invalid(what, s.message());
}

bool IsZ85Key(const std::string& s) {
  static constexpr std::string_view kAlphabet =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return kAlphabet.find(c) != std::string_view::npos;
         });
}

// "tcp://<host>:<port>", port 1..65535.
bool IsTcpEndpoint(const std::string& e) {
  if (e.rfind("tcp://", 0) != 0) return false;
  std::string_view p(e);
  p.remove_prefix(6);
  auto colon = p.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view port = p.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  unsigned long n = std::stoul(std::string(port));
  return n >= 1 && n <= 65535;
}

bool IsIpLiteral(const std::string& a) {
  unsigned char buf[16];
  return inet_pton(AF_INET, a.c_str(), buf) == 1 || inet_pton(AF_INET6, a.c_str(), buf) == 1;
}

bool IsDevice(const std::string& d) {
  constexpr std::string_view kDev = "/dev/keel";
  if (d.size() <= kDev.size() || d.size() > kDev.size() + 7 || d.rfind(kDev, 0) != 0) return false;
  return std::all_of(d.begin() + kDev.size(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsHex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

// ---- Keys ------------------------------------------------------------------

std::string NodeKey(std::string_view name) { return kNodesPrefix + std::string(name); }
std::string VolumeKey(std::string_view name) { return kVolumesPrefix + std::string(name); }
std::string AliveKey(std::string_view name) { return kAlivePrefix + std::string(name); }
std::string CoordinatorKey() { return kCoordinatorKey; }

Result<std::string> NameFromKey(std::string_view prefix, std::string_view key) {
  if (key.size() <= prefix.size() || key.substr(0, prefix.size()) != prefix) {
    return Status::Error(
        EINVAL, "key '" + std::string(key) + "' is not under '" + std::string(prefix) + "'");
  }
  std::string name(key.substr(prefix.size()));
  Status s = ValidateName("name in key '" + std::string(key) + "'", name);
  if (!s.ok()) return s;
  return name;
}

// ---- Enums -----------------------------------------------------------------

const char* NodeStateName(NodeState state) {
  switch (state) {
    case NodeState::kUp:
      return "up";
    case NodeState::kSuspect:
      return "suspect";
    case NodeState::kDown:
      return "down";
    case NodeState::kMaintenance:
      return "maintenance";
  }
  return "?";
}

Result<NodeState> ParseNodeState(std::string_view text) {
  for (NodeState s :
       {NodeState::kUp, NodeState::kSuspect, NodeState::kDown, NodeState::kMaintenance}) {
    if (text == NodeStateName(s)) return s;
  }
  return Status::Error(EINVAL, "node state '" + std::string(text) +
                                   "' is not one of up, suspect, down, maintenance");
}

const char* VolumeStateName(VolumeState state) {
  switch (state) {
    case VolumeState::kCreating:
      return "creating";
    case VolumeState::kReady:
      return "ready";
    case VolumeState::kDeleting:
      return "deleting";
  }
  return "?";
}

Result<VolumeState> ParseVolumeState(std::string_view text) {
  for (VolumeState s : {VolumeState::kCreating, VolumeState::kReady, VolumeState::kDeleting}) {
    if (text == VolumeStateName(s)) return s;
  }
  return Status::Error(
      EINVAL, "volume state '" + std::string(text) + "' is not one of creating, ready, deleting");
}

// ---- Node ------------------------------------------------------------------

Status ValidateNodeRecord(const NodeRecord& n) {
  Status s = ValidateName("node name", n.name);
  if (!s.ok()) return Invalid("node record", s.message());
  const std::string what = "node record '" + n.name + "'";
  if (!IsTcpEndpoint(n.bus_endpoint)) {
    return Invalid(what, "bus_endpoint '" + n.bus_endpoint + "' is not like tcp://10.0.0.1:7480");
  }
  if (!IsZ85Key(n.bus_public_key)) {
    return Invalid(what, "bus_public_key must be a CURVE key: 40 Z85 characters");
  }
  if (!IsIpLiteral(n.data_address)) {
    return Invalid(what, "data_address '" + n.data_address + "' is not an IPv4 or IPv6 address");
  }
  if (s = CheckOptionalName(what, "zone", n.zone); !s.ok()) return s;
  if (s = CheckOptionalName(what, "rack", n.rack); !s.ok()) return s;
  if (s = CheckLabels(what, n.labels); !s.ok()) return s;
  if (n.free_bytes > n.capacity_bytes) {
    return Invalid(what, "free_bytes " + std::to_string(n.free_bytes) + " exceeds capacity_bytes " +
                             std::to_string(n.capacity_bytes));
  }
  if (n.state_changed_ms < 0) return Invalid(what, "state_changed_ms is negative");
  if (n.draining && !n.cordoned) return Invalid(what, "draining without cordoned");
  if (n.version.empty()) return Invalid(what, "version is empty");
  return Status();
}

std::string NodeRecordToJson(const NodeRecord& n) {
  json j = {{"v", kRecordVersion},
            {"name", n.name},
            {"bus_endpoint", n.bus_endpoint},
            {"bus_public_key", n.bus_public_key},
            {"data_address", n.data_address},
            {"zone", n.zone},
            {"rack", n.rack},
            {"labels", n.labels},
            {"capacity_bytes", n.capacity_bytes},
            {"free_bytes", n.free_bytes},
            {"state", NodeStateName(n.state)},
            {"state_changed_ms", n.state_changed_ms},
            {"cordoned", n.cordoned},
            {"draining", n.draining},
            {"maintenance", n.maintenance},
            {"version", n.version}};
  return Dump(j);
}

Result<NodeRecord> NodeRecordFromJson(std::string_view text) {
  auto j = ParseObject(text, "node record");
  if (!j.ok()) return j.status();
  Fields f(*j, "node record");
  CheckVersion(f);
  NodeRecord n;
  std::string state;
  f.String("name", &n.name);
  f.String("bus_endpoint", &n.bus_endpoint);
  f.String("bus_public_key", &n.bus_public_key);
  f.String("data_address", &n.data_address);
  f.String("zone", &n.zone);
  f.String("rack", &n.rack);
  f.StringMap("labels", &n.labels);
  f.U64("capacity_bytes", &n.capacity_bytes);
  f.U64("free_bytes", &n.free_bytes);
  f.String("state", &state);
  f.I64("state_changed_ms", &n.state_changed_ms);
  f.Bool("cordoned", &n.cordoned);
  f.Bool("draining", &n.draining, /*optional=*/true);  // absent in records before drain
  f.Bool("maintenance", &n.maintenance, /*optional=*/true);
  f.String("version", &n.version);
  f.NoOthers();
  if (!f.ok()) return f.status();
  auto st = ParseNodeState(state);
  if (!st.ok()) return Invalid("node record '" + n.name + "'", st.status().message());
  n.state = *st;
  Status s = ValidateNodeRecord(n);
  if (!s.ok()) return s;
  return n;
}

Result<NodeRecord> NodeRecordFromKv(std::string_view key, std::string_view text) {
  auto n = NodeRecordFromJson(text);
  if (!n.ok()) return Status::Error(EUCLEAN, std::string(key) + ": " + n.status().message());
  if (key != NodeKey(n->name)) {
    return Status::Error(EUCLEAN,
                         std::string(key) + ": holds the record of node '" + n->name + "'");
  }
  return n;
}

NodeStates StatesOf(const std::vector<NodeRecord>& nodes) {
  NodeStates states;
  for (const NodeRecord& n : nodes) states[n.name] = {n.state, n.state_changed_ms};
  return states;
}

// ---- Volume ----------------------------------------------------------------

const ReplicaRef* VolumeRecord::FindReplica(std::string_view node) const {
  for (const ReplicaRef& r : replica_set) {
    if (r.node == node) return &r;
  }
  return nullptr;
}

bool VolumeRecord::IsInSync(std::string_view node) const {
  return std::find(in_sync.begin(), in_sync.end(), node) != in_sync.end();
}

Status ValidateVolumeRecord(const VolumeRecord& v) {
  Status s = ValidateName("volume name", v.name);
  if (!s.ok()) return Invalid("volume record", s.message());
  const std::string what = "volume record '" + v.name + "'";
  auto uuid = Uuid::Parse(v.uuid);
  if (!uuid.ok() || uuid->IsNil() || uuid->ToString() != v.uuid) {
    return Invalid(what, "uuid '" + v.uuid + "' is not a lowercase 8-4-4-4-12 UUID");
  }
  if (v.block_size != 512 && v.block_size != 4096) {
    return Invalid(what, "block_size must be 512 or 4096, not " + std::to_string(v.block_size));
  }
  if (v.size == 0 || v.size % v.block_size != 0) {
    return Invalid(what, "size " + std::to_string(v.size) + " is not a positive multiple of " +
                             std::to_string(v.block_size));
  }
  if (s = CheckLabels(what, v.labels); !s.ok()) return s;
  if (v.replicas < kMinReplicas || v.replicas > kMaxReplicas) {
    return Invalid(what, "replicas must be 1 to 3, not " + std::to_string(v.replicas));
  }
  std::set<std::string> allowed;
  for (const std::string& n : v.constraints.nodes) {
    if (s = ValidateName("constraints.nodes entry", n); !s.ok()) return Invalid(what, s.message());
    if (!allowed.insert(n).second)
      return Invalid(what, "constraints.nodes lists '" + n + "' twice");
  }
  if (s = CheckLabels(what, v.constraints.node_selector); !s.ok()) return s;
  if (v.epoch == 0) return Invalid(what, "epoch must be at least 1");

  // A deleting record loses its replicas one by one as their nodes delete
  // them; the last one gone, the record goes.
  const bool deleting = v.state == VolumeState::kDeleting;
  if (v.replica_set.empty() && !deleting) return Invalid(what, "replica_set is empty");
  if (v.replica_set.size() > kMaxSlots) {
    return Invalid(what, "replica_set has " + std::to_string(v.replica_set.size()) +
                             " replicas; at most " + std::to_string(kMaxSlots) + " fit the slots");
  }
  std::set<std::string> nodes;
  std::set<uint32_t> slots;
  for (const ReplicaRef& r : v.replica_set) {
    if (s = ValidateName("replica node", r.node); !s.ok()) return Invalid(what, s.message());
    if (!nodes.insert(r.node).second) {
      return Invalid(what, "replica_set has two replicas on node '" + r.node + "'");
    }
    if (r.slot >= kMaxSlots) {
      return Invalid(what, "replica on '" + r.node + "' has slot " + std::to_string(r.slot) +
                               "; slots are 0 to " + std::to_string(kMaxSlots - 1));
    }
    if (!slots.insert(r.slot).second) {
      return Invalid(what, "slot " + std::to_string(r.slot) + " is used by two replicas");
    }
    if (r.port && *r.port == 0) return Invalid(what, "replica on '" + r.node + "' has port 0");
    if (!r.move_to.empty()) {
      if (!r.moving)
        return Invalid(what, "replica on '" + r.node + "' has move_to but is not moving");
      if (s = ValidateName("move_to", r.move_to); !s.ok()) return Invalid(what, s.message());
    }
  }
  if (v.in_sync.empty() && !deleting) {
    return Invalid(what, "in_sync is empty: no replica would be current");
  }
  std::set<std::string> in_sync;
  for (const std::string& n : v.in_sync) {
    if (!nodes.contains(n)) return Invalid(what, "in_sync node '" + n + "' holds no replica");
    if (!in_sync.insert(n).second) return Invalid(what, "in_sync lists '" + n + "' twice");
  }
  // synced_epoch is exactly the out-of-sync replicas' "how stale", so the
  // two views of who is current cannot disagree.
  for (const ReplicaRef& r : v.replica_set) {
    bool current = in_sync.contains(r.node);
    if (current && r.synced_epoch) {
      return Invalid(what, "replica on '" + r.node + "' is in sync but has a synced_epoch");
    }
    if (!current && !r.synced_epoch) {
      return Invalid(what, "replica on '" + r.node + "' is out of sync but has no synced_epoch");
    }
    if (!current && *r.synced_epoch >= v.epoch) {
      return Invalid(what, "replica on '" + r.node + "' has synced_epoch " +
                               std::to_string(*r.synced_epoch) + ", not below the epoch " +
                               std::to_string(v.epoch));
    }
  }
  if (v.attached_node.empty()) {
    if (!v.device.empty()) return Invalid(what, "device is set but attached_node is not");
    if (v.attached_epoch != 0)
      return Invalid(what, "attached_epoch is set but attached_node is not");
  } else {
    if (s = ValidateName("attached_node", v.attached_node); !s.ok()) {
      return Invalid(what, s.message());
    }
    if (!v.device.empty() && !IsDevice(v.device)) {
      return Invalid(what, "device '" + v.device + "' is not like /dev/keel3");
    }
    if (v.attached_epoch == 0 || v.attached_epoch > v.epoch) {
      return Invalid(what, "attached_epoch " + std::to_string(v.attached_epoch) +
                               " is not between 1 and the epoch " + std::to_string(v.epoch));
    }
  }
  if (v.secret.kind == VolumeSecret::Kind::kCluster) {
    if (!v.secret.hex.empty()) return Invalid(what, "a cluster secret reference carries no key");
  } else if (v.secret.hex.size() % 2 != 0 || v.secret.hex.size() < 2 * kMinSecretBytes ||
             v.secret.hex.size() > 2 * kMaxSecretBytes || !IsHex(v.secret.hex)) {
    return Invalid(what, "secret key must be " + std::to_string(kMinSecretBytes) + " to " +
                             std::to_string(kMaxSecretBytes) +
                             " bytes as an even number of lowercase hex digits");
  }
  if (v.created_ms < 0) return Invalid(what, "created_ms is negative");
  if (!v.sync_source.empty()) {
    if (!v.attached_node.empty()) return Invalid(what, "sync_source is set on an attached volume");
    if (!in_sync.contains(v.sync_source)) {
      return Invalid(what, "sync_source '" + v.sync_source + "' is not in sync");
    }
  }
  return Status();
}

std::string VolumeRecordToJson(const VolumeRecord& v) {
  json replicas = json::array();
  for (const ReplicaRef& r : v.replica_set) {
    json e = {{"node", r.node}, {"slot", r.slot}};
    if (r.port) e["port"] = *r.port;
    if (r.synced_epoch) e["synced_epoch"] = *r.synced_epoch;
    if (r.moving) e["moving"] = true;
    if (!r.move_to.empty()) e["move_to"] = r.move_to;
    replicas.push_back(std::move(e));
  }
  json secret = {{"kind", v.secret.kind == VolumeSecret::Kind::kCluster ? "cluster" : "volume"}};
  if (v.secret.kind == VolumeSecret::Kind::kVolume) secret["key_hex"] = v.secret.hex;
  json j = {{"v", kRecordVersion},
            {"name", v.name},
            {"uuid", v.uuid},
            {"size", v.size},
            {"block_size", v.block_size},
            {"labels", v.labels},
            {"replicas", v.replicas},
            {"constraints",
             {{"nodes", v.constraints.nodes},
              {"zone_spread", v.constraints.zone_spread},
              {"node_selector", v.constraints.node_selector}}},
            {"epoch", v.epoch},
            {"replica_set", std::move(replicas)},
            {"in_sync", v.in_sync},
            {"attached_node", v.attached_node},
            {"device", v.device},
            {"attached_epoch", v.attached_epoch},
            {"secret", std::move(secret)},
            {"state", VolumeStateName(v.state)},
            {"created_ms", v.created_ms}};
  if (!v.sync_source.empty()) j["sync_source"] = v.sync_source;
  return Dump(j);
}

Result<VolumeRecord> VolumeRecordFromJson(std::string_view text) {
  auto j = ParseObject(text, "volume record");
  if (!j.ok()) return j.status();
  Fields f(*j, "volume record");
  CheckVersion(f);
  VolumeRecord v;
  std::string state;
  uint64_t block_size = 0, replicas = 0;
  f.String("name", &v.name);
  f.String("uuid", &v.uuid);
  f.U64("size", &v.size);
  f.U64("block_size", &block_size, UINT32_MAX);
  f.StringMap("labels", &v.labels);
  f.U64("replicas", &replicas, UINT32_MAX);
  if (const json* c = f.Get("constraints")) {
    if (!c->is_object()) {
      f.WrongType("constraints", "an object", *c);
    } else {
      Fields cf(*c, "");
      cf.StringList("nodes", &v.constraints.nodes);
      cf.Bool("zone_spread", &v.constraints.zone_spread);
      cf.StringMap("node_selector", &v.constraints.node_selector);
      cf.NoOthers();
      if (!cf.ok()) f.Fail("constraints" + cf.status().message());
    }
  }
  f.U64("epoch", &v.epoch);
  if (const json* rs = f.Get("replica_set")) {
    if (!rs->is_array()) {
      f.WrongType("replica_set", "an array", *rs);
    } else {
      for (size_t i = 0; i < rs->size() && f.ok(); i++) {
        const json& e = (*rs)[i];
        const std::string at = "replica_set[" + std::to_string(i) + "]";
        if (!e.is_object()) {
          f.WrongType(at, "an object", e);
          break;
        }
        Fields rf(e, "");
        ReplicaRef r;
        uint64_t slot = 0;
        rf.String("node", &r.node);
        rf.U64("slot", &slot, UINT32_MAX);
        r.slot = static_cast<uint32_t>(slot);
        if (const json* p = rf.Get("port", /*optional=*/true)) {
          r.port = static_cast<uint16_t>(rf.U64Value("port", *p, 65535));
        }
        if (const json* se = rf.Get("synced_epoch", /*optional=*/true)) {
          r.synced_epoch = rf.U64Value("synced_epoch", *se, UINT64_MAX);
        }
        rf.Bool("moving", &r.moving, /*optional=*/true);
        if (const json* to = rf.Get("move_to", /*optional=*/true)) {
          if (to->is_string()) {
            r.move_to = to->get<std::string>();
          } else {
            rf.WrongType("move_to", "a string", *to);
          }
        }
        rf.NoOthers();
        if (!rf.ok()) f.Fail(at + rf.status().message());
        v.replica_set.push_back(std::move(r));
      }
    }
  }
  f.StringList("in_sync", &v.in_sync);
  f.String("attached_node", &v.attached_node);
  f.String("device", &v.device);
  f.U64("attached_epoch", &v.attached_epoch);
  if (const json* sec = f.Get("secret")) {
    if (!sec->is_object()) {
      f.WrongType("secret", "an object", *sec);
    } else {
      Fields sf(*sec, "");
      std::string kind;
      sf.String("kind", &kind);
      if (sf.ok() && kind == "cluster") {
        v.secret.kind = VolumeSecret::Kind::kCluster;
      } else if (sf.ok() && kind == "volume") {
        v.secret.kind = VolumeSecret::Kind::kVolume;
        sf.String("key_hex", &v.secret.hex);
      } else {
        sf.Fail("kind must be 'cluster' or 'volume', not '" + kind + "'");
      }
      sf.NoOthers();
      if (!sf.ok()) f.Fail("secret" + sf.status().message());
    }
  }
  f.String("state", &state);
  f.I64("created_ms", &v.created_ms);
  if (const json* src = f.Get("sync_source", /*optional=*/true)) {
    if (src->is_string()) {
      v.sync_source = src->get<std::string>();
    } else {
      f.WrongType("sync_source", "a string", *src);
    }
  }
  f.NoOthers();
  if (!f.ok()) return f.status();
  v.block_size = static_cast<uint32_t>(block_size);
  v.replicas = static_cast<uint32_t>(replicas);
  auto st = ParseVolumeState(state);
  if (!st.ok()) return Invalid("volume record '" + v.name + "'", st.status().message());
  v.state = *st;
  Status s = ValidateVolumeRecord(v);
  if (!s.ok()) return s;
  return v;
}

Result<VolumeRecord> VolumeRecordFromKv(std::string_view key, std::string_view text) {
  auto v = VolumeRecordFromJson(text);
  if (!v.ok()) return Status::Error(EUCLEAN, std::string(key) + ": " + v.status().message());
  if (key != VolumeKey(v->name)) {
    return Status::Error(EUCLEAN,
                         std::string(key) + ": holds the record of volume '" + v->name + "'");
  }
  return v;
}

}  // namespace keel::cluster
