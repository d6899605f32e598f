#include "manager/cluster/records.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <functional>
#include <nlohmann/json.hpp>

namespace keel::cluster {
namespace {

using nlohmann::json;

NodeRecord SampleNode() {
  NodeRecord n;
  n.name = "node-a";
  n.bus_endpoint = "tcp://10.0.0.1:7480";
  n.bus_public_key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
  n.data_address = "10.0.1.1";
  n.zone = "zone-1";
  n.rack = "r1";
  n.labels = {{"ssd", "true"}};
  n.capacity_bytes = 100ull << 30;
  n.free_bytes = 40ull << 30;
  n.state = NodeState::kSuspect;
  n.state_changed_ms = 1700000000123;
  n.cordoned = true;
  n.version = "0.3.0";
  return n;
}

VolumeRecord SampleVolume() {
  VolumeRecord v;
  v.name = "db";
  v.uuid = "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab";
  v.size = 10ull << 30;
  v.block_size = 4096;
  v.labels = {{"app", "pg"}};
  v.replicas = 3;
  v.constraints.nodes = {"node-a", "node-b", "node-c"};
  v.constraints.zone_spread = true;
  v.constraints.node_selector = {{"ssd", "true"}};
  v.epoch = 5;
  v.replica_set = {{"node-a", 0, 7001, std::nullopt},
                   {"node-b", 1, std::nullopt, std::nullopt},
                   {"node-c", 2, 7003, 4}};
  v.in_sync = {"node-a", "node-b"};
  v.attached_node = "node-a";
  v.device = "/dev/keel3";
  v.attached_epoch = 4;
  v.secret = {VolumeSecret::Kind::kVolume, std::string(64, 'a')};
  v.state = VolumeState::kReady;
  v.created_ms = 1700000000000;
  return v;
}

// Re-serializes `v` with one change to its JSON and parses the result.
template <typename Edit>
Result<VolumeRecord> VolumeWith(Edit edit) {
  json j = json::parse(VolumeRecordToJson(SampleVolume()));
  edit(j);
  return VolumeRecordFromJson(j.dump());
}

template <typename Edit>
Result<NodeRecord> NodeWith(Edit edit) {
  json j = json::parse(NodeRecordToJson(SampleNode()));
  edit(j);
  return NodeRecordFromJson(j.dump());
}

}  // namespace

TEST_CASE("records: key layout under /keel/") {
  CHECK(NodeKey("node-a") == "/keel/nodes/node-a");
  CHECK(VolumeKey("db") == "/keel/volumes/db");
  CHECK(AliveKey("node-a") == "/keel/alive/node-a");
  CHECK(CoordinatorKey() == "/keel/coordinator");
  auto name = NameFromKey(kNodesPrefix, "/keel/nodes/node-a");
  REQUIRE(name.ok());
  CHECK(*name == "node-a");
  CHECK(NameFromKey(kNodesPrefix, "/keel/volumes/db").status().code() == EINVAL);
  CHECK(NameFromKey(kNodesPrefix, "/keel/nodes/").status().code() == EINVAL);
  CHECK(NameFromKey(kNodesPrefix, "/keel/nodes/a/b").status().code() == EINVAL);
}

TEST_CASE("records: node and volume state names round-trip, unknown names refused") {
  for (NodeState s :
       {NodeState::kUp, NodeState::kSuspect, NodeState::kDown, NodeState::kMaintenance}) {
    auto back = ParseNodeState(NodeStateName(s));
    REQUIRE(back.ok());
    CHECK(*back == s);
  }
  for (VolumeState s : {VolumeState::kCreating, VolumeState::kReady, VolumeState::kDeleting}) {
    auto back = ParseVolumeState(VolumeStateName(s));
    REQUIRE(back.ok());
    CHECK(*back == s);
  }
  CHECK(ParseNodeState("UP").status().message() ==
        "node state 'UP' is not one of up, suspect, down, maintenance");
  CHECK_FALSE(ParseVolumeState("attached").ok());
}

TEST_CASE("records: node record round-trips through JSON") {
  NodeRecord n = SampleNode();
  auto back = NodeRecordFromJson(NodeRecordToJson(n));
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(*back == n);
  n.data_address = "fd00::1";
  n.zone = n.rack = "";
  n.labels.clear();
  back = NodeRecordFromJson(NodeRecordToJson(n));
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(*back == n);
}

TEST_CASE("records: draining needs cordoned; a record from before drain reads as not draining") {
  NodeRecord n = SampleNode();
  n.draining = true;
  auto back = NodeRecordFromJson(NodeRecordToJson(n));
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(back->draining);
  n.cordoned = false;
  CHECK(ValidateNodeRecord(n).message() == "node record 'node-a': draining without cordoned");
  auto j = nlohmann::json::parse(NodeRecordToJson(SampleNode()));
  j.erase("draining");
  back = NodeRecordFromJson(j.dump());
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK_FALSE(back->draining);
  j.erase("maintenance");
  back = NodeRecordFromJson(j.dump());
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK_FALSE(back->maintenance);
  j["maintenance"] = true;
  back = NodeRecordFromJson(j.dump());
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(back->maintenance);
  j["draining"] = "yes";
  CHECK(NodeRecordFromJson(j.dump()).status().message() ==
        "node record: field 'draining' must be true or false, not string");
}

TEST_CASE("records: volume record round-trips through JSON") {
  VolumeRecord v = SampleVolume();
  auto back = VolumeRecordFromJson(VolumeRecordToJson(v));
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(*back == v);
  // Detached, cluster secret, no constraints.
  v.attached_node = v.device = "";
  v.attached_epoch = 0;
  v.secret = {};
  v.constraints = {};
  back = VolumeRecordFromJson(VolumeRecordToJson(v));
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(*back == v);
  CHECK(json::parse(VolumeRecordToJson(v))["secret"] == json{{"kind", "cluster"}});
  CHECK_FALSE(json::parse(VolumeRecordToJson(v)).contains("sync_source"));  // as before it existed
  // Filled from a sync source while detached.
  v.sync_source = "node-b";
  back = VolumeRecordFromJson(VolumeRecordToJson(v));
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(back->sync_source == "node-b");
  v.sync_source = "node-c";  // out of sync: cannot fill anything
  CHECK(VolumeRecordFromJson(VolumeRecordToJson(v)).status().message() ==
        "volume record 'db': sync_source 'node-c' is not in sync");
}

TEST_CASE("records: malformed text is an error, not a crash") {
  struct Case {
    std::string text, message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "volume record: not valid JSON"},
           {"{\"v\":1,", "volume record: not valid JSON"},
           {"[1]", "volume record: not a JSON object"},
           {"null", "volume record: not a JSON object"},
           {std::string(100000, '['), "volume record: nests deeper than 8 levels"},
           {"{}", "volume record: field 'v' is missing"},
           {"{\"v\":2}", "volume record: schema version 2 is not 1 (written by a newer keeld)"},
           {"{\"v\":\"1\"}", "volume record: field 'v' must be an unsigned integer, not string"},
       }) {
    CAPTURE(c.text.substr(0, 40));
    auto r = VolumeRecordFromJson(c.text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == EUCLEAN);
    CHECK(r.status().message() == c.message);
  }
  CHECK(NodeRecordFromJson("{\"v\":1}").status().message() ==
        "node record: field 'name' is missing");
}

