// The pieces together, as the coordinator and the attached node will use
// them: every record goes through JSON between steps, as it would through
// etcd.
#include <doctest/doctest.h>

#include <cerrno>

#include "manager/cluster/failover.h"
#include "manager/cluster/membership.h"
#include "manager/cluster/placement.h"
#include "manager/cluster/records.h"

namespace keel::cluster {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

NodeRecord Node(const std::string& name, const std::string& zone) {
  NodeRecord n;
  n.name = name;
  n.bus_endpoint = "tcp://10.0.0.1:7480";
  n.bus_public_key = std::string(40, 'a');
  n.data_address = "10.0.1.1";
  n.zone = zone;
  n.capacity_bytes = 100 * kGiB;
  n.free_bytes = 100 * kGiB;
  n.version = "0.3.0";
  return n;
}

// Writes and reads back, as a CAS to etcd and the next read would.
VolumeRecord Store(const Result<VolumeRecord>& r) {
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  auto back = VolumeRecordFromJson(VolumeRecordToJson(*r));
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  return *back;
}

// The node records with the states membership decided.
std::vector<NodeRecord> WithStates(std::vector<NodeRecord> nodes, const Membership& m) {
  for (NodeRecord& n : nodes) {
    const Member& s = m.members().at(n.name);
    n.state = s.state;
    n.state_changed_ms = s.state_changed_ms;
    auto back = NodeRecordFromJson(NodeRecordToJson(n));
    REQUIRE(back.ok());
    n = *back;
  }
  return nodes;
}

}  // namespace

TEST_CASE("scenario: create, attach, lose the attached node, fail over, fence, re-replicate") {
  std::vector<NodeRecord> nodes = {Node("node-a", "a"), Node("node-b", "b"), Node("node-c", "c"),
                                   Node("node-d", "d")};
  auto created = Membership::Create({1500, 3000});
  REQUIRE(created.ok());
  Membership members = std::move(created).value();
  for (const NodeRecord& n : nodes) REQUIRE(members.AddNode(n.name, NodeState::kUp, 0, 0).ok());
  int64_t now = 0;
  auto beat = [&](std::initializer_list<const char*> alive) {
    for (const char* n : alive) REQUIRE(members.Heartbeat(n, now).ok());
  };

  // Create "db" with 3 replicas, asked by node-b; node-d is cordoned.
  nodes[3].cordoned = true;
  VolumeRecord v;
  v.name = "db";
  v.uuid = "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab";
  v.size = 10 * kGiB;
  v.replicas = 3;
  v.constraints.zone_spread = true;
  v.state = VolumeState::kReady;
  auto placed = PlaceReplicas(PlacementRequestFor(v, "node-b"), nodes);
  REQUIRE_MESSAGE(placed.ok(), placed.status().ToString());
  CHECK(*placed == std::vector<std::string>{"node-b", "node-a", "node-c"});
  for (uint32_t i = 0; i < placed->size(); i++) {
    v.replica_set.push_back({(*placed)[i], i, 7000, std::nullopt});
    v.in_sync.push_back((*placed)[i]);
  }
  v = Store(v);

  // Attach on node-b.
  v = Store(AttachOn(v, "node-b", members.States()));
  CHECK(v.epoch == 2);

  // node-c stops; node-b's kernel reports the peer lost; its keeld outdates it.
  for (now = 500; now <= 3500; now += 500) beat({"node-a", "node-b", "node-d"});
  CHECK(members.Tick(now).size() == 1);
  CHECK(members.members().at("node-c").state == NodeState::kDown);
  v = Store(OutdateReplica(v, "node-c"));
  CHECK(v.epoch == 3);

  // node-b, the attached node, dies too.
  for (now = 4000; now <= 7000; now += 500) beat({"node-a", "node-d"});
  CHECK(members.Tick(now).size() == 1);
  NodeStates states = members.States();
  CHECK(states.at("node-b").state == NodeState::kDown);
  CHECK(CanAttachOn(v, "node-c", states).code() == EHOSTDOWN);  // down, and stale anyway
  CHECK(CanAttachOn(v, "node-d", states).code() == ESTALE);     // no replica, no clean detach
  v = Store(AttachOn(v, "node-a", states));
  CHECK(v.epoch == 4);
  CHECK(v.in_sync == std::vector<std::string>{"node-a"});

  // node-c comes back; it is stale from before node-a's attachment: full copy.
  now = 8000;
  beat({"node-a", "node-c", "node-d"});
  auto plan = RejoinAsReplica(v, "node-c", {2, false});
  REQUIRE(plan.ok());
  CHECK(plan->action == RejoinPlan::Action::kReplica);
  CHECK(plan->resync == ResyncKind::kFull);
  v = Store(MarkInSync(v, "node-c", v.attached_epoch));

  // node-b stays away past the grace period: replaced.  node-d is
  // uncordoned; the replacement must go to zone b or d (a and c are taken).
  nodes[3].cordoned = false;
  const int64_t grace = 10000;
  CHECK(ReplicasToReplace(v, members.States(), now, grace).empty());
  for (now = 8500; now <= 20000; now += 500) beat({"node-a", "node-c", "node-d"});
  members.Tick(now);
  std::vector<std::string> gone = ReplicasToReplace(v, members.States(), now, grace);
  REQUIRE(gone == std::vector<std::string>{"node-b"});
  auto target = ChooseReplacement(v, "node-b", WithStates(nodes, members));
  REQUIRE_MESSAGE(target.ok(), target.status().ToString());
  CHECK(*target == "node-d");
  v = Store(AddReplica(v, *target));
  CHECK(v.FindReplica("node-d")->slot == 3);
  CHECK(*ResyncFor(v, "node-d") == ResyncKind::kFull);
  v = Store(MarkInSync(v, "node-d", v.attached_epoch));
  v = Store(RemoveReplica(v, "node-b"));
  CHECK(v.in_sync == std::vector<std::string>{"node-a", "node-c", "node-d"});
  CHECK(v.replica_set.size() == 3);

  // The old attached node returns with its disk and epoch 3: it is no longer
  // a replica at all, so it drops the disk and deletes its copy.
  now = 21000;
  beat({"node-b"});
  plan = RejoinAsReplica(v, "node-b", {3, true});
  REQUIRE(plan.ok());
  CHECK(plan->action == RejoinPlan::Action::kForget);
  CHECK(plan->drop_local_disk);
}

}  // namespace keel::cluster
