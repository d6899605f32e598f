#include "manager/cluster/placement.h"

#include <doctest/doctest.h>

#include <cerrno>

namespace keel::cluster {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

NodeRecord Node(std::string name, std::string zone, std::string rack, uint64_t free_gib,
                NodeState state = NodeState::kUp, bool cordoned = false) {
  NodeRecord n;
  n.name = std::move(name);
  n.zone = std::move(zone);
  n.rack = std::move(rack);
  n.capacity_bytes = 1000 * kGiB;
  n.free_bytes = free_gib * kGiB;
  n.state = state;
  n.cordoned = cordoned;
  return n;
}

PlacementRequest Request(uint32_t replicas, uint64_t size_gib, std::string requester = "") {
  PlacementRequest r;
  r.volume = "db";
  r.replicas = replicas;
  r.size = size_gib * kGiB;
  r.requester = std::move(requester);
  return r;
}

PlacementRequest Spread(PlacementRequest r) {
  r.constraints.zone_spread = true;
  return r;
}

PlacementRequest Allow(PlacementRequest r, std::vector<std::string> nodes) {
  r.constraints.nodes = std::move(nodes);
  return r;
}

struct Case {
  const char* name;
  PlacementRequest request;
  std::vector<NodeRecord> nodes;
  std::vector<std::string> want = {};  // empty: refused with `error`
  std::string error = "";
  int code = ENOSPC;
};

void RunCases(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    CAPTURE(c.name);
    auto got = PlaceReplicas(c.request, c.nodes);
    if (c.want.empty()) {
      REQUIRE_FALSE(got.ok());
      CHECK(got.status().code() == c.code);
      CHECK(got.status().message() == c.error);
    } else {
      REQUIRE_MESSAGE(got.ok(), got.status().ToString());
      CHECK(*got == c.want);
    }
  }
}

const std::vector<NodeRecord> kThreeZones = {
    Node("node-a", "a", "r1", 100), Node("node-a2", "a", "r2", 500), Node("node-b", "b", "r1", 50),
    Node("node-c", "c", "r1", 80)};

}  // namespace

TEST_CASE("placement: spreads over zones, prefers the requester, then most free") {
  RunCases({
      {"one replica goes to the node that asked even with less free space",
       Request(1, 10, "node-b"),
       kThreeZones,
       {"node-b"}},
      {"one replica without a requester: most free", Request(1, 10), kThreeZones, {"node-a2"}},
      {"three replicas: requester, then a new zone each, most free first",
       Request(3, 10, "node-b"),
       kThreeZones,
       {"node-b", "node-a2", "node-c"}},
      {"three replicas without requester",
       Request(3, 10),
       kThreeZones,
       {"node-a2", "node-c", "node-b"}},
      {"a requester that is not a node changes nothing",
       Request(2, 10, "elsewhere"),
       kThreeZones,
       {"node-a2", "node-c"}},
      {"spread is best effort without zone_spread: 3 replicas over 2 zones",
       Request(3, 10, "node-a"),
       {Node("node-a", "a", "r1", 100), Node("node-a2", "a", "r2", 500),
        Node("node-b", "b", "r1", 50)},
       {"node-a", "node-b", "node-a2"}},
      {"racks spread within a zone: a new rack beats more free space",
       Request(3, 10),
       {Node("n1", "a", "r1", 300), Node("n2", "a", "r1", 200), Node("n3", "a", "r2", 100)},
       {"n1", "n3", "n2"}},
      {"ties are broken by name",
       Request(2, 10),
       {Node("zeta", "", "", 100), Node("alpha", "", "", 100), Node("mid", "", "", 100)},
       {"alpha", "mid"}},
      {"exactly enough free space is enough",
       Request(1, 50),
       {Node("node-b", "b", "r1", 50)},
       {"node-b"}},
      {"zone_spread: distinct zones",
       Spread(Request(3, 10, "node-a")),
       kThreeZones,
       {"node-a", "node-c", "node-b"}},
  });
}

