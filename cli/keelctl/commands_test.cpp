// keelctl's commands against scripted keeld replies: what is sent, what is
// printed (text, JSON, quiet), error messages and exit codes.
#include "cli/keelctl/commands.h"

#include <doctest/doctest.h>

#include <sstream>

#include "cli/keelctl/format.h"
#include "cli/keelctl/scripted_api_client.h"

namespace keel {
namespace {

using nlohmann::json;

struct Io {
  std::ostringstream out, err;
  Output Text() { return Output{out, err, Format::kText, false, false}; }
  Output Json() { return Output{out, err, Format::kJson, false, false}; }
  Output Quiet() { return Output{out, err, Format::kText, true, false}; }
};

// A clock for the --wait and --watch loops that moves only when they sleep.
struct FakeTicker {
  int64_t now = 5000;
  std::vector<int64_t> sleeps;
  Wait Waiting(double timeout_s = 0, bool tty = false) {
    Wait w;
    w.on = true;
    w.timeout_s = timeout_s;
    w.tty = tty;
    w.ticker = {[this] { return now; },
                [this](int64_t ms) {
                  sleeps.push_back(ms);
                  now += ms;
                }};
    return w;
  }
};

// No --wait or --watch: a command that sleeps fails the test.
Wait NoWait() {
  Wait w;
  w.ticker = {[] { return int64_t{0}; }, [](int64_t) { FAIL_CHECK("slept without --wait"); }};
  return w;
}

json Volume(const std::string& name, const std::string& state) {
  return {{"name", name},
          {"uuid", "u-" + name},
          {"size", 10737418240ULL},
          {"block_size", 4096},
          {"labels", json::object()},
          {"replicas", 1},
          {"node", "node1"},
          {"state", state},
          {"device", state == "attached" ? json("/dev/keel0") : json(nullptr)},
          {"kernel_id", 0},
          {"backing_path", "/pool/u.img"},
          {"created_at_ms", 0}};
}

CreateArgs Create(const std::string& name, const std::string& size) {
  CreateArgs a;
  a.name = name;
  a.size = size;
  return a;
}

TEST_CASE("keelctl volume create: sends the size in bytes, block size and labels") {
  ScriptedApiClient api;
  Io io;
  api.ReplyOk(Volume("db", "detached"));
  CreateArgs a = Create("db", "10G");
  a.labels = {"tier=gold", "app=pg"};
  a.block_size = 512;
  CHECK(RunVolumeCreate(api, a, io.Text()) == kExitOk);
  REQUIRE(api.calls.size() == 1);
  CHECK(api.calls[0].command == "volume.create");
  CHECK(api.calls[0].args == json{{"name", "db"},
                                  {"size", 10737418240ULL},
                                  {"block_size", 512},
                                  {"labels", {{"tier", "gold"}, {"app", "pg"}}}});
  CHECK(io.out.str() == "volume 'db' created: 10 GiB, block size 4096, detached\n");
  CHECK(io.err.str().empty());
}

TEST_CASE("keelctl volume create: -q prints nothing and -o json prints keeld's volume") {
  ScriptedApiClient api;
  Io quiet, js;
  api.ReplyOk(Volume("db", "detached"));
  api.ReplyOk(Volume("db", "detached"));
  CHECK(RunVolumeCreate(api, Create("db", "1.5T"), quiet.Quiet()) == kExitOk);
  CHECK(api.calls[0].args["size"] == 1649267441664ULL);
  CHECK(api.calls[0].args.contains("labels") == false);
  CHECK(quiet.out.str().empty());
  CHECK(RunVolumeCreate(api, Create("db", "512M"), js.Json()) == kExitOk);
  CHECK(json::parse(js.out.str()) == Volume("db", "detached"));
}

TEST_CASE("keelctl volume create: bad sizes are usage errors that name the problem") {
  struct Case {
    std::string size, says;
  } cases[] = {
      {"0", "cannot be 0 bytes"},
      {"0G", "cannot be 0 bytes"},
      {"-1", "invalid size '-1': expected a number"},
      {"-10G", "invalid size '-10G'"},
      {"ten", "invalid size 'ten': expected a number"},
      {"10X", "unknown unit 'X'"},
      {"", "invalid size ''"},
      {"1.5", "a byte count must be whole"},
      {"1000", "1000 (1000 bytes) is not a multiple of the block size 4096"},
      {"99999999999999999999", "too large"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.size);
    ScriptedApiClient api;
    Io io;
    CHECK(RunVolumeCreate(api, Create("db", c.size), io.Text()) == kExitUsage);
    CHECK(api.calls.empty());
    CHECK(io.err.str().find("keelctl: --size: ") == 0);
    CHECK(io.err.str().find(c.says) != std::string::npos);
  }
}

TEST_CASE("keelctl volume create: bad names and labels are usage errors, nothing is sent") {
  struct Case {
    std::string name;
    std::vector<std::string> labels;
    std::string says;
  } cases[] = {
      {"-db", {}, "volume name"},
      {"", {}, "volume name"},
      {std::string(64, 'a'), {}, "volume name"},
      {"db", {"novalue"}, "--label: label 'novalue' must be key=value"},
      {"db", {"=x"}, "--label: "},
      {"db", {"a=1", "a=2"}, "--label: 'a' is given twice"},
      {"db", {"a=\x01"}, "control character"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    ScriptedApiClient api;
    Io io;
    CreateArgs a = Create(c.name, "1G");
    a.labels = c.labels;
    CHECK(RunVolumeCreate(api, a, io.Text()) == kExitUsage);
    CHECK(api.calls.empty());
    CHECK(io.err.str().find(c.says) != std::string::npos);
  }
}

TEST_CASE("keelctl volume create: --repl 2 and 3 are sent as replicas, 1 is not sent") {
  for (int repl : {1, 2, 3}) {
    CAPTURE(repl);
    ScriptedApiClient api;
    Io io;
    CreateArgs a = Create("db", "1G");
    a.replicas = repl;
    api.ReplyOk(Volume("db", "detached"));
    CHECK(RunVolumeCreate(api, a, io.Text()) == kExitOk);
    REQUIRE(api.calls.size() == 1);
    json want = {{"name", "db"}, {"size", 1073741824}, {"block_size", 4096}};
    if (repl != 1) want["replicas"] = repl;
    CHECK(api.calls[0].args == want);
  }
  for (int repl : {0, 4, -1}) {
    CAPTURE(repl);
    ScriptedApiClient api;
    Io io;
    CreateArgs a = Create("db", "1G");
    a.replicas = repl;
    CHECK(RunVolumeCreate(api, a, io.Text()) == kExitUsage);
    CHECK(api.calls.empty());
  }
}

TEST_CASE("keelctl volume create: --zone-spread is sent as zone_spread, only when set") {
  ScriptedApiClient api;
  Io io;
  CreateArgs a = Create("db", "1G");
  a.replicas = 3;
  a.zone_spread = true;
  api.ReplyOk(Volume("db", "detached"));
  CHECK(RunVolumeCreate(api, a, io.Text()) == kExitOk);
  REQUIRE(api.calls.size() == 1);
  CHECK(api.calls[0].args == json{{"name", "db"},
                                  {"size", 1073741824},
                                  {"block_size", 4096},
                                  {"replicas", 3},
                                  {"zone_spread", true}});
}

TEST_CASE("keelctl volume create: --repl 3 on a single-node keeld says it has no cluster") {
  ScriptedApiClient api;
  Io io;
  CreateArgs a = Create("db", "1G");
  a.replicas = 3;
  api.ReplyError("invalid_argument", "replicas > 1 needs cluster mode (etcd_endpoints is not set)");
  CHECK(RunVolumeCreate(api, a, io.Json()) == kExitError);
  CHECK(io.err.str() ==
        "keelctl: keeld runs without a cluster (no etcd_endpoints in /etc/keel/keeld.conf); "
        "see docs/configuration.md\n");
  CHECK(json::parse(io.out.str())["error"]["code"] == "not_in_cluster");
}

TEST_CASE("keelctl volume create and attach: a cluster volume's replicas and epoch are shown") {
  ScriptedApiClient api;
  Io create, attach;
  json v = {{"name", "db"},
            {"size", 67108864ULL},
            {"block_size", 4096},
            {"replicas", 3},
            {"epoch", 1},
            {"state", "ready"},
            {"in_sync", {"n1", "n2", "n3"}},
            {"replica_set",
             {{{"node", "n1"}, {"slot", 0}},
              {{"node", "n2"}, {"slot", 1}},
              {{"node", "n3"}, {"slot", 2}}}}};
  api.ReplyOk(v);
  api.ReplyOk({{"name", "db"}, {"device", "/dev/keel2"}, {"epoch", 2}});
  CreateArgs a = Create("db", "64M");
  a.replicas = 3;
  CHECK(RunVolumeCreate(api, a, create.Text()) == kExitOk);
  CHECK(create.out.str() ==
        "volume 'db' created: 64 MiB, block size 4096, ready, replicas on n1, n2, n3\n");
  CHECK(RunVolumeAttach(api, "db", "", NoWait(), attach.Text()) == kExitOk);
  CHECK(attach.out.str() == "volume 'db' attached at /dev/keel2 (epoch 2)\n");
}

TEST_CASE("keelctl volume create: placement's refusal comes out with keeld's reason") {
  ScriptedApiClient api;
  Io io;
  CreateArgs a = Create("db", "1G");
  a.replicas = 3;
  api.ReplyError("insufficient_capacity", "need 3 nodes in distinct zones, 2 available: n1, n2");
  CHECK(RunVolumeCreate(api, a, io.Text()) == kExitError);
  CHECK(io.err.str().find("keelctl: need 3 nodes in distinct zones, 2 available: n1, n2\n") == 0);
}

TEST_CASE("keelctl volume create: an existing name exits 7 with keeld's message") {
  ScriptedApiClient api;
  Io io;
  api.ReplyError("already_exists", "volume 'db' already exists");
  CHECK(RunVolumeCreate(api, Create("db", "1G"), io.Text()) == kExitExists);
  CHECK(io.err.str() ==
        "keelctl: volume 'db' already exists\n"
        "hint: choose another name, or look at it with 'keelctl volume inspect db'\n");
}

TEST_CASE("keelctl volume list: a table, names with -q, keeld's result with -o json") {
  json result = {{"volumes", {Volume("db", "attached"), Volume("web", "detached")}}};
  ScriptedApiClient api;
  Io text, quiet, js;
  api.ReplyOk(result);
  api.ReplyOk(result);
  api.ReplyOk(result);
  CHECK(RunVolumeList(api, text.Text()) == kExitOk);
  CHECK(text.out.str() ==
        "NAME  SIZE    STATE     DEVICE      REPLICAS  NODE   LABELS\n"
        "db    10 GiB  attached  /dev/keel0  1         node1  -\n"
        "web   10 GiB  detached  -           1         node1  -\n");
  CHECK(RunVolumeList(api, quiet.Quiet()) == kExitOk);
  CHECK(quiet.out.str() == "db\nweb\n");
  CHECK(RunVolumeList(api, js.Json()) == kExitOk);
  CHECK(json::parse(js.out.str()) == result);
  CHECK(api.calls[0].command == "volume.list");
  CHECK(api.calls[0].args == json::object());
}

TEST_CASE("keelctl volume list: no volumes says how to make one; -q prints nothing") {
  ScriptedApiClient api;
  Io text, quiet;
  api.ReplyOk({{"volumes", json::array()}});
  api.ReplyOk({{"volumes", json::array()}});
  CHECK(RunVolumeList(api, text.Text()) == kExitOk);
  CHECK(text.out.str() == "no volumes (create one: keelctl volume create NAME --size 10G)\n");
  CHECK(RunVolumeList(api, quiet.Quiet()) == kExitOk);
  CHECK(quiet.out.str().empty());
}

json NodeInfo(const std::string& kvdb = "embedded");

TEST_CASE("keelctl volume inspect: text, quiet and a missing volume (exit 3, JSON error)") {
  ScriptedApiClient api;
  Io text, quiet, missing;
  for (int i = 0; i < 2; ++i) {
    api.ReplyOk(NodeInfo());
    api.ReplyOk(Volume("db", "attached"));
  }
  api.ReplyOk(NodeInfo());
  api.ReplyError("not_found", "volume 'nope' does not exist");
  CHECK(RunVolumeInspect(api, "db", NoWait(), text.Text()) == kExitOk);
  REQUIRE(api.calls.size() == 2);
  CHECK(api.calls[0].command == "node.info");
  CHECK(api.calls[1].command == "volume.inspect");
  CHECK(api.calls[1].args == json{{"name", "db"}});
  CHECK(text.out.str().find("State:         attached\n") != std::string::npos);
  CHECK(RunVolumeInspect(api, "db", NoWait(), quiet.Quiet()) == kExitOk);
  CHECK(quiet.out.str().empty());
  CHECK(RunVolumeInspect(api, "nope", NoWait(), missing.Json()) == kExitNotFound);
  CHECK(missing.err.str() ==
        "keelctl: volume 'nope' does not exist\n"
        "hint: see the volumes there are with 'keelctl volume list'\n");
  json e = json::parse(missing.out.str())["error"];
  CHECK(e["code"] == "not_found");
  CHECK(e["exit_code"] == 3);
  CHECK(e["message"] == "volume 'nope' does not exist");
}

TEST_CASE("keelctl volume attach: the device, alone with -q") {
  ScriptedApiClient api;
  Io text, quiet, js;
  json r = {{"name", "db"}, {"device", "/dev/keel3"}};
  api.ReplyOk(r);
  api.ReplyOk(r);
  api.ReplyOk(r);
  CHECK(RunVolumeAttach(api, "db", "", NoWait(), text.Text()) == kExitOk);
  CHECK(text.out.str() == "volume 'db' attached at /dev/keel3\n");
  CHECK(RunVolumeAttach(api, "db", "", NoWait(), quiet.Quiet()) == kExitOk);
  CHECK(quiet.out.str() == "/dev/keel3\n");
  CHECK(RunVolumeAttach(api, "db", "", NoWait(), js.Json()) == kExitOk);
  CHECK(json::parse(js.out.str()) == r);
  CHECK(api.calls[0].command == "volume.attach");
  CHECK(api.calls[0].args == json{{"name", "db"}});
}

TEST_CASE("keelctl volume detach: sends force; an open disk exits 6 and says unmount or --force") {
  ScriptedApiClient api;
  Io ok, busy;
  api.ReplyOk({{"name", "db"}, {"state", "detached"}});
  api.ReplyError("busy",
                 "volume 'db' is in use: /dev/keel0 is open (mounted or held by a process); "
                 "unmount it first, or detach with force");
  CHECK(RunVolumeDetach(api, "db", true, ok.Text()) == kExitOk);
  CHECK(api.calls[0].args == json{{"name", "db"}, {"force", true}});
  CHECK(ok.out.str() == "volume 'db' detached\n");
  CHECK(RunVolumeDetach(api, "db", false, busy.Text()) == kExitBusy);
  CHECK(api.calls[1].args == json{{"name", "db"}, {"force", false}});
  CHECK(busy.err.str().find("keelctl: volume 'db' is open on this node (mounted, or held by a "
                            "process)") == 0);
  CHECK(busy.err.str().find("hint: unmount it") != std::string::npos);
  CHECK(busy.err.str().find("'keelctl volume detach db --force'") != std::string::npos);
  CHECK(busy.out.str().empty());
}

TEST_CASE("keelctl volume delete: refuses without --yes when it cannot ask, sending nothing") {
  ScriptedApiClient api;
  Io io;
  std::istringstream in("y\n");
  CHECK(RunVolumeDelete(api, "db", false, false, Confirm{false, &in}, io.Text()) == kExitUsage);
  CHECK(api.calls.empty());
  CHECK(io.err.str().find("refusing to delete volume 'db' without confirmation") !=
        std::string::npos);
  CHECK(io.err.str().find("keelctl volume delete db --yes") != std::string::npos);
}

TEST_CASE("keelctl volume delete: --yes deletes without asking") {
  ScriptedApiClient api;
  Io io;
  api.ReplyOk({{"name", "db"}, {"deleted", true}});
  CHECK(RunVolumeDelete(api, "db", true, true, Confirm{false, nullptr}, io.Text()) == kExitOk);
  REQUIRE(api.calls.size() == 1);
  CHECK(api.calls[0].command == "volume.delete");
  CHECK(api.calls[0].args == json{{"name", "db"}, {"force", true}});
  CHECK(io.out.str() == "volume 'db' deleted\n");
}

TEST_CASE("keelctl volume delete: on a terminal it shows the volume and deletes only on yes") {
  for (const char* answer : {"y\n", "YES\n", "yes"}) {
    CAPTURE(answer);
    ScriptedApiClient api;
    Io io;
    std::istringstream in(answer);
    api.ReplyOk(Volume("db", "attached"));
    api.ReplyOk({{"name", "db"}, {"deleted", true}});
    CHECK(RunVolumeDelete(api, "db", false, false, Confirm{true, &in}, io.Text()) == kExitOk);
    CHECK(io.err.str() ==
          "Delete volume 'db' (10 GiB, attached at /dev/keel0) and all its data? This cannot be "
          "undone. [y/N] ");
    REQUIRE(api.calls.size() == 2);
    CHECK(api.calls[0].command == "volume.inspect");
    CHECK(api.calls[1].command == "volume.delete");
  }
  for (const char* answer : {"\n", "n\n", "dbb\n", ""}) {
    CAPTURE(answer);
    ScriptedApiClient api;
    Io io;
    std::istringstream in(answer);
    api.ReplyOk(Volume("db", "detached"));
    CHECK(RunVolumeDelete(api, "db", false, false, Confirm{true, &in}, io.Text()) == kExitError);
    CHECK(api.calls.size() == 1);
    CHECK(io.err.str().find("keelctl: volume 'db' was not deleted\n") != std::string::npos);
  }
}

TEST_CASE("keelctl volume delete: a typo'd name is not found before anything is asked") {
  ScriptedApiClient api;
  Io io;
  std::istringstream in("y\n");
  api.ReplyError("not_found", "volume 'dbb' does not exist");
  CHECK(RunVolumeDelete(api, "dbb", false, false, Confirm{true, &in}, io.Text()) == kExitNotFound);
  CHECK(api.calls.size() == 1);
  CHECK(io.err.str().find("Delete volume") == std::string::npos);
}

TEST_CASE("keelctl volume delete: an attached volume exits 6 and says detach or --force") {
  ScriptedApiClient api;
  Io io;
  api.ReplyError("busy",
                 "volume 'db' is attached at /dev/keel0: detach it first, or delete with "
                 "force");
  CHECK(RunVolumeDelete(api, "db", false, true, Confirm{}, io.Text()) == kExitBusy);
  CHECK(io.err.str().find("hint: detach it first ('keelctl volume detach db'), or use --force") !=
        std::string::npos);
}

TEST_CASE("keelctl errors: every keeld error code maps to its exit status") {
  struct Case {
    const char* code;
    int exit;
  } cases[] = {
      {"not_found", kExitNotFound},
      {"already_exists", kExitExists},
      {"busy", kExitBusy},
      {"try_again", kExitBusy},
      {"permission_denied", kExitPermission},
      {"invalid_argument", kExitUsage},
      {"insufficient_capacity", kExitError},
      {"kernel_timeout", kExitError},
      {"internal", kExitError},
      {"server_busy", kExitError},
      {"timeout", kExitError},
      {"invalid_json", kExitError},
      {"invalid_request", kExitError},
      {"missing_field", kExitError},
      {"unknown_field", kExitError},
      {"wrong_type", kExitError},
      {"unsupported_api", kExitError},
      {"unknown_command", kExitError},
      {"request_too_large", kExitError},
      {"a_code_added_later", kExitError},
  };
  for (const Case& c : cases) {
    CAPTURE(c.code);
    CHECK(ExitCodeForApiCode(c.code) == c.exit);
    CliError e = ApiErrorToCli({{"code", c.code}, {"message", "m"}}, "volume.inspect", "db");
    CHECK(e.exit_code == c.exit);
    CHECK(e.code == c.code);
  }
}

TEST_CASE("keelctl errors: hints say what to do") {
  auto hint = [](const char* code) {
    return ApiErrorToCli({{"code", code}, {"message", "m"}}, "volume.create", "db").hint;
  };
  CHECK(hint("permission_denied") == "run keelctl as root (sudo keelctl ...)");
  CHECK(hint("insufficient_capacity") == "see the pool's free space with 'keelctl node inspect'");
  CHECK(hint("try_again").find("try again in a moment") != std::string::npos);
  CHECK(hint("kernel_timeout").find("dmesg") != std::string::npos);
  CHECK(hint("unknown_field").find("keelctl version") != std::string::npos);
  CliError e = ApiErrorToCli({{"code", "unknown_field"}, {"message", "args: unknown 'x'"}},
                             "volume.create", "db");
  CHECK(e.message == "keeld refused keelctl's request: args: unknown 'x'");
  e = ApiErrorToCli({{"code", "internal"}, {"message", "disk full"}, {"errno", "ENOSPC"}},
                    "volume.create", "db");
  CHECK(e.errno_name == "ENOSPC");
  // A malformed error object still gives an error, not a crash.
  e = ApiErrorToCli({{"code", 5}}, "volume.create", "db");
  CHECK(e.code == "internal");
  CHECK(e.exit_code == kExitError);
}

TEST_CASE("keelctl errors: no usable reply maps to 4, 5, 1 or 2 by its errno") {
  struct Case {
    int err;
    int exit;
    const char* code;
  } cases[] = {
      {ENOENT, kExitUnreachable, "keeld_unreachable"},
      {ECONNREFUSED, kExitUnreachable, "keeld_unreachable"},
      {ETIMEDOUT, kExitUnreachable, "no_reply"},
      {ECONNRESET, kExitUnreachable, "no_reply"},
      {EACCES, kExitPermission, "permission_denied"},
      {EPERM, kExitPermission, "permission_denied"},
      {EPROTO, kExitError, "bad_reply"},
      {ENAMETOOLONG, kExitUsage, "usage"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.err);
    ScriptedApiClient api;
    Io io;
    api.Fail(c.err, "what happened");
    CHECK(RunVolumeList(api, io.Json()) == c.exit);
    CHECK(io.err.str() == "keelctl: what happened\n");
    json e = json::parse(io.out.str())["error"];
    CHECK(e["code"] == c.code);
    CHECK(e["exit_code"] == c.exit);
    CHECK(e["errno"] == strerrorname_np(c.err));
  }
}

TEST_CASE("keelctl errors: a reply of the wrong shape gives an error or '-', never a crash") {
  ScriptedApiClient api;
  Io a, b, c;
  api.replies.push_back(json{{"ok", "yes"}});
  api.replies.push_back(json{{"ok", false}, {"error", 3}});
  api.replies.push_back(json{{"ok", true}, {"result", json::array()}});
  CHECK(RunVolumeList(api, a.Text()) == kExitError);
  CHECK(a.err.str().find("keeld failed (internal)") != std::string::npos);
  CHECK(RunVolumeAttach(api, "db", "", NoWait(), b.Text()) == kExitError);
  CHECK(RunVersion(api, c.Text()) == kExitOk);
  CHECK(c.out.str().find("keeld    - (API -)\n") != std::string::npos);
}

json NodeInfo(const std::string& kvdb) {
  json info = json::parse(R"({"node_name": "node1", "labels": {}, "keeld_version": "0.1.0",
    "api": 1, "kvdb": "embedded",
    "module": {"version": "0.1.1", "api_version": 2, "kernel_release": "6.12.0"},
    "pool": {"directory": "/p", "capacity": 100, "used": 0, "free": 100, "volumes": 0}})");
  info["kvdb"] = kvdb;
  return info;
}

TEST_CASE("keelctl node inspect: text, the node name with -q, node.info with -o json") {
  ScriptedApiClient api;
  Io text, quiet, js;
  api.ReplyOk(NodeInfo());
  api.ReplyOk(NodeInfo());
  api.ReplyOk(NodeInfo());
  CHECK(RunNodeInspect(api, text.Text()) == kExitOk);
  CHECK(text.out.str().find("Node:      node1\n") == 0);
  CHECK(RunNodeInspect(api, quiet.Quiet()) == kExitOk);
  CHECK(quiet.out.str() == "node1\n");
  CHECK(RunNodeInspect(api, js.Json()) == kExitOk);
  CHECK(json::parse(js.out.str()) == NodeInfo());
  CHECK(api.calls[0].command == "node.info");
}

TEST_CASE("keelctl version: all three versions when keeld answers") {
  ScriptedApiClient api;
  Io text, js;
  api.ReplyOk(NodeInfo());
  api.ReplyOk(NodeInfo());
  CHECK(RunVersion(api, text.Text()) == kExitOk);
  CHECK(text.out.str() == std::string("keelctl  ") + KEEL_VERSION +
                              "\n"
                              "keeld    0.1.0 (API 1)\n"
                              "keel.ko  0.1.1 (API 2, kernel 6.12.0)\n");
  CHECK(RunVersion(api, js.Json()) == kExitOk);
  json j = json::parse(js.out.str());
  CHECK(j["keelctl"] == KEEL_VERSION);
  CHECK(j["keeld"] == "0.1.0");
  CHECK(j["api"] == 1);
  CHECK(j["module"]["version"] == "0.1.1");
  CHECK(j.contains("error") == false);
}

TEST_CASE("keelctl version: keelctl's own version and exit 4 when keeld is down") {
  ScriptedApiClient api;
  Io text, js, quiet;
  api.Fail(ECONNREFUSED, "keeld is not running (cannot connect to /s: Connection refused)");
  api.Fail(ENOENT, "keeld is not running");
  CHECK(RunVersion(api, text.Text()) == kExitUnreachable);
  CHECK(text.out.str() == std::string("keelctl  ") + KEEL_VERSION + "\n");
  CHECK(text.err.str().find("keelctl: keeld is not running (cannot connect to /s") == 0);
  CHECK(RunVersion(api, js.Json()) == kExitUnreachable);
  json j = json::parse(js.out.str());
  CHECK(j["keelctl"] == KEEL_VERSION);
  CHECK(j["keeld"] == nullptr);
  CHECK(j["module"] == nullptr);
  CHECK(j["error"]["code"] == "keeld_unreachable");
  // -q does not ask keeld at all.
  CHECK(RunVersion(api, quiet.Quiet()) == kExitOk);
  CHECK(quiet.out.str() == std::string(KEEL_VERSION) + "\n");
  CHECK(api.calls.size() == 2);
}

TEST_CASE("keelctl version: a module keeld cannot reach is shown as unavailable") {
  ScriptedApiClient api;
  Io io;
  json info = NodeInfo();
  info["module"] = {{"error", "keel.ko is not loaded"}};
  api.ReplyOk(info);
  CHECK(RunVersion(api, io.Text()) == kExitOk);
  CHECK(io.out.str().find("keel.ko  unavailable: keel.ko is not loaded\n") != std::string::npos);
}

// node.list's nodes as keeld sends them (docs/api.md); n1 coordinator, n2
// draining, n3 down and cordoned.
json Nodes() {
  return json::parse(R"({"nodes": [
    {"name": "n1", "state": "up", "state_changed_ms": 1000000, "alive": true,
     "coordinator": true, "heard_ms_ago": 120, "bus_endpoint": "tcp://10.214.0.1:7480",
     "bus_public_key": "k1", "data_address": "10.214.0.1", "zone": "z1", "rack": "r1",
     "labels": {"zone": "z1", "rack": "r1"}, "capacity_bytes": 1073741824,
     "free_bytes": 536870912, "cordoned": false, "draining": false, "version": "0.1.0"},
    {"name": "n2", "state": "up", "state_changed_ms": 1000000, "alive": true,
     "coordinator": false, "heard_ms_ago": null, "bus_endpoint": "tcp://10.214.0.2:7480",
     "bus_public_key": "k2", "data_address": "10.214.0.2", "zone": "", "rack": "",
     "labels": {}, "capacity_bytes": 1073741824, "free_bytes": 1073741824,
     "cordoned": true, "draining": true, "version": "0.1.0"},
    {"name": "n3", "state": "down", "state_changed_ms": 1250000, "alive": false,
     "coordinator": false, "heard_ms_ago": 9000, "bus_endpoint": "tcp://10.214.0.3:7480",
     "bus_public_key": "k3", "data_address": "10.214.0.3", "zone": "z3", "rack": "r1",
     "labels": {"zone": "z3"}, "capacity_bytes": 1073741824, "free_bytes": 0,
     "cordoned": true, "draining": false, "version": "0.1.0"}]})");
}

