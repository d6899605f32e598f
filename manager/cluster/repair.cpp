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

bool IsUp(const std::vector<NodeRecord>& nodes, const std::string& name) {
  const NodeRecord* n = FindNode(nodes, name);
  return n && n->state == NodeState::kUp;
}

RepairStep SetSyncSource(const VolumeRecord& v, std::string source, std::string why) {
  RepairStep s;
  s.kind = RepairStep::Kind::kSync;
  s.node = source;
  s.reason = std::move(why);
  s.next = v;
  s.next.sync_source = std::move(source);
  return s;
}

// Step 0: who fills the out-of-sync replicas of a detached volume.
RepairStep SyncSource(const VolumeRecord& v, const std::vector<NodeRecord>& nodes) {
  if (!v.attached_node.empty()) {
    if (v.sync_source.empty()) return {};
    return SetSyncSource(v, "", "attached on " + v.attached_node + ": it is the source");
  }
  std::string to_fill;
  for (const ReplicaRef& r : v.replica_set) {
    if (!v.IsInSync(r.node) && IsUp(nodes, r.node)) {
      to_fill = r.node;
      break;
    }
  }
  if (!v.sync_source.empty()) {
    if (!IsUp(nodes, v.sync_source)) {
      return SetSyncSource(v, "", "sync source " + v.sync_source + " is not up");
    }
    if (to_fill.empty()) return SetSyncSource(v, "", "every replica on an up node is in sync");
    return {};
  }
  if (to_fill.empty()) return {};
  // An in-sync replica on an up node; one that stays (not draining, not
  // moving) first.
  std::string source;
  for (bool allow_leaving : {false, true}) {
    for (const std::string& n : v.in_sync) {
      const NodeRecord* rec = FindNode(nodes, n);
      const bool leaving = rec && (rec->draining || v.FindReplica(n)->moving);
      if (source.empty() && IsUp(nodes, n) && (allow_leaving || !leaving)) source = n;
    }
  }
  if (source.empty()) return {};  // no current copy reachable: nothing can fill it
  return SetSyncSource(v, source, "detached: " + to_fill + " is filled from " + source);
}

RepairStep RollBackCreate(const VolumeRecord& v, int64_t now_ms, int64_t timeout_ms) {
  const int64_t age = now_ms - v.created_ms;
  if (age < timeout_ms) return {};
  RepairStep s;
  s.kind = RepairStep::Kind::kRollback;
  s.reason = "create unfinished for " + std::to_string(age / 1000) + " s";
  s.next = v;
  s.next.state = VolumeState::kDeleting;
  s.next.sync_source.clear();
  return s;
}

RepairStep FinishDelete(const VolumeRecord& v, const std::vector<NodeRecord>& nodes, int64_t now_ms,
                        int64_t grace_ms) {
  if (v.replica_set.empty()) {
    RepairStep s;
    s.kind = RepairStep::Kind::kForget;
    s.reason = "deleted on every node";
    return s;
  }
  for (const ReplicaRef& r : v.replica_set) {
    const NodeRecord* n = FindNode(nodes, r.node);
    std::string why;
    if (!n) {
      why = r.node + " is no longer registered";
    } else if (n->state == NodeState::kDown && now_ms - n->state_changed_ms >= grace_ms) {
      why = r.node + " down for " + std::to_string((now_ms - n->state_changed_ms) / 1000) + " s";
    } else {
      continue;  // its node deletes it and drops it from the record
    }
    auto next = DropDeletedReplica(v, r.node);
    if (!next.ok()) return Wait(r.node, why + ": " + next.status().message());
    RepairStep s;
    s.kind = RepairStep::Kind::kRemove;
    s.node = r.node;
    s.reason = why + ": its replica of a deleted volume is forgotten";
    s.next = std::move(next).value();
    return s;
  }
  return {};
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
    case RepairStep::Kind::kSync:
      return "sync";
    case RepairStep::Kind::kRollback:
      return "rollback";
    case RepairStep::Kind::kForget:
      return "forget";
  }
  return "?";
}

RepairStep NextRepair(const VolumeRecord& v, const std::vector<NodeRecord>& nodes, int64_t now_ms,
                      int64_t grace_ms, int64_t create_timeout_ms) {
  if (v.state == VolumeState::kCreating) return RollBackCreate(v, now_ms, create_timeout_ms);
  if (v.state == VolumeState::kDeleting) return FinishDelete(v, nodes, now_ms, grace_ms);
  const NodeStates states = StatesOf(nodes);

  // 0. A detached volume fills its out-of-sync replicas from a sync source.
  if (RepairStep s = SyncSource(v, nodes); s.kind != RepairStep::Kind::kNone) return s;

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

  // 2. Drain and rebalance: add a replacement, let it fill, then remove.
  const auto leaving = [&](const ReplicaRef& r) {
    const NodeRecord* n = FindNode(nodes, r.node);
    return r.moving || (n && n->draining);
  };
  for (const ReplicaRef& r : v.replica_set) {
    if (!leaving(r)) continue;
    const NodeRecord* n = FindNode(nodes, r.node);
    const std::string why =
        n && n->draining ? r.node + " is draining" : "rebalance: moving the replica off " + r.node;
    if (r.node == v.attached_node) {
      return Wait(r.node, why + ", but volume '" + v.name +
                              "' is attached there: detach it or attach it elsewhere");
    }
    // Replicas that will stay (not on a draining node, not moving).
    size_t staying = 0;
    std::string filling;
    for (const ReplicaRef& o : v.replica_set) {
      const NodeRecord* on = FindNode(nodes, o.node);
      if (leaving(o)) continue;
      staying++;
      if (!v.IsInSync(o.node) && on && on->state == NodeState::kUp) filling = o.node;
    }
    if (staying < v.replicas) {
      // A rebalance chose where it goes: there, if that node still fits.
      if (r.moving && !r.move_to.empty()) {
        for (const NodeRecord& to : nodes) {
          if (to.name != r.move_to) continue;
          if (RepairStep s = Add(v, r.node, {to}, why); s.kind == RepairStep::Kind::kAdd) return s;
        }
      }
      return Add(v, r.node, nodes, why);
    }
    if (!filling.empty()) {
      return Wait(r.node,
                  why + ": waiting for the new replica on " + filling + " to be in sync" +
                      (v.sync_source.empty() ? "" : " (filled from " + v.sync_source + ")"));
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
