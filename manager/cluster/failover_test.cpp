#include "manager/cluster/failover.h"

#include <doctest/doctest.h>

#include <cerrno>

namespace keel::cluster {
namespace {

constexpr NodeState kUp = NodeState::kUp;
constexpr NodeState kDown = NodeState::kDown;

// "db": replicas on node-a, node-b, node-c (slots 0-2), all in sync,
// attached on node-a since epoch 2.
VolumeRecord Volume() {
  VolumeRecord v;
  v.name = "db";
  v.uuid = "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab";
  v.size = 1ull << 30;
  v.replicas = 3;
  v.epoch = 2;
  v.replica_set = {{"node-a", 0, 7000, {}}, {"node-b", 1, 7000, {}}, {"node-c", 2, 7000, {}}};
  v.in_sync = {"node-a", "node-b", "node-c"};
  v.attached_node = "node-a";
  v.device = "/dev/keel0";
  v.attached_epoch = 2;
  v.state = VolumeState::kReady;
  return v;
}

NodeStates AllUp() {
  return {{"node-a", {kUp, 0}}, {"node-b", {kUp, 0}}, {"node-c", {kUp, 0}}, {"node-d", {kUp, 0}}};
}

NodeStates With(NodeStates s, const std::string& node, NodeState state, int64_t since = 0) {
  s[node] = {state, since};
  return s;
}

VolumeRecord Must(Result<VolumeRecord> r) {
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  REQUIRE_MESSAGE(ValidateVolumeRecord(*r).ok(), ValidateVolumeRecord(*r).ToString());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("failover: outdating a replica shrinks the in-sync set under a new epoch") {
  VolumeRecord v = Must(OutdateReplica(Volume(), "node-c"));
  CHECK(v.epoch == 3);
  CHECK(v.in_sync == std::vector<std::string>{"node-a", "node-b"});
  CHECK(v.FindReplica("node-c")->synced_epoch == 2u);
  CHECK(v.attached_node == "node-a");

  auto again = OutdateReplica(v, "node-c");
  CHECK(again.status().code() == EALREADY);
  CHECK(again.status().message() ==
        "replica on node-c is outdated (epoch 2 < 3) already, in "
        "volume 'db'");
  CHECK(OutdateReplica(v, "node-z").status().message() == "volume 'db' has no replica on node-z");
  CHECK(OutdateReplica(v, "node-z").status().code() == ENOENT);

  v = Must(OutdateReplica(v, "node-b"));
  auto last = OutdateReplica(v, "node-a");
  CHECK(last.status().code() == EPERM);
  CHECK(last.status().message() ==
        "refusing to outdate the replica on node-a, the last in-sync "
        "replica of volume 'db': no current copy would be left");
}

TEST_CASE("failover: never promote a stale replica (C outdated, then A dies)") {
  // node-c is lost while node-a writes: node-a's manager outdates it.
  VolumeRecord v = Must(OutdateReplica(Volume(), "node-c"));
  // Then node-a, the attached node, dies.
  NodeStates states = With(AllUp(), "node-a", kDown);
  Status on_c = CanAttachOn(v, "node-c", states);
  CHECK(on_c.code() == ESTALE);
  CHECK(on_c.message() ==
        "cannot attach volume 'db' on node-c: replica on node-c is outdated "
        "(epoch 2 < 3); attach on node-b which is in sync");
  CHECK(AttachOn(v, "node-c", states).status().code() == ESTALE);
  CHECK(CanAttachOn(v, "node-b", states).ok());

  VolumeRecord on_b = Must(AttachOn(v, "node-b", states));
  CHECK(on_b.epoch == 4);  // bumped before any IO on node-b (rule 3)
  CHECK(on_b.attached_node == "node-b");
  CHECK(on_b.attached_epoch == 4);
  CHECK(on_b.device.empty());
  // node-a may have completed writes nobody acknowledged: out of the set.
  CHECK(on_b.in_sync == std::vector<std::string>{"node-b"});
  CHECK(on_b.FindReplica("node-a")->synced_epoch == 3u);
  CHECK(on_b.FindReplica("node-c")->synced_epoch == 2u);

  // node-a comes back with its old disk and epoch 3: fenced.
  auto plan = RejoinAsReplica(on_b, "node-a", {3, true});
  REQUIRE(plan.ok());
  CHECK(plan->action == RejoinPlan::Action::kReplica);
  CHECK(plan->drop_local_disk);
  CHECK(plan->resync == ResyncKind::kFull);
  CHECK(plan->epoch == 4);
  CHECK_FALSE(plan->changed);
  // node-c comes back: stale since before node-b's attachment, full copy.
  plan = RejoinAsReplica(on_b, "node-c", {2, false});
  REQUIRE(plan.ok());
  CHECK(plan->action == RejoinPlan::Action::kReplica);
  CHECK_FALSE(plan->drop_local_disk);
  CHECK(plan->resync == ResyncKind::kFull);
}

TEST_CASE("failover: who may attach where") {
  VolumeRecord attached = Volume();
  VolumeRecord detached = Volume();
  detached.attached_node = detached.device = "";
  detached.attached_epoch = 0;
  VolumeRecord filling = Must(AddReplica(detached, "node-d"));
  VolumeRecord creating = detached;
  creating.state = VolumeState::kCreating;

  struct Case {
    const char* name;
    VolumeRecord volume;
    std::string node;
    NodeStates states;
    int code;  // 0: allowed
    std::string message = "";
  };
  const std::string p = "cannot attach volume 'db' on ";
  for (const Case& c : std::vector<Case>{
           {"again on the attached node is a retry", attached, "node-a", AllUp(), 0},
           {"elsewhere while the attached node is up", attached, "node-b", AllUp(), EBUSY,
            p + "node-b: it is attached on node-a (up); detach it there first"},
           {"elsewhere while the attached node is only suspect", attached, "node-b",
            With(AllUp(), "node-a", NodeState::kSuspect), EBUSY,
            p + "node-b: it is attached on node-a (suspect); detach it there first"},
           {"elsewhere while the attached node is in maintenance", attached, "node-b",
            With(AllUp(), "node-a", NodeState::kMaintenance), EBUSY,
            p + "node-b: it is attached on node-a (maintenance); detach it there first"},
           {"failover to an in-sync replica", attached, "node-b", With(AllUp(), "node-a", kDown),
            0},
           {"failover when the attached node is no longer registered", attached, "node-c",
            [] {
              NodeStates s = AllUp();
              s.erase("node-a");
              return s;
            }(),
            0},
           {"failover to a node without a replica", attached, "node-d",
            With(AllUp(), "node-a", kDown), ESTALE,
            p + "node-d: it holds no replica, and node-a (down) was attached without a clean "
                "detach; attach on node-b or node-c which are in sync"},
           {"the target node is down", detached, "node-b", With(AllUp(), "node-b", kDown),
            EHOSTDOWN, p + "node-b: the node is down"},
           {"the target node is unknown", detached, "node-x", AllUp(), EHOSTDOWN,
            p + "node-x: the node is not registered"},
           {"detached: on any in-sync replica", detached, "node-c", AllUp(), 0},
           {"detached: diskless on a node without a replica", detached, "node-d", AllUp(), 0},
           {"detached: diskless needs an in-sync replica on an up node", detached, "node-d",
            With(With(With(AllUp(), "node-a", kDown), "node-b", kDown), "node-c",
                 NodeState::kSuspect),
            EHOSTDOWN, p + "node-d: it holds no replica and no in-sync replica is on an up node"},
           {"never on a replica still being filled", filling, "node-d", AllUp(), ESTALE,
            p + "node-d: replica on node-d is still being filled (never in sync); attach on "
                "node-a, node-b or node-c which are in sync"},
           {"not while being created", creating, "node-a", AllUp(), EBUSY,
            "volume 'db' is creating"},
       }) {
    CAPTURE(c.name);
    Status s = CanAttachOn(c.volume, c.node, c.states);
    CHECK(s.code() == c.code);
    CHECK(s.message() == c.message);
  }
}

TEST_CASE("failover: an outdated replica is refused with no hint when nothing is usable") {
  VolumeRecord v = Must(OutdateReplica(Volume(), "node-c"));
  v = Must(OutdateReplica(v, "node-b"));
  NodeStates states = With(AllUp(), "node-a", kDown);
  CHECK(CanAttachOn(v, "node-b", states).message() ==
        "cannot attach volume 'db' on node-b: replica on node-b is outdated (epoch 3 < 4); no "
        "in-sync replica is on an up node");
}

TEST_CASE("failover: attach bumps the epoch, a retry does not, detach keeps it") {
  VolumeRecord v = Must(Detach(Volume(), "node-a"));
  CHECK(v.attached_node.empty());
  CHECK(v.device.empty());
  CHECK(v.attached_epoch == 0);
  CHECK(v.epoch == 2);
  CHECK(v.in_sync.size() == 3);
  CHECK(Must(Detach(v, "node-a")) == v);  // detaching twice is a retry
  CHECK(Detach(Volume(), "node-b").status().message() ==
        "volume 'db' is attached on node-a, not node-b");
  CHECK(Detach(Volume(), "node-b").status().code() == EBUSY);

  VolumeRecord on_c = Must(AttachOn(v, "node-c", AllUp()));
  CHECK(on_c.epoch == 3);
  CHECK(on_c.attached_epoch == 3);
  CHECK(on_c.in_sync.size() == 3);  // a clean move leaves every replica current
  on_c.device = "/dev/keel4";
  CHECK(Must(AttachOn(on_c, "node-c", AllUp())) == on_c);

  VolumeRecord diskless = Must(AttachOn(v, "node-d", AllUp()));
  CHECK(diskless.epoch == 3);
  CHECK(diskless.attached_node == "node-d");
}

TEST_CASE("failover: failover from a diskless attached node bumps the epoch only") {
  VolumeRecord v = Must(Detach(Volume(), "node-a"));
  v = Must(AttachOn(v, "node-d", AllUp()));  // epoch 3, diskless
  VolumeRecord moved = Must(AttachOn(v, "node-b", With(AllUp(), "node-d", kDown)));
  CHECK(moved.epoch == 4);
  CHECK(moved.in_sync.size() == 3);
  CHECK(moved.attached_node == "node-b");
}

TEST_CASE("failover: resync is by bitmap only for replicas lost under the current attachment") {
  VolumeRecord v = Volume();  // attached on node-a since epoch 2
  CHECK(*ResyncFor(v, "node-b") == ResyncKind::kNone);
  v = Must(OutdateReplica(v, "node-c"));  // lost while node-a was attached: its bitmap knows
  CHECK(*ResyncFor(v, "node-c") == ResyncKind::kBitmap);
  v = Must(OutdateReplica(v, "node-b"));
  CHECK(*ResyncFor(v, "node-b") == ResyncKind::kBitmap);

  VolumeRecord detached = Must(Detach(v, "node-a"));
  CHECK(*ResyncFor(detached, "node-c") == ResyncKind::kFull);  // the next attachment starts anew
  VolumeRecord again = Must(AttachOn(detached, "node-a", AllUp()));
  CHECK(*ResyncFor(again, "node-c") == ResyncKind::kFull);

  VolumeRecord added = Must(AddReplica(Volume(), "node-d"));
  CHECK(*ResyncFor(added, "node-d") == ResyncKind::kFull);
  CHECK(ResyncFor(added, "node-x").status().code() == ENOENT);
  CHECK(std::string(ResyncKindName(ResyncKind::kBitmap)) == "bitmap");
}

TEST_CASE("failover: rejoin of a returning node") {
  VolumeRecord v = Must(OutdateReplica(Volume(), "node-c"));  // epoch 3

  SUBCASE("the attached node restarts: it resumes") {
    auto plan = RejoinAsReplica(v, "node-a", {3, true});
    REQUIRE(plan.ok());
    CHECK(plan->action == RejoinPlan::Action::kResume);
    CHECK_FALSE(plan->drop_local_disk);
    CHECK_FALSE(plan->changed);
  }
  SUBCASE("an in-sync replica comes back: target, no resync") {
    auto plan = RejoinAsReplica(v, "node-b", {2, false});
    REQUIRE(plan.ok());
    CHECK(plan->action == RejoinPlan::Action::kReplica);
    CHECK(plan->resync == ResyncKind::kNone);
    CHECK(plan->epoch == 3);  // raised on its metadata
  }
  SUBCASE("an outdated replica comes back under the same attachment: bitmap") {
    auto plan = RejoinAsReplica(v, "node-c", {2, false});
    REQUIRE(plan.ok());
    CHECK(plan->resync == ResyncKind::kBitmap);
  }
  SUBCASE("a replica that was replaced is forgotten") {
    VolumeRecord without_c = Must(RemoveReplica(v, "node-c"));
    auto plan = RejoinAsReplica(without_c, "node-c", {2, false});
    REQUIRE(plan.ok());
    CHECK(plan->action == RejoinPlan::Action::kForget);
  }
  SUBCASE("an old attached node still listed in sync is outdated as it is fenced") {
    VolumeRecord moved = Must(Detach(Volume(), "node-a"));
    moved = Must(AttachOn(moved, "node-b", AllUp()));  // epoch 3; node-a still in sync
    auto plan = RejoinAsReplica(moved, "node-a", {2, true});
    REQUIRE(plan.ok());
    CHECK(plan->drop_local_disk);
    CHECK(plan->changed);
    CHECK(plan->epoch == 4);
    CHECK(plan->resync == ResyncKind::kFull);
    CHECK_FALSE(plan->volume.IsInSync("node-a"));
    CHECK(plan->volume.FindReplica("node-a")->synced_epoch == 3u);
    CHECK(ValidateVolumeRecord(plan->volume).ok());
  }
  SUBCASE("a fenced node with the only current copy stays in sync") {
    VolumeRecord only = Must(OutdateReplica(v, "node-b"));  // in sync: node-a only
    only = Must(Detach(only, "node-a"));
    auto plan = RejoinAsReplica(only, "node-a", {4, true});
    REQUIRE(plan.ok());
    CHECK(plan->drop_local_disk);
    CHECK_FALSE(plan->changed);
    CHECK(plan->resync == ResyncKind::kNone);
  }
  SUBCASE("a local epoch above the cluster's is refused") {
    auto plan = RejoinAsReplica(v, "node-b", {9, false});
    CHECK(plan.status().code() == EUCLEAN);
    CHECK(plan.status().message() ==
          "replica of volume 'db' on node-b has epoch 9, newer than "
          "the cluster's 3: refusing to guess which is right");
  }
}

TEST_CASE("failover: replicas down past the grace period are replaced") {
  VolumeRecord v = Volume();  // attached on node-a
  const int64_t grace = 600000;
  struct Case {
    const char* name;
    NodeStates states;
    int64_t now;
    std::vector<std::string> want;
  };
  for (const Case& c : std::vector<Case>{
           {"all up", AllUp(), 10000000, {}},
           {"down, not long enough", With(AllUp(), "node-c", kDown, 1000), 1000 + grace - 1, {}},
           {"down exactly the grace period",
            With(AllUp(), "node-c", kDown, 1000),
            1000 + grace,
            {"node-c"}},
           {"two down",
            With(With(AllUp(), "node-c", kDown, 0), "node-b", kDown, 0),
            grace,
            {"node-b", "node-c"}},
           {"suspect never counts",
            With(AllUp(), "node-c", NodeState::kSuspect, 0),
            10 * grace,
            {}},
           {"maintenance never counts",
            With(AllUp(), "node-c", NodeState::kMaintenance, 0),
            10 * grace,
            {}},
           {"the attached node's replica waits for a failover",
            With(AllUp(), "node-a", kDown, 0),
            10 * grace,
            {}},
           {"a node no longer registered is replaced at once",
            [] {
              NodeStates s = AllUp();
              s.erase("node-b");
              return s;
            }(),
            0,
            {"node-b"}},
       }) {
    CAPTURE(c.name);
    CHECK(ReplicasToReplace(v, c.states, c.now, grace) == c.want);
  }
}

TEST_CASE("failover: re-replication adds, syncs and removes replicas on the record") {
  VolumeRecord v = Must(OutdateReplica(Volume(), "node-c"));  // epoch 3, attached since 2
  v = Must(AddReplica(v, "node-d"));
  const ReplicaRef* d = v.FindReplica("node-d");
  REQUIRE(d != nullptr);
  CHECK(d->slot == 3);
  CHECK(d->synced_epoch == 0u);
  CHECK_FALSE(v.IsInSync("node-d"));
  CHECK(AddReplica(v, "node-d").status().code() == EEXIST);

  auto stale = MarkInSync(v, "node-d", 1);
  CHECK(stale.status().code() == ESTALE);
  CHECK(stale.status().message() ==
        "resync of node-d ran under the attachment of epoch 1, but "
        "volume 'db' is attached since epoch 2");
  v = Must(MarkInSync(v, "node-d", 2));
  CHECK(v.IsInSync("node-d"));
  CHECK_FALSE(v.FindReplica("node-d")->synced_epoch.has_value());
  CHECK(v.epoch == 3);  // joining the set needs no new epoch
  CHECK(MarkInSync(v, "node-d", 2).status().code() == EALREADY);
  CHECK(MarkInSync(v, "node-x", 2).status().code() == ENOENT);

  // Forget the outdated node-c: no epoch change, its slot is free again.
  v = Must(RemoveReplica(v, "node-c"));
  CHECK(v.FindReplica("node-c") == nullptr);
  CHECK(v.epoch == 3);
  CHECK(Must(AddReplica(v, "node-e")).FindReplica("node-e")->slot == 2);
  // Removing an in-sync replica (drain) shrinks the set: new epoch.
  VolumeRecord drained = Must(RemoveReplica(v, "node-b"));
  CHECK(drained.epoch == 4);
  CHECK(drained.in_sync == std::vector<std::string>{"node-a", "node-d"});

  CHECK(RemoveReplica(v, "node-a").status().code() == EBUSY);
  CHECK(RemoveReplica(v, "node-a").status().message() ==
        "the replica on node-a backs the attached disk of volume 'db'; detach it or attach "
        "elsewhere first");
  CHECK(RemoveReplica(v, "node-x").status().code() == ENOENT);
  VolumeRecord lone = Must(Detach(Must(RemoveReplica(drained, "node-d")), "node-a"));
  CHECK(RemoveReplica(lone, "node-a").status().code() == EPERM);
}

TEST_CASE("failover: a replica set that fills every slot refuses another replica") {
  VolumeRecord v = Volume();
  for (const char* n : {"n3", "n4", "n5", "n6"}) v = Must(AddReplica(v, n));
  auto full = AddReplica(v, "n7");
  CHECK(full.status().code() == ENOSPC);
  CHECK(full.status().message() == "volume 'db' has no free peer slot (7 replicas)");
}

}  // namespace keel::cluster
