#include "manager/volume/volume_manager.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <filesystem>
#include <set>

#include "manager/kvdb/sqlite_kvdb.h"
#include "manager/state/temp_dir.h"
#include "manager/volume/fake_kernel_client.h"

namespace keel {
namespace {

// One node: real SQLite files and a real pool directory in a temp dir, a
// fake keel.ko.  Restart() drops the manager and the databases and opens
// them again, as a keeld restart does; the fake kernel keeps its objects.
struct Node {
  TempDir dir;
  FakeClock clock;
  FakeKernelClient kernel;
  PosixFilesystem fs;
  std::unique_ptr<StateStore> state;
  std::unique_ptr<SqliteKvdb> kvdb;
  std::unique_ptr<VolumeManager> vm;
  std::string crash_at;

  explicit Node(uint64_t capacity = 1ULL << 30) : capacity_(capacity) {
    std::filesystem::create_directory(pool());
    Restart();
  }
  std::string pool() const { return dir.file("pool"); }
  void Restart() {
    vm.reset();
    state.reset();
    kvdb.reset();
    state = std::move(StateStore::Open(dir.file("keel.db"), &clock)).value();
    kvdb = std::move(SqliteKvdb::Open(dir.file("kvdb.db"), &clock)).value();
    vm = std::make_unique<VolumeManager>(VolumeManager::Options{"node1", pool(), capacity_},
                                         state.get(), kvdb.get(), &kernel, &fs, &clock,
                                         [this](std::string_view p) { return p == crash_at; });
  }
  Result<VolumeView> Create(const std::string& name, uint64_t size = 64 << 20) {
    CreateParams p;
    p.name = name;
    p.size = size;
    p.labels = {{"app", "test"}};
    return vm->Create(p);
  }
  std::set<std::string> PoolFiles() {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(pool())) {
      out.insert(e.path().filename().string());
    }
    return out;
  }

  // The three views agree and nothing is left over.
  void CheckConsistent() {
    CHECK(state->PendingIntents()->empty());
    auto replicas = *state->ListReplicas();
    auto specs = *kvdb->List(kVolumePrefix);
    CHECK(specs.size() == replicas.size());
    CHECK(kernel.volumes.size() == replicas.size());
    CHECK(PoolFiles().size() == replicas.size());
    for (const auto& r : replicas) {
      INFO("volume " << r.volume);
      CHECK(PoolFiles().count(r.uuid + ".img") == 1);
      REQUIRE(r.kernel_id.has_value());
      REQUIRE(kernel.volumes.count(*r.kernel_id) == 1);
      const VolumeStatus& k = kernel.volumes[*r.kernel_id];
      CHECK(k.uuid.ToString() == r.uuid);
      auto e = *kvdb->Get(VolumeKey(r.volume));
      REQUIRE(e.has_value());
      auto spec = *VolumeSpecFromJson(e->value);
      CHECK(spec.uuid == r.uuid);
      bool attached = k.state & KEEL_STATE_ATTACHED;
      CHECK((spec.attached_node == "node1") == attached);
      CHECK(spec.device == (attached ? "/dev/" + k.device_name : ""));
    }
  }

 private:
  uint64_t capacity_;
};

}  // namespace

TEST_CASE("volumes: create, list, inspect, attach, detach, delete") {
  Node n;
  auto v = n.Create("db");
  REQUIRE(v.ok());
  CHECK(v->state == "detached");
  CHECK(v->spec.size == 64 << 20);
  CHECK(v->spec.block_size == 4096);
  CHECK(v->spec.labels.at("app") == "test");
  CHECK(v->backing_path == n.pool() + "/" + v->spec.uuid + ".img");
  CHECK(std::filesystem::exists(v->backing_path));
  n.CheckConsistent();

  auto dev = n.vm->Attach("db");
  REQUIRE(dev.ok());
  CHECK(*dev == "/dev/keel0");
  // Idempotent: the same device again, one kernel attach in all.
  CHECK(*n.vm->Attach("db") == "/dev/keel0");
  CHECK(n.kernel.calls["attach"] == 1);
  auto insp = n.vm->Inspect("db");
  REQUIRE(insp.ok());
  CHECK(insp->state == "attached");
  CHECK(n.vm->List()->size() == 1);
  n.CheckConsistent();

  CHECK(n.vm->Delete("db", false).code() == EBUSY);
  REQUIRE(n.vm->Detach("db", false).ok());
  CHECK(n.vm->Detach("db", false).ok());  // already detached: fine
  n.CheckConsistent();
  REQUIRE(n.vm->Delete("db", false).ok());
  CHECK(n.vm->Delete("db", false).code() == ENOENT);
  CHECK(n.vm->Delete("db", false).message().find("does not exist") != std::string::npos);
  CHECK(n.PoolFiles().empty());
  n.CheckConsistent();
}