TEST_CASE("placement: only up, uncordoned nodes with room are eligible") {
  std::vector<NodeRecord> nodes = {
      Node("node-a", "a", "r1", 100),
      Node("node-b", "b", "r1", 100, NodeState::kSuspect),
      Node("node-c", "c", "r1", 100, NodeState::kDown),
      Node("node-d", "d", "r1", 100, NodeState::kMaintenance),
      Node("node-e", "e", "r1", 100, NodeState::kUp, /*cordoned=*/true),
      Node("node-f", "f", "r1", 5),
      Node("node-g", "g", "r1", 90)};
  RunCases({
      {"the requester is skipped when it is down",
       Request(2, 10, "node-c"),
       nodes,
       {"node-a", "node-g"}},
      {"impossible: 3 needed, 2 eligible",
       Request(3, 10, "node-a"),
       nodes,
       {},
       "cannot place 3 replicas of volume 'db': need 3 nodes, 2 available: node-a, node-g; "
       "node-b is suspect; node-c is down; node-d is maintenance; node-e is cordoned; "
       "node-f has 5 GiB free, needs 10 GiB"},
  });
}

TEST_CASE("placement: zone_spread refuses a second replica in a used zone") {
  RunCases({
      {"the brief's example",
       Spread(Request(3, 10)),
       {Node("node-a", "a", "r1", 100), Node("node-b", "b", "r1", 100),
        Node("node-c", "c", "r1", 100, NodeState::kDown)},
       {},
       "cannot place 3 replicas of volume 'db': need 3 nodes in distinct zones, 2 available: "
       "node-a (zone a), node-b (zone b); node-c is down"},
      {"eligible nodes sharing a zone are named",
       Spread(Request(3, 10)),
       {Node("node-a", "a", "r1", 100), Node("node-a2", "a", "r2", 50),
        Node("node-b", "b", "r1", 100), Node("node-x", "", "", 100)},
       {},
       "cannot place 3 replicas of volume 'db': need 3 nodes in distinct zones, 2 available: "
       "node-a (zone a), node-b (zone b); node-a2 is in zone a like node-a; node-x has no zone "
       "(zone spread needs one)"},
      {"the requester's zone counts as used",
       Spread(Request(2, 10, "node-a2")),
       {Node("node-a", "a", "r1", 100), Node("node-a2", "a", "r2", 50),
        Node("node-b", "b", "r1", 10)},
       {"node-a2", "node-b"}},
  });
}

TEST_CASE("placement: allow-list and node selector are honoured") {
  PlacementRequest selector = Request(2, 10);
  selector.constraints.node_selector = {{"disk", "ssd"}};
  std::vector<NodeRecord> labelled = kThreeZones;
  labelled[0].labels = {{"disk", "ssd"}};
  labelled[2].labels = {{"disk", "hdd"}};
  labelled[3].labels = {{"disk", "ssd"}};
  RunCases({
      {"only allowed nodes",
       Allow(Request(2, 10, "node-a2"), {"node-b", "node-c"}),
       kThreeZones,
       {"node-c", "node-b"}},
      {"an allowed node that is not registered is reported",
       Allow(Request(2, 10), {"node-b", "node-z"}),
       kThreeZones,
       {},
       "cannot place 2 replicas of volume 'db': need 2 nodes, 1 available: node-b; node-a is not "
       "in the volume's allowed nodes; node-a2 is not in the volume's allowed nodes; node-c is not "
       "in the volume's allowed nodes; node-z (allowed) is not registered"},
      {"node selector", selector, labelled, {"node-a", "node-c"}},
      {"node selector refusal",
       [&] {
         PlacementRequest r = selector;
         r.replicas = 3;
         return r;
       }(),
       labelled,
       {},
       "cannot place 3 replicas of volume 'db': need 3 nodes, 2 available: node-a, node-c; "
       "node-a2 lacks label disk=ssd; node-b lacks label disk=ssd"},
  });
}