constexpr int64_t kNow = 1300000;  // 300 s after n1 and n2 came up, 50 s after n3 went down

TEST_CASE("keelctl node list: a table, names with -q, keeld's result with -o json") {
  ScriptedApiClient api;
  Io text, quiet, js;
  api.ReplyOk(Nodes());
  api.ReplyOk(Nodes());
  api.ReplyOk(Nodes());
  CHECK(RunNodeList(api, text.Text(), kNow) == kExitOk);
  CHECK(text.out.str() ==
        "NAME  STATE          SINCE  ZONE  RACK  FREE/CAPACITY  COORD\n"
        "n1    up             5m     z1    r1    512 MiB/1 GiB  *\n"
        "n2    up,draining    5m     -     -     1 GiB/1 GiB\n"
        "n3    down,cordoned  50s    z3    r1    0 B/1 GiB\n");
  CHECK(RunNodeList(api, quiet.Quiet(), kNow) == kExitOk);
  CHECK(quiet.out.str() == "n1\nn2\nn3\n");
  CHECK(RunNodeList(api, js.Json(), kNow) == kExitOk);
  CHECK(json::parse(js.out.str()) == Nodes());
  REQUIRE(api.calls.size() == 3);
  CHECK(api.calls[0].command == "node.list");
  CHECK(api.calls[0].args == json::object());
}