TEST_CASE("volumes: names are unique and validated, sizes checked against the pool") {
  Node n(256 << 20);
  REQUIRE(n.Create("a", 100 << 20).ok());
  CHECK(n.Create("a", 1 << 20).status().code() == EEXIST);
  CHECK(n.Create("a/b").status().code() == EINVAL);
  CHECK(n.Create(std::string(300, 'x')).status().code() == EINVAL);
  CHECK(n.Create("zero", 0).status().code() == EINVAL);
  CHECK(n.Create("odd", 1000).status().code() == EINVAL);
  auto big = n.Create("big", 200 << 20);
  CHECK(big.status().code() == ENOSPC);
  CHECK(big.status().message().find("free") != std::string::npos);
  // Exactly what is left fits (size + 1 MiB metadata).
  REQUIRE(n.Create("fits", (256 << 20) - 2 * kMetadataReserve - (100 << 20)).ok());
  CHECK(n.Create("more", 4096).status().code() == ENOSPC);
  CHECK(n.vm->Attach("nope").status().code() == ENOENT);
  CHECK(n.vm->Detach("nope", false).code() == ENOENT);
  CHECK(n.vm->Inspect("nope").status().code() == ENOENT);
  n.CheckConsistent();
}

TEST_CASE("volumes: kernel refusals leave nothing behind and read well") {
  Node n;
  n.kernel.fail_next["create"] = ENOSPC;
  auto v = n.Create("db");
  REQUIRE_FALSE(v.ok());
  CHECK(v.status().message().find("keel.ko refused to create volume 'db'") != std::string::npos);
  n.CheckConsistent();
  CHECK(n.PoolFiles().empty());

  REQUIRE(n.Create("db").ok());
  n.kernel.fail_next["attach"] = ENOMEM;
  CHECK(n.vm->Attach("db").status().code() == ENOMEM);
  n.CheckConsistent();
  REQUIRE(n.vm->Attach("db").ok());
  n.kernel.open.insert(0);
  auto s = n.vm->Detach("db", false);
  CHECK(s.code() == EBUSY);
  CHECK(s.message().find("unmount") != std::string::npos);
  n.CheckConsistent();
  REQUIRE(n.vm->Detach("db", true).ok());
  n.CheckConsistent();
  n.kernel.fail_next["list"] = ETIMEDOUT;
  auto l = n.vm->List();
  CHECK(l.status().code() == ETIMEDOUT);
  CHECK(l.status().message().find("dmesg") != std::string::npos);
}

TEST_CASE("volumes: a crash at every point of every operation recovers to a consistent state") {
  for (const std::string& point : VolumeManager::CrashPoints()) {
    INFO("crash at " << point);
    Node n;
    REQUIRE(n.Create("keep").ok());
    REQUIRE(n.vm->Attach("keep").ok());
    std::string op = point.substr(0, point.find(':'));
    if (op != "create") {
      REQUIRE(n.Create("v").ok());
      if (op == "detach" || op == "delete") REQUIRE(n.vm->Attach("v").ok());
    }
    n.crash_at = point;
    Status s;
    if (op == "create") s = n.Create("v").status();
    if (op == "attach") s = n.vm->Attach("v").status();
    if (op == "detach") s = n.vm->Detach("v", false);
    if (op == "delete") s = n.vm->Delete("v", true);
    CHECK(s.code() == EINTR);
    n.crash_at.clear();
    n.Restart();
    auto left = n.vm->Recover();
    REQUIRE(left.ok());
    CHECK(*left == 0);
    REQUIRE(n.vm->Reconcile().ok());
    n.CheckConsistent();
    // The untouched volume kept its device throughout.
    CHECK(n.kernel.volumes[0].device_name == "keel0");
    auto v = n.vm->Inspect("v");
    if (op == "create") {
      // Rolled back (unless it had fully finished), so it can be made again.
      if (point != "create:done") {
        CHECK(v.status().code() == ENOENT);
        REQUIRE(n.Create("v").ok());
      }
    } else if (op == "delete") {
      CHECK(v.status().code() == ENOENT);
    } else {
      REQUIRE(v.ok());
      // Whatever the kernel did stands, and the API agrees with it.
      auto again = op == "attach" ? n.vm->Attach("v").status() : n.vm->Detach("v", false);
      CHECK(again.ok());
    }
    n.CheckConsistent();
  }
}

TEST_CASE("volumes: operations on a volume with an unfinished intent are refused") {
  Node n;
  REQUIRE(n.Create("v").ok());
  n.crash_at = "attach:kernel-attached";
  CHECK(n.vm->Attach("v").status().code() == EINTR);
  n.crash_at.clear();
  auto s = n.vm->Detach("v", false);
  CHECK(s.code() == EAGAIN);
  CHECK(s.message().find("has not finished") != std::string::npos);
  REQUIRE(*n.vm->Recover() == 0);
  CHECK(n.vm->Detach("v", false).ok());
}

