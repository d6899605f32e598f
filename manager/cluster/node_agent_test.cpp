// NodeAgent against a real etcd on loopback and real ZeroMQ buses: nodes
// register and see each other up, exactly one coordinator, a silent node
// recorded down, a returning node recorded up, coordinator takeover.
#include "manager/cluster/node_agent.h"

#include <doctest/doctest.h>

#include <functional>
#include <thread>

#include "manager/kvdb/etcd_kvdb.h"
#include "manager/kvdb/etcd_test_server.h"

namespace keel::cluster {
namespace {

using namespace std::chrono_literals;

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

struct Cluster {
  std::unique_ptr<EtcdProcess> etcd;
  std::unique_ptr<EtcdKvdb> kv;  // shared by the agents: the kvdb is thread-safe

  Cluster() {
    auto e = EtcdProcess::Start();
    REQUIRE(e.ok());
    etcd = std::move(e).value();
    auto k = EtcdKvdb::Open({{etcd->client_url()}, 5000ms});
    REQUIRE(k.ok());
    kv = std::move(k).value();
  }

  std::unique_ptr<NodeAgent> Start(const std::string& name) {
    NodeAgentOptions o;
    o.node = name;
    o.bus_endpoint = "tcp://127.0.0.1:*";
    o.data_address = "127.0.0.1";
    o.labels = {{"zone", "z-" + name}, {"rack", "r1"}};
    o.capacity_bytes = 1000;
    o.free_bytes = 600;
    o.heartbeat_interval = 100ms;
    o.membership = {300, 600};
    o.lease_ttl_s = 2;
    o.etcd_endpoints = {etcd->client_url(), "http://127.0.0.1:1"};
    auto keys = bus::GenerateCurveKeyPair();
    REQUIRE(keys.ok());
    auto a = NodeAgent::Start(std::move(o), kv.get(), *keys);
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    return std::move(a).value();
  }

