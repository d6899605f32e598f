// Repair: what the coordinator does next to one volume's replica set
// (docs/design-cluster.md, "Re-replication and drain").  Pure, like the
// rest of manager/cluster/: it takes the volume record and the node
// records and returns at most one change, as the record to write back with
// a compare-and-swap.  The coordinator calls it for every volume each
// round, so a change lost to a crash or a deposed coordinator is simply
// decided again by the next one: nothing is remembered between rounds.
//
// In order, the first that applies:
//  1. re-replication: a replica whose node has been down for the grace
//     period (or is no longer registered) leaves the replica set
//     (RemoveReplica: under a new epoch if it was still in sync; never the
//     last in-sync replica, never the attached node's);
//  2. drain: a replica on a draining node gets a replacement first
//     (AddReplica on ChooseReplacement's node), and leaves only once no
//     other replica is still being filled;
//  3. too few replicas (after 1, or a placement that could not be met at
//     create): a new one on the node ChooseReplacement picks.
// A new replica is empty (synced_epoch 0); the attached node fills it with
// a full resync and records it in sync (docs/design-cluster.md).  While
// the volume is detached nothing can fill it: it waits for the next attach.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "manager/cluster/records.h"
#include "manager/common/status.h"

namespace keel::cluster {

struct RepairStep {
  enum class Kind {
    kNone,    // nothing to do
    kRemove,  // `node`'s replica leaves: write `next`
    kAdd,     // a new replica on `node`: write `next`
    kWait,    // something is to do but cannot be yet: `reason` says why
  };
  Kind kind = Kind::kNone;
  std::string node;
  std::string reason;  // for the log and node.drain: "n2 down for 612 s", "n1 is draining"
  VolumeRecord next;
};
const char* RepairKindName(RepairStep::Kind kind);

RepairStep NextRepair(const VolumeRecord& volume, const std::vector<NodeRecord>& nodes,
                      int64_t now_ms, int64_t grace_ms);

// How many of the volumes hold a replica on `node` (node.drain's count).
size_t ReplicasOn(const std::vector<VolumeRecord>& volumes, const std::string& node);

}  // namespace keel::cluster