TEST_CASE("volumes: recovery that fails now is retried later") {
  Node n;
  n.crash_at = "create:kernel-created";
  CHECK(n.Create("v").status().code() == EINTR);
  n.crash_at.clear();
  n.Restart();
  n.kernel.fail_next["delete"] = EIO;
  CHECK(*n.vm->Recover() == 1);
  CHECK(n.state->PendingIntents()->size() == 1);
  CHECK(*n.vm->Recover() == 0);
  n.CheckConsistent();
}

TEST_CASE("reconcile: a module reload (no kernel objects) gets every volume back") {
  Node n;
  REQUIRE(n.Create("a").ok());
  REQUIRE(n.Create("b").ok());
  REQUIRE(n.vm->Attach("b").ok());
  n.kernel.volumes.clear();  // rmmod + modprobe, or a reboot
  n.Restart();
  REQUIRE(*n.vm->Recover() == 0);
  CHECK(*n.vm->Reconcile() == 3);  // two kernel objects, one disk
  n.CheckConsistent();
  CHECK(n.vm->Inspect("b")->state == "attached");
  CHECK(n.vm->Inspect("a")->state == "detached");
  CHECK(*n.vm->Reconcile() == 0);  // nothing left to repair
}

TEST_CASE("reconcile: the kernel's attachment wins over a stale record") {
  Node n;
  REQUIRE(n.Create("a").ok());
  // Attached behind keeld's back (keelsetup attach).
  REQUIRE(n.kernel.AttachVolume(0).ok());
  CHECK(*n.vm->Reconcile() == 1);
  n.CheckConsistent();
  // A changed kernel id (re-created by hand with another id) is adopted.
  VolumeStatus k = n.kernel.volumes[0];
  n.kernel.volumes.erase(0);
  k.id = 7;
  n.kernel.volumes[7] = k;
  CHECK(*n.vm->Reconcile() >= 1);
  CHECK(*(*n.state->GetReplica("a"))->kernel_id == 7);
  n.CheckConsistent();
}

TEST_CASE("reconcile: lost kvdb records and lost state rows are rebuilt") {
  Node n;
  REQUIRE(n.Create("a").ok());
  REQUIRE(n.vm->Attach("a").ok());
  REQUIRE(*n.kvdb->Delete(VolumeKey("a")));
  CHECK(*n.vm->Reconcile() == 1);
  n.CheckConsistent();
  CHECK((*VolumeSpecFromJson((**n.kvdb->Get(VolumeKey("a"))).value)).attached_node == "node1");
  // The state row is lost but the kvdb and the backing file remain.
  REQUIRE(n.state->RemoveReplica("a").ok());
  CHECK(*n.vm->Reconcile() == 1);
  n.CheckConsistent();
  // A kvdb record without replica nor backing file is removed.
  VolumeSpec ghost;
  ghost.name = "ghost";
  ghost.uuid = "00000000-0000-4000-8000-000000000001";
  ghost.node = "node1";
  REQUIRE(n.kvdb->Put(VolumeKey("ghost"), VolumeSpecToJson(ghost).dump()).ok());
  CHECK(*n.vm->Reconcile() == 1);
  CHECK_FALSE((*n.kvdb->Get(VolumeKey("ghost"))).has_value());
}

TEST_CASE("reconcile: a missing backing file is reported, not hidden") {
  Node n;
  auto v = n.Create("a");
  REQUIRE(v.ok());
  n.kernel.volumes.clear();
  std::filesystem::remove(v->backing_path);
  REQUIRE(n.vm->Reconcile().ok());
  CHECK(n.vm->Inspect("a")->state == "missing");
  auto a = n.vm->Attach("a");
  CHECK(a.status().code() == ENOENT);
  CHECK(a.status().message().find("missing") != std::string::npos);
  // It can still be deleted.
  REQUIRE(n.vm->Delete("a", false).ok());
  n.CheckConsistent();
}

TEST_CASE("reconcile: kernel objects keeld does not know are left alone") {
  Node n;
  CreateVolumeRequest req;
  req.uuid = *Uuid::Random();
  req.size = 1 << 20;
  req.backing_path = n.pool() + "/byhand.img";
  n.kernel.check_backing_exists = false;
  REQUIRE(n.kernel.CreateVolume(req).ok());
  REQUIRE(n.vm->Reconcile().ok());
  CHECK(n.kernel.volumes.size() == 1);
  CHECK(n.vm->List()->empty());
}

}  // namespace keel
