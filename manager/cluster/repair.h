// Repair: what the coordinator does next to one volume's record
// (docs/design-cluster.md, "Re-replication and drain" and "What the
// coordinator finishes").  Pure, like the rest of manager/cluster/: it takes
// the volume record and the node records and returns at most one change, as
// the record to write back with a compare-and-swap.  The coordinator calls
// it for every volume each round, so a change lost to a crash or a deposed
// coordinator is simply decided again by the next one: nothing is
// remembered between rounds.
//
// A volume left half-made or half-deleted by a keeld that died:
//  - creating for longer than the create timeout: rolled back (the client
//    never heard "created"): the record becomes deleting;
//  - deleting: each replica node deletes its replica and drops it from the
//    record; a replica on a node down for the grace period (or no longer
//    registered) is dropped for it; once none is left the record goes.
// A ready volume, in order, the first that applies:
//  0. fill while detached: a detached volume with an out-of-sync replica on
//     an up node gets a sync source (an in-sync replica's node, which adds
//     the out-of-sync ones as peers and copies its data to them); the
//     source is cleared once nothing is left to fill, or if it went down;
//  1. re-replication: a replica whose node has been down for the grace
//     period (or is no longer registered) leaves the replica set
//     (RemoveReplica: under a new epoch if it was still in sync; never the
//     last in-sync replica, never the attached node's);
//  2. drain: a replica on a draining node gets a replacement first
//     (AddReplica on ChooseReplacement's node), and leaves only once no
//     other replica is still being filled;
//  3. too few replicas (after 1, or a placement that could not be met at
//     create): a new one on the node ChooseReplacement picks.
// A new replica is empty (synced_epoch 0): the attached node fills it with
// a full resync (or, detached, the sync source of step 0) and records it in
// sync (docs/design-cluster.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "manager/cluster/records.h"
#include "manager/common/status.h"

namespace keel::cluster {

struct RepairStep {
  enum class Kind {
    kNone,      // nothing to do
    kRemove,    // `node`'s replica leaves: write `next`
    kAdd,       // a new replica on `node`: write `next`
    kWait,      // something is to do but cannot be yet: `reason` says why
    kSync,      // the sync source set (`node`) or cleared (`node` ""): write `next`
    kRollback,  // a create nobody finishes: the record becomes deleting (`next`)
    kForget,    // a deleting record with no replica left: delete the record
  };
  Kind kind = Kind::kNone;
  std::string node;
  std::string reason;  // for the log and node.drain: "n2 down for 612 s", "n1 is draining"
  VolumeRecord next;
};
const char* RepairKindName(RepairStep::Kind kind);

// How long a create may stay unfinished before it is rolled back: well
// above what a live keeld's create takes (one bus call per replica).
inline constexpr int64_t kDefaultCreateTimeoutMs = 120'000;

RepairStep NextRepair(const VolumeRecord& volume, const std::vector<NodeRecord>& nodes,
                      int64_t now_ms, int64_t grace_ms,
                      int64_t create_timeout_ms = kDefaultCreateTimeoutMs);

// How many of the volumes hold a replica on `node` (node.drain's count).
size_t ReplicasOn(const std::vector<VolumeRecord>& volumes, const std::string& node);

}  // namespace keel::cluster