  // The node's state as recorded in etcd.
  std::optional<NodeState> Recorded(const std::string& name) {
    auto e = kv->Get(NodeKey(name));
    if (!e.ok() || !*e) return std::nullopt;
    auto r = NodeRecordFromKv((*e)->key, (*e)->value);
    if (!r.ok()) return std::nullopt;
    return r->state;
  }
};

int Coordinators(const std::vector<NodeAgent*>& agents) {
  int n = 0;
  for (auto* a : agents) n += a->IsCoordinator();
  return n;
}

TEST_CASE("node agent: register, heartbeats, one coordinator, down and back") {
  Cluster c;
  auto a = c.Start("a");
  auto b = c.Start("b");
  auto d = c.Start("d");

  // Every node sees the three records, alive, and the same coordinator.
  REQUIRE(WaitFor(
      [&] {
        for (auto* x : {a.get(), b.get(), d.get()}) {
          auto l = x->NodeList();
          if (!l.ok() || (*l)["nodes"].size() != 3) return false;
          for (const auto& n : (*l)["nodes"]) {
            if (!n["alive"].get<bool>() || n["state"] != "up") return false;
          }
        }
        return Coordinators({a.get(), b.get(), d.get()}) == 1 &&
               a->Coordinator() == b->Coordinator() && b->Coordinator() == d->Coordinator();
      },
      10000ms));
  auto l = a->NodeList();
  REQUIRE(l.ok());
  const auto& nb = (*l)["nodes"][1];
  CHECK(nb["name"] == "b");
  CHECK(nb["zone"] == "z-b");
  CHECK(nb["rack"] == "r1");
  CHECK(nb["data_address"] == "127.0.0.1");
  CHECK(nb["capacity_bytes"] == 1000);
  CHECK(nb["free_bytes"] == 600);
  CHECK(nb["bus_endpoint"].get<std::string>().rfind("tcp://127.0.0.1:", 0) == 0);

  auto st = b->ClusterStatus();
  REQUIRE(st.ok());
  CHECK((*st)["nodes"]["total"] == 3);
  CHECK((*st)["nodes"]["up"] == 3);
  CHECK((*st)["lease_ok"] == true);
  CHECK((*st)["etcd"]["endpoints"][0]["healthy"] == true);
  CHECK((*st)["etcd"]["endpoints"][1]["healthy"] == false);
  CHECK((*st)["volumes"]["total"] == 0);
  CHECK((*st)["coordinator"] == a->Coordinator());

  // The pool changes (a volume created, capacity raised): the record
  // follows, with the state the coordinator wrote kept.
  b->SetCapacity(2000, 1500);
  CHECK(WaitFor(
      [&] {
        auto e = c.kv->Get(NodeKey("b"));
        if (!e.ok() || !*e) return false;
        auto r = NodeRecordFromKv((*e)->key, (*e)->value);
        return r.ok() && r->capacity_bytes == 2000 && r->free_bytes == 1500 &&
               r->state == NodeState::kUp;
      },
      10000ms));

  // A node that is not the coordinator stops: its heartbeats stop, and the
  // coordinator records it down (its alive key went with its lease).
  std::string coord = a->Coordinator();
  std::unique_ptr<NodeAgent>* victim = coord == "d" ? &b : &d;
  std::string victim_name = (*victim)->node();
  victim->reset();
  CHECK(WaitFor([&] { return c.Recorded(victim_name) == NodeState::kDown; }, 10000ms));
  // It comes back (same name, new keys): heartbeats bring it up again.
  *victim = c.Start(victim_name);
  CHECK(WaitFor([&] { return c.Recorded(victim_name) == NodeState::kUp; }, 10000ms));

  // The coordinator stops: another node takes over (its key was revoked,
  // so no TTL to wait for) and becomes the only coordinator.
  std::vector<std::unique_ptr<NodeAgent>*> all = {&a, &b, &d};
  std::unique_ptr<NodeAgent>* old = nullptr;
  for (auto* p : all) {
    if ((*p)->IsCoordinator()) old = p;
  }
  REQUIRE(old);
  old->reset();
  std::vector<NodeAgent*> rest;
  for (auto* p : all) {
    if (*p) rest.push_back(p->get());
  }
  REQUIRE(rest.size() == 2);
  CHECK(WaitFor([&] { return Coordinators(rest) == 1; }, 10000ms));
  CHECK(rest[0]->Coordinator() != coord);
  CHECK(WaitFor([&] { return c.Recorded(coord) == NodeState::kDown; }, 10000ms));
}

TEST_CASE("node agent: a coordinator that dies without revoking is replaced after its TTL") {
  Cluster c;
  auto a = c.Start("a");
  REQUIRE(WaitFor([&] { return a->IsCoordinator(); }, 10000ms));
  auto b = c.Start("b");
  // Steal a's place the way a crash would look: delete nothing, but make
  // its lease lapse by revoking it behind its back; b takes over.
  auto key = c.kv->Get(CoordinatorKey());
  REQUIRE(key.ok());
  REQUIRE(*key);
  REQUIRE(c.kv->Revoke((*key)->lease).ok());
  CHECK(WaitFor([&] { return b->IsCoordinator() || a->IsCoordinator(); }, 10000ms));
  // Whoever won, it is one of them and both agree; a registered again
  // under a new lease (its alive key is back).
  CHECK(WaitFor(
      [&] {
        return Coordinators({a.get(), b.get()}) == 1 && a->Coordinator() == b->Coordinator();
      },
      10000ms));
  CHECK(WaitFor(
      [&] {
        auto alive = c.kv->Get(AliveKey("a"));
        return alive.ok() && alive->has_value();
      },
      10000ms));
}

TEST_CASE("node agent: the record's maintenance flag puts a node in maintenance and back") {
  Cluster c;
  auto a = c.Start("a");
  auto b = c.Start("b");
  REQUIRE(WaitFor([&] { return c.Recorded("b") == NodeState::kUp; }, 10000ms));
  auto set = [&](bool on) {
    for (int i = 0; i < 10; i++) {  // the node itself may rewrite its record meanwhile
      auto e = c.kv->Get(NodeKey("b"));
      REQUIRE(e.ok());
      REQUIRE(*e);
      auto r = NodeRecordFromKv((*e)->key, (*e)->value);
      REQUIRE(r.ok());
      NodeRecord next = *r;
      next.maintenance = on;
      if (c.kv->CompareAndSwap(NodeKey("b"), (*e)->mod_revision, NodeRecordToJson(next)).ok()) {
        return;
      }
    }
    FAIL("cannot write b's record");
  };
  set(true);
  CHECK(WaitFor([&] { return c.Recorded("b") == NodeState::kMaintenance; }, 10000ms));
  // Silent in maintenance: not counted down.
  b.reset();
  std::this_thread::sleep_for(1500ms);  // past down_after (600 ms)
  CHECK(c.Recorded("b") == NodeState::kMaintenance);
  set(false);
  CHECK(WaitFor([&] { return c.Recorded("b") == NodeState::kDown; }, 10000ms));
}

}  // namespace
}  // namespace keel::cluster
