#include "manager/cluster/rebalance.h"

#include <doctest/doctest.h>

#include "manager/cluster/failover.h"
#include "manager/cluster/repair.h"

namespace keel::cluster {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

NodeRecord Node(std::string name, uint64_t free_gib) {
  NodeRecord n;
  n.name = name;
  n.zone = "z-" + name;
  n.capacity_bytes = 100 * kGiB;
  n.free_bytes = free_gib * kGiB;
  return n;
}

// A detached volume, every replica in sync.
VolumeRecord Volume(std::string name, uint64_t gib, std::vector<std::string> on) {
  VolumeRecord v;
  v.name = name;
  v.uuid = "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab";
  v.size = gib * kGiB;
  v.replicas = static_cast<uint32_t>(on.size());
  v.epoch = 1;
  for (uint32_t i = 0; i < on.size(); i++) v.replica_set.push_back({on[i], i, {}, {}});
  v.in_sync = on;
  v.state = VolumeState::kReady;
  return v;
}

VolumeRecord Attached(VolumeRecord v, const std::string& node) {
  v.attached_node = node;
  v.attached_epoch = v.epoch;
  return v;
}

VolumeRecord Must(Result<VolumeRecord> r) {
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("rebalance: the largest movable replicas leave the fullest node until balanced") {
  // a 60% used, b and c 10%.
  std::vector<NodeRecord> nodes = {Node("a", 40), Node("b", 90), Node("c", 90)};
  std::vector<VolumeRecord> volumes = {Volume("v1", 20, {"a"}), Volume("v2", 10, {"a"}),
                                       Attached(Volume("v3", 30, {"a"}), "a"),
                                       Volume("v4", 5, {"a", "b"})};
  RebalancePlan plan = PlanRebalance(volumes, nodes, {});
  REQUIRE(plan.moves.size() == 2);
  CHECK(plan.moves[0] == RebalanceMove{"v1", "a", "b", 20 * kGiB});  // v3 is attached on a
  CHECK(plan.moves[1] == RebalanceMove{"v2", "a", "c", 10 * kGiB});
  CHECK(plan.use_before.at("a") == doctest::Approx(60));
  CHECK(plan.use_after.at("a") == doctest::Approx(30));
  CHECK(plan.use_after.at("b") == doctest::Approx(30));
  CHECK(plan.use_after.at("c") == doctest::Approx(20));
  CHECK(plan.reason == "balanced: a at 30.0%, c at 20.0%");
}

TEST_CASE("rebalance: nothing to do within the threshold, or nothing movable") {
  std::vector<NodeRecord> nodes = {Node("a", 85), Node("b", 95)};
  std::vector<VolumeRecord> volumes = {Volume("v1", 10, {"a"})};
  RebalancePlan plan = PlanRebalance(volumes, nodes, {});
  CHECK(plan.moves.empty());
  CHECK(plan.reason == "balanced: a at 15.0%, b at 5.0%");

  nodes = {Node("a", 50), Node("b", 100)};
  volumes = {Attached(Volume("v1", 50, {"a"}), "a")};
  plan = PlanRebalance(volumes, nodes, {});
  CHECK(plan.moves.empty());
  CHECK(plan.reason.starts_with("no replica can move: a at 50.0%, b at 0.0%"));

  // A move that would only swap the roles is not made.
  volumes = {Volume("v1", 50, {"a"})};
  nodes = {Node("a", 50), Node("b", 60)};
  plan = PlanRebalance(volumes, nodes, {});
  CHECK(plan.moves.empty());
}

TEST_CASE("rebalance: volumes not settled, cordoned or down nodes, max_moves") {
  std::vector<NodeRecord> nodes = {Node("a", 40), Node("b", 90), Node("c", 90)};
  VolumeRecord filling = Must(AddReplica(Volume("v1", 20, {"a"}), "c"));
  VolumeRecord moving = Must(MarkMoving(Volume("v2", 10, {"a"}), "a"));
  VolumeRecord ok = Volume("v3", 5, {"a"});
  nodes[1].cordoned = true;
  RebalancePlan plan = PlanRebalance({filling, moving, ok}, nodes, {});
  REQUIRE(plan.moves.size() == 1);
  CHECK(plan.moves[0] == RebalanceMove{"v3", "a", "c", 5 * kGiB});
  REQUIRE(plan.in_progress.size() == 1);
  CHECK(plan.in_progress[0] == RebalanceMove{"v2", "a", "", 10 * kGiB});
  CHECK(plan.reason.ends_with("; 1 move of an earlier rebalance still in progress"));

  nodes[2].state = NodeState::kDown;
  nodes[0].cordoned = true;
  plan = PlanRebalance({ok}, nodes, {});
  CHECK(plan.moves.empty());
  CHECK(plan.reason == "no up node can take a replica");

  nodes = {Node("a", 10), Node("b", 100)};
  plan = PlanRebalance({Volume("v1", 10, {"a"}), Volume("v2", 10, {"a"})}, nodes,
                       {.threshold_pct = 5, .max_moves = 1});
  CHECK(plan.moves.size() == 1);
  CHECK(plan.reason == "stopped at 1 moves (max_moves)");
}

TEST_CASE("rebalance: a moving replica is moved as a drained one is") {
  std::vector<NodeRecord> nodes = {Node("a", 40), Node("b", 90), Node("c", 90)};
  VolumeRecord v = Must(MarkMoving(Volume("db", 20, {"a", "b"}), "a"));
  CHECK(MarkMoving(v, "a").status().code() == EALREADY);
  CHECK(MarkMoving(v, "x").status().code() == ENOENT);
  CHECK(MarkMoving(Attached(Volume("db", 20, {"a"}), "a"), "a").status().code() == EBUSY);
  CHECK(ValidateVolumeRecord(v).ok());
  auto back = VolumeRecordFromJson(VolumeRecordToJson(v));
  REQUIRE(back.ok());
  CHECK(back->replica_set[0].moving);

  RepairStep add = NextRepair(v, nodes, 0, 600'000);
  REQUIRE(add.kind == RepairStep::Kind::kAdd);
  CHECK(add.node == "c");
  // The plan's destination is used while it fits, whatever the free space
  // says meanwhile; otherwise the coordinator's pick.
  std::vector<NodeRecord> more = {Node("a", 40), Node("b", 90), Node("c", 90), Node("d", 50)};
  VolumeRecord to_d = Must(MarkMoving(Volume("db", 20, {"a", "b"}), "a", "d"));
  CHECK(to_d.replica_set[0].move_to == "d");
  CHECK(VolumeRecordFromJson(VolumeRecordToJson(to_d))->replica_set[0].move_to == "d");
  CHECK(NextRepair(to_d, more, 0, 600'000).node == "d");
  more[3].cordoned = true;
  CHECK(NextRepair(to_d, more, 0, 600'000).node == "c");
  VolumeRecord bad = v;
  bad.replica_set[1].move_to = "c";  // not moving
  CHECK(ValidateVolumeRecord(bad).message().ends_with("has move_to but is not moving"));
  CHECK(add.reason == "rebalance: moving the replica off a");
  RepairStep sync = NextRepair(add.next, nodes, 0, 600'000);
  REQUIRE(sync.kind == RepairStep::Kind::kSync);
  CHECK(sync.node == "b");  // in sync and staying: a is leaving
  VolumeRecord filled = Must(MarkFilled(sync.next, "c", "b"));
  RepairStep clear = NextRepair(filled, nodes, 0, 600'000);
  REQUIRE(clear.kind == RepairStep::Kind::kSync);
  RepairStep rm = NextRepair(clear.next, nodes, 0, 600'000);
  REQUIRE(rm.kind == RepairStep::Kind::kRemove);
  CHECK(rm.node == "a");
  CHECK(rm.next.in_sync == std::vector<std::string>{"b", "c"});
  CHECK(NextRepair(rm.next, nodes, 0, 600'000).kind == RepairStep::Kind::kNone);
}

}  // namespace keel::cluster
