// The subcommands against a fake module: exit status, output, and the
// backing-file handling of create.
#include "cli/keelsetup/commands.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

namespace keel {
namespace {

// Volumes in a map; every call can be made to fail.
class FakeKernel : public KernelClient {
 public:
  Status fail;  // when set, every call fails with it
  std::map<uint32_t, VolumeStatus> volumes;
  std::vector<CreateVolumeRequest> creates;

  Result<ModuleInfo> GetInfo() override {
    if (!fail.ok()) return fail;
    ModuleInfo info;
    info.version = "0.1.0";
    info.api_version = 1;
    info.volume_count = static_cast<uint32_t>(volumes.size());
    info.objects = 3;
    return info;
  }
  Result<VolumeStatus> CreateVolume(const CreateVolumeRequest& req) override {
    creates.push_back(req);
    if (!fail.ok()) return fail;
    VolumeStatus v;
    v.id = req.id.value_or(0);
    v.uuid = req.uuid;
    v.size = req.size;
    v.block_size = req.block_size ? req.block_size : 512;
    v.backing_path = req.backing_path;
    v.state = KEEL_STATE_FORMATTED;
    v.data_offset = 1 << 20;
    volumes[v.id] = v;
    return v;
  }
  Status DeleteVolume(uint32_t id, bool) override {
    if (!fail.ok()) return fail;
    if (!volumes.erase(id)) return Status::Error(ENOENT, "no volume " + std::to_string(id));
    return Status();
  }
  Result<VolumeStatus> AttachVolume(uint32_t id) override {
    if (!fail.ok()) return fail;
    auto it = volumes.find(id);
    if (it == volumes.end()) return Status::Error(ENOENT, "no volume " + std::to_string(id));
    it->second.state |= KEEL_STATE_ATTACHED;
    it->second.device_name = "keel" + std::to_string(id);
    return it->second;
  }
  Status DetachVolume(uint32_t id, bool) override {
    if (!fail.ok()) return fail;
    auto it = volumes.find(id);
    if (it == volumes.end()) return Status::Error(ENOENT, "no volume " + std::to_string(id));
    it->second.state &= ~KEEL_STATE_ATTACHED;
    it->second.device_name.clear();
    return Status();
  }
  Result<VolumeStatus> GetVolume(uint32_t id) override {
    if (!fail.ok()) return fail;
    auto it = volumes.find(id);
    if (it == volumes.end()) return Status::Error(ENOENT, "no volume " + std::to_string(id));
    return it->second;
  }
  Result<std::vector<VolumeStatus>> ListVolumes() override {
    if (!fail.ok()) return fail;
    std::vector<VolumeStatus> all;
    for (const auto& [id, v] : volumes) all.push_back(v);
    return all;
  }
};

// Records the replication calls; `fail` makes them fail.
class ReplicatingKernel : public FakeKernel {
 public:
  std::vector<std::string> calls;
  std::optional<SetVolumeRequest> last_set;

