#include "manager/api/dispatcher.h"

#include <doctest/doctest.h>

#include <filesystem>

#include "manager/kvdb/sqlite_kvdb.h"
#include "manager/state/temp_dir.h"
#include "manager/volume/fake_kernel_client.h"

namespace keel {
namespace {

struct Fixture {
  TempDir dir;
  FakeClock clock;
  FakeKernelClient kernel;
  PosixFilesystem fs;
  std::unique_ptr<StateStore> state = std::move(StateStore::Open(dir.file("k.db"), &clock)).value();
  std::unique_ptr<SqliteKvdb> kvdb = std::move(SqliteKvdb::Open(dir.file("kv.db"), &clock)).value();
  std::unique_ptr<VolumeManager> vm;
  std::unique_ptr<ApiDispatcher> api;
  Fixture() {
    std::filesystem::create_directory(dir.file("pool"));
    vm = std::make_unique<VolumeManager>(VolumeManager::Options{"n1", dir.file("pool"), 1ULL << 30},
                                         state.get(), kvdb.get(), &kernel, &fs, &clock);
    api = std::make_unique<ApiDispatcher>(vm.get(), [] {
      return nlohmann::json{{"node_name", "n1"}};
    });
  }
  nlohmann::json Call(const std::string& req) { return nlohmann::json::parse(api->Handle(req)); }
};

}  // namespace

TEST_CASE("dispatcher: the lifecycle through JSON") {
  Fixture f;
  auto r = f.Call(R"({"api":1,"command":"volume.create","args":{"name":"db","size":"64M"}})");
  REQUIRE(r["ok"] == true);
  CHECK(r["result"]["name"] == "db");
  CHECK(r["result"]["size"] == 64 << 20);
  CHECK(r["result"]["size_human"] == "64 MiB");
  CHECK(r["result"]["state"] == "detached");
  CHECK(r["result"]["device"].is_null());
  r = f.Call(R"({"api":1,"command":"volume.attach","args":{"name":"db"}})");
  CHECK(r["result"]["device"] == "/dev/keel0");
  r = f.Call(R"({"api":1,"command":"volume.list"})");
  REQUIRE(r["result"]["volumes"].size() == 1);
  CHECK(r["result"]["volumes"][0]["device"] == "/dev/keel0");
  r = f.Call(R"({"api":1,"command":"volume.inspect","args":{"name":"db"}})");
  CHECK(r["result"]["kernel"]["stats"]["errors"] == 0);
  r = f.Call(R"({"api":1,"command":"node.info"})");
  CHECK(r["result"]["node_name"] == "n1");
  CHECK(r["result"]["pool"]["volumes"] == 1);
  CHECK(r["result"]["pool"]["used"] == (64 << 20) + kMetadataReserve);
  r = f.Call(R"({"api":1,"command":"volume.delete","args":{"name":"db"}})");
  CHECK(r["error"]["code"] == "busy");
  r = f.Call(R"({"api":1,"command":"volume.delete","args":{"name":"db","force":true}})");
  CHECK(r["ok"] == true);
  r = f.Call(R"({"api":1,"command":"volume.delete","args":{"name":"db"}})");
  CHECK(r["error"]["code"] == "not_found");
  CHECK(r["error"]["message"] == "volume 'db' does not exist");
}

TEST_CASE("dispatcher: errors are objects with a stable code and a message") {
  Fixture f;
  for (const char* bad :
       {"", "{", R"({"api":1,"command":"nope"})",
        R"({"api":1,"command":"volume.create","args":{"name":"a","size":"9P"}})"}) {
    auto r = f.Call(bad);
    INFO(bad);
    CHECK(r["api"] == 1);
    CHECK(r["ok"] == false);
    CHECK(r["error"]["code"].is_string());
    CHECK_FALSE(r["error"]["message"].get<std::string>().empty());
  }
  auto r = f.Call(R"({"api":1,"command":"volume.create","args":{"name":"a","size":"9G"}})");
  CHECK(r["error"]["code"] == "insufficient_capacity");
  CHECK(f.kernel.volumes.empty());
}

}  // namespace keel

