#include "manager/cluster/failover.h"

#include <algorithm>
#include <cerrno>
#include <set>

namespace keel::cluster {

namespace {

std::string Vol(const VolumeRecord& v) { return "volume '" + v.name + "'"; }

NodeState StateOf(const NodeStates& states, const std::string& node, bool* known) {
  auto it = states.find(node);
  *known = it != states.end();
  return *known ? it->second.state : NodeState::kDown;
}

bool IsUp(const NodeStates& states, const std::string& node) {
  bool known;
  return StateOf(states, node, &known) == NodeState::kUp && known;
}

std::string StateText(const NodeStates& states, const std::string& node) {
  bool known;
  NodeState s = StateOf(states, node, &known);
  return known ? NodeStateName(s) : "not registered";
}

// In-sync replicas on up nodes other than `except`, for "attach on ..." hints.
std::vector<std::string> UsableInSync(const VolumeRecord& v, const NodeStates& states,
                                      const std::string& except) {
  std::vector<std::string> out;
  for (const std::string& n : v.in_sync) {
    if (n != except && IsUp(states, n)) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Hint(const std::vector<std::string>& nodes) {
  if (nodes.empty()) return "no in-sync replica is on an up node";
  std::string out = "attach on ";
  for (size_t i = 0; i < nodes.size(); i++) {
    out += (i == 0 ? "" : i + 1 == nodes.size() ? " or " : ", ") + nodes[i];
  }
  return out + (nodes.size() == 1 ? " which is in sync" : " which are in sync");
}

std::string StaleText(const VolumeRecord& v, const ReplicaRef& r) {
  if (*r.synced_epoch == 0)
    return "replica on " + r.node + " is still being filled (never in sync)";
  return "replica on " + r.node + " is outdated (epoch " + std::to_string(*r.synced_epoch) + " < " +
         std::to_string(v.epoch) + ")";
}

// Takes `node` out of the in-sync set under a new epoch.
void Outdate(VolumeRecord& v, const std::string& node) {
  v.in_sync.erase(std::remove(v.in_sync.begin(), v.in_sync.end(), node), v.in_sync.end());
  for (ReplicaRef& r : v.replica_set) {
    if (r.node == node) r.synced_epoch = v.epoch;
  }
  v.epoch++;
  if (v.sync_source == node) v.sync_source.clear();  // only a current copy fills others
}

}  // namespace

Result<VolumeRecord> OutdateReplica(const VolumeRecord& v, const std::string& node) {
  const ReplicaRef* r = v.FindReplica(node);
  if (!r) return Status::Error(ENOENT, Vol(v) + " has no replica on " + node);
  if (!v.IsInSync(node)) {
    return Status::Error(EALREADY, StaleText(v, *r) + " already, in " + Vol(v));
  }
  if (v.in_sync.size() == 1) {
    return Status::Error(EPERM, "refusing to outdate the replica on " + node +
                                    ", the last in-sync "
                                    "replica of " +
                                    Vol(v) + ": no current copy would be left");
  }
  VolumeRecord out = v;
  Outdate(out, node);
  return out;
}

Status CanAttachOn(const VolumeRecord& v, const std::string& node, const NodeStates& states) {
  if (v.state != VolumeState::kReady) {
    return Status::Error(EBUSY, Vol(v) + " is " + VolumeStateName(v.state));
  }
  if (!IsUp(states, node)) {
    return Status::Error(EHOSTDOWN, "cannot attach " + Vol(v) + " on " + node + ": the node is " +
                                        StateText(states, node));
  }
  if (v.attached_node == node) return Status();
  const std::string prefix = "cannot attach " + Vol(v) + " on " + node + ": ";
  const bool failover = !v.attached_node.empty();
  if (failover) {
    bool known;
    NodeState s = StateOf(states, v.attached_node, &known);
    // Only "down" counts: a suspect node may still be writing, and a node
    // in maintenance was put there by someone who expects it back.
    if (known && s != NodeState::kDown) {
      return Status::Error(EBUSY, prefix + "it is attached on " + v.attached_node + " (" +
                                      NodeStateName(s) + "); detach it there first");
    }
  }
  std::vector<std::string> usable = UsableInSync(v, states, v.attached_node);
  if (const ReplicaRef* r = v.FindReplica(node)) {
    if (v.IsInSync(node)) return Status();
    return Status::Error(ESTALE, prefix + StaleText(v, *r) + "; " + Hint(usable));
  }
  if (failover) {
    return Status::Error(ESTALE, prefix + "it holds no replica, and " + v.attached_node +
                                     " (down) was attached without a clean detach; " +
                                     Hint(usable));
  }
  if (usable.empty()) {
    return Status::Error(EHOSTDOWN, prefix +
                                        "it holds no replica and no in-sync replica is on "
                                        "an up node");
  }
  return Status();
}

Result<VolumeRecord> AttachOn(const VolumeRecord& v, const std::string& node,
                              const NodeStates& states) {
  Status s = CanAttachOn(v, node, states);
  if (!s.ok()) return s;
  if (v.attached_node == node) return v;
  VolumeRecord out = v;
  if (!v.attached_node.empty() && v.IsInSync(v.attached_node)) {
    // CanAttachOn made sure `node` is in sync, so one current copy stays.
    Outdate(out, v.attached_node);
  } else {
    out.epoch++;
  }
  out.attached_node = node;
  out.attached_epoch = out.epoch;
  out.device.clear();
  out.sync_source.clear();  // the attached node is the source now
  return out;
}

Result<VolumeRecord> Detach(const VolumeRecord& v, const std::string& node) {
  if (v.attached_node.empty()) return v;
  if (v.attached_node != node) {
    return Status::Error(EBUSY, Vol(v) + " is attached on " + v.attached_node + ", not " + node);
  }
  VolumeRecord out = v;
  out.attached_node.clear();
  out.device.clear();
  out.attached_epoch = 0;
  return out;
}

const char* ResyncKindName(ResyncKind kind) {
  switch (kind) {
    case ResyncKind::kNone:
      return "none";
    case ResyncKind::kBitmap:
      return "bitmap";
    case ResyncKind::kFull:
      return "full";
  }
  return "?";
}

Result<ResyncKind> ResyncFor(const VolumeRecord& v, const std::string& node) {
  const ReplicaRef* r = v.FindReplica(node);
  if (!r) return Status::Error(ENOENT, Vol(v) + " has no replica on " + node);
  if (v.IsInSync(node)) return ResyncKind::kNone;
  if (v.attached_node.empty() || *r->synced_epoch == 0 || *r->synced_epoch < v.attached_epoch) {
    return ResyncKind::kFull;
  }
  return ResyncKind::kBitmap;
}

Result<RejoinPlan> RejoinAsReplica(const VolumeRecord& v, const std::string& node,
                                   const LocalReplica& local) {
  if (local.epoch > v.epoch) {
    return Status::Error(EUCLEAN, "replica of " + Vol(v) + " on " + node + " has epoch " +
                                      std::to_string(local.epoch) + ", newer than the cluster's " +
                                      std::to_string(v.epoch) +
                                      ": refusing to guess which is right");
  }
  RejoinPlan plan;
  plan.volume = v;
  plan.epoch = v.epoch;
  if (!v.FindReplica(node)) {
    plan.action = RejoinPlan::Action::kForget;
    plan.drop_local_disk = local.attached_here;
    return plan;
  }
  if (v.attached_node == node) {
    plan.action = RejoinPlan::Action::kResume;
    return plan;
  }
  plan.action = RejoinPlan::Action::kReplica;
  if (local.attached_here) {
    // Fenced: the attachment is elsewhere (or was ended without us).  Its
    // disk may have completed writes locally that no peer acknowledged and
    // no bitmap records, so it is not current and only a full copy makes it
    // so -- unless it is the only current copy there is (nothing newer
    // exists anywhere).
    plan.drop_local_disk = true;
    if (v.IsInSync(node) && v.in_sync.size() == 1) return plan;
    if (v.IsInSync(node)) {
      Outdate(plan.volume, node);
      plan.changed = true;
      plan.epoch = plan.volume.epoch;
    }
    plan.resync = ResyncKind::kFull;
    return plan;
  }
  auto kind = ResyncFor(plan.volume, node);
  if (!kind.ok()) return kind.status();
  plan.resync = *kind;
  return plan;
}

std::vector<std::string> ReplicasToReplace(const VolumeRecord& v, const NodeStates& states,
                                           int64_t now_ms, int64_t grace_ms) {
  std::vector<std::string> out;
  for (const ReplicaRef& r : v.replica_set) {
    if (r.node == v.attached_node) continue;
    auto it = states.find(r.node);
    if (it == states.end() ||
        (it->second.state == NodeState::kDown && now_ms - it->second.since_ms >= grace_ms)) {
      out.push_back(r.node);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<VolumeRecord> AddReplica(const VolumeRecord& v, const std::string& node) {
  if (v.FindReplica(node))
    return Status::Error(EEXIST, Vol(v) + " already has a replica on " + node);
  std::set<uint32_t> used;
  for (const ReplicaRef& r : v.replica_set) used.insert(r.slot);
  uint32_t slot = 0;
  while (used.contains(slot)) slot++;
  if (slot >= kMaxSlots) {
    return Status::Error(
        ENOSPC, Vol(v) + " has no free peer slot (" + std::to_string(kMaxSlots) + " replicas)");
  }
  VolumeRecord out = v;
  out.replica_set.push_back({node, slot, std::nullopt, 0});
  return out;
}

Result<VolumeRecord> MarkInSync(const VolumeRecord& v, const std::string& node,
                                uint64_t attached_epoch) {
  if (!v.FindReplica(node)) return Status::Error(ENOENT, Vol(v) + " has no replica on " + node);
  if (v.IsInSync(node))
    return Status::Error(EALREADY, "replica on " + node + " is in sync already");
  if (v.attached_node.empty() || v.attached_epoch != attached_epoch) {
    return Status::Error(
        ESTALE,
        "resync of " + node + " ran under the attachment of epoch " +
            std::to_string(attached_epoch) + ", but " + Vol(v) + " is " +
            (v.attached_node.empty() ? std::string("detached now")
                                     : "attached since epoch " + std::to_string(v.attached_epoch)));
  }
  VolumeRecord out = v;
  out.in_sync.push_back(node);
  for (ReplicaRef& r : out.replica_set) {
    if (r.node == node) r.synced_epoch.reset();
  }
  return out;
}

Result<VolumeRecord> MarkFilled(const VolumeRecord& v, const std::string& node,
                                const std::string& source) {
  if (!v.FindReplica(node)) return Status::Error(ENOENT, Vol(v) + " has no replica on " + node);
  if (v.IsInSync(node))
    return Status::Error(EALREADY, "replica on " + node + " is in sync already");
  if (!v.attached_node.empty() || v.sync_source != source || !v.IsInSync(source)) {
    return Status::Error(
        ESTALE, "the fill of " + node + " from " + source + " is over: " + Vol(v) +
                    (v.attached_node.empty() ? " is filled from '" + v.sync_source + "' now"
                                             : " is attached on " + v.attached_node + " now"));
  }
  VolumeRecord out = v;
  out.in_sync.push_back(node);
  for (ReplicaRef& r : out.replica_set) {
    if (r.node == node) r.synced_epoch.reset();
  }
  return out;
}

Result<VolumeRecord> DropDeletedReplica(const VolumeRecord& v, const std::string& node) {
  if (v.state != VolumeState::kDeleting) {
    return Status::Error(EINVAL, Vol(v) + " is not being deleted");
  }
  if (!v.FindReplica(node)) return Status::Error(ENOENT, Vol(v) + " has no replica on " + node);
  VolumeRecord out = v;
  out.replica_set.erase(std::remove_if(out.replica_set.begin(), out.replica_set.end(),
                                       [&](const ReplicaRef& r) { return r.node == node; }),
                        out.replica_set.end());
  out.in_sync.erase(std::remove(out.in_sync.begin(), out.in_sync.end(), node), out.in_sync.end());
  if (out.sync_source == node) out.sync_source.clear();
  return out;
}

Result<VolumeRecord> RemoveReplica(const VolumeRecord& v, const std::string& node) {
  if (!v.FindReplica(node)) return Status::Error(ENOENT, Vol(v) + " has no replica on " + node);
  if (node == v.attached_node) {
    return Status::Error(EBUSY, "the replica on " + node + " backs the attached disk of " + Vol(v) +
                                    "; detach it or attach elsewhere first");
  }
  VolumeRecord out = v;
  if (v.IsInSync(node)) {
    auto outdated = OutdateReplica(v, node);  // EPERM for the last in-sync one
    if (!outdated.ok()) return outdated.status();
    out = *outdated;
  }
  out.replica_set.erase(std::remove_if(out.replica_set.begin(), out.replica_set.end(),
                                       [&](const ReplicaRef& r) { return r.node == node; }),
                        out.replica_set.end());
  return out;
}

}  // namespace keel::cluster
