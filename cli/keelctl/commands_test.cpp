// keelctl's commands against scripted keeld replies: what is sent, what is
// printed (text, JSON, quiet), error messages and exit codes.
#include "cli/keelctl/commands.h"

#include <doctest/doctest.h>

#include <sstream>

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
  CHECK(RunVolumeAttach(api, "db", attach.Text()) == kExitOk);
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

TEST_CASE("keelctl volume inspect: text, quiet and a missing volume (exit 3, JSON error)") {
  ScriptedApiClient api;
  Io text, quiet, missing;
  api.ReplyOk(Volume("db", "attached"));
  api.ReplyOk(Volume("db", "attached"));
  api.ReplyError("not_found", "volume 'nope' does not exist");
  CHECK(RunVolumeInspect(api, "db", text.Text()) == kExitOk);
  CHECK(api.calls[0].args == json{{"name", "db"}});
  CHECK(text.out.str().find("State:         attached\n") != std::string::npos);
  CHECK(RunVolumeInspect(api, "db", quiet.Quiet()) == kExitOk);
  CHECK(quiet.out.str().empty());
  CHECK(RunVolumeInspect(api, "nope", missing.Json()) == kExitNotFound);
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
  CHECK(RunVolumeAttach(api, "db", text.Text()) == kExitOk);
  CHECK(text.out.str() == "volume 'db' attached at /dev/keel3\n");
  CHECK(RunVolumeAttach(api, "db", quiet.Quiet()) == kExitOk);
  CHECK(quiet.out.str() == "/dev/keel3\n");
  CHECK(RunVolumeAttach(api, "db", js.Json()) == kExitOk);
  CHECK(json::parse(js.out.str()) == r);
  CHECK(api.calls[0].command == "volume.attach");
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
  CHECK(RunVolumeAttach(api, "db", b.Text()) == kExitError);
  CHECK(RunVersion(api, c.Text()) == kExitOk);
  CHECK(c.out.str().find("keeld    - (API -)\n") != std::string::npos);
}

json NodeInfo() {
  return json::parse(R"({"node_name": "node1", "labels": {}, "keeld_version": "0.1.0",
    "api": 1, "kvdb": "embedded",
    "module": {"version": "0.1.1", "api_version": 2, "kernel_release": "6.12.0"},
    "pool": {"directory": "/p", "capacity": 100, "used": 0, "free": 100, "volumes": 0}})");
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

// node.list's nodes as keeld sends them (docs/api.md); n1 coordinator, n3 down.
json Nodes() {
  return json::parse(R"({"nodes": [
    {"name": "n1", "state": "up", "state_changed_ms": 1000000, "alive": true,
     "coordinator": true, "heard_ms_ago": 120, "bus_endpoint": "tcp://10.214.0.1:7480",
     "bus_public_key": "k1", "data_address": "10.214.0.1", "zone": "z1", "rack": "r1",
     "labels": {"zone": "z1", "rack": "r1"}, "capacity_bytes": 1073741824,
     "free_bytes": 536870912, "cordoned": false, "version": "0.1.0"},
    {"name": "n2", "state": "up", "state_changed_ms": 1000000, "alive": true,
     "coordinator": false, "heard_ms_ago": null, "bus_endpoint": "tcp://10.214.0.2:7480",
     "bus_public_key": "k2", "data_address": "10.214.0.2", "zone": "", "rack": "",
     "labels": {}, "capacity_bytes": 1073741824, "free_bytes": 1073741824,
     "cordoned": false, "version": "0.1.0"},
    {"name": "n3", "state": "down", "state_changed_ms": 1250000, "alive": false,
     "coordinator": false, "heard_ms_ago": 9000, "bus_endpoint": "tcp://10.214.0.3:7480",
     "bus_public_key": "k3", "data_address": "10.214.0.3", "zone": "z3", "rack": "r1",
     "labels": {"zone": "z3"}, "capacity_bytes": 1073741824, "free_bytes": 0,
     "cordoned": true, "version": "0.1.0"}]})");
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
        "NAME  STATE  SINCE  ZONE  RACK  FREE/CAPACITY  COORD\n"
        "n1    up     5m     z1    r1    512 MiB/1 GiB  *\n"
        "n2    up     5m     -     -     1 GiB/1 GiB\n"
        "n3    down   50s    z3    r1    0 B/1 GiB\n");
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
        "NAME  STATE  SINCE  ZONE  RACK  FREE/CAPACITY  COORD\n"
        "n1    up     5m     z1    r1    512 MiB/1 GiB  *\n"
        "n2    up     5m     -     -     1 GiB/1 GiB\n"
        "n3    down   50s    z3    r1    0 B/1 GiB\n");
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

}  // namespace
}  // namespace keel
