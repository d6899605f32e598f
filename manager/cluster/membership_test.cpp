#include "manager/cluster/membership.h"

#include <doctest/doctest.h>

#include <cerrno>

namespace keel::cluster {
namespace {

constexpr NodeState kUp = NodeState::kUp;
constexpr NodeState kSuspect = NodeState::kSuspect;
constexpr NodeState kDown = NodeState::kDown;
constexpr NodeState kMaint = NodeState::kMaintenance;

// Two nodes, both up since t=0, default timing (1500 / 3000 ms).
Membership TwoNodes() {
  auto m = Membership::Create();
  REQUIRE(m.ok());
  Membership out = std::move(m).value();
  REQUIRE(out.AddNode("node-a", kUp, 0, 0).ok());
  REQUIRE(out.AddNode("node-b", kUp, 0, 0).ok());
  return out;
}

std::vector<Transition> Beat(Membership& m, const std::string& node, int64_t now) {
  auto r = m.Heartbeat(node, now);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}

NodeState StateOf(const Membership& m, const std::string& node) {
  return m.members().at(node).state;
}

}  // namespace

TEST_CASE("membership: config is validated") {
  CHECK(Membership::Create().ok());
  CHECK(Membership::Create({100, 200}).ok());
  auto bad = Membership::Create({0, 200});
  CHECK(bad.status().message() == "suspect_after_ms must be positive, not 0");
  bad = Membership::Create({300, 300});
  CHECK(bad.status().code() == EINVAL);
  CHECK(bad.status().message() == "down_after_ms (300) must be more than suspect_after_ms (300)");
}

TEST_CASE("membership: up -> suspect -> down by silence, at the exact limits") {
  Membership m = TwoNodes();
  CHECK(Beat(m, "node-b", 1000).empty());  // up stays up: no transition
  CHECK(m.Tick(1499).empty());
  CHECK(m.Tick(1500) ==
        std::vector<Transition>{{"node-a", kUp, kSuspect, 1500, "no heartbeat for 1500 ms"}});
  CHECK(m.members().at("node-a") == Member{kSuspect, 1500, 0});
  // node-a is not down 1 ms early; node-b (heard at 1000) is suspect by now.
  CHECK(m.Tick(2999) ==
        std::vector<Transition>{{"node-b", kUp, kSuspect, 2999, "no heartbeat for 1999 ms"}});
  CHECK(m.Tick(3000) ==
        std::vector<Transition>{{"node-a", kSuspect, kDown, 3000, "no heartbeat for 3000 ms"}});
  CHECK(m.members().at("node-b") == Member{kSuspect, 2999, 1000});
  CHECK(m.Tick(10000) ==
        std::vector<Transition>{{"node-b", kSuspect, kDown, 10000, "no heartbeat for 9000 ms"}});
  CHECK(m.Tick(20000).empty());  // down stays down, no repeated transitions
}

TEST_CASE("membership: a heartbeat exactly at the boundary keeps a node up") {
  Membership m = TwoNodes();
  CHECK(Beat(m, "node-a", 1500).empty());  // arrives before the tick at the same instant
  auto t = m.Tick(1500);
  REQUIRE(t.size() == 1);
  CHECK(t[0].node == "node-b");  // the silent one
  CHECK(StateOf(m, "node-a") == kUp);
  // A heartbeat at the very ms of the down decision, handled after it, is
  // not "before the change": it brings the node back.
  Beat(m, "node-a", 3000);
  CHECK(m.Tick(3000).size() == 1);  // node-b down at 3000
  CHECK(Beat(m, "node-b", 3000) ==
        std::vector<Transition>{{"node-b", kDown, kUp, 3000, "heartbeat"}});
}

TEST_CASE("membership: a missed tick goes from up straight to down") {
  Membership m = TwoNodes();
  Beat(m, "node-b", 4000);
  CHECK(m.Tick(4000) ==
        std::vector<Transition>{{"node-a", kUp, kDown, 4000, "no heartbeat for 4000 ms"}});
}

TEST_CASE("membership: a down node that comes back is up again") {
  Membership m = TwoNodes();
  Beat(m, "node-b", 3000);
  REQUIRE(m.Tick(3000).size() == 1);
  REQUIRE(StateOf(m, "node-a") == kDown);
  CHECK(Beat(m, "node-a", 60000) ==
        std::vector<Transition>{{"node-a", kDown, kUp, 60000, "heartbeat"}});
  CHECK(m.members().at("node-a") == Member{kUp, 60000, 60000});
  CHECK(m.Tick(61499).size() == 1);  // node-b only; node-a was heard 1499 ms ago
  CHECK(StateOf(m, "node-a") == kUp);
}

TEST_CASE("membership: a suspect node that beats again is up") {
  Membership m = TwoNodes();
  m.Tick(2000);
  REQUIRE(StateOf(m, "node-a") == kSuspect);
  CHECK(Beat(m, "node-a", 2100) ==
        std::vector<Transition>{{"node-a", kSuspect, kUp, 2100, "heartbeat"}});
}

TEST_CASE("membership: a late heartbeat from before a down decision does not undo it") {
  Membership m = TwoNodes();
  m.Tick(3000);
  REQUIRE(StateOf(m, "node-a") == kDown);
  CHECK(Beat(m, "node-a", 2900).empty());
  CHECK(StateOf(m, "node-a") == kDown);
  CHECK(m.members().at("node-a").last_heartbeat_ms == 2900);
  CHECK(Beat(m, "node-a", 3100).size() == 1);
  CHECK(StateOf(m, "node-a") == kUp);
}

TEST_CASE("membership: flapping reports every transition with its time") {
  Membership m = TwoNodes();
  std::vector<Transition> all;
  auto add = [&](std::vector<Transition> t) {
    for (auto& x : t) {
      if (x.node == "node-a") all.push_back(x);
    }
  };
  // node-a beats every 2 s: it is suspect at each tick 1.5 s after a beat
  // and up again at the next beat; never down.
  for (int64_t t = 0; t <= 8000; t += 250) {
    if (t % 2000 == 0) add(Beat(m, "node-a", t));
    add(m.Tick(t));
  }
  std::vector<std::pair<NodeState, int64_t>> seen;
  for (const auto& x : all) seen.emplace_back(x.to, x.at_ms);
  CHECK(seen == std::vector<std::pair<NodeState, int64_t>>{{kSuspect, 1500},
                                                           {kUp, 2000},
                                                           {kSuspect, 3500},
                                                           {kUp, 4000},
                                                           {kSuspect, 5500},
                                                           {kUp, 6000},
                                                           {kSuspect, 7500},
                                                           {kUp, 8000}});
  CHECK(m.members().at("node-a") == Member{kUp, 8000, 8000});
}

TEST_CASE("membership: maintenance is never marked down and is left by silence") {
  Membership m = TwoNodes();
  auto t = m.SetMaintenance("node-a", true, 100);
  REQUIRE(t.ok());
  CHECK(*t == std::vector<Transition>{{"node-a", kUp, kMaint, 100, "maintenance set by operator"}});
  CHECK(m.SetMaintenance("node-a", true, 200)->empty());  // again: nothing
  auto ticked = m.Tick(100000);
  REQUIRE(ticked.size() == 1);
  CHECK(ticked[0].node == "node-b");
  CHECK(StateOf(m, "node-a") == kMaint);
  CHECK(Beat(m, "node-a", 100000).empty());  // heartbeats keep it in maintenance
  CHECK(StateOf(m, "node-a") == kMaint);

  SUBCASE("cleared right after a heartbeat: up") {
    t = m.SetMaintenance("node-a", false, 101000);
    REQUIRE(t.ok());
    CHECK(*t == std::vector<Transition>{
                    {"node-a", kMaint, kUp, 101000, "maintenance cleared by operator"}});
  }
  SUBCASE("cleared while silent: suspect, then down by the usual timing") {
    t = m.SetMaintenance("node-a", false, 102000);
    REQUIRE(t.ok());
    CHECK(*t == std::vector<Transition>{
                    {"node-a", kMaint, kSuspect, 102000, "maintenance cleared by operator"}});
    CHECK(m.Tick(103000).size() == 1);
    CHECK(StateOf(m, "node-a") == kDown);
  }
  SUBCASE("cleared long after: down at once") {
    t = m.SetMaintenance("node-a", false, 200000);
    REQUIRE(t.ok());
    CHECK(t->at(0).to == kDown);
  }
  SUBCASE("a down node can be put in maintenance") {
    t = m.SetMaintenance("node-b", true, 100500);
    REQUIRE(t.ok());
    CHECK(*t == std::vector<Transition>{
                    {"node-b", kDown, kMaint, 100500, "maintenance set by operator"}});
  }
}

TEST_CASE("membership: clearing maintenance on a node not in it changes nothing") {
  Membership m = TwoNodes();
  auto t = m.SetMaintenance("node-a", false, 10);
  REQUIRE(t.ok());
  CHECK(t->empty());
  CHECK(StateOf(m, "node-a") == kUp);
}

TEST_CASE("membership: unknown nodes, duplicates and removal") {
  Membership m = TwoNodes();
  auto hb = m.Heartbeat("stranger", 5);
  CHECK(hb.status().code() == ENOENT);
  CHECK(hb.status().message() == "heartbeat from 'stranger', which is not a member");
  CHECK(m.SetMaintenance("stranger", true, 5).status().code() == ENOENT);
  CHECK(m.AddNode("node-a", kUp, 0, 0).code() == EEXIST);
  CHECK(m.RemoveNode("node-b").ok());
  CHECK(m.RemoveNode("node-b").code() == ENOENT);
  CHECK(m.members().size() == 1);
  CHECK(m.Tick(5000).size() == 1);  // only node-a is left to be marked
}

TEST_CASE("membership: a restored view counts silence from the new coordinator's start") {
  auto created = Membership::Create({100, 200});
  REQUIRE(created.ok());
  Membership m = std::move(created).value();
  // etcd says: node-a up since long ago, node-b down since 500.
  REQUIRE(m.AddNode("node-a", kUp, 10, 50000).ok());
  REQUIRE(m.AddNode("node-b", kDown, 500, 50000).ok());
  CHECK(m.Tick(50099).empty());  // nobody heard yet, but not for long enough
  CHECK(m.Tick(50100) ==
        std::vector<Transition>{{"node-a", kUp, kSuspect, 50100, "no heartbeat for 100 ms"}});
  CHECK(StateOf(m, "node-b") == kDown);  // silence never makes a node better
  CHECK(m.States() == NodeStates{{"node-a", {kSuspect, 50100}}, {"node-b", {kDown, 500}}});
  CHECK(Beat(m, "node-b", 50150) ==
        std::vector<Transition>{{"node-b", kDown, kUp, 50150, "heartbeat"}});
}

}  // namespace keel::cluster