TEST_CASE("keelctl cluster commands on a single-node keeld: a clear message, exit 1") {
  for (const char* cmd : {"list", "inspect", "status"}) {
    CAPTURE(cmd);
    ScriptedApiClient api;
    Io io;
    api.ReplyError("invalid_request", "keeld is not in cluster mode (etcd_endpoints is not set)");
    int rc = std::string(cmd) == "list"      ? RunNodeList(api, io.Json(), kNow)
             : std::string(cmd) == "inspect" ? RunClusterNodeInspect(api, "n1", io.Json(), kNow)
                                             : RunClusterStatus(api, io.Json(), kNow);
    CHECK(rc == kExitError);
    CHECK(io.err.str() ==
          "keelctl: keeld runs without a cluster (no etcd_endpoints in /etc/keel/keeld.conf); "
          "see docs/configuration.md\n");
    json e = json::parse(io.out.str())["error"];
    CHECK(e["code"] == "not_in_cluster");
    CHECK(e["exit_code"] == kExitError);
  }
}

TEST_CASE("keelctl node list: etcd not answering is exit 1 with keeld's reason and a hint") {
  ScriptedApiClient api;
  Io io;
  api.ReplyError("try_again", "etcd: http://10.0.0.1:2379: connection refused");
  CHECK(RunNodeList(api, io.Text(), kNow) == kExitError);
  CHECK(io.err.str() ==
        "keelctl: etcd: http://10.0.0.1:2379: connection refused\n"
        "hint: etcd did not answer keeld; check etcd and the etcd_endpoints of keeld.conf\n");
  CHECK(io.out.str().empty());
}