TEST_CASE("records: a node record with a bad field names the field") {
  struct Case {
    const char* field;
    json value;
    std::string message;
  };
  const std::string p = "node record 'node-a': ";
  for (const Case& c : std::vector<Case>{
           {"name", "-a", "node record: node name '-a' has a character that is not allowed"},
           {"name", 3, "node record: field 'name' must be a string, not unsigned integer"},
           {"bus_endpoint", "udp://x:1", p + "bus_endpoint 'udp://x:1' is not like"},
           {"bus_endpoint", "tcp://x:70000", p + "bus_endpoint 'tcp://x:70000' is not like"},
           {"bus_public_key", "short", p + "bus_public_key must be a CURVE key"},
           {"data_address", "node-b.local", p + "data_address 'node-b.local' is not an IPv4"},
           {"zone", "a b", p + "zone 'a b' has a character"},
           {"labels", json{{"k", 1}}, "node record: field 'labels': 'k' is not a string"},
           {"capacity_bytes", -1,
            "node record: field 'capacity_bytes' must be an unsigned integer, "
            "not negative integer"},
           {"free_bytes", 1.5,
            "node record: field 'free_bytes' must be an unsigned integer, not "
            "fraction"},
           {"free_bytes", 101ull << 30, p + "free_bytes 108447924224 exceeds capacity_bytes"},
           {"state", "dead", p + "node state 'dead' is not one of up, suspect, down, maintenance"},
           {"state_changed_ms", -5, "node record: field 'state_changed_ms' must be a time in ms"},
           {"cordoned", "yes", "node record: field 'cordoned' must be true or false, not string"},
           {"version", "", p + "version is empty"},
           {"extra", 1, "node record: unknown field 'extra'"},
       }) {
    CAPTURE(c.field);
    auto r = NodeWith([&](json& j) { j[c.field] = c.value; });
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == EUCLEAN);
    CHECK_MESSAGE(r.status().message().rfind(c.message, 0) == 0, r.status().message());
  }
}

