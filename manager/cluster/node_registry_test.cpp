// NodeRegistry against the embedded kvdb (the same Kvdb contract as etcd):
// loading, watch events, and its answers as the bus's peer directory.
#include "manager/cluster/node_registry.h"

#include <doctest/doctest.h>

#include "manager/kvdb/sqlite_kvdb.h"
#include "manager/state/clock.h"
#include "manager/state/temp_dir.h"

namespace keel::cluster {
namespace {

NodeRecord Node(const std::string& name, const std::string& key) {
  NodeRecord r;
  r.name = name;
  r.bus_endpoint = "tcp://10.0.0.1:7480";
  r.bus_public_key = key;
  r.data_address = "10.0.0.1";
  r.capacity_bytes = 100;
  r.free_bytes = 50;
  r.state_changed_ms = 1;
  r.version = "0.3.0";
  return r;
}

const std::string kKeyA = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const std::string kKeyB = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";

TEST_CASE("node registry: load, watch events, peer directory") {
  TempDir dir;
  FakeClock clock;
  auto kv = SqliteKvdb::Open(dir.file("kv.db"), &clock);
  REQUIRE(kv.ok());
  Kvdb* db = kv->get();
  REQUIRE(db->Put(NodeKey("a"), NodeRecordToJson(Node("a", kKeyA))).ok());
  // A record that does not parse is left out, not fatal.
  REQUIRE(db->Put(NodeKey("bad"), "{not json").ok());
  REQUIRE(db->Put(VolumeKey("v"), "{}").ok());

  NodeRegistry reg;
  auto rev = reg.Load(db);
  REQUIRE(rev.ok());
  CHECK(reg.All().size() == 1);
  REQUIRE(reg.Lookup("a"));
  CHECK(reg.Lookup("a")->public_key == kKeyA);
  CHECK(reg.NodeForKey(kKeyA) == std::optional<std::string>("a"));
  CHECK_FALSE(reg.NodeForKey(kKeyB));
  CHECK_FALSE(reg.Lookup("b"));

  auto w = db->Watch(kKeyRoot, *rev);
  REQUIRE(w.ok());
  REQUIRE(db->Put(NodeKey("b"), NodeRecordToJson(Node("b", kKeyB))).ok());
  NodeRecord a2 = Node("a", kKeyA);
  a2.state = NodeState::kDown;
  REQUIRE(db->Put(NodeKey("a"), NodeRecordToJson(a2)).ok());
  REQUIRE(db->Delete(NodeKey("bad")).ok());
  auto batch = (*w)->Poll(std::chrono::milliseconds(1000));
  REQUIRE(batch.ok());
  std::vector<std::string> changed;
  for (const auto& ev : *batch) {
    if (auto n = reg.Apply(ev)) changed.push_back(*n);
  }
  CHECK(changed == std::vector<std::string>{"b", "a", "bad"});
  CHECK(reg.NodeForKey(kKeyB) == std::optional<std::string>("b"));
  CHECK(reg.Get("a")->record.state == NodeState::kDown);
  // An old event replayed after a newer one changes nothing.
  WatchEvent old = (*batch)[0];
  old.kv.key = NodeKey("a");
  old.kv.value = NodeRecordToJson(Node("a", kKeyA));
  old.kv.mod_revision = 1;
  CHECK_FALSE(reg.Apply(old));
  CHECK(reg.Get("a")->record.state == NodeState::kDown);

  REQUIRE(db->Delete(NodeKey("b")).ok());
  batch = (*w)->Poll(std::chrono::milliseconds(1000));
  REQUIRE(batch.ok());
  for (const auto& ev : *batch) reg.Apply(ev);
  CHECK_FALSE(reg.Lookup("b"));
  CHECK_FALSE(reg.NodeForKey(kKeyB));
}

}  // namespace
}  // namespace keel::cluster