TEST_CASE("keelctl node inspect NAME: that node from node.list; unknown is exit 3") {
  ScriptedApiClient api;
  Io text, quiet, js, missing;
  for (int i = 0; i < 4; ++i) api.ReplyOk(Nodes());
  CHECK(RunClusterNodeInspect(api, "n3", text.Text(), kNow) == kExitOk);
  CHECK(text.out.str() ==
        "Node:          n3\n"
        "State:         down since 1970-01-01 00:20:50 UTC (50s ago)\n"
        "Alive:         no\n"
        "Coordinator:   no\n"
        "Last heard:    9000 ms ago\n"
        "Cordoned:      yes\n"
        "Draining:      no\n"
        "Zone:          z3\n"
        "Rack:          r1\n"
        "Labels:        zone=z3\n"
        "Capacity:      1 GiB\n"
        "Free:          0 B\n"
        "Bus:           tcp://10.214.0.3:7480\n"
        "Data address:  10.214.0.3\n"
        "keeld:         0.1.0\n");
  CHECK(RunClusterNodeInspect(api, "n2", quiet.Quiet(), kNow) == kExitOk);
  CHECK(quiet.out.str() == "n2\n");
  CHECK(RunClusterNodeInspect(api, "n1", js.Json(), kNow) == kExitOk);
  CHECK(json::parse(js.out.str()) == Nodes()["nodes"][0]);
  CHECK(RunClusterNodeInspect(api, "n9", missing.Json(), kNow) == kExitNotFound);
  CHECK(missing.err.str() ==
        "keelctl: node 'n9' is not in the cluster\n"
        "hint: see the nodes there are with 'keelctl node list'\n");
  CHECK(json::parse(missing.out.str())["error"]["code"] == "not_found");
  CHECK(api.calls[3].command == "node.list");
}

json Status() {
  json s = {{"node", "n2"},
            {"coordinator", "n1"},
            {"is_coordinator", false},
            {"lease_ok", true},
            {"etcd",
             {{"endpoints",
               {{{"endpoint", "http://10.0.0.100:2379"}, {"healthy", true}, {"revision", 42}},
                {{"endpoint", "http://10.0.0.101:2379"},
                 {"healthy", false},
                 {"error", "connection refused"}}}}}},
            {"nodes", {{"total", 3}, {"up", 2}, {"suspect", 0}, {"down", 1}, {"maintenance", 0}}},
            {"node_list", Nodes()["nodes"]},
            {"volumes", {{"total", 2}, {"attached", 1}, {"degraded", 1}, {"unreadable", 0}}}};
  return s;
}