TEST_CASE("records: a volume record with a bad field or a broken invariant names it") {
  struct Case {
    const char* what;
    std::function<void(json&)> edit;
    std::string message;
  };
  const std::string p = "volume record 'db': ";
  for (const Case& c : std::vector<Case>{
           {"uuid", [](json& j) { j["uuid"] = "6F1C2D3E-4A5B-4C6D-8E7F-0123456789AB"; },
            p + "uuid '6F1C2D3E-4A5B-4C6D-8E7F-0123456789AB' is not a lowercase"},
           {"nil uuid", [](json& j) { j["uuid"] = "00000000-0000-0000-0000-000000000000"; },
            p + "uuid"},
           {"block size", [](json& j) { j["block_size"] = 1024; },
            p + "block_size must be 512 or 4096, not 1024"},
           {"block size > u32", [](json& j) { j["block_size"] = 1ull << 40; },
            "volume record: field 'block_size' is 1099511627776, more than 4294967295"},
           {"size", [](json& j) { j["size"] = 4097; },
            p + "size 4097 is not a positive multiple of 4096"},
           {"replicas", [](json& j) { j["replicas"] = 4; }, p + "replicas must be 1 to 3, not 4"},
           {"replicas 0", [](json& j) { j["replicas"] = 0; }, p + "replicas must be 1 to 3, not 0"},
           {"constraints", [](json& j) { j["constraints"].erase("zone_spread"); },
            "volume record: constraints: field 'zone_spread' is missing"},
           {"constraints extra", [](json& j) { j["constraints"]["zone"] = "a"; },
            "volume record: constraints: unknown field 'zone'"},
           {"allow-list twice",
            [](json& j) {
              j["constraints"]["nodes"] = {"x", "x"};
            },
            p + "constraints.nodes lists 'x' twice"},
           {"epoch 0", [](json& j) { j["epoch"] = 0; }, p + "epoch must be at least 1"},
           {"empty replica set", [](json& j) { j["replica_set"] = json::array(); },
            p + "replica_set is empty"},
           {"replica not object", [](json& j) { j["replica_set"][1] = "node-b"; },
            "volume record: field 'replica_set[1]' must be an object, not string"},
           {"replica without slot", [](json& j) { j["replica_set"][1].erase("slot"); },
            "volume record: replica_set[1]: field 'slot' is missing"},
           {"port range", [](json& j) { j["replica_set"][0]["port"] = 65536; },
            "volume record: replica_set[0]: field 'port' is 65536, more than 65535"},
           {"port 0", [](json& j) { j["replica_set"][0]["port"] = 0; },
            p + "replica on 'node-a' has port 0"},
           {"two replicas on one node", [](json& j) { j["replica_set"][1]["node"] = "node-a"; },
            p + "replica_set has two replicas on node 'node-a'"},
           {"slot range", [](json& j) { j["replica_set"][1]["slot"] = 7; },
            p + "replica on 'node-b' has slot 7; slots are 0 to 6"},
           {"slot twice", [](json& j) { j["replica_set"][1]["slot"] = 0; },
            p + "slot 0 is used by two replicas"},
           {"in_sync empty", [](json& j) { j["in_sync"] = json::array(); },
            p + "in_sync is empty: no replica would be current"},
           {"in_sync stranger", [](json& j) { j["in_sync"].push_back("node-z"); },
            p + "in_sync node 'node-z' holds no replica"},
           {"in_sync twice", [](json& j) { j["in_sync"].push_back("node-a"); },
            p + "in_sync lists 'node-a' twice"},
           {"in sync with synced_epoch", [](json& j) { j["replica_set"][0]["synced_epoch"] = 3; },
            p + "replica on 'node-a' is in sync but has a synced_epoch"},
           {"out of sync without synced_epoch",
            [](json& j) { j["replica_set"][2].erase("synced_epoch"); },
            p + "replica on 'node-c' is out of sync but has no synced_epoch"},
           {"synced_epoch not stale", [](json& j) { j["replica_set"][2]["synced_epoch"] = 5; },
            p + "replica on 'node-c' has synced_epoch 5, not below the epoch 5"},
           {"device without node", [](json& j) { j["attached_node"] = ""; },
            p + "device is set but attached_node is not"},
           {"bad device", [](json& j) { j["device"] = "/dev/sda"; },
            p + "device '/dev/sda' is not like /dev/keel3"},
           {"attached_epoch", [](json& j) { j["attached_epoch"] = 6; },
            p + "attached_epoch 6 is not between 1 and the epoch 5"},
           {"secret kind",
            [](json& j) {
              j["secret"] = {{"kind", "none"}};
            },
            "volume record: secret: kind must be 'cluster' or 'volume', not 'none'"},
           {"secret short", [](json& j) { j["secret"]["key_hex"] = std::string(30, 'a'); },
            p + "secret key must be 16 to 64 bytes"},
           {"secret not hex", [](json& j) { j["secret"]["key_hex"] = std::string(64, 'g'); },
            p + "secret key must be 16 to 64 bytes"},
           {"state", [](json& j) { j["state"] = "attached"; },
            p + "volume state 'attached' is not one of creating, ready, deleting"},
           {"unknown field", [](json& j) { j["node"] = "node-a"; },
            "volume record: unknown field 'node'"},
       }) {
    CAPTURE(c.what);
    auto r = VolumeWith(c.edit);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == EUCLEAN);
    CHECK_MESSAGE(r.status().message().rfind(c.message, 0) == 0, r.status().message());
  }
}

