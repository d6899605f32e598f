// keelctl end to end against keeld's own API server, dispatcher and volume
// manager (real SQLite state and kvdb in a temp dir, a fake keel.ko): what
// keelctl sends is what keeld accepts, and keeld's replies and errors come
// out of keelctl as docs/keelctl.md says.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "cli/keelctl/app.h"
#include "cli/keelctl/commands.h"
#include "manager/api/dispatcher.h"
#include "manager/api/server.h"
#include "manager/kvdb/sqlite_kvdb.h"
#include "manager/state/temp_dir.h"
#include "manager/volume/fake_kernel_client.h"

namespace keel {
namespace {

using nlohmann::json;

struct Keeld {
  TempDir dir;
  FakeClock clock;
  FakeKernelClient kernel;
  PosixFilesystem fs;
  std::unique_ptr<StateStore> state = std::move(StateStore::Open(dir.file("k.db"), &clock)).value();
  std::unique_ptr<SqliteKvdb> kvdb = std::move(SqliteKvdb::Open(dir.file("kv.db"), &clock)).value();
  std::unique_ptr<VolumeManager> vm;
  std::unique_ptr<ApiDispatcher> api;
  std::unique_ptr<ApiServer> server;
  std::thread thread;
  std::string socket = dir.file("keeld.sock");

  Keeld() {
    std::filesystem::create_directory(dir.file("pool"));
    vm = std::make_unique<VolumeManager>(VolumeManager::Options{"n1", dir.file("pool"), 1ULL << 30},
                                         state.get(), kvdb.get(), &kernel, &fs, &clock);
    api = std::make_unique<ApiDispatcher>(vm.get(), [] {
      return json{{"node_name", "n1"},
                  {"labels", {{"zone", "z1"}}},
                  {"keeld_version", "9.9.9"},
                  {"api", 1},
                  {"kvdb", "embedded"},
                  {"pool", {{"directory", "/pool"}}},
                  {"module",
                   {{"version", "0.1.0-fake"}, {"api_version", 1}, {"kernel_release", "6.12.0"}}}};
    });
    ApiServer::Options o;
    o.path = socket;
    auto s = ApiServer::Listen(o, [this](std::string_view req) { return api->Handle(req); });
    REQUIRE(s.ok());
    server = std::move(s).value();
    thread = std::thread([this] { server->Run(nullptr, std::chrono::milliseconds(20)); });
  }
  ~Keeld() {
    server->Stop();
    thread.join();
  }

