#include "manager/plugin/volume_driver.h"

#include <doctest/doctest.h>

#include "manager/plugin/fakes.h"

namespace keel::plugin {
namespace {

using nlohmann::json;

// keeld, as the driver sees it through its API: volumes in a map, single
// node (volume.inspect) or cluster mode (volume.status, cluster.volumes).
struct Keeld {
  struct Vol {
    uint64_t size = 0;
    json labels = json::object();
    json args;
    std::string attached_node;  // "" detached
  };
  std::map<std::string, Vol> vols;
  std::string node = "n1";
  int next_dev = 0;
  std::map<std::string, std::string> devices;
  FakeApi api;
  FakeMounter mounter;
  MemoryMountRefs refs;

  explicit Keeld(bool cluster) {
    auto missing = [](const std::string& n) {
      return Status::Error(ENOENT, "volume '" + n + "' does not exist");
    };
    api.handlers["volume.create"] = [this](const json& a) -> Result<json> {
      std::string n = a["name"];
      if (vols.contains(n)) return Status::Error(EEXIST, "volume '" + n + "' already exists");
      vols[n] = Vol{a["size"], a.value("labels", json::object()), a, ""};
      return json{{"name", n}};
    };
    api.handlers["volume.attach"] = [this, missing](const json& a) -> Result<json> {
      std::string n = a["name"];
      if (!vols.contains(n)) return missing(n);
      if (!vols[n].attached_node.empty() && vols[n].attached_node != node) {
        return Status::Error(EBUSY, "volume '" + n + "' is attached on " + vols[n].attached_node);
      }
      vols[n].attached_node = node;
      if (!devices.contains(n)) devices[n] = "/dev/keel" + std::to_string(next_dev++);
      mounter.devices.insert(devices[n]);
      return json{{"name", n}, {"device", devices[n]}};
    };
    api.handlers["volume.detach"] = [this, missing](const json& a) -> Result<json> {
      std::string n = a["name"];
      if (!vols.contains(n)) return missing(n);
      vols[n].attached_node.clear();
      return json{{"name", n}};
    };
    api.handlers["volume.delete"] = [this, missing](const json& a) -> Result<json> {
      std::string n = a["name"];
      if (!vols.contains(n)) return missing(n);
      if (!vols[n].attached_node.empty()) return Status::Error(EBUSY, "attached");
      vols.erase(n);
      return json{{"name", n}, {"deleted", true}};
    };
    auto list = [this](const json&) -> Result<json> {
      json arr = json::array();
      for (const auto& [n, v] : vols) arr.push_back({{"name", n}});
      return json{{"volumes", arr}};
    };
    if (cluster) {
      api.handlers["cluster.volumes"] = list;
      api.handlers["volume.status"] = [this, missing](const json& a) -> Result<json> {
        std::string n = a["name"];
        if (!vols.contains(n)) return missing(n);
        return json{{"name", n},
                    {"size", vols[n].size},
                    {"labels", vols[n].labels},
                    {"state", "ready"},
                    {"uuid", "u-" + n},
                    {"attached_node", vols[n].attached_node},
                    {"epoch", 3},
                    {"in_sync", {"n1", "n2"}},
                    {"replica_set", {{{"node", "n1"}}, {{"node", "n2"}}}},
                    {"created_ms", 1700000000000}};
      };
    } else {
      api.handlers["volume.list"] = list;
      api.handlers["volume.inspect"] = [this, missing](const json& a) -> Result<json> {
        std::string n = a["name"];
        if (!vols.contains(n)) return missing(n);
        const bool att = !vols[n].attached_node.empty();
        return json{{"name", n},
                    {"size", vols[n].size},
                    {"labels", vols[n].labels},
                    {"state", att ? "attached" : "detached"},
                    {"device", att ? json(devices[n]) : json(nullptr)},
                    {"uuid", "u-" + n},
                    {"created_at_ms", 1700000000000}};
      };
    }
  }
};

struct Fixture {
  explicit Fixture(bool cluster = false)
      : keeld(cluster),
        driver(DriverOptions{"/mnt/keel", 1 << 30, "ext4", cluster, std::chrono::milliseconds(10),
                             "n1"},
               &keeld.api, &keeld.mounter, &keeld.refs) {}
  json Do(const std::string& path, const json& body) {
    auto r = driver.Handle(path, body.dump());
    CHECK(r.http_status == 200);
    return r.body;
  }
  Keeld keeld;
  VolumeDriver driver;
};

json Req(const std::string& name, const std::string& id = "") {
  json j = {{"Name", name}};
  if (!id.empty()) j["ID"] = id;
  return j;
}

TEST_CASE("plugin: Activate and Capabilities (local alone, global in a cluster)") {
  Fixture f;
  auto r = f.driver.Handle("/Plugin.Activate", "");
  CHECK(r.http_status == 200);
  CHECK(r.body == json{{"Implements", {"VolumeDriver"}}});
  CHECK(f.Do("/VolumeDriver.Capabilities", json::object())["Capabilities"]["Scope"] == "local");
  Fixture c(true);
  CHECK(c.Do("/VolumeDriver.Capabilities", json::object())["Capabilities"]["Scope"] == "global");
}

TEST_CASE("plugin: Create passes the options to volume.create, the fs as a label") {
  Fixture f;
  json opts = {{"size", "64M"}, {"fs", "xfs"}, {"block_size", "512"}};
  CHECK(f.Do("/VolumeDriver.Create", {{"Name", "db"}, {"Opts", opts}})["Err"] == "");
  const json& a = f.keeld.vols["db"].args;
  CHECK(a["size"] == 64 << 20);
  CHECK(a["block_size"] == 512);
  CHECK(a["labels"]["fs"] == "xfs");
  CHECK(!a.contains("replicas"));
  // Defaults: the driver's size and ext4.
  CHECK(f.Do("/VolumeDriver.Create", Req("logs"))["Err"] == "");
  CHECK(f.keeld.vols["logs"].args["size"] == 1 << 30);
  CHECK(f.keeld.vols["logs"].args["labels"]["fs"] == "ext4");
  // An existing volume is the one Docker names: no error, nothing changed.
  CHECK(f.Do("/VolumeDriver.Create", {{"Name", "db"}, {"Opts", {{"size", "1G"}}}})["Err"] == "");
  CHECK(f.keeld.vols["db"].size == 64 << 20);
}

TEST_CASE("plugin: Create in a cluster: replicas and zone_spread") {
  Fixture f(true);
  json opts = {{"size", "1G"}, {"replicas", "3"}, {"zone_spread", "true"}};
  CHECK(f.Do("/VolumeDriver.Create", {{"Name", "db"}, {"Opts", opts}})["Err"] == "");
  CHECK(f.keeld.vols["db"].args["replicas"] == 3);
  CHECK(f.keeld.vols["db"].args["zone_spread"] == true);
  CHECK(f.Do("/VolumeDriver.Create", {{"Name", "x"}, {"Opts", {{"repl", "2"}}}})["Err"] == "");
  CHECK(f.keeld.vols["x"].args["replicas"] == 2);
}

TEST_CASE("plugin: Create refuses bad options with the reason, creating nothing") {
  Fixture f;
  struct Case {
    json opts;
    std::string err;
  } cases[] = {
      {{{"size", "ten"}}, "option size:"},
      {{{"size", "0"}}, "option size:"},
      {{{"replicas", "4"}}, "option replicas: '4' is not 1, 2 or 3"},
      {{{"fs", "btrfs"}}, "option fs: 'btrfs' is not ext4 or xfs"},
      {{{"block_size", "1024"}}, "option block_size: '1024' is not 512 or 4096"},
      {{{"zone_spread", "yes"}}, "option zone_spread: 'yes' is not true or false"},
      {{{"colour", "blue"}},
       "unknown option 'colour' (known: size, replicas, fs, block_size, zone_spread)"},
      {json::array(), "field 'Opts' must be an object"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.opts.dump());
    std::string err = f.Do("/VolumeDriver.Create", {{"Name", "db"}, {"Opts", c.opts}})["Err"];
    CHECK(err.starts_with(c.err));
  }
  CHECK(f.keeld.vols.empty());
  CHECK(f.Do("/VolumeDriver.Create", json::object())["Err"] == "missing field 'Name'");
  CHECK(f.Do("/VolumeDriver.Create", {{"Name", 7}})["Err"] == "field 'Name' must be a string");
  CHECK(f.Do("/VolumeDriver.Create", Req("../etc"))["Err"] == "volume name '../etc' is not valid");
  // keeld's own refusal reaches Docker as is.
  f.keeld.api.handlers["volume.create"] = [](const json&) -> Result<json> {
    return Status::Error(ENOSPC, "need 64 MiB, 10 MiB free");
  };
  CHECK(f.Do("/VolumeDriver.Create", Req("db"))["Err"] == "need 64 MiB, 10 MiB free");
}

TEST_CASE("plugin: first Mount attaches, makes a file system, mounts; Unmount undoes it") {
  Fixture f;
  f.Do("/VolumeDriver.Create", Req("db"));
  json r = f.Do("/VolumeDriver.Mount", Req("db", "c1"));
  CHECK(r["Err"] == "");
  CHECK(r["Mountpoint"] == "/mnt/keel/db");
  CHECK(f.keeld.mounter.mkfs_calls == std::vector<std::string>{"/dev/keel0 ext4"});
  CHECK(f.keeld.mounter.mounts["/mnt/keel/db"] == "/dev/keel0 ext4");
  CHECK(f.keeld.vols["db"].attached_node == "n1");
  CHECK(f.Do("/VolumeDriver.Path", Req("db"))["Mountpoint"] == "/mnt/keel/db");

  // A second container shares the mount.
  f.keeld.api.calls.clear();
  CHECK(f.Do("/VolumeDriver.Mount", Req("db", "c2"))["Mountpoint"] == "/mnt/keel/db");
  CHECK(f.keeld.api.Changes().empty());
  CHECK(f.keeld.refs.refs["db"] == std::set<std::string>{"c1", "c2"});

  CHECK(f.Do("/VolumeDriver.Unmount", Req("db", "c1"))["Err"] == "");
  CHECK(f.keeld.mounter.mounts.contains("/mnt/keel/db"));
  CHECK(f.keeld.vols["db"].attached_node == "n1");
  CHECK(f.Do("/VolumeDriver.Unmount", Req("db", "c2"))["Err"] == "");
  CHECK(!f.keeld.mounter.mounts.contains("/mnt/keel/db"));
  CHECK(f.keeld.vols["db"].attached_node.empty());
  CHECK(f.keeld.refs.refs.empty());
  CHECK(f.Do("/VolumeDriver.Path", Req("db"))["Mountpoint"] == "");

  // Mounted again: the file system is there, nothing is made.
  CHECK(f.Do("/VolumeDriver.Mount", Req("db", "c3"))["Err"] == "");
  CHECK(f.keeld.mounter.mkfs_calls.size() == 1);
}

TEST_CASE("plugin: Mount makes the file system the volume asked for") {
  Fixture f;
  f.Do("/VolumeDriver.Create", {{"Name", "db"}, {"Opts", {{"fs", "xfs"}}}});
  CHECK(f.Do("/VolumeDriver.Mount", Req("db", "c1"))["Err"] == "");
  CHECK(f.keeld.mounter.mkfs_calls == std::vector<std::string>{"/dev/keel0 xfs"});
  CHECK(f.keeld.mounter.mounts["/mnt/keel/db"] == "/dev/keel0 xfs");
}

TEST_CASE("plugin: a Mount that fails leaves the volume detached and no mount id") {
  for (int step = 0; step < 3; step++) {
    CAPTURE(step);
    Fixture f;
    f.Do("/VolumeDriver.Create", Req("db"));
    f.keeld.mounter.fail_probe = step == 0;
    f.keeld.mounter.fail_mkfs = step == 1;
    f.keeld.mounter.fail_mount = step == 2;
    std::string err = f.Do("/VolumeDriver.Mount", Req("db", "c1"))["Err"];
    CHECK(!err.empty());
    CHECK(f.keeld.vols["db"].attached_node.empty());
    CHECK(f.keeld.refs.refs.empty());
    CHECK(f.keeld.mounter.mounts.empty());
  }
  // Not there: keeld's error.
  Fixture f;
  CHECK(f.Do("/VolumeDriver.Mount", Req("nope", "c1"))["Err"] == "volume 'nope' does not exist");
  CHECK(f.Do("/VolumeDriver.Mount", Req("nope"))["Err"] == "missing field 'ID'");
}

TEST_CASE("plugin: a failed Mount keeps an attachment that was there before") {
  Fixture f;
  f.Do("/VolumeDriver.Create", Req("db"));
  f.keeld.vols["db"].attached_node = "n1";  // attached by an operator
  f.keeld.mounter.fail_mount = true;
  CHECK(!f.Do("/VolumeDriver.Mount", Req("db", "c1"))["Err"].get<std::string>().empty());
  CHECK(f.keeld.vols["db"].attached_node == "n1");
}

TEST_CASE("plugin: a volume attached on another node is not mounted here") {
  Fixture f(true);
  f.Do("/VolumeDriver.Create", Req("db"));
  f.keeld.vols["db"].attached_node = "n2";
  CHECK(f.Do("/VolumeDriver.Mount", Req("db", "c1"))["Err"] == "volume 'db' is attached on n2");
  CHECK(f.keeld.vols["db"].attached_node == "n2");
  CHECK(f.keeld.refs.refs.empty());
}

TEST_CASE("plugin: Unmount of a busy mount keeps the id; an unknown id is an error") {
  Fixture f;
  f.Do("/VolumeDriver.Create", Req("db"));
  f.Do("/VolumeDriver.Mount", Req("db", "c1"));
  CHECK(f.Do("/VolumeDriver.Unmount", Req("db", "zz"))["Err"] ==
        "volume 'db' is not mounted for 'zz' on this node");
  f.keeld.mounter.busy.insert("/mnt/keel/db");
  CHECK(f.Do("/VolumeDriver.Unmount", Req("db", "c1"))["Err"] == "unmount /mnt/keel/db: busy");
  CHECK(f.keeld.refs.refs["db"] == std::set<std::string>{"c1"});
  CHECK(f.keeld.vols["db"].attached_node == "n1");
  f.keeld.mounter.busy.clear();
  CHECK(f.Do("/VolumeDriver.Unmount", Req("db", "c1"))["Err"] == "");
}

TEST_CASE("plugin: Unmount on a fenced node unmounts and leaves the new attachment alone") {
  Fixture f(true);
  f.Do("/VolumeDriver.Create", Req("db"));
  f.Do("/VolumeDriver.Mount", Req("db", "c1"));
  f.keeld.vols["db"].attached_node = "n2";  // failed over while n1 was cut off
  f.keeld.api.calls.clear();
  CHECK(f.Do("/VolumeDriver.Unmount", Req("db", "c1"))["Err"] == "");
  CHECK(f.keeld.api.Changes().empty());  // no detach
  CHECK(f.keeld.vols["db"].attached_node == "n2");
  CHECK(!f.keeld.mounter.mounts.contains("/mnt/keel/db"));
  CHECK(f.keeld.refs.refs.empty());
}

TEST_CASE("plugin: Remove refuses a mounted volume, detaches a leftover attachment") {
  Fixture f;
  f.Do("/VolumeDriver.Create", Req("db"));
  f.Do("/VolumeDriver.Mount", Req("db", "c1"));
  CHECK(f.Do("/VolumeDriver.Remove", Req("db"))["Err"] ==
        "volume 'db' is in use: mounted for 1 container(s) on this node");
  CHECK(f.keeld.vols.contains("db"));
  f.Do("/VolumeDriver.Unmount", Req("db", "c1"));
  f.keeld.vols["db"].attached_node = "n1";
  f.keeld.api.calls.clear();
  CHECK(f.Do("/VolumeDriver.Remove", Req("db"))["Err"] == "");
  CHECK(f.keeld.api.Changes() == std::vector<std::string>{R"(volume.detach {"name":"db"})",
                                                          R"(volume.delete {"name":"db"})"});
  CHECK(!f.keeld.vols.contains("db"));
  CHECK(f.Do("/VolumeDriver.Remove", Req("db"))["Err"] == "volume 'db' does not exist");
}

TEST_CASE("plugin: Get and List, alone and in a cluster") {
  Fixture f;
  f.Do("/VolumeDriver.Create", {{"Name", "db"}, {"Opts", {{"size", "64M"}}}});
  f.Do("/VolumeDriver.Create", Req("logs"));
  f.Do("/VolumeDriver.Mount", Req("db", "c1"));
  json g = f.Do("/VolumeDriver.Get", Req("db"));
  CHECK(g["Err"] == "");
  CHECK(g["Volume"]["Name"] == "db");
  CHECK(g["Volume"]["Mountpoint"] == "/mnt/keel/db");
  CHECK(g["Volume"]["CreatedAt"] == "2023-11-14T22:13:20Z");
  CHECK(g["Volume"]["Status"]["size"] == 64 << 20);
  CHECK(g["Volume"]["Status"]["device"] == "/dev/keel0");
  CHECK(g["Volume"]["Status"]["fs"] == "ext4");
  CHECK(f.Do("/VolumeDriver.Get", Req("nope"))["Err"] == "volume 'nope' does not exist");
  json l = f.Do("/VolumeDriver.List", json::object());
  CHECK(l["Volumes"] == json::array({{{"Name", "db"}, {"Mountpoint", "/mnt/keel/db"}},
                                     {{"Name", "logs"}, {"Mountpoint", ""}}}));

  Fixture c(true);
  c.Do("/VolumeDriver.Create", Req("db"));
  g = c.Do("/VolumeDriver.Get", Req("db"));
  CHECK(g["Volume"]["Status"]["replicas"] == json::array({"n1", "n2"}));
  CHECK(g["Volume"]["Status"]["in_sync"] == json::array({"n1", "n2"}));
  CHECK(g["Volume"]["Status"]["epoch"] == 3);
  CHECK(c.Do("/VolumeDriver.List", json::object())["Volumes"].size() == 1);
  CHECK(c.keeld.api.calls.back().starts_with("cluster.volumes"));
}

TEST_CASE("plugin: bad requests get a clear error, never a crash") {
  Fixture f;
  auto r = f.driver.Handle("/VolumeDriver.Create", "{\"Name\":");
  CHECK(r.http_status == 400);
  CHECK(r.body["Err"] == "request body is not valid JSON");
  r = f.driver.Handle("/VolumeDriver.Create", "[1,2]");
  CHECK(r.http_status == 400);
  CHECK(r.body["Err"] == "request body must be a JSON object");
  r = f.driver.Handle("/VolumeDriver.Create", std::string(100, '[') + std::string(100, ']'));
  CHECK(r.http_status == 400);
  r = f.driver.Handle("/VolumeDriver.Format", "{}");
  CHECK(r.http_status == 404);
  CHECK(r.body["Err"] == "unknown endpoint '/VolumeDriver.Format'");
  // Docker sends "null" bodies for List.
  r = f.driver.Handle("/VolumeDriver.List", "null");
  CHECK(r.http_status == 200);
  CHECK(r.body["Err"] == "");
  CHECK(f.keeld.vols.empty());
}

TEST_CASE("plugin: Recover drops the mount ids of volumes no longer mounted") {
  Fixture f;
  f.Do("/VolumeDriver.Create", Req("a"));
  f.Do("/VolumeDriver.Create", Req("b"));
  f.Do("/VolumeDriver.Mount", Req("a", "c1"));
  f.Do("/VolumeDriver.Mount", Req("b", "c2"));
  f.keeld.mounter.mounts.erase("/mnt/keel/b");  // the node rebooted under b
  auto n = f.driver.Recover();
  REQUIRE(n.ok());
  CHECK(*n == 1);
  CHECK(f.keeld.refs.refs == std::map<std::string, std::set<std::string>>{{"a", {"c1"}}});
}

}  // namespace
}  // namespace keel::plugin
