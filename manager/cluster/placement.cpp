#include "manager/cluster/placement.h"

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <tuple>

#include "manager/common/size.h"

namespace keel::cluster {

namespace {

std::string RackOf(const NodeRecord& n) { return n.zone + "/" + n.rack; }

std::string ZoneText(const std::string& zone) { return zone.empty() ? "no zone" : "zone " + zone; }

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

struct Pick {
  uint32_t count = 0;
  uint64_t size = 0;
  const VolumeConstraints* constraints = nullptr;
  std::string preferred;                  // requester or attached node
  std::vector<const NodeRecord*> placed;  // replicas that stay: spread is counted against them
  std::set<std::string> holders;          // nodes that already hold a replica: never chosen
  std::string replaced;                   // the replica being replaced, if any
  std::string what;                       // "3 replicas of volume 'db'"
};

// Why `n` cannot take a replica, or "" if it can.
std::string Ineligible(const Pick& p, const NodeRecord& n) {
  const VolumeConstraints& c = *p.constraints;
  if (n.name == p.replaced) return n.name + " holds the replica being replaced";
  if (p.holders.contains(n.name)) return n.name + " already holds a replica";
  if (!c.nodes.empty() && std::find(c.nodes.begin(), c.nodes.end(), n.name) == c.nodes.end()) {
    return n.name + " is not in the volume's allowed nodes";
  }
  if (n.state != NodeState::kUp) return n.name + " is " + NodeStateName(n.state);
  if (n.cordoned) return n.name + " is cordoned";
  for (const auto& [k, v] : c.node_selector) {
    auto it = n.labels.find(k);
    if (it == n.labels.end() || it->second != v) return n.name + " lacks label " + k + "=" + v;
  }
  if (c.zone_spread && n.zone.empty()) return n.name + " has no zone (zone spread needs one)";
  if (n.free_bytes < p.size) {
    return n.name + " has " + FormatSize(n.free_bytes) + " free, needs " + FormatSize(p.size);
  }
  return "";
}

Result<std::vector<std::string>> Choose(const Pick& p, const std::vector<NodeRecord>& nodes) {
  std::map<std::string, const NodeRecord*> by_name;
  for (const NodeRecord& n : nodes) {
    if (!by_name.emplace(n.name, &n).second) {
      return Status::Error(EINVAL, "node '" + n.name + "' is listed twice");
    }
  }
  std::vector<std::string> reasons;  // why each other node was not chosen, by name
  std::vector<const NodeRecord*> eligible;
  for (const auto& [name, n] : by_name) {
    std::string why = Ineligible(p, *n);
    if (why.empty()) {
      eligible.push_back(n);
    } else {
      reasons.push_back(why);
    }
  }
  for (const std::string& name : p.constraints->nodes) {
    if (!by_name.contains(name)) reasons.push_back(name + " (allowed) is not registered");
  }
  if (by_name.empty()) reasons.push_back("no node is registered");

  std::set<std::string> zones, racks;
  std::map<std::string, std::string> zone_user;  // zone -> the first node placed in it
  for (const NodeRecord* n : p.placed) {
    zones.insert(n->zone);
    racks.insert(RackOf(*n));
    zone_user.emplace(n->zone, n->name);
  }
  const bool strict = p.constraints->zone_spread;
  std::vector<const NodeRecord*> chosen;
  while (chosen.size() < p.count) {
    const NodeRecord* best = nullptr;
    auto key = [&](const NodeRecord* n) {
      // Larger is better; the name is negated by comparing it reversed below.
      return std::make_tuple(!zones.contains(n->zone), n->name == p.preferred,
                             !racks.contains(RackOf(*n)), n->free_bytes);
    };
    for (const NodeRecord* n : eligible) {
      if (std::find(chosen.begin(), chosen.end(), n) != chosen.end()) continue;
      if (strict && zones.contains(n->zone)) continue;
      if (!best || key(n) > key(best) || (key(n) == key(best) && n->name < best->name)) best = n;
    }
    if (!best) break;
    chosen.push_back(best);
    zones.insert(best->zone);
    racks.insert(RackOf(*best));
    zone_user.emplace(best->zone, best->name);
  }
  if (chosen.size() == p.count) {
    std::vector<std::string> names;
    for (const NodeRecord* n : chosen) names.push_back(n->name);
    return names;
  }

  // Refusal: what was needed, what could be had, and why not the rest.
  std::vector<std::string> available;
  for (const NodeRecord* n : chosen) {
    available.push_back(strict ? n->name + " (" + ZoneText(n->zone) + ")" : n->name);
  }
  std::vector<std::string> why_not;
  for (const NodeRecord* n : eligible) {
    if (std::find(chosen.begin(), chosen.end(), n) != chosen.end()) continue;
    why_not.push_back(n->name + " is in " + ZoneText(n->zone) + " like " + zone_user[n->zone]);
  }
  why_not.insert(why_not.end(), reasons.begin(), reasons.end());
  std::string need = "need " + std::to_string(p.count) + (p.count == 1 ? " node" : " nodes");
  if (strict) {
    need += p.placed.empty() ? " in distinct zones" : " in a zone not used by its other replicas";
  }
  std::string msg = "cannot place " + p.what + ": " + need + ", " +
                    std::to_string(available.size()) + " available";
  if (!available.empty()) msg += ": " + Join(available, ", ");
  if (!why_not.empty()) msg += "; " + Join(why_not, "; ");
  return Status::Error(ENOSPC, msg);
}

}  // namespace

PlacementRequest PlacementRequestFor(const VolumeRecord& v, std::string requester) {
  return {v.name, v.replicas, v.size, v.constraints, std::move(requester)};
}

Result<std::vector<std::string>> PlaceReplicas(const PlacementRequest& r,
                                               const std::vector<NodeRecord>& nodes) {
  if (r.replicas < kMinReplicas || r.replicas > kMaxReplicas) {
    return Status::Error(EINVAL, "replicas must be 1 to 3, not " + std::to_string(r.replicas));
  }
  Pick p;
  p.count = r.replicas;
  p.size = r.size;
  p.constraints = &r.constraints;
  p.preferred = r.requester;
  p.what = std::to_string(r.replicas) + (r.replicas == 1 ? " replica" : " replicas") +
           " of volume '" + r.volume + "'";
  return Choose(p, nodes);
}

Result<std::string> ChooseReplacement(const VolumeRecord& v, const std::string& replaced,
                                      const std::vector<NodeRecord>& nodes) {
  if (!replaced.empty() && !v.FindReplica(replaced)) {
    return Status::Error(
        EINVAL, "node '" + replaced + "' holds no replica of volume '" + v.name + "' to replace");
  }
  Pick p;
  p.count = 1;
  p.size = v.size;
  p.constraints = &v.constraints;
  p.preferred = v.attached_node;
  p.replaced = replaced;
  p.what = "a new replica of volume '" + v.name + "'";
  for (const ReplicaRef& r : v.replica_set) {
    p.holders.insert(r.node);
    if (r.node == replaced) continue;
    // A staying replica on a node we no longer know still occupies its
    // zone as far as we can tell; without its record the zone is unknown,
    // so it cannot be counted.
    for (const NodeRecord& n : nodes) {
      if (n.name == r.node) p.placed.push_back(&n);
    }
  }
  auto chosen = Choose(p, nodes);
  if (!chosen.ok()) return chosen.status();
  return chosen->front();
}

}  // namespace keel::cluster