  Result<VolumeStatus> SetVolume(uint32_t id, const SetVolumeRequest& req) override {
    calls.push_back("set " + std::to_string(id));
    last_set = req;
    if (!fail.ok()) return fail;
    auto it = volumes.find(id);
    if (it == volumes.end()) return Status::Error(ENOENT, "no volume " + std::to_string(id));
    if (req.epoch) it->second.epoch = *req.epoch;
    if (req.freeze_policy) it->second.freeze_policy = req.freeze_policy;
    if (req.resync_rate) it->second.resync_rate = req.resync_rate;
    return it->second;
  }
  Status ListenStart(uint32_t id, const std::string& addr, uint16_t port) override {
    calls.push_back("listen " + std::to_string(id) + " " + addr + " " + std::to_string(port));
    return fail;
  }
  Status ListenStop(uint32_t id) override {
    calls.push_back("unlisten " + std::to_string(id));
    return fail;
  }
  Status PeerAdd(uint32_t id, uint32_t slot, const std::string& addr, uint16_t port,
                 const std::string& name, PeerSync sync) override {
    calls.push_back("peer-add " + std::to_string(id) + " " + std::to_string(slot) + " " + addr +
                    " " + std::to_string(port) + " " + name + " " +
                    (sync == PeerSync::kFull ? "full" : "bitmap"));
    return fail;
  }
  Status PeerRemove(uint32_t id, uint32_t slot) override {
    calls.push_back("peer-remove " + std::to_string(id) + " " + std::to_string(slot));
    return fail;
  }
  Status PeerOutdate(uint32_t id, uint32_t slot, uint64_t epoch) override {
    calls.push_back("outdate " + std::to_string(id) + " " + std::to_string(slot) + " " +
                    std::to_string(epoch));
    return fail;
  }
};

// Hands out queued results; an empty queue times out.
class FakeEvents : public KernelEventSource {
 public:
  std::deque<Result<std::optional<KernelEvent>>> queue;
  int waits = 0;
  Result<std::optional<KernelEvent>> Next(std::chrono::milliseconds) override {
    ++waits;
    if (queue.empty()) return std::optional<KernelEvent>();
    auto r = queue.front();
    queue.pop_front();
    return r;
  }
};

KernelEvent Event(uint32_t type, uint32_t id) {
  KernelEvent ev;
  ev.type = type;
  ev.volume_id = id;
  return ev;
}

struct Capture {
  std::ostringstream out, err;
  Output Text() { return Output{out, err, false}; }
  Output Json() { return Output{out, err, true}; }
};

CreateVolumeRequest Request(const std::string& path, uint32_t id) {
  CreateVolumeRequest req;
  req.uuid = *Uuid::Parse("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b");
  req.size = 1 << 20;
  req.backing_path = path;
  req.id = id;
  return req;
}

// A private directory for backing files, removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/keelsetup-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("ParseCreateArgs: defaults, conversions and usage errors") {
  CreateArgs a;
  a.backing = "pool/v0.img";
  a.size = "1G";
  auto req = ParseCreateArgs(a, "/srv/keel");
  REQUIRE(req.ok());
  CHECK(req->backing_path == "/srv/keel/pool/v0.img");
  CHECK(req->size == 1ULL << 30);
  CHECK_FALSE(req->uuid.IsNil());  // random
  CHECK(req->block_size == 0);
  CHECK_FALSE(req->id.has_value());
  CHECK_FALSE(req->force_format);

  a.backing = "/dev/../dev/vdb";
  a.uuid = "6F1C2A3B-4D5E-4F60-8A7B-9C0D1E2F3A4B";
  a.block_size = 4096;
  a.id = 7;
  a.force_format = true;
  req = ParseCreateArgs(a, "/");
  REQUIRE(req.ok());
  CHECK(req->backing_path == "/dev/vdb");
  CHECK(req->uuid.ToString() == "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b");
  CHECK(req->block_size == 4096);
  CHECK(req->id == 7u);
  CHECK(req->force_format);

