#include "manager/cluster/repair.h"

#include <doctest/doctest.h>

#include "manager/cluster/failover.h"

namespace keel::cluster {
namespace {

constexpr uint64_t kGiB = 1ull << 30;
constexpr int64_t kGrace = 600'000;
constexpr int64_t kNow = 10'000'000;

NodeRecord Node(std::string name, NodeState state = NodeState::kUp, int64_t since = 0) {
  NodeRecord n;
  n.name = name;
  n.zone = "z-" + name;
  n.capacity_bytes = 100 * kGiB;
  n.free_bytes = 50 * kGiB;
  n.state = state;
  n.state_changed_ms = since;
  return n;
}

NodeRecord Draining(NodeRecord n) {
  n.cordoned = true;
  n.draining = true;
  return n;
}

// "db": 2 replicas, on a (attached, slot 0) and b (slot 1), both in sync.
VolumeRecord Volume() {
  VolumeRecord v;
  v.name = "db";
  v.uuid = "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab";
  v.size = kGiB;
  v.replicas = 2;
  v.epoch = 2;
  v.replica_set = {{"a", 0, 7000, {}}, {"b", 1, 7000, {}}};
  v.in_sync = {"a", "b"};
  v.attached_node = "a";
  v.device = "/dev/keel0";
  v.attached_epoch = 2;
  v.state = VolumeState::kReady;
  return v;
}

VolumeRecord Must(Result<VolumeRecord> r) {
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

void CheckValid(const RepairStep& s) {
  if (s.kind != RepairStep::Kind::kNone && s.kind != RepairStep::Kind::kWait &&
      s.kind != RepairStep::Kind::kForget) {
    CHECK_MESSAGE(ValidateVolumeRecord(s.next).ok(), ValidateVolumeRecord(s.next).ToString());
  }
}

}  // namespace

TEST_CASE("repair: a healthy volume needs nothing") {
  RepairStep s = NextRepair(Volume(), {Node("a"), Node("b"), Node("c")}, kNow, kGrace);
  CHECK(s.kind == RepairStep::Kind::kNone);
}

TEST_CASE("repair: a create nobody finishes is rolled back after the timeout") {
  VolumeRecord v = Must(Detach(Volume(), "a"));
  v.state = VolumeState::kCreating;
  v.created_ms = kNow - 119'000;
  std::vector<NodeRecord> nodes = {Node("a"), Node("c")};
  CHECK(NextRepair(v, nodes, kNow, kGrace, 120'000).kind == RepairStep::Kind::kNone);
  v.created_ms = kNow - 120'000;
  RepairStep s = NextRepair(v, nodes, kNow, kGrace, 120'000);
  CheckValid(s);
  REQUIRE(s.kind == RepairStep::Kind::kRollback);
  CHECK(s.reason == "create unfinished for 120 s");
  CHECK(s.next.state == VolumeState::kDeleting);
  CHECK(s.next.replica_set == v.replica_set);  // each node deletes its own
}

TEST_CASE("repair: a deleting record is forgotten once no replica is left") {
  VolumeRecord v = Must(Detach(Volume(), "a"));
  v.state = VolumeState::kDeleting;
  std::vector<NodeRecord> nodes = {Node("a"), Node("b"), Node("c")};
  SUBCASE("replica nodes up: they delete and drop their own") {
    CHECK(NextRepair(v, nodes, kNow, kGrace).kind == RepairStep::Kind::kNone);
    VolumeRecord less = Must(DropDeletedReplica(v, "a"));
    CHECK(ValidateVolumeRecord(less).ok());
    VolumeRecord none = Must(DropDeletedReplica(less, "b"));
    CHECK(ValidateVolumeRecord(none).ok());  // a deleting record may be empty
    CHECK(NextRepair(none, nodes, kNow, kGrace).kind == RepairStep::Kind::kForget);
  }
  SUBCASE("a node gone for good: the coordinator drops its replica") {
    nodes[1] = Node("b", NodeState::kDown, kNow - kGrace);
    RepairStep s = NextRepair(v, nodes, kNow, kGrace);
    CheckValid(s);
    REQUIRE(s.kind == RepairStep::Kind::kRemove);
    CHECK(s.node == "b");
    CHECK(s.reason == "b down for 600 s: its replica of a deleted volume is forgotten");
    CHECK(s.next.FindReplica("b") == nullptr);
    CHECK(s.next.in_sync == std::vector<std::string>{"a"});
  }
  SUBCASE("unregistered: dropped at once") {
    RepairStep s = NextRepair(v, {Node("b")}, kNow, kGrace);
    REQUIRE(s.kind == RepairStep::Kind::kRemove);
    CHECK(s.node == "a");
  }
  CHECK_FALSE(DropDeletedReplica(Volume(), "a").ok());  // only while deleting
}

TEST_CASE("repair: a detached volume is filled from a sync source") {
  std::vector<NodeRecord> nodes = {Node("a"), Draining(Node("b")), Node("c")};
  VolumeRecord v = Must(Detach(Volume(), "a"));
  RepairStep add = NextRepair(v, nodes, kNow, kGrace);
  REQUIRE(add.kind == RepairStep::Kind::kAdd);  // b's replacement
  CHECK(add.node == "c");

  RepairStep sync = NextRepair(add.next, nodes, kNow, kGrace);
  CheckValid(sync);
  REQUIRE(sync.kind == RepairStep::Kind::kSync);
  CHECK(sync.node == "a");  // in sync and staying (b is draining)
  CHECK(sync.next.sync_source == "a");
  CHECK(sync.reason == "detached: c is filled from a");

  RepairStep wait = NextRepair(sync.next, nodes, kNow, kGrace);
  CHECK(wait.kind == RepairStep::Kind::kWait);
  CHECK(wait.reason ==
        "b is draining: waiting for the new replica on c to be in sync (filled from a)");

  CHECK(MarkFilled(sync.next, "c", "b").status().code() == ESTALE);  // not the source
  VolumeRecord filled = Must(MarkFilled(sync.next, "c", "a"));
  CHECK(filled.IsInSync("c"));
  CHECK(ValidateVolumeRecord(filled).ok());
  RepairStep done = NextRepair(filled, nodes, kNow, kGrace);
  REQUIRE(done.kind == RepairStep::Kind::kSync);
  CHECK(done.next.sync_source.empty());
  CHECK(done.reason == "every replica on an up node is in sync");
  RepairStep rm = NextRepair(done.next, nodes, kNow, kGrace);
  REQUIRE(rm.kind == RepairStep::Kind::kRemove);
  CHECK(rm.node == "b");
}

TEST_CASE("repair: the sync source goes with an attach, a down source or an outdate") {
  VolumeRecord v = Must(AddReplica(Must(Detach(Volume(), "a")), "c"));
  std::vector<NodeRecord> nodes = {Node("a"), Node("b"), Node("c")};
  RepairStep sync = NextRepair(v, nodes, kNow, kGrace);
  REQUIRE(sync.kind == RepairStep::Kind::kSync);
  CHECK(sync.node == "a");

  VolumeRecord attached = Must(AttachOn(sync.next, "b", StatesOf(nodes)));
  CHECK(attached.sync_source.empty());
  CHECK(MarkFilled(attached, "c", "a").status().code() == ESTALE);

  nodes[0] = Node("a", NodeState::kSuspect, kNow);
  RepairStep lost = NextRepair(sync.next, nodes, kNow, kGrace);
  REQUIRE(lost.kind == RepairStep::Kind::kSync);
  CHECK(lost.next.sync_source.empty());
  CHECK(lost.reason == "sync source a is not up");
  RepairStep other = NextRepair(lost.next, nodes, kNow, kGrace);
  REQUIRE(other.kind == RepairStep::Kind::kSync);
  CHECK(other.node == "b");

  VolumeRecord outdated = Must(OutdateReplica(sync.next, "a"));
  CHECK(outdated.sync_source.empty());
  VolumeRecord bad = sync.next;
  bad.attached_node = "a";
  bad.attached_epoch = bad.epoch;
  CHECK_FALSE(ValidateVolumeRecord(bad).ok());  // never both attached and filled from a source
}

TEST_CASE("repair: a replica down past the grace period is replaced in two rounds") {
  VolumeRecord v = Must(OutdateReplica(Volume(), "b"));  // the attached node saw b go: epoch 3
  std::vector<NodeRecord> nodes = {Node("a"), Node("b", NodeState::kDown, kNow - kGrace + 1),
                                   Node("c")};
  SUBCASE("within the grace period: nothing") {
    CHECK(NextRepair(v, nodes, kNow, kGrace).kind == RepairStep::Kind::kNone);
  }
  nodes[1].state_changed_ms = kNow - kGrace;
  RepairStep s = NextRepair(v, nodes, kNow, kGrace);
  CheckValid(s);
  REQUIRE(s.kind == RepairStep::Kind::kRemove);
  CHECK(s.node == "b");
  CHECK(s.reason == "b down for 600 s");
  CHECK(s.next.FindReplica("b") == nullptr);
  CHECK(s.next.epoch == 3);  // b was out of sync already: no new epoch

  RepairStep add = NextRepair(s.next, nodes, kNow, kGrace);
  CheckValid(add);
  REQUIRE(add.kind == RepairStep::Kind::kAdd);
  CHECK(add.node == "c");
  CHECK(add.reason == "1 of 2 replicas");
  REQUIRE(add.next.FindReplica("c") != nullptr);
  CHECK(add.next.FindReplica("c")->slot == 1);           // b's slot is free again
  CHECK(add.next.FindReplica("c")->synced_epoch == 0u);  // empty: a full resync fills it
  CHECK_FALSE(add.next.IsInSync("c"));
  CHECK(NextRepair(add.next, nodes, kNow, kGrace).kind == RepairStep::Kind::kNone);
}

TEST_CASE("repair: a node no longer registered is replaced at once") {
  VolumeRecord v = Must(OutdateReplica(Volume(), "b"));
  RepairStep s = NextRepair(v, {Node("a"), Node("c")}, kNow, kGrace);
  REQUIRE(s.kind == RepairStep::Kind::kRemove);
  CHECK(s.reason == "b is no longer registered");
}

TEST_CASE("repair: a down in-sync replica of a detached volume leaves under a new epoch") {
  VolumeRecord v = Must(Detach(Volume(), "a"));
  std::vector<NodeRecord> nodes = {Node("a"), Node("b", NodeState::kDown, 0), Node("c")};
  RepairStep s = NextRepair(v, nodes, kNow, kGrace);
  CheckValid(s);
  REQUIRE(s.kind == RepairStep::Kind::kRemove);
  CHECK(s.next.epoch == 3);
  CHECK(s.next.in_sync == std::vector<std::string>{"a"});
}

TEST_CASE("repair: never the last in-sync replica, never the attached node's") {
  VolumeRecord v = Must(OutdateReplica(Volume(), "b"));
  v = Must(Detach(v, "a"));
  // a holds the only current copy and is down: it stays listed.
  std::vector<NodeRecord> nodes = {Node("a", NodeState::kDown, 0), Node("b"), Node("c")};
  RepairStep s = NextRepair(v, nodes, kNow, kGrace);
  CHECK(s.kind == RepairStep::Kind::kWait);
  CHECK(s.node == "a");
  CHECK(s.reason.find("last in-sync") != std::string::npos);

  // Attached on a, a down: failover comes first (ReplicasToReplace skips it).
  VolumeRecord attached = Volume();
  CHECK(NextRepair(attached, {Node("a", NodeState::kDown, 0), Node("b"), Node("c")}, kNow, kGrace)
            .kind == RepairStep::Kind::kNone);
}

TEST_CASE("repair: a replacement that finds no node waits and says why") {
  VolumeRecord v = Must(OutdateReplica(Volume(), "b"));
  v.replica_set.pop_back();  // b removed already
  RepairStep s = NextRepair(v, {Node("a"), Node("b", NodeState::kDown, 0)}, kNow, kGrace);
  CHECK(s.kind == RepairStep::Kind::kWait);
  CHECK(s.reason.starts_with("1 of 2 replicas: cannot place"));
}

TEST_CASE("repair: drain adds a replacement, waits for it, then removes") {
  std::vector<NodeRecord> nodes = {Node("a"), Draining(Node("b")), Node("c")};
  RepairStep add = NextRepair(Volume(), nodes, kNow, kGrace);
  CheckValid(add);
  REQUIRE(add.kind == RepairStep::Kind::kAdd);
  CHECK(add.node == "c");
  CHECK(add.reason == "b is draining");
  CHECK(add.next.FindReplica("c")->slot == 2);

  RepairStep wait = NextRepair(add.next, nodes, kNow, kGrace);
  CHECK(wait.kind == RepairStep::Kind::kWait);
  CHECK(wait.reason == "b is draining: waiting for the new replica on c to be in sync");

  VolumeRecord synced = Must(MarkInSync(add.next, "c", 2));
  RepairStep rm = NextRepair(synced, nodes, kNow, kGrace);
  CheckValid(rm);
  REQUIRE(rm.kind == RepairStep::Kind::kRemove);
  CHECK(rm.node == "b");
  CHECK(rm.next.epoch == 3);  // b was in sync: it leaves under a new epoch
  CHECK(rm.next.in_sync == std::vector<std::string>{"a", "c"});
  CHECK(NextRepair(rm.next, nodes, kNow, kGrace).kind == RepairStep::Kind::kNone);
}

TEST_CASE("repair: the attached node's replica is not drained while attached") {
  std::vector<NodeRecord> nodes = {Draining(Node("a")), Node("b"), Node("c")};
  RepairStep s = NextRepair(Volume(), nodes, kNow, kGrace);
  CHECK(s.kind == RepairStep::Kind::kWait);
  CHECK(s.reason ==
        "a is draining, but volume 'db' is attached there: detach it or attach it elsewhere");
}

TEST_CASE("repair: drain with nowhere to go waits") {
  std::vector<NodeRecord> nodes = {Node("a"), Draining(Node("b"))};
  RepairStep s = NextRepair(Volume(), nodes, kNow, kGrace);
  CHECK(s.kind == RepairStep::Kind::kWait);
  CHECK(s.reason.starts_with("b is draining: cannot place"));
}

TEST_CASE("repair: ReplicasOn counts the volumes with a replica on a node") {
  VolumeRecord other = Volume();
  other.name = "logs";
  other.replica_set = {{"c", 0, {}, {}}};
  other.in_sync = {"c"};
  other.attached_node.clear();
  other.device.clear();
  other.attached_epoch = 0;
  CHECK(ReplicasOn({Volume(), other}, "a") == 1);
  CHECK(ReplicasOn({Volume(), other}, "c") == 1);
  CHECK(ReplicasOn({Volume(), other}, "z") == 0);
  CHECK(RepairKindName(RepairStep::Kind::kWait) == std::string("wait"));
}

}  // namespace keel::cluster
