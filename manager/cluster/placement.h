// Placement: which nodes hold a volume's replicas.  Pure and deterministic:
// the same request and nodes always give the same answer (ties are broken
// by node name), so the coordinator's choice can be tested and explained.
//
// Rules (docs/design-cluster.md, "Placement"):
//  - only nodes that are `up`, not cordoned, carry the volume's
//    node_selector labels, are in its allow-list (if any) and have
//    `free_bytes >= size` are eligible; a node holds at most one replica;
//  - each pick prefers, in order: a zone not used yet, the node that asked
//    (the data is then local to the container), a rack not used yet, the
//    most free bytes, the smallest name;
//  - with `zone_spread`, a zone already used is not "less preferred" but
//    refused, and nodes without a zone are not eligible.
// A refusal (ENOSPC) says what was needed, what was available and why every
// other node was not.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "manager/cluster/records.h"
#include "manager/common/status.h"

namespace keel::cluster {

struct PlacementRequest {
  std::string volume;  // only for messages
  uint32_t replicas = 1;
  uint64_t size = 0;
  VolumeConstraints constraints;
  std::string requester;  // the node that asked; "" = none
};

PlacementRequest PlacementRequestFor(const VolumeRecord& volume, std::string requester);

// Chooses request.replicas distinct nodes, in pick order (the requester
// first when it is eligible).  EINVAL for a bad request (replicas outside
// 1..3, a node listed twice), ENOSPC when the nodes cannot satisfy it.
Result<std::vector<std::string>> PlaceReplicas(const PlacementRequest& request,
                                               const std::vector<NodeRecord>& nodes);

// Chooses one node for a new replica of `volume`: never a node that already
// holds one of its replicas; spread is counted against the replicas that
// stay (the replica set without `replaced`; "" when adding without
// replacing); the attached node is preferred like a requester (a local
// replica serves its reads).
Result<std::string> ChooseReplacement(const VolumeRecord& volume, const std::string& replaced,
                                      const std::vector<NodeRecord>& nodes);

}  // namespace keel::cluster