namespace keel {

TEST_CASE("dispatcher: cluster commands need cluster mode, then ask the cluster") {
  Fixture f;
  auto r = f.Call(R"({"api":1,"command":"node.list"})");
  CHECK(r["error"]["code"] == "invalid_request");
  CHECK(r["error"]["message"].get<std::string>().find("not in cluster mode") != std::string::npos);
  r = f.Call(R"({"api":1,"command":"cluster.status"})");
  CHECK(r["error"]["code"] == "invalid_request");
  // Arguments are refused like for any command without fields.
  r = f.Call(R"({"api":1,"command":"node.list","args":{"x":1}})");
  CHECK(r["error"]["code"] == "unknown_field");

  bool etcd_up = true;
  ClusterApi cluster;
  cluster.node_list = [] {
    return Result<nlohmann::json>(nlohmann::json{{"nodes", nlohmann::json::array()}});
  };
  cluster.cluster_status = [&]() -> Result<nlohmann::json> {
    if (!etcd_up) return Status::Error(EAGAIN, "etcd did not answer");
    return nlohmann::json{{"coordinator", "n1"}};
  };
  f.api->set_cluster(cluster);
  r = f.Call(R"({"api":1,"command":"node.list"})");
  CHECK(r["ok"] == true);
  CHECK(r["result"]["nodes"].is_array());
  r = f.Call(R"({"api":1,"command":"cluster.status"})");
  CHECK(r["result"]["coordinator"] == "n1");
  etcd_up = false;
  r = f.Call(R"({"api":1,"command":"cluster.status"})");
  CHECK(r["error"]["code"] == "try_again");
  CHECK(r["error"]["message"].get<std::string>().find("etcd did not answer") != std::string::npos);
}

}  // namespace keel

