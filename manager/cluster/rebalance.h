// Rebalance: which replicas to move so the nodes fill evenly
// (docs/design-cluster.md, "Rebalance").  Pure, like the rest of
// manager/cluster/: it takes the volume and node records and returns a
// plan; nothing moves until the plan's replicas are marked `moving` in
// their records, after which the coordinator moves each exactly as it
// drains (manager/cluster/repair.h, step 2: a replacement is added on the
// node ChooseReplacement picks, filled, then the moving replica leaves).
//
// A node's use is the part of its capacity promised to replicas
// (capacity_bytes - free_bytes).  While the most used up node is more
// than `threshold_pct` points above the least used node that can take a
// replica, the plan moves one replica off it: the largest one whose move
// does not make its destination the more used of the two.  A replica is
// never moved off the node it is attached on (the disk is there), nor
// from a volume that is not ready, is still being filled, or is already
// moving or draining.  The destination is what ChooseReplacement picks
// with the plan's moves so far applied, so the plan is what the
// coordinator will do if nothing else changes meanwhile.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "manager/cluster/records.h"
#include "manager/common/status.h"

namespace keel::cluster {

struct RebalanceOptions {
  double threshold_pct = 10;  // points of use between the most and the least used node
  size_t max_moves = 8;       // per plan
};

struct RebalanceMove {
  std::string volume;
  std::string from;
  std::string to;  // ChooseReplacement's pick when planned
  uint64_t size = 0;
  friend bool operator==(const RebalanceMove&, const RebalanceMove&) = default;
};

struct RebalancePlan {
  std::vector<RebalanceMove> moves;
  std::map<std::string, double> use_before;  // node -> percent of capacity promised
  std::map<std::string, double> use_after;   // with every move done
  std::string reason;                        // why the plan ends where it does
  // Moves of earlier plans not done yet: replicas still marked moving
  // (`to` empty: the coordinator picks it when it adds the replacement).
  std::vector<RebalanceMove> in_progress;
};

RebalancePlan PlanRebalance(const std::vector<VolumeRecord>& volumes,
                            const std::vector<NodeRecord>& nodes, const RebalanceOptions& options);

// `from`'s replica of `volume` marked moving, to `to` ("" = wherever the
// coordinator picks).  ENOENT: no replica there; EALREADY: moving already;
// EBUSY: the volume is attached there or not ready.
Result<VolumeRecord> MarkMoving(const VolumeRecord& volume, const std::string& from,
                                const std::string& to = "");

}  // namespace keel::cluster
