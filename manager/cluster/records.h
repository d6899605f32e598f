// The cluster's records in etcd (docs/design-cluster.md, "Key layout" and
// "Records"): one JSON document per node and per volume under "/keel/".
//
// Every record carries a schema version "v".  Parsing is strict: a missing
// field, a field of the wrong type or range, an unknown field or a record
// that breaks an invariant (an in-sync node that holds no replica, two
// replicas in one slot, ...) is an EUCLEAN error naming the field.  A record
// in etcd is shared by every keeld, so a bad one must be reported, never
// half-used.  Nothing here throws.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "manager/common/status.h"

namespace keel::cluster {

// Schema version written into every record; a record with a higher "v" was
// written by a newer keeld and is refused rather than misread.
inline constexpr int kRecordVersion = 1;

// Replicas a volume may ask for, and kernel limits the records must respect
// (include/uapi/linux/keel.h: KEEL_META_MAX_PEERS, KEEL_SECRET_MIN/MAX).
inline constexpr uint32_t kMinReplicas = 1;
inline constexpr uint32_t kMaxReplicas = 3;
inline constexpr uint32_t kMaxSlots = 7;  // a replica set never exceeds the peer slots
inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kMaxSecretBytes = 64;

// ---- Key layout ------------------------------------------------------------

inline constexpr char kKeyRoot[] = "/keel/";
inline constexpr char kNodesPrefix[] = "/keel/nodes/";
inline constexpr char kVolumesPrefix[] = "/keel/volumes/";
inline constexpr char kAlivePrefix[] = "/keel/alive/";
inline constexpr char kCoordinatorKey[] = "/keel/coordinator";

// "/keel/nodes/<name>": the node record (NodeRecord).
std::string NodeKey(std::string_view name);
// "/keel/volumes/<name>": the volume record (VolumeRecord).
std::string VolumeKey(std::string_view name);
// "/keel/alive/<name>": bound to the node's etcd lease; exists while the
// node's keeld keeps the lease alive.  Value: the node's keeld version.
std::string AliveKey(std::string_view name);
// "/keel/coordinator": bound to the coordinator's lease; value: its node name.
std::string CoordinatorKey();
// The name part of a key under `prefix` ("/keel/nodes/a" -> "a"), or an
// error if the key is not directly under the prefix.
Result<std::string> NameFromKey(std::string_view prefix, std::string_view key);

// ---- Node ------------------------------------------------------------------

enum class NodeState { kUp, kSuspect, kDown, kMaintenance };
// "up", "suspect", "down", "maintenance".
const char* NodeStateName(NodeState state);
Result<NodeState> ParseNodeState(std::string_view text);

struct NodeRecord {
  std::string name;
  std::string bus_endpoint;    // "tcp://10.0.0.1:7400": where its keeld's bus listens
  std::string bus_public_key;  // CURVE public key, Z85 (40 characters)
  std::string data_address;    // IPv4 or IPv6 literal for kernel replication links
  std::string zone;            // "" = not set
  std::string rack;            // "" = not set; a rack is named within its zone
  std::map<std::string, std::string> labels;
  uint64_t capacity_bytes = 0;  // size of the node's pool
  uint64_t free_bytes = 0;      // not yet promised to a replica
  NodeState state = NodeState::kUp;
  int64_t state_changed_ms = 0;  // Unix ms when `state` last changed
  bool cordoned = false;         // no new replicas placed here
  bool draining = false;         // the coordinator moves every replica off (implies cordoned)
  // The operator's request: the node is in maintenance (its state becomes
  // `maintenance`: never counted down, its replicas are not replaced).
  bool maintenance = false;
  std::string version;  // keeld version, "0.3.0"