TEST_CASE("keelctl cluster status: a summary then the node table; -q the coordinator") {
  ScriptedApiClient api;
  Io text, quiet, js;
  api.ReplyOk(Status());
  api.ReplyOk(Status());
  api.ReplyOk(Status());
  CHECK(RunClusterStatus(api, text.Text(), kNow) == kExitOk);
  CHECK(text.out.str() ==
        "Node:         n2\n"
        "Coordinator:  n1\n"
        "Lease:        ok\n"
        "etcd:         http://10.0.0.100:2379  up (revision 42)\n"
        "etcd:         http://10.0.0.101:2379  down: connection refused\n"
        "Nodes:        3 (2 up, 0 suspect, 1 down, 0 maintenance)\n"
        "Volumes:      2 (1 attached, 1 degraded, 0 unreadable)\n"
        "\n"
        "NAME  STATE          SINCE  ZONE  RACK  FREE/CAPACITY  COORD\n"
        "n1    up             5m     z1    r1    512 MiB/1 GiB  *\n"
        "n2    up,draining    5m     -     -     1 GiB/1 GiB\n"
        "n3    down,cordoned  50s    z3    r1    0 B/1 GiB\n");
  CHECK(RunClusterStatus(api, quiet.Quiet(), kNow) == kExitOk);
  CHECK(quiet.out.str() == "n1\n");
  CHECK(RunClusterStatus(api, js.Json(), kNow) == kExitOk);
  CHECK(json::parse(js.out.str()) == Status());
  CHECK(api.calls[0].command == "cluster.status");
}

TEST_CASE("keelctl cluster status: no coordinator and a failing lease are said plainly") {
  ScriptedApiClient api;
  Io text, quiet;
  json s = Status();
  s["coordinator"] = nullptr;
  s["lease_ok"] = false;
  s["lease_error"] = "etcd: no quorum";
  api.ReplyOk(s);
  api.ReplyOk(s);
  CHECK(RunClusterStatus(api, text.Text(), kNow) == kExitOk);
  CHECK(text.out.str().find("Coordinator:  none known\nLease:        failing: etcd: no quorum\n") !=
        std::string::npos);
  CHECK(RunClusterStatus(api, quiet.Quiet(), kNow) == kExitOk);
  CHECK(quiet.out.str() == "-\n");
}

// volume.status's result (docs/api.md): attached on n2, n1 resyncing, n3 in sync.
json VolumeStatus() {
  return json::parse(R"({"name": "db", "uuid": "u-db", "size": 67108864, "block_size": 4096,
    "labels": {}, "replicas": 3, "constraints": {}, "epoch": 5,
    "replica_set": [{"node": "n1", "slot": 0, "synced_epoch": 4}, {"node": "n2", "slot": 1},
                    {"node": "n3", "slot": 2}],
    "in_sync": ["n2", "n3"], "attached_node": "n2", "device": "/dev/keel0",
    "attached_epoch": 5, "state": "ready", "created_ms": 1700000000000,
    "sync": [{"node": "n1", "slot": 0, "state": "syncing", "in_sync": false, "connected": true,
              "percent": 42, "rate": 39000000, "remaining_bytes": 38797312},
             {"node": "n3", "slot": 2, "state": "in-sync", "in_sync": true, "connected": true,
              "percent": 100, "rate": 0, "remaining_bytes": 0}]})");
}

// VolumeStatus() with n1 further on (`percent`), or in sync (100).
json Resync(int percent) {
  json s = VolumeStatus();
  s["sync"][0]["percent"] = percent;
  s["sync"][0]["remaining_bytes"] = 67108864ULL * (100 - percent) / 100;
  if (percent == 100) {
    s["sync"][0]["state"] = "in-sync";
    s["sync"][0]["in_sync"] = true;
    s["in_sync"] = {"n1", "n2", "n3"};
  }
  return s;
}

const char kN1Bar[] = "n1  [#########.............]  42%  37.2 MiB/s  ETA 0:01";

TEST_CASE("keelctl volume attach --node: sends the node; the text names node, device, epoch") {
  ScriptedApiClient api;
  Io text, quiet, js;
  json r = {{"name", "db"}, {"node", "n2"}, {"device", "/dev/keel0"}, {"epoch", 5}};
  for (int i = 0; i < 3; ++i) api.ReplyOk(r);
  CHECK(RunVolumeAttach(api, "db", "n2", NoWait(), text.Text()) == kExitOk);
  CHECK(api.calls[0].command == "volume.attach");
  CHECK(api.calls[0].args == json{{"name", "db"}, {"node", "n2"}});
  CHECK(text.out.str() == "volume 'db' attached on n2 at /dev/keel0 (epoch 5)\n");
  CHECK(RunVolumeAttach(api, "db", "n2", NoWait(), quiet.Quiet()) == kExitOk);
  CHECK(quiet.out.str() == "/dev/keel0\n");
  CHECK(RunVolumeAttach(api, "db", "", NoWait(), js.Json()) == kExitOk);
  CHECK(api.calls[2].args == json{{"name", "db"}});
  CHECK(json::parse(js.out.str()) == r);
  CHECK(text.err.str().empty());
}

TEST_CASE("keelctl volume attach --wait: polls volume.status each second until all in sync") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  api.ReplyOk({{"name", "db"}, {"node", "n2"}, {"device", "/dev/keel0"}, {"epoch", 5}});
  api.ReplyOk(VolumeStatus());
  api.ReplyOk(VolumeStatus());  // no change: no new line
  api.ReplyOk(Resync(70));
  api.ReplyOk(Resync(100));
  CHECK(RunVolumeAttach(api, "db", "n2", t.Waiting(), io.Text()) == kExitOk);
  REQUIRE(api.calls.size() == 5);
  for (size_t i = 1; i < 5; ++i) {
    CHECK(api.calls[i].command == "volume.status");
    CHECK(api.calls[i].args == json{{"name", "db"}});
  }
  CHECK(t.sleeps == std::vector<int64_t>{1000, 1000, 1000});
  CHECK(io.out.str() == "volume 'db' attached on n2 at /dev/keel0 (epoch 5)\n");
  // Not a terminal: every replica's line once, then a line when it changes.
  CHECK(io.err.str() == std::string(kN1Bar) +
                            "\n"
                            "n3  in-sync\n"
                            "n1  [###############.......]  70%  37.2 MiB/s  ETA 0:01\n"
                            "n1  in-sync\n");
}

TEST_CASE("keelctl volume attach --wait: on a terminal the progress is redrawn in place") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  api.ReplyOk({{"name", "db"}, {"device", "/dev/keel0"}, {"epoch", 5}});
  api.ReplyOk(VolumeStatus());
  api.ReplyOk(Resync(100));
  CHECK(RunVolumeAttach(api, "db", "", t.Waiting(0, true), io.Text()) == kExitOk);
  CHECK(io.err.str() == std::string(kN1Bar) +
                            "\nn3  in-sync\n"
                            "\x1b[2A\r\x1b[J"
                            "n1  in-sync\nn3  in-sync\n");
}

TEST_CASE("keelctl volume attach --wait: -o json prints the attach once the wait is over") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  json r = {{"name", "db"}, {"node", "n2"}, {"device", "/dev/keel0"}, {"epoch", 5}};
  api.ReplyOk(r);
  api.ReplyOk(Resync(100));
  CHECK(RunVolumeAttach(api, "db", "", t.Waiting(), io.Json()) == kExitOk);
  CHECK(json::parse(io.out.str()) == r);
  CHECK(t.sleeps.empty());
}

TEST_CASE("keelctl volume attach --wait -q: the device, no progress") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  api.ReplyOk({{"name", "db"}, {"device", "/dev/keel0"}, {"epoch", 5}});
  api.ReplyOk(VolumeStatus());
  api.ReplyOk(Resync(100));
  CHECK(RunVolumeAttach(api, "db", "", t.Waiting(), io.Quiet()) == kExitOk);
  CHECK(io.out.str() == "/dev/keel0\n");
  CHECK(io.err.str().empty());
}

TEST_CASE("keelctl volume attach --wait --wait-timeout: exit 1 naming the replicas not in sync") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  api.ReplyOk({{"name", "db"}, {"device", "/dev/keel0"}, {"epoch", 5}});
  for (int i = 0; i < 4; ++i) api.ReplyOk(VolumeStatus());
  CHECK(RunVolumeAttach(api, "db", "", t.Waiting(2.5), io.Json()) == kExitError);
  // Polls at 0, 1, 2 and 2.5 s.
  CHECK(api.calls.size() == 5);
  CHECK(t.sleeps == std::vector<int64_t>{1000, 1000, 500});
  CHECK(io.err.str().find(
            "keelctl: volume 'db' is attached, but not in sync after 2.5s: n1\n"
            "hint: the resync goes on; follow it with 'keelctl volume inspect db --watch'\n") !=
        std::string::npos);
  // stdout is one JSON document: the error.
  json e = json::parse(io.out.str())["error"];
  CHECK(e["code"] == "wait_timeout");
  CHECK(e["exit_code"] == kExitError);
}

