#include "manager/cluster/repair.h"

#include <cerrno>

#include "manager/cluster/failover.h"
#include "manager/cluster/placement.h"

namespace keel::cluster {
namespace {

const NodeRecord* FindNode(const std::vector<NodeRecord>& nodes, const std::string& name) {
  for (const NodeRecord& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

RepairStep Wait(std::string node, std::string reason) {
  RepairStep s;
  s.kind = RepairStep::Kind::kWait;
  s.node = std::move(node);
  s.reason = std::move(reason);
  return s;
}

// A new replica for `volume`, replacing `replaced` ("" = none).
RepairStep Add(const VolumeRecord& volume, const std::string& replaced,
               const std::vector<NodeRecord>& nodes, const std::string& why) {
  auto node = ChooseReplacement(volume, replaced, nodes);
  if (!node.ok()) return Wait(replaced, why + ": " + node.status().message());
  auto next = AddReplica(volume, *node);
  if (!next.ok()) return Wait(replaced, why + ": " + next.status().message());
  RepairStep s;
  s.kind = RepairStep::Kind::kAdd;
  s.node = *node;
  s.reason = why;
  s.next = std::move(next).value();
  return s;
}

}  // namespace

const char* RepairKindName(RepairStep::Kind kind) {
  switch (kind) {
    case RepairStep::Kind::kNone:
      return "none";
    case RepairStep::Kind::kRemove:
      return "remove";
    case RepairStep::Kind::kAdd:
      return "add";
    case RepairStep::Kind::kWait:
      return "wait";
  }
  return "?";
}

RepairStep NextRepair(const VolumeRecord& v, const std::vector<NodeRecord>& nodes, int64_t now_ms,
                      int64_t grace_ms) {
  if (v.state != VolumeState::kReady) return {};
  const NodeStates states = StatesOf(nodes);

  // 1. Replicas on nodes gone for good.
  for (const std::string& node : ReplicasToReplace(v, states, now_ms, grace_ms)) {
    const NodeRecord* n = FindNode(nodes, node);
    std::string why =
        n ? node + " down for " + std::to_string((now_ms - n->state_changed_ms) / 1000) + " s"
          : node + " is no longer registered";
    auto next = RemoveReplica(v, node);
    if (!next.ok()) {
      // EPERM: the last in-sync copy stays listed, in case its node returns.
      return Wait(node, why + ": " + next.status().message());
    }
    RepairStep s;
    s.kind = RepairStep::Kind::kRemove;
    s.node = node;
    s.reason = why;
    s.next = std::move(next).value();
    return s;
  }

  // 2. Drain: add a replacement, let it fill, then remove.
  for (const ReplicaRef& r : v.replica_set) {
    const NodeRecord* n = FindNode(nodes, r.node);
    if (!n || !n->draining) continue;
    const std::string why = r.node + " is draining";
    if (r.node == v.attached_node) {
      return Wait(r.node, why + ", but volume '" + v.name +
                              "' is attached there: detach it or attach it elsewhere");
    }
    // Replicas that will stay (not on a draining node).
    size_t staying = 0;
    std::string filling;
    for (const ReplicaRef& o : v.replica_set) {
      const NodeRecord* on = FindNode(nodes, o.node);
      if (on && on->draining) continue;
      staying++;
      if (!v.IsInSync(o.node) && on && on->state == NodeState::kUp) filling = o.node;
    }
    if (staying < v.replicas) return Add(v, r.node, nodes, why);
    if (!filling.empty()) {
      return Wait(r.node, why + ": waiting for the new replica on " + filling + " to be in sync" +
                              (v.attached_node.empty() ? " (the volume is detached: it is "
                                                         "filled at its next attach)"
                                                       : ""));
    }
    auto next = RemoveReplica(v, r.node);
    if (!next.ok()) return Wait(r.node, why + ": " + next.status().message());
    RepairStep s;
    s.kind = RepairStep::Kind::kRemove;
    s.node = r.node;
    s.reason = why;
    s.next = std::move(next).value();
    return s;
  }

  // 3. Too few replicas.
  if (v.replica_set.size() < v.replicas) {
    return Add(
        v, "", nodes,
        std::to_string(v.replica_set.size()) + " of " + std::to_string(v.replicas) + " replicas");
  }
  return {};
}

size_t ReplicasOn(const std::vector<VolumeRecord>& volumes, const std::string& node) {
  size_t n = 0;
  for (const VolumeRecord& v : volumes) {
    if (v.FindReplica(node)) n++;
  }
  return n;
}

}  // namespace keel::cluster