  for (auto bad : std::vector<std::pair<std::string, std::string>>{
           {"size", "1X"},
           {"size", "0"},
           {"uuid", "nope"},
           {"uuid", "00000000-0000-0000-0000-000000000000"},
           {"block_size", "1024"},
           {"id", "4096"},
           {"backing", ""}}) {
    CreateArgs b = a;
    if (bad.first == "size") b.size = bad.second;
    if (bad.first == "uuid") b.uuid = bad.second;
    if (bad.first == "block_size") b.block_size = 1024;
    if (bad.first == "id") b.id = 4096;
    if (bad.first == "backing") b.backing = "";
    INFO(bad.first << "=" << bad.second);
    auto r = ParseCreateArgs(b, "/");
    CHECK_FALSE(r.ok());
    CHECK(r.status().code() == EINVAL);
  }
}

TEST_CASE("ParseCreateArgs: --diskless and --granularity") {
  CreateArgs a;
  a.size = "1G";
  a.diskless = true;
  a.granularity = "1M";
  auto req = ParseCreateArgs(a, "/");
  REQUIRE(req.ok());
  CHECK(req->diskless);
  CHECK(req->backing_path.empty());
  CHECK(req->granularity == 1u << 20);

  CreateArgs both = a;
  both.backing = "/x/v.img";
  CHECK(ParseCreateArgs(both, "/").status().code() == EINVAL);
  CreateArgs format = a;
  format.force_format = true;
  CHECK(ParseCreateArgs(format, "/").status().code() == EINVAL);
  CreateArgs neither;
  neither.size = "1G";
  CHECK(ParseCreateArgs(neither, "/").status().message().find("--diskless") != std::string::npos);
  for (const char* g : {"3000", "2K", "64K+", "32M", "2G", "0"}) {
    CreateArgs b = a;
    b.granularity = g;
    CAPTURE(g);
    CHECK(ParseCreateArgs(b, "/").status().code() == EINVAL);
  }
  CreateArgs no_granularity = a;
  no_granularity.granularity = "";
  CHECK_FALSE(ParseCreateArgs(no_granularity, "/")->granularity.has_value());
}

TEST_CASE("ParseHexSecret: digits to bytes; errors never quote the secret") {
  auto s = ParseHexSecret("0x00ff10Ab");
  REQUIRE(s.ok());
  CHECK(*s == std::vector<uint8_t>{0x00, 0xff, 0x10, 0xab});
  CHECK(*ParseHexSecret(" 01 02\n") == std::vector<uint8_t>{1, 2});
  auto odd = ParseHexSecret("deadbeef1");
  CHECK(odd.status().code() == EINVAL);
  CHECK(odd.status().message().find("deadbeef") == std::string::npos);
  auto bad = ParseHexSecret("topsecretvalue!!");
  CHECK(bad.status().code() == EINVAL);
  CHECK(bad.status().message().find("topsecret") == std::string::npos);
}

TEST_CASE("ParseSetArgs: each option, the secret's sources and length") {
  TempDir dir;
  SetArgs a;
  CHECK(ParseSetArgs(a).status().message().find("nothing to set") == 0);

  a.epoch = 5;
  a.freeze_policy = "fail";
  a.freeze_timeout_ms = 0;
  a.peer_timeout_ms = 3000;
  a.resync_rate = "50M/s";
  a.digest = "off";
  a.secret_hex = std::string(64, 'a');
  auto req = ParseSetArgs(a);
  REQUIRE(req.ok());
  CHECK(req->epoch == 5u);
  CHECK(req->freeze_policy == uint32_t{KEEL_FREEZE_FAIL});
  CHECK(req->freeze_timeout_ms == 0u);
  CHECK(req->peer_timeout_ms == 3000u);
  CHECK(req->resync_rate == 50ULL << 20);
  CHECK(req->data_digest == false);
  REQUIRE(req->secret.has_value());
  CHECK(req->secret->size() == 32);
  CHECK((*req->secret)[0] == 0xaa);

  SetArgs rate;
  rate.resync_rate = "0";
  CHECK(ParseSetArgs(rate)->resync_rate == 0u);
  rate.resync_rate = "fast";
  CHECK(ParseSetArgs(rate).status().code() == EINVAL);

  std::string path = dir.path + "/secret";
  REQUIRE(std::system(("printf 'sixteen-byte-key\\n' > '" + path + "'").c_str()) == 0);
  SetArgs file;
  file.secret_file = path;
  auto f = ParseSetArgs(file);
  REQUIRE(f.ok());
  CHECK(f->secret->size() == 17);  // the newline is part of it
  CHECK(f->secret->back() == '\n');
  file.secret_hex = "00";
  CHECK(ParseSetArgs(file).status().message().find("exclude each other") != std::string::npos);

  SetArgs missing;
  missing.secret_file = dir.path + "/nope";
  CHECK(ParseSetArgs(missing).status().code() == EINVAL);
  SetArgs short_secret;
  short_secret.secret_hex = std::string(30, '1');
  auto sh = ParseSetArgs(short_secret);
  CHECK(sh.status().code() == EINVAL);
  CHECK(sh.status().message().find("has 15 bytes") != std::string::npos);
  REQUIRE(std::system(("head -c 1000 /dev/zero > '" + path + "'").c_str()) == 0);
  SetArgs long_file;
  long_file.secret_file = path;
  CHECK(ParseSetArgs(long_file).status().message().find("more than 64") != std::string::npos);
  SetArgs bad;
  bad.freeze_policy = "wait";
  CHECK(ParseSetArgs(bad).status().code() == EINVAL);
  bad.freeze_policy = "";
  bad.digest = "yes";
  CHECK(ParseSetArgs(bad).status().code() == EINVAL);
}

TEST_CASE("set, listen, unlisten, peer-add, peer-remove, outdate: calls and output") {
  ReplicatingKernel k;
  Capture c;
  REQUIRE(RunCreate(k, Request("/x/v.img", 3), false, c.Text()) == kExitOk);

  SetVolumeRequest req;
  req.epoch = 4;
  req.secret = std::vector<uint8_t>(16, 0x42);
  req.freeze_policy = KEEL_FREEZE_HOLD;
  Capture set;
  CHECK(RunSet(k, 3, req, set.Text()) == kExitOk);
  CHECK(set.out.str().find("volume 3 updated (secret set)\n") == 0);
  CHECK(set.out.str().find("freeze policy:  hold") != std::string::npos);
  CHECK(set.out.str().find("BBBB") == std::string::npos);  // 0x42 is 'B'
  CHECK(k.last_set->secret->size() == 16);
  Capture set_json;
  CHECK(RunSet(k, 3, req, set_json.Json()) == kExitOk);
  auto sj = nlohmann::json::parse(set_json.out.str());
  CHECK(sj["epoch"] == 4);
  CHECK(sj["freeze_policy"] == "hold");
  CHECK(set_json.out.str().find("BBBB") == std::string::npos);

  Capture l;
  CHECK(RunListen(k, 3, "fd00::2", 7800, l.Text()) == kExitOk);
  CHECK(l.out.str() == "volume 3: replica target listening on [fd00::2]:7800\n");
  Capture lj;
  CHECK(RunListen(k, 3, "10.0.0.2", 7800, lj.Json()) == kExitOk);
  CHECK(nlohmann::json::parse(lj.out.str()) ==
        nlohmann::json({{"id", 3}, {"listening", true}, {"addr", "10.0.0.2"}, {"port", 7800}}));
  Capture u;
  CHECK(RunUnlisten(k, 3, u.Json()) == kExitOk);
  CHECK(nlohmann::json::parse(u.out.str()) == nlohmann::json({{"id", 3}, {"listening", false}}));

  Capture pa;
  CHECK(RunPeerAdd(k, 3, 1, "10.0.0.2", 7800, "node-b", PeerSync::kFull, pa.Text()) == kExitOk);
  CHECK(pa.out.str() == "volume 3: peer 1 (node-b) at 10.0.0.2:7800 added, full sync\n");
  Capture paj;
  CHECK(RunPeerAdd(k, 3, 2, "10.0.0.3", 7801, "", PeerSync::kBitmap, paj.Json()) == kExitOk);
  auto pj = nlohmann::json::parse(paj.out.str());
  CHECK(pj["slot"] == 2);
  CHECK(pj["sync"] == "bitmap");
  CHECK(pj["added"] == true);
  Capture pr;
  CHECK(RunPeerRemove(k, 3, 2, pr.Json()) == kExitOk);
  CHECK(nlohmann::json::parse(pr.out.str()) ==
        nlohmann::json({{"id", 3}, {"slot", 2}, {"removed", true}}));
  Capture od;
  CHECK(RunOutdate(k, 3, 1, 5, od.Text()) == kExitOk);
  CHECK(od.out.str() == "volume 3: peer 1 outdated at epoch 5\n");

  CHECK(k.calls == std::vector<std::string>{
                       "set 3", "set 3", "listen 3 fd00::2 7800", "listen 3 10.0.0.2 7800",
                       "unlisten 3", "peer-add 3 1 10.0.0.2 7800 node-b full",
                       "peer-add 3 2 10.0.0.3 7801  bitmap", "peer-remove 3 2", "outdate 3 1 5"});

  k.fail = Status::Error(ESTALE, "epoch 3 is below the volume's 4");
  Capture refused;
  CHECK(RunOutdate(k, 3, 1, 3, refused.Json()) == kExitRefused);
  CHECK(nlohmann::json::parse(refused.out.str())["error"]["code"] == ESTALE);
  CHECK(refused.err.str() == "keelsetup: epoch 3 is below the volume's 4 (ESTALE)\n");
}

TEST_CASE("replication subcommands against a client without them: exit status 1") {
  FakeKernel old;  // overrides none of the replication calls
  Capture c;
  CHECK(RunListen(old, 0, "10.0.0.1", 1, c.Text()) == kExitRefused);
  CHECK(c.err.str().find("LISTEN_START is not supported by this client (") != std::string::npos);
  Capture s;
  CHECK(RunSet(old, 0, SetVolumeRequest{}, s.Json()) == kExitRefused);
  CHECK(nlohmann::json::parse(s.out.str())["error"]["code"] == ENOTSUP);
}

TEST_CASE("create: prints the status; --json prints it as JSON") {
  FakeKernel k;
  Capture c;
  CHECK(RunCreate(k, Request("/x/v.img", 4), false, c.Text()) == kExitOk);
  CHECK(c.out.str().find("created volume 4\n") == 0);
  CHECK(c.out.str().find("none (attach with: keelsetup attach 4)") != std::string::npos);
  Capture j;
  CHECK(RunCreate(k, Request("/x/v.img", 5), false, j.Json()) == kExitOk);
  auto parsed = nlohmann::json::parse(j.out.str());
  CHECK(parsed["id"] == 5);
  CHECK(parsed["device"].is_null());
  CHECK(parsed["state"] == nlohmann::json({"formatted"}));
}

TEST_CASE("create --create-backing: makes a missing file 0600, removes it if refused") {
  TempDir dir;
  std::string path = dir.path + "/v.img";
  FakeKernel k;
  Capture c;
  k.fail = Status::Error(EEXIST, "volume 4 exists");
  CHECK(RunCreate(k, Request(path, 4), true, c.Text()) == kExitRefused);
  CHECK(k.creates.size() == 1);
  CHECK_FALSE(Exists(path));  // nothing left behind
  CHECK(c.err.str() == "keelsetup: volume 4 exists (EEXIST)\n");

  k.fail = Status();
  CHECK(RunCreate(k, Request(path, 4), true, c.Text()) == kExitOk);
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(st.st_size == 0);  // the module sizes it
}

TEST_CASE("create --create-backing: an existing file is kept, never truncated or removed") {
  TempDir dir;
  std::string path = dir.path + "/v.img";
  REQUIRE(std::system(("printf data > '" + path + "'").c_str()) == 0);
  FakeKernel k;
  k.fail = Status::Error(EUCLEAN, "corrupt metadata");
  Capture c;
  CHECK(RunCreate(k, Request(path, 1), true, c.Text()) == kExitRefused);
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK(st.st_size == 4);
  k.fail = Status();
  CHECK(RunCreate(k, Request(path, 1), true, c.Text()) == kExitOk);
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK(st.st_size == 4);
}

TEST_CASE("create --create-backing: a directory that does not exist is refused") {
  FakeKernel k;
  Capture c;
  CHECK(RunCreate(k, Request("/nonexistent-keel-dir/v.img", 1), true, c.Json()) == kExitRefused);
  CHECK(k.creates.empty());
  auto j = nlohmann::json::parse(c.out.str());
  CHECK(j["error"]["code"] == ENOENT);
  CHECK(j["error"]["message"].get<std::string>().find("cannot create backing file") == 0);
}

TEST_CASE("attach prints the device; detach and delete confirm") {
  FakeKernel k;
  Capture c;
  REQUIRE(RunCreate(k, Request("/x/v.img", 3), false, c.Text()) == kExitOk);
  Capture a;
  CHECK(RunAttach(k, 3, a.Text()) == kExitOk);
  CHECK(a.out.str() == "/dev/keel3\n");
  Capture aj;
  CHECK(RunAttach(k, 3, aj.Json()) == kExitOk);
  CHECK(nlohmann::json::parse(aj.out.str())["device"] == "/dev/keel3");
  Capture d;
  CHECK(RunDetach(k, 3, false, d.Json()) == kExitOk);
  CHECK(nlohmann::json::parse(d.out.str()) == nlohmann::json({{"id", 3}, {"detached", true}}));
  Capture del;
  CHECK(RunDelete(k, 3, true, del.Text()) == kExitOk);
  CHECK(del.out.str() == "deleted volume 3\n");
  Capture gone;
  CHECK(RunDelete(k, 3, false, gone.Json()) == kExitRefused);
  CHECK(nlohmann::json::parse(gone.out.str())["error"]["code"] == ENOENT);
  CHECK(gone.err.str() == "keelsetup: no volume 3 (ENOENT)\n");
}

TEST_CASE("status: a table, an array, one object, and 'no volumes'") {
  FakeKernel k;
  Capture none;
  CHECK(RunStatus(k, std::nullopt, none.Text()) == kExitOk);
  CHECK(none.out.str() == "no volumes\n");
  Capture none_json;
  CHECK(RunStatus(k, std::nullopt, none_json.Json()) == kExitOk);
  CHECK(nlohmann::json::parse(none_json.out.str()) == nlohmann::json::array());

  Capture c;
  REQUIRE(RunCreate(k, Request("/x/a.img", 1), false, c.Text()) == kExitOk);
  REQUIRE(RunCreate(k, Request("/x/b.img", 2), false, c.Text()) == kExitOk);
  REQUIRE(RunAttach(k, 2, c.Text()) == kExitOk);
  Capture table;
  CHECK(RunStatus(k, std::nullopt, table.Text()) == kExitOk);
  CHECK(table.out.str().find("ID  UUID") == 0);
  CHECK(table.out.str().find("/dev/keel2") != std::string::npos);
  Capture arr;
  CHECK(RunStatus(k, std::nullopt, arr.Json()) == kExitOk);
  auto j = nlohmann::json::parse(arr.out.str());
  REQUIRE(j.size() == 2);
  CHECK(j[1]["device"] == "/dev/keel2");
  Capture one;
  CHECK(RunStatus(k, 1u, one.Json()) == kExitOk);
  CHECK(nlohmann::json::parse(one.out.str())["backing_path"] == "/x/a.img");
  Capture missing;
  CHECK(RunStatus(k, 9u, missing.Text()) == kExitRefused);
  CHECK(missing.out.str().empty());
}

TEST_CASE("info and stats; a refusing module gives exit status 1") {
  FakeKernel k;
  Capture c;
  CHECK(RunInfo(k, c.Json()) == kExitOk);
  CHECK(nlohmann::json::parse(c.out.str())["volume_count"] == 0);
  REQUIRE(RunCreate(k, Request("/x/a.img", 1), false, c.Text()) == kExitOk);
  Capture s;
  CHECK(RunStats(k, 1, s.Json()) == kExitOk);
  auto j = nlohmann::json::parse(s.out.str());
  CHECK(j["id"] == 1);
  CHECK(j["latency_buckets"] == nlohmann::json::array());
  k.fail = Status::Error(EPERM, "keel.ko refused the request: Operation not permitted");
  Capture denied;
  CHECK(RunInfo(k, denied.Text()) == kExitRefused);
  CHECK(denied.err.str().find("Operation not permitted") != std::string::npos);
}

TEST_CASE("events: stops after --count, one line each") {
  FakeEvents ev;
  ev.queue.push_back(std::optional<KernelEvent>(Event(KEEL_EVENT_VOLUME_CREATED, 1)));
  ev.queue.push_back(std::optional<KernelEvent>(Event(KEEL_EVENT_VOLUME_ATTACHED, 1)));
  ev.queue.push_back(std::optional<KernelEvent>(Event(KEEL_EVENT_VOLUME_DETACHED, 1)));
  Capture c;
  EventsArgs args;
  args.count = 2;
  CHECK(RunEvents(ev, args, c.Json()) == kExitOk);
  std::istringstream lines(c.out.str());
  std::string line;
  std::vector<std::string> types;
  while (std::getline(lines, line)) types.push_back(nlohmann::json::parse(line)["type"]);
  CHECK(types == std::vector<std::string>{"volume-created", "volume-attached"});
  CHECK(ev.queue.size() == 1);
}

TEST_CASE("events: a timeout before --count is exit status 1, without --count 0") {
  FakeEvents ev;
  ev.queue.push_back(std::optional<KernelEvent>(Event(KEEL_EVENT_VOLUME_CREATED, 1)));
  Capture c;
  EventsArgs args;
  args.count = 2;
  args.timeout = std::chrono::milliseconds(20);
  CHECK(RunEvents(ev, args, c.Text()) == kExitRefused);
  CHECK(c.out.str().find("volume-created volume=1") == 0);
  CHECK(c.err.str().find("timed out after 1 of 2 events") != std::string::npos);

  FakeEvents quiet;
  Capture q;
  EventsArgs no_count;
  no_count.timeout = std::chrono::milliseconds(0);
  CHECK(RunEvents(quiet, no_count, q.Text()) == kExitOk);
  CHECK(q.out.str().empty());
}

TEST_CASE("events: lost events are a warning, other errors end it") {
  FakeEvents ev;
  ev.queue.push_back(Status::Error(ENOBUFS, "some keel events were lost"));
  ev.queue.push_back(std::optional<KernelEvent>(Event(KEEL_EVENT_VOLUME_DELETED, 2)));
  ev.queue.push_back(Status::Error(EIO, "cannot read keel events"));
  Capture c;
  EventsArgs args;
  args.count = 5;
  CHECK(RunEvents(ev, args, c.Text()) == kExitRefused);
  CHECK(c.out.str() == "volume-deleted volume=2 uuid=00000000-0000-0000-0000-000000000000\n");
  CHECK(c.err.str().find("warning: some keel events were lost") != std::string::npos);
  CHECK(c.err.str().find("cannot read keel events") != std::string::npos);
}

}  // namespace keel