TEST_CASE("records: every truncation and byte flip of a record is refused or parsed, no throw") {
  const std::string volume = VolumeRecordToJson(SampleVolume());
  const std::string node = NodeRecordToJson(SampleNode());
  int refused = 0;
  for (const std::string& text : {volume, node}) {
    for (size_t len = 0; len < text.size(); len++) {
      CHECK_NOTHROW(refused += !VolumeRecordFromJson(text.substr(0, len)).ok());
      CHECK_NOTHROW(refused += !NodeRecordFromJson(text.substr(0, len)).ok());
    }
    for (size_t i = 0; i < text.size(); i++) {
      for (char c : {'\0', '"', '{', ']', '9', '-', 'x', '\xff'}) {
        std::string flipped = text;
        flipped[i] = c;
        CHECK_NOTHROW(VolumeRecordFromJson(flipped));
        CHECK_NOTHROW(NodeRecordFromJson(flipped));
      }
    }
  }
  // Every strict prefix is cut JSON, for both parsers.
  CHECK(refused == 2 * static_cast<int>(volume.size() + node.size()));
}

TEST_CASE("records: a label that is not UTF-8 is written replaced, not thrown") {
  NodeRecord n = SampleNode();
  n.labels["note"] = "caf\xe9";
  std::string text;
  CHECK_NOTHROW(text = NodeRecordToJson(n));
  auto back = NodeRecordFromJson(text);
  REQUIRE(back.ok());
  CHECK(back->labels.at("note") == "caf\xef\xbf\xbd");
}

TEST_CASE("records: more than 7 replicas do not fit the peer slots") {
  VolumeRecord v = SampleVolume();
  v.replica_set.clear();
  v.in_sync.clear();
  for (uint32_t i = 0; i < 8; i++) {
    v.replica_set.push_back({"n" + std::to_string(i), i % 7, std::nullopt, std::nullopt});
    v.in_sync.push_back("n" + std::to_string(i));
  }
  Status s = ValidateVolumeRecord(v);
  CHECK(s.message() == "volume record 'db': replica_set has 8 replicas; at most 7 fit the slots");
}

TEST_CASE("records: a record read from a key must be the record of that key") {
  auto v = VolumeRecordFromKv("/keel/volumes/db", VolumeRecordToJson(SampleVolume()));
  REQUIRE(v.ok());
  CHECK(v->name == "db");
  auto wrong = VolumeRecordFromKv("/keel/volumes/web", VolumeRecordToJson(SampleVolume()));
  CHECK(wrong.status().code() == EUCLEAN);
  CHECK(wrong.status().message() == "/keel/volumes/web: holds the record of volume 'db'");
  CHECK(VolumeRecordFromKv("/keel/volumes/db", "{").status().message() ==
        "/keel/volumes/db: volume record: not valid JSON");

  auto n = NodeRecordFromKv("/keel/nodes/node-a", NodeRecordToJson(SampleNode()));
  REQUIRE(n.ok());
  CHECK(n->name == "node-a");
  CHECK(
      NodeRecordFromKv("/keel/volumes/node-a", NodeRecordToJson(SampleNode())).status().message() ==
      "/keel/volumes/node-a: holds the record of node 'node-a'");
  CHECK(NodeRecordFromKv("/keel/nodes/node-a", "[]").status().message() ==
        "/keel/nodes/node-a: node record: not a JSON object");
}

TEST_CASE("records: FindReplica, IsInSync and StatesOf") {
  VolumeRecord v = SampleVolume();
  REQUIRE(v.FindReplica("node-b") != nullptr);
  CHECK(v.FindReplica("node-b")->slot == 1);
  CHECK(v.FindReplica("node-z") == nullptr);
  CHECK(v.IsInSync("node-a"));
  CHECK_FALSE(v.IsInSync("node-c"));
  NodeRecord a = SampleNode(), b = SampleNode();
  b.name = "node-b";
  b.state = NodeState::kDown;
  b.state_changed_ms = 7;
  NodeStates s = StatesOf({a, b});
  CHECK(s.size() == 2);
  CHECK(s["node-a"] == NodeStatus{NodeState::kSuspect, 1700000000123});
  CHECK(s["node-b"] == NodeStatus{NodeState::kDown, 7});
}

}  // namespace keel::cluster