TEST_CASE("placement: bad requests and empty clusters") {
  RunCases({
      {"replicas 0", Request(0, 10), kThreeZones, {}, "replicas must be 1 to 3, not 0", EINVAL},
      {"replicas 4", Request(4, 10), kThreeZones, {}, "replicas must be 1 to 3, not 4", EINVAL},
      {"a node listed twice",
       Request(1, 10),
       {Node("n", "", "", 1), Node("n", "", "", 1)},
       {},
       "node 'n' is listed twice",
       EINVAL},
      {"no nodes",
       Request(1, 10),
       {},
       {},
       "cannot place 1 replica of volume 'db': need 1 node, 0 available; no node is registered"},
      {"no node has room",
       Request(1, 600),
       kThreeZones,
       {},
       "cannot place 1 replica of volume 'db': need 1 node, 0 available; node-a has 100 GiB free, "
       "needs 600 GiB; node-a2 has 500 GiB free, needs 600 GiB; node-b has 50 GiB free, needs "
       "600 GiB; node-c has 80 GiB free, needs 600 GiB"},
  });
}

TEST_CASE("placement: PlacementRequestFor takes the volume's spec") {
  VolumeRecord v;
  v.name = "web";
  v.replicas = 2;
  v.size = 7 * kGiB;
  v.constraints.zone_spread = true;
  PlacementRequest r = PlacementRequestFor(v, "node-b");
  CHECK(r.volume == "web");
  CHECK(r.replicas == 2);
  CHECK(r.size == 7 * kGiB);
  CHECK(r.constraints.zone_spread);
  CHECK(r.requester == "node-b");
}

TEST_CASE("placement: a replacement avoids current holders and spreads against the rest") {
  VolumeRecord v;
  v.name = "db";
  v.size = 10 * kGiB;
  v.replicas = 3;
  v.replica_set = {{"node-a", 0, {}, {}}, {"node-b", 1, {}, {}}, {"node-c", 2, {}, {}}};
  v.in_sync = {"node-a", "node-b", "node-c"};
  std::vector<NodeRecord> nodes = {Node("node-a", "a", "r1", 100),
                                   Node("node-b", "b", "r1", 100),
                                   Node("node-c", "c", "r1", 100, NodeState::kDown),
                                   Node("node-a2", "a", "r2", 900),
                                   Node("node-c2", "c", "r2", 50),
                                   Node("node-d", "d", "r1", 10)};

  auto got = ChooseReplacement(v, "node-c", nodes);
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  CHECK(*got == "node-c2");  // zone c is free again once node-c's replica goes

  SUBCASE("the attached node is preferred within the best zone tier") {
    v.attached_node = "node-d";
    got = ChooseReplacement(v, "node-c", nodes);
    REQUIRE(got.ok());
    CHECK(*got == "node-d");
  }
  SUBCASE("adding without replacing: only new zones or the biggest") {
    got = ChooseReplacement(v, "", nodes);
    REQUIRE(got.ok());
    CHECK(*got == "node-d");  // zone d is the only unused one
  }
  SUBCASE("zone_spread: refused when every free zone is taken") {
    v.constraints.zone_spread = true;
    nodes[4].state = NodeState::kDown;  // node-c2
    nodes[5].free_bytes = 0;            // node-d
    got = ChooseReplacement(v, "node-c", nodes);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == ENOSPC);
    CHECK(got.status().message() ==
          "cannot place a new replica of volume 'db': need 1 node in a zone not used by its other "
          "replicas, 0 available; node-a2 is in zone a like node-a; node-a already holds a "
          "replica; node-b already holds a replica; node-c holds the replica being replaced; "
          "node-c2 is down; node-d has 0 B free, needs 10 GiB");
  }
  SUBCASE("replacing a node that holds no replica is refused") {
    got = ChooseReplacement(v, "node-z", nodes);
    REQUIRE_FALSE(got.ok());
    CHECK(got.status().code() == EINVAL);
    CHECK(got.status().message() == "node 'node-z' holds no replica of volume 'db' to replace");
  }
}

}  // namespace keel::cluster