namespace keel {

TEST_CASE("dispatcher: replicas > 1 needs cluster mode, cluster volumes go to the cluster") {
  Fixture f;
  auto r = f.Call(
      R"({"api":1,"command":"volume.create","args":{"name":"db","size":"64M","replicas":2}})");
  CHECK(r["error"]["code"] == "invalid_argument");
  CHECK(r["error"]["message"].get<std::string>().find("cluster mode") != std::string::npos);
  CHECK(f.kernel.volumes.empty());
  r = f.Call(
      R"({"api":1,"command":"volume.create","args":{"name":"db","size":"64M","replicas":4}})");
  CHECK(r["error"]["code"] == "invalid_argument");
  r = f.Call(
      R"({"api":1,"command":"volume.create","args":{"name":"db","size":"64M","replicas":"2"}})");
  CHECK(r["error"]["code"] == "wrong_type");

  uint32_t asked = 0;
  std::string attached;
  ClusterApi cluster;
  bool spread = false;
  cluster.volume_create = [&](const CreateParams& p, uint32_t n,
                              bool zone_spread) -> Result<nlohmann::json> {
    asked = n;
    spread = zone_spread;
    return nlohmann::json{{"name", p.name}};
  };
  std::string attached_node = "unset";
  cluster.volume_attach = [&](const std::string& name,
                              const std::string& node) -> Result<nlohmann::json> {
    attached = name;
    attached_node = node;
    return Status::Error(ESTALE, "replica outdated");
  };
  f.api->set_cluster(cluster);
  r = f.Call(
      R"({"api":1,"command":"volume.create","args":{"name":"db","size":"64M","replicas":3}})");
  CHECK(r["ok"] == true);
  CHECK(asked == 3);
  CHECK_FALSE(spread);
  r = f.Call(
      R"({"api":1,"command":"volume.create","args":{"name":"db","size":"64M","zone_spread":true}})");
  CHECK(spread);
  r = f.Call(
      R"({"api":1,"command":"volume.create","args":{"name":"db","size":"64M","zone_spread":1}})");
  CHECK(r["error"]["code"] == "wrong_type");
  CHECK(f.kernel.volumes.empty());  // not created node-locally
  r = f.Call(R"({"api":1,"command":"volume.attach","args":{"name":"db"}})");
  CHECK(attached == "db");
  CHECK(attached_node.empty());
  CHECK(r["error"]["message"] == "replica outdated");
  r = f.Call(R"({"api":1,"command":"volume.attach","args":{"name":"db","node":"n2"}})");
  CHECK(attached_node == "n2");
  r = f.Call(R"({"api":1,"command":"volume.attach","args":{"name":"db","node":"-x"}})");
  CHECK(r["error"]["code"] == "invalid_argument");
  CHECK(r["error"]["message"].get<std::string>().starts_with("node name"));

  // Commands not wired in this ClusterApi answer "not in cluster mode".
  r = f.Call(R"({"api":1,"command":"volume.status","args":{"name":"db"}})");
  CHECK(r["error"]["code"] == "invalid_request");
  std::string flagged;
  ClusterApi::NodeFlags how = ClusterApi::NodeFlags::kCordon;
  cluster.volume_status = [&](const std::string& name) -> Result<nlohmann::json> {
    return nlohmann::json{{"name", name}, {"epoch", 7}};
  };
  cluster.node_flags = [&](const std::string& node,
                           ClusterApi::NodeFlags f2) -> Result<nlohmann::json> {
    flagged = node;
    how = f2;
    if (node == "nx") return Status::Error(ENOENT, "node 'nx' is not registered in the cluster");
    return nlohmann::json{{"name", node}, {"replicas", 2}};
  };
  f.api->set_cluster(cluster);
  r = f.Call(R"({"api":1,"command":"volume.status","args":{"name":"db"}})");
  CHECK(r["result"]["epoch"] == 7);
  r = f.Call(R"({"api":1,"command":"cluster.volumes"})");
  CHECK(r["error"]["code"] == "invalid_request");  // not wired yet
  cluster.volume_list = []() -> Result<nlohmann::json> {
    return nlohmann::json{{"volumes", {{{"name", "db"}}}}};
  };
  f.api->set_cluster(cluster);
  r = f.Call(R"({"api":1,"command":"cluster.volumes"})");
  CHECK(r["result"]["volumes"][0]["name"] == "db");
  r = f.Call(R"({"api":1,"command":"cluster.volumes","args":{"name":"db"}})");
  CHECK(r["error"]["code"] == "unknown_field");
  r = f.Call(R"({"api":1,"command":"node.drain","args":{"name":"n1"}})");
  CHECK(flagged == "n1");
  CHECK(how == ClusterApi::NodeFlags::kDrain);
  CHECK(r["result"]["replicas"] == 2);
  r = f.Call(R"({"api":1,"command":"node.uncordon","args":{"name":"n1"}})");
  CHECK(how == ClusterApi::NodeFlags::kUncordon);
  r = f.Call(R"({"api":1,"command":"node.cordon","args":{"name":"nx"}})");
  CHECK(how == ClusterApi::NodeFlags::kCordon);
  CHECK(r["error"]["code"] == "not_found");
  r = f.Call(R"({"api":1,"command":"node.maintenance","args":{"name":"n1"}})");
  CHECK(how == ClusterApi::NodeFlags::kMaintenanceOn);
  r = f.Call(R"({"api":1,"command":"node.maintenance","args":{"name":"n1","on":false}})");
  CHECK(how == ClusterApi::NodeFlags::kMaintenanceOff);
  r = f.Call(R"({"api":1,"command":"node.maintenance","args":{"name":"n1","on":"no"}})");
  CHECK(r["error"]["code"] == "wrong_type");
  r = f.Call(R"({"api":1,"command":"node.cordon","args":{"name":"n1","force":true}})");
  CHECK(r["error"]["code"] == "unknown_field");

  // cluster.rebalance: defaults, limits, dry run.
  r = f.Call(R"({"api":1,"command":"cluster.rebalance"})");
  CHECK(r["error"]["code"] == "invalid_request");  // not wired yet
  double threshold = 0;
  uint32_t max_moves = 0;
  bool dry = true;
  cluster.rebalance = [&](double t, uint32_t m, bool d) -> Result<nlohmann::json> {
    threshold = t;
    max_moves = m;
    dry = d;
    return nlohmann::json{{"moves", nlohmann::json::array()}, {"reason", "balanced"}};
  };
  f.api->set_cluster(cluster);
  r = f.Call(R"({"api":1,"command":"cluster.rebalance"})");
  CHECK(r["result"]["reason"] == "balanced");
  CHECK(threshold == 10);
  CHECK(max_moves == 8);
  CHECK_FALSE(dry);
  r = f.Call(
      R"({"api":1,"command":"cluster.rebalance","args":{"threshold_pct":2.5,"max_moves":3,"dry_run":true}})");
  CHECK(threshold == 2.5);
  CHECK(max_moves == 3);
  CHECK(dry);
  for (const char* bad : {R"({"threshold_pct":0})", R"({"threshold_pct":101})",
                          R"({"max_moves":0})", R"({"max_moves":101})"}) {
    r = f.Call(std::string(R"({"api":1,"command":"cluster.rebalance","args":)") + bad + "}");
    CHECK_MESSAGE(r["error"]["code"] == "invalid_argument", bad);
  }
  for (const char* bad :
       {R"({"threshold_pct":"10"})", R"({"max_moves":1.5})", R"({"dry_run":1})"}) {
    r = f.Call(std::string(R"({"api":1,"command":"cluster.rebalance","args":)") + bad + "}");
    CHECK_MESSAGE(r["error"]["code"] == "wrong_type", bad);
  }
}

TEST_CASE("dispatcher: attach on another node needs cluster mode") {
  Fixture f;
  auto r = f.Call(R"({"api":1,"command":"volume.attach","args":{"name":"db","node":"n2"}})");
  CHECK(r["error"]["code"] == "invalid_request");
}

}  // namespace keel