TEST_CASE("keelctl volume attach --wait: a single-node keeld has nothing to wait for") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  api.ReplyOk({{"name", "db"}, {"device", "/dev/keel0"}});
  api.ReplyError("invalid_request", "keeld is not in cluster mode (etcd_endpoints is not set)");
  CHECK(RunVolumeAttach(api, "db", "", t.Waiting(), io.Text()) == kExitOk);
  CHECK(io.out.str() == "volume 'db' attached at /dev/keel0\n");
  CHECK(io.err.str().empty());
  CHECK(t.sleeps.empty());
}

TEST_CASE("keelctl volume attach --wait: an error while waiting ends it with its exit status") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  api.ReplyOk({{"name", "db"}, {"device", "/dev/keel0"}, {"epoch", 5}});
  api.ReplyOk(VolumeStatus());
  api.Fail(ECONNREFUSED, "keeld is not running");
  CHECK(RunVolumeAttach(api, "db", "", t.Waiting(), io.Text()) == kExitUnreachable);
  CHECK(io.err.str().find("keelctl: keeld is not running\n") != std::string::npos);
}

TEST_CASE("keelctl volume inspect, cluster mode: the cluster's view, then this node's replica") {
  ScriptedApiClient api;
  Io io;
  json local = Volume("db", "detached");
  api.ReplyOk(NodeInfo("etcd"));
  api.ReplyOk(VolumeStatus());
  api.ReplyOk(local);
  CHECK(RunVolumeInspect(api, "db", NoWait(), io.Text()) == kExitOk);
  REQUIRE(api.calls.size() == 3);
  CHECK(api.calls[0].command == "node.info");
  CHECK(api.calls[1].command == "volume.status");
  CHECK(api.calls[1].args == json{{"name", "db"}});
  CHECK(api.calls[2].command == "volume.inspect");
  CHECK(io.out.str() ==
        "Name:        db\n"
        "UUID:        u-db\n"
        "Size:        64 MiB (67108864 bytes)\n"
        "Block size:  4096\n"
        "Labels:      -\n"
        "State:       ready\n"
        "Epoch:       5\n"
        "Attached:    n2 at /dev/keel0 (epoch 5)\n"
        "Replicas:    3\n"
        "In sync:     n2, n3\n"
        "Created:     2023-11-14 22:13:20 UTC\n"
        "\n"
        "NODE  SLOT  IN-SYNC  STATE     PROGRESS\n"
        "n1    0     no       syncing   [#########.............]  42%  37.2 MiB/s  ETA 0:01\n"
        "n2    1     yes      attached  -\n"
        "n3    2     yes      in-sync   -\n"
        "\n"
        "This node's replica (node1):\n" +
            VolumeText(local, false));
}

TEST_CASE("keelctl volume inspect, cluster mode: -o json is volume.status plus local") {
  ScriptedApiClient api;
  Io io, none;
  api.ReplyOk(NodeInfo("etcd"));
  api.ReplyOk(VolumeStatus());
  api.ReplyOk(Volume("db", "detached"));
  CHECK(RunVolumeInspect(api, "db", NoWait(), io.Json()) == kExitOk);
  json want = VolumeStatus();
  want["local"] = Volume("db", "detached");
  CHECK(json::parse(io.out.str()) == want);
  api.ReplyOk(NodeInfo("etcd"));
  api.ReplyOk(VolumeStatus());
  api.ReplyError("not_found", "volume 'db' does not exist");
  CHECK(RunVolumeInspect(api, "db", NoWait(), none.Json()) == kExitOk);
  want["local"] = nullptr;
  CHECK(json::parse(none.out.str()) == want);
  CHECK(none.err.str().empty());
}

TEST_CASE("keelctl volume inspect, cluster mode: no replica here still shows the cluster's") {
  ScriptedApiClient api;
  Io io;
  api.ReplyOk(NodeInfo("etcd"));
  api.ReplyOk(VolumeStatus());
  api.ReplyError("not_found", "volume 'db' does not exist");
  CHECK(RunVolumeInspect(api, "db", NoWait(), io.Text()) == kExitOk);
  CHECK(io.out.str().starts_with("Name:        db\n"));
  CHECK(
      io.out.str().ends_with("n3    2     yes      in-sync   -\n"
                             "\n"
                             "This node (node1) holds no replica of it.\n"));
  CHECK(io.err.str().empty());
}

TEST_CASE("keelctl volume inspect, cluster mode: -q asks only volume.status; unknown is exit 3") {
  ScriptedApiClient api;
  Io quiet, missing;
  api.ReplyOk(NodeInfo("etcd"));
  api.ReplyOk(VolumeStatus());
  CHECK(RunVolumeInspect(api, "db", NoWait(), quiet.Quiet()) == kExitOk);
  CHECK(api.calls.size() == 2);
  CHECK(quiet.out.str().empty());
  api.ReplyOk(NodeInfo("etcd"));
  api.ReplyError("not_found", "volume 'nope' does not exist");
  CHECK(RunVolumeInspect(api, "nope", NoWait(), missing.Text()) == kExitNotFound);
  CHECK(api.calls.size() == 4);
  CHECK(missing.err.str() ==
        "keelctl: volume 'nope' does not exist\n"
        "hint: see the volumes there are with 'keelctl volume list'\n");
}

TEST_CASE("keelctl volume inspect: volume.status refused as not cluster mode: the local view") {
  ScriptedApiClient api;
  Io io;
  api.ReplyOk(NodeInfo("etcd"));
  api.ReplyError("invalid_request", "keeld is not in cluster mode (etcd_endpoints is not set)");
  api.ReplyOk(Volume("db", "attached"));
  CHECK(RunVolumeInspect(api, "db", NoWait(), io.Text()) == kExitOk);
  CHECK(api.calls[2].command == "volume.inspect");
  CHECK(io.out.str() == VolumeText(Volume("db", "attached"), false));
  CHECK(io.err.str().empty());
}

TEST_CASE("keelctl volume inspect --watch: not a terminal: the view, then lines on change") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  api.ReplyOk(NodeInfo("etcd"));
  api.ReplyOk(VolumeStatus());
  api.ReplyOk(VolumeStatus());
  api.ReplyOk(Resync(70));
  api.ReplyOk(Resync(100));
  CHECK(RunVolumeInspect(api, "db", t.Waiting(), io.Text()) == kExitOk);
  REQUIRE(api.calls.size() == 5);
  CHECK(api.calls[4].command == "volume.status");
  CHECK(t.sleeps == std::vector<int64_t>{1000, 1000, 1000});
  CHECK(io.out.str() == ClusterVolumeText(VolumeStatus(), false) +
                            "n1  [###############.......]  70%  37.2 MiB/s  ETA 0:01\n"
                            "n1  in-sync\n"
                            "every replica of volume 'db' is in sync\n");
}

TEST_CASE("keelctl volume inspect --watch: on a terminal the view is redrawn in place") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  api.ReplyOk(NodeInfo("etcd"));
  api.ReplyOk(VolumeStatus());
  api.ReplyOk(Resync(100));
  CHECK(RunVolumeInspect(api, "db", t.Waiting(0, true), io.Text()) == kExitOk);
  std::string first = ClusterVolumeText(VolumeStatus(), false);
  CHECK(first.size() > 0);
  CHECK(io.out.str() == first + "\x1b[16A\r\x1b[J" + ClusterVolumeText(Resync(100), false) +
                            "every replica of volume 'db' is in sync\n");
}

TEST_CASE("keelctl volume inspect --watch -o json: volume.status, a line per poll") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  api.ReplyOk(NodeInfo("etcd"));
  api.ReplyOk(VolumeStatus());
  api.ReplyOk(Resync(70));
  api.ReplyOk(Resync(100));
  CHECK(RunVolumeInspect(api, "db", t.Waiting(), io.Json()) == kExitOk);
  CHECK(io.out.str() ==
        VolumeStatus().dump() + "\n" + Resync(70).dump() + "\n" + Resync(100).dump() + "\n");
}