  struct Run {
    int exit = -1;
    std::string out, err;
    json Json() const { return json::parse(out); }
  };
  Run Keelctl(std::vector<std::string> args) {
    std::ostringstream out, err;
    std::istringstream in;
    Env env{out, err, in};
    env.keel_socket = socket;
    env.connect = [](const std::string& path, std::chrono::milliseconds timeout) {
      return std::unique_ptr<ApiClient>(new SocketApiClient(path, timeout));
    };
    Run r;
    r.exit = RunKeelctl(args, env);
    r.out = out.str();
    r.err = err.str();
    return r;
  }
};

TEST_CASE("keelctl against keeld: create, list, attach, inspect, detach, delete") {
  Keeld k;
  auto r = k.Keelctl({"volume", "create", "db", "--size", "64M", "-l", "app=pg", "-q"});
  CHECK(r.exit == kExitOk);
  CHECK(r.out.empty());
  r = k.Keelctl({"volume", "create", "web", "--size", "1.5M", "--block-size", "512", "-o", "json"});
  REQUIRE(r.exit == kExitOk);
  CHECK(r.Json()["size"] == 1572864);
  CHECK(r.Json()["block_size"] == 512);
  CHECK(r.Json()["state"] == "detached");

  r = k.Keelctl({"volume", "list", "-o", "json"});
  REQUIRE(r.exit == kExitOk);
  REQUIRE(r.Json()["volumes"].size() == 2);
  CHECK(r.Json()["volumes"][0]["labels"] == json{{"app", "pg"}});
  r = k.Keelctl({"volume", "list", "-q"});
  CHECK(r.out == "db\nweb\n");
  r = k.Keelctl({"volume", "list"});
  CHECK(r.out.find("db    64 MiB   detached  -       1         n1    app=pg\n") !=
        std::string::npos);

  r = k.Keelctl({"volume", "attach", "db", "-q"});
  CHECK(r.exit == kExitOk);
  CHECK(r.out == "/dev/keel0\n");
  r = k.Keelctl({"volume", "attach", "db"});
  CHECK(r.out == "volume 'db' attached at /dev/keel0\n");
  r = k.Keelctl({"volume", "inspect", "db", "-o", "json"});
  CHECK(r.Json()["state"] == "attached");
  CHECK(r.Json()["kernel"]["stats"]["errors"] == 0);
  r = k.Keelctl({"volume", "inspect", "db"});
  CHECK(r.out.find("Device:        /dev/keel0\n") != std::string::npos);

  r = k.Keelctl({"volume", "detach", "db"});
  CHECK(r.exit == kExitOk);
  CHECK(r.out == "volume 'db' detached\n");
  r = k.Keelctl({"volume", "delete", "db"});  // stdin is no terminal
  CHECK(r.exit == kExitUsage);
  r = k.Keelctl({"volume", "delete", "db", "--yes", "-o", "json"});
  CHECK(r.exit == kExitOk);
  CHECK(r.Json() == json{{"name", "db"}, {"deleted", true}});
  r = k.Keelctl({"volume", "inspect", "db"});
  CHECK(r.exit == kExitNotFound);
  CHECK(r.err.find("keelctl: volume 'db' does not exist\n") == 0);
}

TEST_CASE("keelctl against keeld: refusals keep data and exit 6 or 7 with what to do") {
  Keeld k;
  REQUIRE(k.Keelctl({"volume", "create", "db", "--size", "64M"}).exit == kExitOk);
  auto r = k.Keelctl({"volume", "create", "db", "--size", "64M", "-o", "json"});
  CHECK(r.exit == kExitExists);
  CHECK(r.Json()["error"]["code"] == "already_exists");
  REQUIRE(k.Keelctl({"volume", "attach", "db"}).exit == kExitOk);
  r = k.Keelctl({"volume", "delete", "db", "--yes"});
  CHECK(r.exit == kExitBusy);
  CHECK(r.err.find("hint: detach it first") != std::string::npos);
  k.kernel.open.insert(0);  // mounted
  r = k.Keelctl({"volume", "detach", "db"});
  CHECK(r.exit == kExitBusy);
  CHECK(r.err.find("keelctl: volume 'db' is open on this node") == 0);
  r = k.Keelctl({"volume", "detach", "db", "--force"});
  CHECK(r.exit == kExitOk);
  REQUIRE(k.Keelctl({"volume", "attach", "db"}).exit == kExitOk);
  r = k.Keelctl({"volume", "delete", "db", "--force", "--yes"});
  CHECK(r.exit == kExitOk);
  CHECK(k.Keelctl({"volume", "list", "-q"}).out.empty());
}

TEST_CASE("keelctl against keeld: keeld's own checks come back as usage or capacity errors") {
  Keeld k;
  auto r = k.Keelctl({"volume", "create", "big", "--size", "2G"});
  CHECK(r.exit == kExitError);
  CHECK(r.err.find("hint: see the pool's free space with 'keelctl node inspect'") !=
        std::string::npos);
  r = k.Keelctl({"volume", "inspect", "bad/name"});
  CHECK(r.exit == kExitUsage);
  r = k.Keelctl({"volume", "create", "db", "--size", "2P"});
  CHECK(r.exit == kExitUsage);  // keeld: at most 1 PiB
}

TEST_CASE("keelctl against keeld: node inspect and version") {
  Keeld k;
  auto r = k.Keelctl({"node", "inspect", "-o", "json"});
  REQUIRE(r.exit == kExitOk);
  CHECK(r.Json()["node_name"] == "n1");
  CHECK(r.Json()["pool"]["capacity"] == 1ULL << 30);
  r = k.Keelctl({"node", "inspect"});
  CHECK(r.out.find("Capacity:  1 GiB\n") != std::string::npos);
  r = k.Keelctl({"version"});
  CHECK(r.exit == kExitOk);
  CHECK(r.out.find("keeld    9.9.9 (API 1)\n") != std::string::npos);
  CHECK(r.out.find("keel.ko  0.1.0-fake (API 1, kernel 6.12.0)\n") != std::string::npos);
}

TEST_CASE("keelctl against keeld: a single-node keeld refuses cluster commands, said plainly") {
  Keeld k;
  for (std::vector<std::string> args : {std::vector<std::string>{"node", "list"},
                                        {"node", "inspect", "n2"},
                                        {"cluster", "status", "-o", "json"}}) {
    CAPTURE(args[1]);
    auto r = k.Keelctl(args);
    CHECK(r.exit == kExitError);
    CHECK(r.err ==
          "keelctl: keeld runs without a cluster (no etcd_endpoints in /etc/keel/keeld.conf); "
          "see docs/configuration.md\n");
  }
}

}  // namespace
}  // namespace keel
