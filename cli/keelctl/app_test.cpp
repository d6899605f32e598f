// Whole keelctl command lines against a scripted keeld: parsing (bad flags,
// bad sizes, unknown commands -> exit 2 with usage), global options in any
// position, --socket/KEEL_SOCKET, colours, and --help on every command.
#include "cli/keelctl/app.h"

#include <doctest/doctest.h>

#include <sstream>

#include "cli/keelctl/commands.h"
#include "cli/keelctl/scripted_api_client.h"

namespace keel {
namespace {

using nlohmann::json;

// Runs keelctl with a scripted client; records where it would connect.
struct Harness {
  std::ostringstream out, err;
  std::istringstream in;
  Env env{out, err, in};
  ScriptedApiClient* api = nullptr;  // owned by `script` until connect hands it out
  std::unique_ptr<ScriptedApiClient> script = std::make_unique<ScriptedApiClient>();
  int connects = 0;
  std::string socket;
  std::chrono::milliseconds timeout{0};
  int64_t now = 0;  // --wait and --watch: time moves only when they sleep
  std::vector<int64_t> sleeps;

  Harness() {
    api = script.get();
    env.ticker = {[this] { return now; },
                  [this](int64_t ms) {
                    sleeps.push_back(ms);
                    now += ms;
                  }};
    env.connect = [this](const std::string& path, std::chrono::milliseconds t) {
      ++connects;
      socket = path;
      timeout = t;
      // Hand out a client that forwards to the script, so tests can look at it after.
      struct Forward : ApiClient {
        ScriptedApiClient* to;
        explicit Forward(ScriptedApiClient* t) : to(t) {}
        Result<json> Call(const std::string& c, const json& a) override { return to->Call(c, a); }
      };
      return std::unique_ptr<ApiClient>(new Forward(api));
    };
  }
  int Run(const std::vector<std::string>& args) { return RunKeelctl(args, env); }
};

json Volume(const std::string& name) {
  return {{"name", name},  {"size", 1073741824}, {"block_size", 4096},  {"labels", json::object()},
          {"replicas", 1}, {"node", "n1"},       {"state", "attached"}, {"device", "/dev/keel0"}};
}

TEST_CASE("keelctl parse: unknown commands exit 2 with the usage, without contacting keeld") {
  for (std::vector<std::string> args : {std::vector<std::string>{"frobnicate"},
                                        {"volume", "frob"},
                                        {"node", "frob", "n1"},
                                        {},
                                        {"volume"}}) {
    CAPTURE(args.size());
    Harness h;
    CHECK(h.Run(args) == kExitUsage);
    CHECK(h.connects == 0);
    CHECK(h.err.str().find("keelctl: ") == 0);
    CHECK(h.err.str().find("Usage: keelctl") != std::string::npos);
    CHECK(h.out.str().empty());
  }
}

TEST_CASE("keelctl parse: an unknown command is named in the error") {
  Harness h;
  CHECK(h.Run({"frobnicate"}) == kExitUsage);
  CHECK(h.err.str().find("frobnicate") != std::string::npos);
  Harness h2;
  CHECK(h2.Run({"volume", "frob"}) == kExitUsage);
  CHECK(h2.err.str().find("frob") != std::string::npos);
  CHECK(h2.err.str().find("Usage: keelctl volume") != std::string::npos);
  Harness h3;
  CHECK(h3.Run({"volume"}) == kExitUsage);
  CHECK(h3.err.str().find("keelctl: missing command: keelctl volume COMMAND\n") == 0);
  Harness h4;
  CHECK(h4.Run({}) == kExitUsage);
  CHECK(h4.err.str().find("keelctl: missing command: keelctl COMMAND\n") == 0);
}

TEST_CASE("keelctl parse: bad flags and missing arguments exit 2 with the command's usage") {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  } cases[] = {
      {{"volume", "list", "--bogus"}, "--bogus"},
      {{"volume", "inspect"}, "NAME is required"},
      {{"volume", "create", "db"}, "--size is required"},
      {{"volume", "create", "db", "--size"}, "--size"},
      {{"volume", "create", "db", "--size", "1G", "--block-size", "1024"}, "1024"},
      {{"volume", "create", "db", "--size", "1G", "--block-size", "4k"}, "4k"},
      {{"volume", "create", "db", "--size", "1G", "--repl", "4"}, "--repl"},
      {{"volume", "create", "db", "--size", "1G", "--repl", "0"}, "--repl"},
      {{"volume", "attach", "a", "b"}, "b"},
      {{"-o", "yaml", "volume", "list"}, "yaml"},
      {{"volume", "list", "--timeout", "0"}, "--timeout"},
      {{"volume", "list", "--timeout", "-1"}, "--timeout"},
      {{"volume", "list", "--timeout", "1e300"}, "--timeout"},
      {{"volume", "attach", "db", "--node"}, "--node"},
      {{"volume", "attach", "db", "--wait-timeout", "5"}, "--wait-timeout requires --wait"},
      {{"volume", "attach", "db", "--wait", "--wait-timeout", "-1"}, "from 0 to 86400"},
      {{"volume", "attach", "db", "--wait", "--wait-timeout", "soon"}, "'soon'"},
      {{"volume", "attach", "db", "--wait", "--wait-timeout"}, "--wait-timeout"},
      {{"volume", "attach", "--wait"}, "NAME is required"},
      {{"volume", "inspect", "db", "--wait"}, "--wait"},
      {{"volume", "inspect", "--watch"}, "NAME is required"},
      {{"node", "cordon"}, "NAME is required"},
      {{"node", "uncordon", "n1", "n2"}, "n2"},
      {{"node", "uncordon", "n1", "--wait"}, "--wait"},
      {{"node", "drain"}, "NAME is required"},
      {{"node", "drain", "n1", "--wait-timeout", "60"}, "--wait-timeout requires --wait"},
      {{"node", "drain", "n1", "--wait", "--wait-timeout", "86401"}, "from 0 to 86400"},
      {{"node", "drain", "n1", "--force"}, "--force"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.says);
    Harness h;
    CHECK(h.Run(c.args) == kExitUsage);
    CHECK(h.connects == 0);
    CHECK(h.err.str().find(c.says) != std::string::npos);
    CHECK(h.err.str().find("Usage: keelctl") != std::string::npos);
  }
}

TEST_CASE("keelctl parse: bad sizes exit 2 with a precise message, before keeld is contacted") {
  for (const char* size : {"0", "-1", "-5G", "10Q", "abc", "1.5", "0.5K1"}) {
    CAPTURE(size);
    Harness h;
    CHECK(h.Run({"volume", "create", "db", "--size", size}) == kExitUsage);
    CHECK(h.connects == 0);
    CHECK(h.err.str().find("keelctl: --size: ") == 0);
  }
}

TEST_CASE("keelctl parse: --label repeats, one value each, and NAME may come after it") {
  Harness h;
  h.api->ReplyOk(Volume("db"));
  CHECK(h.Run({"volume", "create", "--label", "a=1", "-l", "b=2", "db", "--size", "1G", "-q"}) ==
        kExitOk);
  REQUIRE(h.api->calls.size() == 1);
  CHECK(h.api->calls[0].args["name"] == "db");
  CHECK(h.api->calls[0].args["labels"] == json{{"a", "1"}, {"b", "2"}});
  CHECK(h.out.str().empty());
}

TEST_CASE("keelctl parse: --repl 1 is not sent, --repl 2 is sent as replicas") {
  Harness h;
  h.api->ReplyOk(Volume("db"));
  CHECK(h.Run({"volume", "create", "db", "--size", "1G", "--repl", "1", "-q"}) == kExitOk);
  CHECK(h.api->calls[0].args.contains("replicas") == false);
  Harness h2;
  h2.api->ReplyOk(Volume("db"));
  CHECK(h2.Run({"volume", "create", "db", "--size", "1G", "--repl", "2", "-q"}) == kExitOk);
  CHECK(h2.api->calls[0].args["replicas"] == 2);
}

TEST_CASE("keelctl parse: global options work before and after the command") {
  json list = {{"volumes", {Volume("db")}}};
  Harness before, after;
  before.api->ReplyOk(list);
  after.api->ReplyOk(list);
  CHECK(before.Run({"-o", "json", "--socket", "/s", "volume", "list"}) == kExitOk);
  CHECK(after.Run({"volume", "list", "-o", "json", "--socket", "/s"}) == kExitOk);
  CHECK(json::parse(before.out.str()) == list);
  CHECK(json::parse(after.out.str()) == list);
  CHECK(before.socket == "/s");
  CHECK(after.socket == "/s");
  Harness q;
  q.api->ReplyOk(list);
  CHECK(q.Run({"volume", "list", "-q"}) == kExitOk);
  CHECK(q.out.str() == "db\n");
}

TEST_CASE("keelctl parse: -q and -o json together are a usage error") {
  Harness h;
  CHECK(h.Run({"volume", "list", "-q", "-o", "json"}) == kExitUsage);
  CHECK(h.connects == 0);
  CHECK(h.err.str().find("-q and -o json cannot be used together") != std::string::npos);
}

TEST_CASE("keelctl socket: --socket beats KEEL_SOCKET, which beats the default") {
  Harness def, env, flag;
  for (Harness* h : {&def, &env, &flag}) h->api->ReplyOk({{"volumes", json::array()}});
  CHECK(def.Run({"volume", "list"}) == kExitOk);
  CHECK(def.socket == "/run/keel/keeld.sock");
  CHECK(def.timeout == std::chrono::milliseconds(60000));
  env.env.keel_socket = "/env.sock";
  CHECK(env.Run({"volume", "list", "--timeout", "2.5"}) == kExitOk);
  CHECK(env.socket == "/env.sock");
  CHECK(env.timeout == std::chrono::milliseconds(2500));
  flag.env.keel_socket = "/env.sock";
  CHECK(flag.Run({"--socket", "/flag.sock", "volume", "list"}) == kExitOk);
  CHECK(flag.socket == "/flag.sock");
}

TEST_CASE("keelctl colour: only for text on a terminal with NO_COLOR unset or empty") {
  json list = {{"volumes", {Volume("db")}}};
  auto run = [&](bool tty, const std::string& no_color, std::vector<std::string> extra) {
    Harness h;
    h.api->ReplyOk(list);
    h.env.stdout_tty = tty;
    h.env.no_color = no_color;
    std::vector<std::string> args = {"volume", "list"};
    args.insert(args.end(), extra.begin(), extra.end());
    CHECK(h.Run(args) == kExitOk);
    return h.out.str().find('\x1b') != std::string::npos;
  };
  CHECK(run(true, "", {}));
  CHECK_FALSE(run(false, "", {}));
  CHECK_FALSE(run(true, "1", {}));
  CHECK_FALSE(run(true, "", {"-o", "json"}));
}

TEST_CASE("keelctl delete: refused without --yes when stdin is not a terminal, asks on one") {
  Harness h;
  CHECK(h.Run({"volume", "delete", "db"}) == kExitUsage);
  CHECK(h.api->calls.empty());
  Harness yes;
  yes.api->ReplyOk({{"name", "db"}, {"deleted", true}});
  CHECK(yes.Run({"volume", "delete", "db", "--yes", "--force"}) == kExitOk);
  CHECK(yes.api->calls[0].args == json{{"name", "db"}, {"force", true}});
  Harness tty;
  tty.env.stdin_tty = true;
  tty.in.str("y\n");
  tty.api->ReplyOk(Volume("db"));
  tty.api->ReplyOk({{"name", "db"}, {"deleted", true}});
  CHECK(tty.Run({"volume", "delete", "db"}) == kExitOk);
  CHECK(tty.api->calls.size() == 2);
  CHECK(tty.out.str() == "volume 'db' deleted\n");
}

TEST_CASE("keelctl help: every command has --help with examples, exit 0, no keeld") {
  std::vector<std::vector<std::string>> commands = {
      {"volume", "create"},    {"volume", "list"},   {"volume", "inspect"}, {"volume", "attach"},
      {"volume", "detach"},    {"volume", "delete"}, {"node", "inspect"},   {"node", "list"},
      {"node", "cordon"},      {"node", "uncordon"}, {"node", "drain"},     {"cluster", "status"},
      {"node", "maintenance"}, {"version"}};
  for (auto args : commands) {
    std::string name = args.back();
    CAPTURE(name);
    args.push_back("--help");
    Harness h;
    CHECK(h.Run(args) == kExitOk);
    CHECK(h.connects == 0);
    CHECK(h.out.str().find("Examples:\n  keelctl ") != std::string::npos);
    CHECK(h.out.str().find("Usage: keelctl") != std::string::npos);
  }
  Harness top;
  CHECK(top.Run({"--help"}) == kExitOk);
  CHECK(top.out.str().find("Exit status:") != std::string::npos);
  CHECK(top.out.str().find("KEEL_SOCKET") != std::string::npos);
  for (const char* group : {"volume", "node", "cluster"}) {
    Harness h;
    CHECK(h.Run({group, "--help"}) == kExitOk);
    CHECK(h.out.str().find("Subcommands:") != std::string::npos);
    CHECK(h.out.str().find("Examples:\n  keelctl " + std::string(group)) != std::string::npos);
  }
}

TEST_CASE("keelctl --version prints keelctl's version without keeld") {
  Harness h;
  CHECK(h.Run({"--version"}) == kExitOk);
  CHECK(h.out.str() == std::string("keelctl ") + KEEL_VERSION + "\n");
  CHECK(h.connects == 0);
}

TEST_CASE("keelctl run: keeld's errors come out with their exit status") {
  Harness h;
  h.api->ReplyError("not_found", "volume 'x' does not exist");
  CHECK(h.Run({"volume", "attach", "x"}) == kExitNotFound);
  CHECK(h.err.str().find("keelctl: volume 'x' does not exist\n") == 0);
  Harness down;
  down.api->Fail(ENOENT, "keeld is not running (cannot connect to /run/keel/keeld.sock: ...)");
  CHECK(down.Run({"node", "inspect"}) == kExitUnreachable);
}

TEST_CASE("keelctl node inspect: no NAME asks node.info, a NAME asks node.list") {
  Harness self, other, missing;
  self.api->ReplyOk({{"node_name", "n1"}});
  CHECK(self.Run({"node", "inspect", "-q"}) == kExitOk);
  CHECK(self.api->calls[0].command == "node.info");
  CHECK(self.out.str() == "n1\n");
  json nodes = {
      {"nodes", {{{"name", "n1"}, {"state", "up"}}, {{"name", "n2"}, {"state", "down"}}}}};
  other.api->ReplyOk(nodes);
  CHECK(other.Run({"node", "inspect", "n2", "-o", "json"}) == kExitOk);
  CHECK(other.api->calls[0].command == "node.list");
  CHECK(json::parse(other.out.str()) == nodes["nodes"][1]);
  missing.api->ReplyOk(nodes);
  CHECK(missing.Run({"node", "inspect", "n7"}) == kExitNotFound);
  CHECK(missing.err.str().find("keelctl: node 'n7' is not in the cluster\n") == 0);
}

TEST_CASE("keelctl node list and cluster status: parsed, sent, and refused usage") {
  Harness list, status, extra;
  list.api->ReplyOk({{"nodes", json::array({{{"name", "n1"}}, {{"name", "n2"}}})}});
  CHECK(list.Run({"node", "list", "-q"}) == kExitOk);
  CHECK(list.api->calls[0].command == "node.list");
  CHECK(list.out.str() == "n1\nn2\n");
  status.api->ReplyError("invalid_request",
                         "keeld is not in cluster mode (etcd_endpoints is not set)");
  CHECK(status.Run({"cluster", "status"}) == kExitError);
  CHECK(status.err.str().find("keelctl: keeld runs without a cluster") == 0);
  CHECK(extra.Run({"cluster", "status", "now"}) == kExitUsage);
  CHECK(extra.connects == 0);
}

// volume.status with n1 not in sync (`n1_in_sync` false) or in sync.
json Status(bool n1_in_sync) {
  json s = {{"name", "db"},
            {"epoch", 5},
            {"state", "ready"},
            {"replica_set", {{{"node", "n1"}, {"slot", 0}}, {{"node", "n2"}, {"slot", 1}}}},
            {"in_sync", n1_in_sync ? json{"n1", "n2"} : json{"n2"}},
            {"attached_node", "n2"},
            {"device", "/dev/keel0"},
            {"attached_epoch", 5},
            {"sync",
             {{{"node", "n1"},
               {"slot", 0},
               {"state", n1_in_sync ? "in-sync" : "syncing"},
               {"percent", n1_in_sync ? 100 : 50},
               {"rate", 1048576},
               {"remaining_bytes", n1_in_sync ? 0 : 1048576}}}}};
  return s;
}

TEST_CASE("keelctl volume attach: --node is sent; -q prints the device") {
  Harness h;
  h.api->ReplyOk({{"name", "db"}, {"node", "n2"}, {"device", "/dev/keel0"}, {"epoch", 5}});
  CHECK(h.Run({"volume", "attach", "db", "--node", "n2", "-q"}) == kExitOk);
  REQUIRE(h.api->calls.size() == 1);
  CHECK(h.api->calls[0].command == "volume.attach");
  CHECK(h.api->calls[0].args == json{{"name", "db"}, {"node", "n2"}});
  CHECK(h.out.str() == "/dev/keel0\n");
  Harness local;
  local.api->ReplyOk({{"name", "db"}, {"device", "/dev/keel0"}});
  CHECK(local.Run({"volume", "attach", "-n", "n1", "db"}) == kExitOk);
  CHECK(local.api->calls[0].args == json{{"name", "db"}, {"node", "n1"}});
  CHECK(local.sleeps.empty());
}

TEST_CASE("keelctl volume attach --wait: progress on stderr, redrawn when stderr is a terminal") {
  Harness h;
  h.env.stderr_tty = true;
  h.api->ReplyOk({{"name", "db"}, {"node", "n2"}, {"device", "/dev/keel0"}, {"epoch", 5}});
  h.api->ReplyOk(Status(false));
  h.api->ReplyOk(Status(true));
  CHECK(h.Run({"volume", "attach", "db", "--wait"}) == kExitOk);
  CHECK(h.api->calls[1].command == "volume.status");
  CHECK(h.out.str() == "volume 'db' attached on n2 at /dev/keel0 (epoch 5)\n");
  CHECK(h.err.str() ==
        "n1  [###########...........]  50%  1 MiB/s  ETA 0:01\n"
        "\x1b[1A\r\x1b[Jn1  in-sync\n");
  CHECK(h.sleeps == std::vector<int64_t>{1000});
}

TEST_CASE("keelctl volume attach --wait --wait-timeout: the wait's limit, --timeout keeld's") {
  Harness h;
  h.api->ReplyOk({{"name", "db"}, {"device", "/dev/keel0"}, {"epoch", 5}});
  for (int i = 0; i < 3; ++i) h.api->ReplyOk(Status(false));
  CHECK(h.Run({"--timeout", "5", "volume", "attach", "db", "--wait", "--wait-timeout", "2"}) ==
        kExitError);
  CHECK(h.timeout == std::chrono::milliseconds(5000));
  CHECK(h.sleeps == std::vector<int64_t>{1000, 1000});
  CHECK(h.err.str().find("keelctl: volume 'db' is attached, but not in sync after 2s: n1\n") !=
        std::string::npos);
}

TEST_CASE("keelctl volume inspect --watch: redrawn on a terminal until in sync") {
  Harness h;
  h.env.stdout_tty = true;
  h.env.no_color = "1";
  h.api->ReplyOk({{"node_name", "n1"}, {"kvdb", "etcd"}});
  h.api->ReplyOk(Status(false));
  h.api->ReplyOk(Status(true));
  CHECK(h.Run({"volume", "inspect", "db", "--watch"}) == kExitOk);
  CHECK(h.api->calls[0].command == "node.info");
  CHECK(h.api->calls[2].command == "volume.status");
  CHECK(h.out.str().find("\x1b[") != std::string::npos);
  CHECK(h.out.str().ends_with("every replica of volume 'db' is in sync\n"));
  CHECK(h.sleeps == std::vector<int64_t>{1000});
  Harness js;
  js.api->ReplyOk({{"node_name", "n1"}, {"kvdb", "etcd"}});
  js.api->ReplyOk(Status(true));
  CHECK(js.Run({"volume", "inspect", "db", "-w", "-o", "json"}) == kExitOk);
  CHECK(js.out.str() == Status(true).dump() + "\n");
}

TEST_CASE("keelctl node cordon, uncordon, drain: parsed and sent") {
  json flags = {{"name", "n3"}, {"cordoned", true}, {"draining", false}, {"replicas", 0}};
  for (const char* cmd : {"cordon", "uncordon", "drain"}) {
    CAPTURE(cmd);
    Harness h;
    h.api->ReplyOk(flags);
    CHECK(h.Run({"node", cmd, "n3", "-o", "json"}) == kExitOk);
    REQUIRE(h.api->calls.size() == 1);
    CHECK(h.api->calls[0].command == std::string("node.") + cmd);
    CHECK(h.api->calls[0].args == json{{"name", "n3"}});
    CHECK(json::parse(h.out.str()) == flags);
  }
  Harness wait;
  flags["replicas"] = 1;
  wait.api->ReplyOk(flags);
  flags["replicas"] = 0;
  wait.api->ReplyOk(flags);
  CHECK(wait.Run({"node", "drain", "n3", "--wait", "--wait-timeout", "30"}) == kExitOk);
  CHECK(wait.api->calls.size() == 2);
  CHECK(wait.err.str() == "draining n3: 1 replica left\n");
  CHECK(wait.out.str() == "node 'n3' drained: it holds no replicas\n");
  CHECK(wait.sleeps == std::vector<int64_t>{1000});
  Harness missing;
  missing.api->ReplyError("not_found", "no such node");
  CHECK(missing.Run({"node", "cordon", "n9"}) == kExitNotFound);
  Harness off;
  off.api->ReplyOk(flags);
  CHECK(off.Run({"node", "maintenance", "n3", "--off"}) == kExitOk);
  CHECK(off.api->calls[0].args == json{{"name", "n3"}, {"on", false}});
  Harness on;
  on.api->ReplyOk(flags);
  CHECK(on.Run({"node", "maintenance", "n3"}) == kExitOk);
  CHECK(on.api->calls[0].args == json{{"name", "n3"}, {"on", true}});
}

}  // namespace
}  // namespace keel