TEST_CASE("keelctl volume inspect --watch: in sync already, or single-node: shown once") {
  ScriptedApiClient api;
  FakeTicker t;
  Io synced, single, single_json;
  api.ReplyOk(NodeInfo("etcd"));
  api.ReplyOk(Resync(100));
  CHECK(RunVolumeInspect(api, "db", t.Waiting(), synced.Text()) == kExitOk);
  CHECK(synced.out.str() ==
        ClusterVolumeText(Resync(100), false) + "every replica of volume 'db' is in sync\n");
  api.ReplyOk(NodeInfo());
  api.ReplyOk(Volume("db", "attached"));
  CHECK(RunVolumeInspect(api, "db", t.Waiting(), single.Text()) == kExitOk);
  CHECK(single.out.str() == VolumeText(Volume("db", "attached"), false));
  api.ReplyOk(NodeInfo());
  api.ReplyOk(Volume("db", "attached"));
  CHECK(RunVolumeInspect(api, "db", t.Waiting(), single_json.Json()) == kExitOk);
  CHECK(single_json.out.str() == Volume("db", "attached").dump() + "\n");
  CHECK(t.sleeps.empty());
}

TEST_CASE("keelctl volume inspect --watch: an error while watching ends it with its status") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  api.ReplyOk(NodeInfo("etcd"));
  api.ReplyOk(VolumeStatus());
  api.ReplyError("not_found", "volume 'db' does not exist");
  CHECK(RunVolumeInspect(api, "db", t.Waiting(), io.Quiet()) == kExitNotFound);
  CHECK(io.out.str().empty());
  CHECK(io.err.str().find("keelctl: volume 'db' does not exist\n") == 0);
}

json NodeFlags(bool cordoned, bool draining, int replicas) {
  return {{"name", "n1"}, {"cordoned", cordoned}, {"draining", draining}, {"replicas", replicas}};
}

TEST_CASE("keelctl node cordon and uncordon: the request, text, -q and -o json") {
  ScriptedApiClient api;
  Io cordon, empty, uncordon, quiet, js;
  api.ReplyOk(NodeFlags(true, false, 2));
  api.ReplyOk(NodeFlags(true, false, 0));
  api.ReplyOk(NodeFlags(false, false, 2));
  api.ReplyOk(NodeFlags(true, false, 1));
  api.ReplyOk(NodeFlags(true, false, 1));
  CHECK(RunNodeCordon(api, "n1", true, cordon.Text()) == kExitOk);
  CHECK(api.calls[0].command == "node.cordon");
  CHECK(api.calls[0].args == json{{"name", "n1"}});
  CHECK(cordon.out.str() ==
        "node 'n1' cordoned: no new replicas go there; it holds 2 replicas (move them with "
        "'keelctl node drain n1')\n");
  CHECK(RunNodeCordon(api, "n1", true, empty.Text()) == kExitOk);
  CHECK(empty.out.str() == "node 'n1' cordoned: no new replicas go there\n");
  CHECK(RunNodeCordon(api, "n1", false, uncordon.Text()) == kExitOk);
  CHECK(api.calls[2].command == "node.uncordon");
  CHECK(api.calls[2].args == json{{"name", "n1"}});
  CHECK(uncordon.out.str() == "node 'n1' uncordoned: new replicas may go there again\n");
  CHECK(RunNodeCordon(api, "n1", true, quiet.Quiet()) == kExitOk);
  CHECK(quiet.out.str().empty());
  CHECK(RunNodeCordon(api, "n1", true, js.Json()) == kExitOk);
  CHECK(json::parse(js.out.str()) == NodeFlags(true, false, 1));
}

TEST_CASE("keelctl node cordon, uncordon, drain: no such node is exit 3, said plainly") {
  for (const char* cmd : {"cordon", "uncordon", "drain"}) {
    CAPTURE(cmd);
    ScriptedApiClient api;
    Io io;
    api.ReplyError("not_found", "no node 'n9'");
    int rc = std::string(cmd) == "drain" ? RunNodeDrain(api, "n9", NoWait(), io.Json())
                                         : RunNodeCordon(api, "n9", cmd[0] == 'c', io.Json());
    CHECK(rc == kExitNotFound);
    CHECK(api.calls[0].command == std::string("node.") + cmd);
    CHECK(io.err.str() ==
          "keelctl: node 'n9' is not in the cluster\n"
          "hint: see the nodes there are with 'keelctl node list'\n");
    json e = json::parse(io.out.str())["error"];
    CHECK(e["code"] == "not_found");
    CHECK(e["exit_code"] == kExitNotFound);
  }
}

TEST_CASE("keelctl node maintenance: on and --off, what it means, -o json") {
  for (bool on : {true, false}) {
    CAPTURE(on);
    ScriptedApiClient api;
    Io io;
    api.ReplyOk({{"name", "n3"},
                 {"cordoned", false},
                 {"draining", false},
                 {"maintenance", on},
                 {"replicas", 1}});
    CHECK(RunNodeMaintenance(api, "n3", on, io.Text()) == kExitOk);
    REQUIRE(api.calls.size() == 1);
    CHECK(api.calls[0].command == "node.maintenance");
    CHECK(api.calls[0].args == json{{"name", "n3"}, {"on", on}});
    CHECK(io.out.str() ==
          (on ? "node 'n3' in maintenance: not counted down while away, its replicas are not "
                "replaced\n"
              : "node 'n3' out of maintenance: up, suspect or down again by its heartbeats\n"));
  }
  ScriptedApiClient api;
  Io io;
  api.ReplyError("not_found", "node 'n9' is not registered in the cluster");
  CHECK(RunNodeMaintenance(api, "n9", true, io.Json()) == kExitNotFound);
  CHECK(io.err.str() ==
        "keelctl: node 'n9' is not in the cluster\n"
        "hint: see the nodes there are with 'keelctl node list'\n");
}

TEST_CASE("keelctl node cordon, uncordon, drain and volume.status need cluster mode") {
  for (const char* cmd : {"cordon", "uncordon", "drain", "attach"}) {
    CAPTURE(cmd);
    ScriptedApiClient api;
    FakeTicker t;
    Io io;
    std::string c = cmd;
    if (c == "attach") api.ReplyOk({{"name", "db"}, {"device", "/dev/keel0"}});
    // Whatever the message says: these commands exist only in cluster mode.
    api.ReplyError("invalid_request", "not available");
    int rc = c == "drain"    ? RunNodeDrain(api, "n1", NoWait(), io.Text())
             : c == "attach" ? RunVolumeAttach(api, "db", "", t.Waiting(), io.Text())
                             : RunNodeCordon(api, "n1", c == "cordon", io.Text());
    if (c == "attach") {
      CHECK(rc == kExitOk);  // volume.status: one replica, nothing to wait for
      continue;
    }
    CHECK(rc == kExitError);
    CHECK(io.err.str() ==
          "keelctl: keeld runs without a cluster (no etcd_endpoints in /etc/keel/keeld.conf); "
          "see docs/configuration.md\n");
  }
}

TEST_CASE("keelctl node drain: the request and the replicas left to move") {
  ScriptedApiClient api;
  Io moving, drained, quiet, js;
  api.ReplyOk(NodeFlags(true, true, 2));
  api.ReplyOk(NodeFlags(true, true, 0));
  api.ReplyOk(NodeFlags(true, true, 1));
  api.ReplyOk(NodeFlags(true, true, 1));
  CHECK(RunNodeDrain(api, "n1", NoWait(), moving.Text()) == kExitOk);
  CHECK(api.calls[0].command == "node.drain");
  CHECK(api.calls[0].args == json{{"name", "n1"}});
  CHECK(moving.out.str() ==
        "node 'n1' draining: 2 replicas to move off it (wait for it with 'keelctl node drain n1 "
        "--wait')\n");
  CHECK(RunNodeDrain(api, "n1", NoWait(), drained.Text()) == kExitOk);
  CHECK(drained.out.str() == "node 'n1' drained: it holds no replicas\n");
  CHECK(RunNodeDrain(api, "n1", NoWait(), quiet.Quiet()) == kExitOk);
  CHECK(quiet.out.str().empty());
  CHECK(RunNodeDrain(api, "n1", NoWait(), js.Json()) == kExitOk);
  CHECK(json::parse(js.out.str()) == NodeFlags(true, true, 1));
  CHECK(api.calls.size() == 4);
}

