#include "manager/cluster/rebalance.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

#include "manager/cluster/placement.h"

namespace keel::cluster {
namespace {

double Use(const NodeRecord& n) {
  if (n.capacity_bytes == 0) return 100;
  const uint64_t used = n.capacity_bytes - std::min(n.free_bytes, n.capacity_bytes);
  return 100.0 * static_cast<double>(used) / static_cast<double>(n.capacity_bytes);
}

bool CanTake(const NodeRecord& n) {
  return n.state == NodeState::kUp && !n.cordoned && !n.draining && n.capacity_bytes > 0;
}

std::string Percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", p);
  return buf;
}

// A volume whose replicas may move: ready, every replica in sync, none
// leaving already.
bool Settled(const VolumeRecord& v, const std::vector<NodeRecord>& nodes) {
  if (v.state != VolumeState::kReady || v.in_sync.size() != v.replica_set.size()) return false;
  for (const ReplicaRef& r : v.replica_set) {
    if (r.moving) return false;
    for (const NodeRecord& n : nodes) {
      if (n.name == r.node && n.draining) return false;
    }
  }
  return true;
}

NodeRecord* Find(std::vector<NodeRecord>& nodes, const std::string& name) {
  for (NodeRecord& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

}  // namespace

// The most used up node and the least used node that can take a replica
// ("" when none).
std::pair<const NodeRecord*, const NodeRecord*> Extremes(const std::vector<NodeRecord>& nodes) {
  const NodeRecord* most = nullptr;
  const NodeRecord* least = nullptr;
  for (const NodeRecord& n : nodes) {
    if (n.state == NodeState::kUp && n.capacity_bytes > 0 && (!most || Use(n) > Use(*most))) {
      most = &n;
    }
    if (CanTake(n) && (!least || Use(n) < Use(*least))) least = &n;
  }
  return {most, least};
}

RebalancePlan PlanRebalance(const std::vector<VolumeRecord>& volumes,
                            const std::vector<NodeRecord>& nodes, const RebalanceOptions& options) {
  RebalancePlan plan;
  std::vector<NodeRecord> sim = nodes;  // the plan's moves applied to free_bytes
  for (const NodeRecord& n : sim) plan.use_before[n.name] = Use(n);
  std::set<std::string> moved;  // one move per volume per plan

  while (plan.moves.size() < options.max_moves) {
    auto [most, least] = Extremes(sim);
    if (!most || !least) break;
    // Sources, most used first (ties by name), while the gap is over the
    // threshold.
    std::vector<std::string> sources;
    for (const NodeRecord& n : sim) {
      if (n.state == NodeState::kUp && Use(n) - Use(*least) > options.threshold_pct) {
        sources.push_back(n.name);
      }
    }
    std::sort(sources.begin(), sources.end(), [&](const std::string& a, const std::string& b) {
      double ua = Use(*Find(sim, a)), ub = Use(*Find(sim, b));
      return ua != ub ? ua > ub : a < b;
    });
    bool found = false;
    for (const std::string& src : sources) {
      // Its movable replicas, largest first.
      std::vector<const VolumeRecord*> candidates;
      for (const VolumeRecord& v : volumes) {
        if (moved.contains(v.name) || !v.FindReplica(src)) continue;
        if (v.attached_node == src || !Settled(v, nodes)) continue;
        candidates.push_back(&v);
      }
      std::sort(candidates.begin(), candidates.end(),
                [](const VolumeRecord* a, const VolumeRecord* b) {
                  return a->size != b->size ? a->size > b->size : a->name < b->name;
                });
      for (const VolumeRecord* v : candidates) {
        auto to = ChooseReplacement(*v, src, sim);
        if (!to.ok()) continue;
        NodeRecord a = *Find(sim, src);
        NodeRecord b = *Find(sim, *to);
        a.free_bytes = std::min(a.capacity_bytes, a.free_bytes + v->size);
        b.free_bytes -= std::min(b.free_bytes, v->size);
        if (Use(b) > Use(a)) continue;  // would only swap the roles
        plan.moves.push_back({v->name, src, *to, v->size});
        moved.insert(v->name);
        *Find(sim, src) = a;
        *Find(sim, *to) = b;
        found = true;
        break;
      }
      if (found) break;
    }
    if (!found) break;
  }

  for (const NodeRecord& n : sim) plan.use_after[n.name] = Use(n);
  for (const VolumeRecord& v : volumes) {
    for (const ReplicaRef& r : v.replica_set) {
      if (r.moving) plan.in_progress.push_back({v.name, r.node, "", v.size});
    }
  }
  auto [most, least] = Extremes(sim);
  if (plan.moves.size() >= options.max_moves) {
    plan.reason = "stopped at " + std::to_string(options.max_moves) + " moves (max_moves)";
  } else if (!most || !least) {
    plan.reason = "no up node can take a replica";
  } else {
    const std::string where = most->name + " at " + Percent(Use(*most)) + ", " + least->name +
                              " at " + Percent(Use(*least));
    plan.reason = Use(*most) - Use(*least) <= options.threshold_pct
                      ? "balanced: " + where
                      : "no replica can move: " + where +
                            " (attached there, still being filled or moved, or no node fits it)";
  }
  if (!plan.in_progress.empty()) {
    plan.reason += "; " + std::to_string(plan.in_progress.size()) +
                   (plan.in_progress.size() == 1 ? " move" : " moves") +
                   " of an earlier rebalance still in progress";
  }
  return plan;
}

Result<VolumeRecord> MarkMoving(const VolumeRecord& v, const std::string& from,
                                const std::string& to) {
  if (!v.FindReplica(from)) {
    return Status::Error(ENOENT, "volume '" + v.name + "' has no replica on " + from);
  }
  if (v.state != VolumeState::kReady) {
    return Status::Error(EBUSY, "volume '" + v.name + "' is not ready");
  }
  if (v.attached_node == from) {
    return Status::Error(EBUSY, "volume '" + v.name + "' is attached on " + from);
  }
  VolumeRecord out = v;
  for (ReplicaRef& r : out.replica_set) {
    if (r.node != from) continue;
    if (r.moving) return Status::Error(EALREADY, "the replica on " + from + " is moving already");
    r.moving = true;
    r.move_to = to;
  }
  return out;
}

}  // namespace keel::cluster
