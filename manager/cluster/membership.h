// Membership: the coordinator's view of which nodes are alive, driven by
// the heartbeats it receives over the bus and by a periodic Tick.  No clock
// is read here: every call carries the time (Unix ms), so the state machine
// is tested to the millisecond.
//
//   up ──(silent >= suspect_after)──> suspect ──(silent >= down_after)──> down
//   suspect/down ──(heartbeat)──> up
//   any ──(SetMaintenance on)──> maintenance ──(off)──> up/suspect/down by silence
//
// "Silent" is the time since the last heartbeat.  A node in maintenance is
// never marked suspect or down: the operator said it may go quiet.  Every
// call returns the transitions it made, in node-name order, so the caller
// records them in etcd and logs them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "manager/cluster/records.h"
#include "manager/common/status.h"

namespace keel::cluster {

struct MembershipConfig {
  int64_t suspect_after_ms = 1500;
  int64_t down_after_ms = 3000;
};
// suspect_after > 0 and down_after > suspect_after.
Status ValidateMembershipConfig(const MembershipConfig& config);

struct Transition {
  std::string node;
  NodeState from = NodeState::kUp;
  NodeState to = NodeState::kUp;
  int64_t at_ms = 0;
  std::string reason;  // "no heartbeat for 3000 ms", "heartbeat", "maintenance set by operator"

  friend bool operator==(const Transition&, const Transition&) = default;
};

struct Member {
  NodeState state = NodeState::kUp;
  int64_t state_changed_ms = 0;
  int64_t last_heartbeat_ms = 0;  // or when the node was added, whichever is later

  friend bool operator==(const Member&, const Member&) = default;
};

class Membership {
 public:
  // EINVAL for a bad config.
  static Result<Membership> Create(MembershipConfig config = {});

  // Starts tracking a node in the state etcd records for it (a new
  // coordinator takes over the last one's view).  Its silence is counted
  // from `now_ms`: a coordinator that just started has heard nobody yet,
  // and must not call the whole cluster down for it.  EEXIST if tracked.
  Status AddNode(const std::string& node, NodeState state, int64_t state_changed_ms,
                 int64_t now_ms);
  // Stops tracking a node (deregistered).  ENOENT if not tracked.
  Status RemoveNode(const std::string& node);

  // A heartbeat from `node` at `now_ms`.  Brings a suspect or down node
  // back up; a node in maintenance stays there.  One timed before the
  // node's last state change (delivered late) is counted as a heartbeat but
  // changes no state.  ENOENT for a node that is not tracked: an
  // unregistered sender is not a member.
  Result<std::vector<Transition>> Heartbeat(const std::string& node, int64_t now_ms);

  // Marks nodes suspect or down by their silence at `now_ms`.  A node that
  // passed both limits since the last tick goes straight to down (one
  // transition).
  std::vector<Transition> Tick(int64_t now_ms);

  // Sets or clears maintenance.  Clearing puts the node in the state its
  // silence gives it now.  ENOENT for an unknown node; setting it twice (or
  // clearing a node not in maintenance) changes nothing and returns no
  // transition.
  Result<std::vector<Transition>> SetMaintenance(const std::string& node, bool on, int64_t now_ms);

  const std::map<std::string, Member>& members() const { return members_; }
  // For placement and failover.
  NodeStates States() const;

 private:
  explicit Membership(MembershipConfig config) : config_(config) {}
  // The state silence alone gives a node at `now_ms`.
  NodeState BySilence(const Member& m, int64_t now_ms) const;
  std::vector<Transition> Move(const std::string& node, Member& m, NodeState to, int64_t now_ms,
                               std::string reason);

  MembershipConfig config_;
  std::map<std::string, Member> members_;
};

}  // namespace keel::cluster