TEST_CASE("keelctl node drain --wait: sent each second until no replica is left") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io, js;
  for (int left : {3, 2, 2, 1, 0}) api.ReplyOk(NodeFlags(true, true, left));
  CHECK(RunNodeDrain(api, "n1", t.Waiting(), io.Text()) == kExitOk);
  CHECK(api.calls.size() == 5);
  for (const auto& c : api.calls) CHECK(c.command == "node.drain");
  CHECK(t.sleeps == std::vector<int64_t>{1000, 1000, 1000, 1000});
  CHECK(io.err.str() ==
        "draining n1: 3 replicas left\n"
        "draining n1: 2 replicas left\n"
        "draining n1: 1 replica left\n");
  CHECK(io.out.str() == "node 'n1' drained: it holds no replicas\n");
  // -o json: the last reply only; already drained: no sleep.
  api.ReplyOk(NodeFlags(true, true, 0));
  CHECK(RunNodeDrain(api, "n1", t.Waiting(), js.Json()) == kExitOk);
  CHECK(json::parse(js.out.str()) == NodeFlags(true, true, 0));
  CHECK(js.err.str().empty());
  CHECK(t.sleeps.size() == 4);
}

TEST_CASE("keelctl node drain --wait --wait-timeout: exit 1 with the replicas left") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  for (int i = 0; i < 3; ++i) api.ReplyOk(NodeFlags(true, true, 2));
  CHECK(RunNodeDrain(api, "n1", t.Waiting(2), io.Json()) == kExitError);
  CHECK(api.calls.size() == 3);
  CHECK(t.sleeps == std::vector<int64_t>{1000, 1000});
  CHECK(io.err.str() ==
        "draining n1: 2 replicas left\n"
        "keelctl: node 'n1' still holds 2 replicas after 2s\n"
        "hint: the coordinator moves them one at a time, each once its new copy is in sync; "
        "wait on with 'keelctl node drain n1 --wait'\n");
  json e = json::parse(io.out.str())["error"];
  CHECK(e["code"] == "wait_timeout");
  CHECK(e["exit_code"] == kExitError);
}

TEST_CASE("keelctl node drain --wait: -q prints nothing; an error ends the wait") {
  ScriptedApiClient api;
  FakeTicker t;
  Io quiet, failed;
  api.ReplyOk(NodeFlags(true, true, 1));
  api.ReplyOk(NodeFlags(true, true, 0));
  CHECK(RunNodeDrain(api, "n1", t.Waiting(), quiet.Quiet()) == kExitOk);
  CHECK(quiet.out.str().empty());
  CHECK(quiet.err.str().empty());
  api.ReplyOk(NodeFlags(true, true, 1));
  api.ReplyError("insufficient_capacity", "no node can take a replica of 'db'");
  CHECK(RunNodeDrain(api, "n1", t.Waiting(), failed.Text()) == kExitError);
  CHECK(failed.err.str() ==
        "draining n1: 1 replica left\n"
        "keelctl: no node can take a replica of 'db'\n"
        "hint: its replicas need other nodes, up, not cordoned, with room: see 'keelctl node "
        "list' and 'keelctl cluster status'\n");
}

}  // namespace
}  // namespace keel

namespace keel {
namespace {

const uint64_t kGiB = 1ull << 30;

json Plan(bool dry) {
  return {{"moves",
           {{{"volume", "v1"}, {"from", "a"}, {"to", "b"}, {"size", 20 * kGiB}},
            {{"volume", "v2"}, {"from", "a"}, {"to", "c"}, {"size", 10 * kGiB}}}},
          {"use_before", {{"a", 60.0}, {"b", 10.0}, {"c", 10.0}}},
          {"use_after", {{"a", 30.0}, {"b", 30.0}, {"c", 20.0}}},
          {"reason", "balanced: a at 30.0%, c at 20.0%"},
          {"threshold_pct", 10},
          {"dry_run", dry}};
}

// volume.status of a volume with replicas on `nodes`, those in `in_sync` current.
json Status2(std::vector<std::string> nodes, std::vector<std::string> in_sync) {
  json set = json::array();
  for (const auto& n : nodes) set.push_back({{"node", n}, {"slot", 0}});
  return {{"name", "v"}, {"replica_set", set}, {"in_sync", in_sync}};
}

}  // namespace

TEST_CASE("keelctl cluster rebalance: the plan, its moves and each node's use") {
  ScriptedApiClient api;
  Io io, dry, js;
  RebalanceArgs a;
  api.ReplyOk(Plan(false));
  CHECK(RunClusterRebalance(api, a, NoWait(), io.Text()) == kExitOk);
  CHECK(api.calls[0].command == "cluster.rebalance");
  CHECK(api.calls[0].args == json{{"threshold_pct", 10.0}, {"max_moves", 8}, {"dry_run", false}});
  CHECK(io.out.str() ==
        "rebalance: moving 2 replicas\n"
        "\n"
        "VOLUME  SIZE    FROM  TO\n"
        "v1      20 GiB  a     b\n"
        "v2      10 GiB  a     c\n"
        "\n"
        "NODE  USE NOW  USE AFTER\n"
        "a     60.0%    30.0%\n"
        "b     10.0%    30.0%\n"
        "c     10.0%    20.0%\n"
        "\n"
        "balanced: a at 30.0%, c at 20.0%\n");
  a.dry_run = true;
  a.threshold_pct = 5;
  a.max_moves = 1;
  json p = Plan(true);
  p["moves"][1]["error"] = "volume 'v2' is attached on a";
  api.ReplyOk(p);
  // --wait with --dry-run: nothing moves, nothing to wait for.
  FakeTicker t;
  CHECK(RunClusterRebalance(api, a, t.Waiting(), dry.Text()) == kExitOk);
  CHECK(api.calls[1].args == json{{"threshold_pct", 5.0}, {"max_moves", 1}, {"dry_run", true}});
  CHECK(
      dry.out.str().starts_with("rebalance (dry run): would move 2 replicas\n\n"
                                "VOLUME  SIZE    FROM  TO  ERROR\n"
                                "v1      20 GiB  a     b   -\n"
                                "v2      10 GiB  a     c   volume 'v2' is attached on a\n"));
  CHECK(t.sleeps.empty());
  api.ReplyOk({{"moves", json::array()}, {"reason", "balanced: a at 1.0%, b at 0.0%"}});
  CHECK(RunClusterRebalance(api, {}, NoWait(), js.Text()) == kExitOk);
  CHECK(js.out.str() == "rebalance: nothing to move\n\nbalanced: a at 1.0%, b at 0.0%\n");
}

TEST_CASE("keelctl cluster rebalance --wait: until each replica left its node, all in sync") {
  ScriptedApiClient api;
  FakeTicker t;
  Io io;
  api.ReplyOk(Plan(false));
  api.ReplyOk(Status2({"a", "b"}, {"a"}));  // v1: b being filled
  api.ReplyOk(Status2({"a", "c"}, {"a"}));  // v2
  api.ReplyOk(Status2({"b"}, {"b"}));       // v1 done
  api.ReplyOk(Status2({"a", "c"}, {"a", "c"}));
  api.ReplyOk(Status2({"b"}, {"b"}));
  api.ReplyError("not_found", "volume 'v2' does not exist");  // deleted meanwhile: done
  CHECK(RunClusterRebalance(api, {}, t.Waiting(), io.Quiet()) == kExitOk);
  CHECK(api.calls.size() == 7);
  CHECK(api.calls[1].command == "volume.status");
  CHECK(api.calls[1].args == json{{"name", "v1"}});
  CHECK(t.sleeps == std::vector<int64_t>{1000, 1000});
  CHECK(io.err.str().empty());

  Io text;
  api.ReplyOk(Plan(false));
  for (int i = 0; i < 3; ++i) {
    api.ReplyOk(Status2({"b"}, {"b"}));
    api.ReplyOk(Status2({"a", "c"}, {"a"}));
  }
  CHECK(RunClusterRebalance(api, {}, t.Waiting(2), text.Text()) == kExitError);
  // Nothing new to move, but an earlier rebalance's move goes on: printed,
  // and waited for.
  Io going;
  api.ReplyOk({{"moves", json::array()},
               {"in_progress", {{{"volume", "v9"}, {"from", "a"}, {"size", kGiB}}}},
               {"reason", "no replica can move: a at 50.0%, b at 0.0%"}});
  api.ReplyOk(Status2({"a", "b"}, {"a"}));
  api.ReplyOk(Status2({"b"}, {"b"}));
  CHECK(RunClusterRebalance(api, {}, t.Waiting(), going.Text()) == kExitOk);
  CHECK(going.out.str() ==
        "rebalance: nothing to move\n\nno replica can move: a at 50.0%, b at 0.0%\n"
        "in progress: v9 off a\n");
  CHECK(going.err.str() == "rebalance: 0 of 1 moves done\nrebalance: 1 of 1 moves done\n");
  CHECK(text.err.str() ==
        "rebalance: 1 of 2 moves done\n"
        "keelctl: 1 of 2 moves not done after 2s\n"
        "hint: the coordinator goes on with them; watch one with 'keelctl volume inspect NAME "
        "--watch'\n");
}

}  // namespace keel
