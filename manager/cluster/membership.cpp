#include "manager/cluster/membership.h"

#include <algorithm>
#include <cerrno>

namespace keel::cluster {

Status ValidateMembershipConfig(const MembershipConfig& c) {
  if (c.suspect_after_ms <= 0) {
    return Status::Error(
        EINVAL, "suspect_after_ms must be positive, not " + std::to_string(c.suspect_after_ms));
  }
  if (c.down_after_ms <= c.suspect_after_ms) {
    return Status::Error(EINVAL, "down_after_ms (" + std::to_string(c.down_after_ms) +
                                     ") must be more than suspect_after_ms (" +
                                     std::to_string(c.suspect_after_ms) + ")");
  }
  return Status();
}

Result<Membership> Membership::Create(MembershipConfig config) {
  Status s = ValidateMembershipConfig(config);
  if (!s.ok()) return s;
  return Membership(config);
}

Status Membership::AddNode(const std::string& node, NodeState state, int64_t state_changed_ms,
                           int64_t now_ms) {
  if (members_.contains(node)) {
    return Status::Error(EEXIST, "node '" + node + "' is already a member");
  }
  members_[node] = {state, state_changed_ms, now_ms};
  return Status();
}

Status Membership::RemoveNode(const std::string& node) {
  if (members_.erase(node) == 0)
    return Status::Error(ENOENT, "node '" + node + "' is not a member");
  return Status();
}

NodeState Membership::BySilence(const Member& m, int64_t now_ms) const {
  int64_t silent = now_ms - m.last_heartbeat_ms;
  if (silent >= config_.down_after_ms) return NodeState::kDown;
  if (silent >= config_.suspect_after_ms) return NodeState::kSuspect;
  return NodeState::kUp;
}

std::vector<Transition> Membership::Move(const std::string& node, Member& m, NodeState to,
                                         int64_t now_ms, std::string reason) {
  if (m.state == to) return {};
  Transition t{node, m.state, to, now_ms, std::move(reason)};
  m.state = to;
  m.state_changed_ms = now_ms;
  return {t};
}

Result<std::vector<Transition>> Membership::Heartbeat(const std::string& node, int64_t now_ms) {
  auto it = members_.find(node);
  if (it == members_.end()) {
    return Status::Error(ENOENT, "heartbeat from '" + node + "', which is not a member");
  }
  Member& m = it->second;
  m.last_heartbeat_ms = std::max(m.last_heartbeat_ms, now_ms);
  if (m.state == NodeState::kMaintenance) return std::vector<Transition>{};
  // A heartbeat from before the last change (delivered late) does not undo
  // it: the caller may already have acted on "down".  The next one will.
  if (now_ms < m.state_changed_ms) return std::vector<Transition>{};
  return Move(node, m, NodeState::kUp, now_ms, "heartbeat");
}

std::vector<Transition> Membership::Tick(int64_t now_ms) {
  std::vector<Transition> out;
  for (auto& [node, m] : members_) {
    if (m.state == NodeState::kMaintenance) continue;
    NodeState to = BySilence(m, now_ms);
    // Silence only ever makes things worse; getting better takes a
    // heartbeat (a node restored by AddNode as down stays down until then).
    if (static_cast<int>(to) <= static_cast<int>(m.state)) continue;
    auto t = Move(node, m, to, now_ms,
                  "no heartbeat for " + std::to_string(now_ms - m.last_heartbeat_ms) + " ms");
    out.insert(out.end(), t.begin(), t.end());
  }
  return out;
}

Result<std::vector<Transition>> Membership::SetMaintenance(const std::string& node, bool on,
                                                           int64_t now_ms) {
  auto it = members_.find(node);
  if (it == members_.end()) return Status::Error(ENOENT, "node '" + node + "' is not a member");
  Member& m = it->second;
  if (on) return Move(node, m, NodeState::kMaintenance, now_ms, "maintenance set by operator");
  if (m.state != NodeState::kMaintenance) return std::vector<Transition>{};
  return Move(node, m, BySilence(m, now_ms), now_ms, "maintenance cleared by operator");
}

NodeStates Membership::States() const {
  NodeStates out;
  for (const auto& [node, m] : members_) out[node] = {m.state, m.state_changed_ms};
  return out;
}

}  // namespace keel::cluster