  friend bool operator==(const NodeRecord&, const NodeRecord&) = default;
};

std::string NodeRecordToJson(const NodeRecord& node);
Result<NodeRecord> NodeRecordFromJson(std::string_view text);
// As read from etcd: also checks that `key` is NodeKey(record's name), so a
// record copied under the wrong key is not taken for another node.
Result<NodeRecord> NodeRecordFromKv(std::string_view key, std::string_view text);
// The checks NodeRecordFromJson makes on the values (for records built in
// code before they are written).
Status ValidateNodeRecord(const NodeRecord& node);

// A node's state and since when, as placement and failover need it.
struct NodeStatus {
  NodeState state = NodeState::kUp;
  int64_t since_ms = 0;
  friend bool operator==(const NodeStatus&, const NodeStatus&) = default;
};
using NodeStates = std::map<std::string, NodeStatus>;
NodeStates StatesOf(const std::vector<NodeRecord>& nodes);

// ---- Volume ----------------------------------------------------------------

// One replica of a volume.  `slot` is the replica's peer slot: the index of
// its dirty bitmap in every replica's metadata area (0..kMaxSlots-1), stable
// for the replica's life, so whichever node is attached uses PEER_ADD with
// this slot for it.
struct ReplicaRef {
  std::string node;
  uint32_t slot = 0;
  std::optional<uint16_t> port;  // its replica target's port, once listening
  // Only for a replica outside the in-sync set: the last epoch in which its
  // data was current (0 = never: a new replica still being filled).
  std::optional<uint64_t> synced_epoch;
  // Rebalance: the coordinator moves this replica to another node (a
  // replacement is added and filled, then this one leaves), as for a
  // replica on a draining node.
  bool moving = false;
  std::string move_to{};  // the node the rebalance chose; "" = the coordinator's pick

  friend bool operator==(const ReplicaRef&, const ReplicaRef&) = default;
};

struct VolumeConstraints {
  std::vector<std::string> nodes;                    // allow-list; empty = any node
  bool zone_spread = false;                          // every replica in a different zone, or refuse
  std::map<std::string, std::string> node_selector;  // nodes must carry these labels

  friend bool operator==(const VolumeConstraints&, const VolumeConstraints&) = default;
};

// The key for the HMAC handshake of the volume's kernel links (rule 6):
// either the cluster secret, which each node holds in its config file and is
// never written to etcd, or a per-volume secret kept in the record (hex).
struct VolumeSecret {
  enum class Kind { kCluster, kVolume };
  Kind kind = Kind::kCluster;
  std::string hex;  // kVolume only: 2*kMinSecretBytes..2*kMaxSecretBytes hex digits

  friend bool operator==(const VolumeSecret&, const VolumeSecret&) = default;
};

// Lifecycle only: health (degraded, resyncing) is derived from the replica
// and in-sync sets, so it can never disagree with them.
enum class VolumeState { kCreating, kReady, kDeleting };
const char* VolumeStateName(VolumeState state);
Result<VolumeState> ParseVolumeState(std::string_view text);

struct VolumeRecord {
  std::string name;
  std::string uuid;  // canonical lowercase "8-4-4-4-12"
  uint64_t size = 0;
  uint32_t block_size = 4096;  // 512 or 4096
  std::map<std::string, std::string> labels;
  uint32_t replicas = 1;  // wanted, kMinReplicas..kMaxReplicas
  VolumeConstraints constraints;
  uint64_t epoch = 1;                   // >= 1; bumped by every outdate and every attach
  std::vector<ReplicaRef> replica_set;  // 1..kMaxSlots, may exceed `replicas` while one is replaced
  std::vector<std::string> in_sync;     // nodes of replica_set whose data is current; never empty
  std::string attached_node;            // "" = detached
  std::string device;                   // "/dev/keel3" once the disk exists on attached_node
  uint64_t attached_epoch = 0;  // epoch at which the current attachment began (0 = detached)
  VolumeSecret secret;
  VolumeState state = VolumeState::kCreating;
  int64_t created_ms = 0;
  // While detached: the in-sync replica's node that fills the out-of-sync
  // replicas (docs/design-cluster.md, "Filling a detached volume"); set and
  // cleared by the coordinator, cleared by every attach.  "" = none.
  std::string sync_source;

  friend bool operator==(const VolumeRecord&, const VolumeRecord&) = default;

  const ReplicaRef* FindReplica(std::string_view node) const;
  bool IsInSync(std::string_view node) const;
};

std::string VolumeRecordToJson(const VolumeRecord& volume);
Result<VolumeRecord> VolumeRecordFromJson(std::string_view text);
// As read from etcd: also checks that `key` is VolumeKey(record's name).
Result<VolumeRecord> VolumeRecordFromKv(std::string_view key, std::string_view text);
Status ValidateVolumeRecord(const VolumeRecord& volume);

}  // namespace keel::cluster
