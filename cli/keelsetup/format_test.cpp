#include "cli/keelsetup/format.h"

#include <doctest/doctest.h>

#include <cerrno>

namespace keel {

static VolumeStatus SampleVolume(bool attached) {
  VolumeStatus v;
  v.id = 3;
  v.uuid = *Uuid::Parse("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b");
  v.size = 1ULL << 30;
  v.block_size = 4096;
  v.backing_path = "/var/lib/keel/v3.img";
  v.state = KEEL_STATE_DIRECT_IO;
  v.epoch = 7;
  v.data_offset = 1 << 20;
  if (attached) {
    v.state |= KEEL_STATE_ATTACHED;
    v.device_name = "keel3";
    v.major = 252;
    v.minor = 48;
  }
  v.stats.reads = 10;
  v.stats.read_bytes = 40960;
  return v;
}

TEST_CASE("StateWords and StateText") {
  CHECK(StateText(0) == "-");
  CHECK(StateText(KEEL_STATE_ATTACHED | KEEL_STATE_DIRECT_IO) == "attached,direct-io");
  CHECK(StateWords(KEEL_STATE_FORMATTED | KEEL_STATE_IO_ERROR) ==
        std::vector<std::string>{"formatted", "io-error"});
  CHECK(StateWords(KEEL_STATE_ATTACHED | (1U << 9)) ==
        std::vector<std::string>{"attached", "bit9"});
}

TEST_CASE("FeatureNames and EventTypeName") {
  CHECK(FeatureNames(KEEL_FEATURE_EVENTS | KEEL_FEATURE_FLUSH_FUA) ==
        std::vector<std::string>{"events", "flush-fua"});
  CHECK(FeatureNames(1ULL << 63) == std::vector<std::string>{"bit63"});
  CHECK(EventTypeName(KEEL_EVENT_VOLUME_ATTACHED) == "volume-attached");
  CHECK(EventTypeName(KEEL_EVENT_IO_ERROR) == "io-error");
  CHECK(EventTypeName(42) == "event-42");
}

TEST_CASE("LatencyBucketLabel: bounds of each bucket") {
  CHECK(LatencyBucketLabel(0) == "<2us");
  CHECK(LatencyBucketLabel(1) == "<4us");
  CHECK(LatencyBucketLabel(9) == "<1024us");
  CHECK(LatencyBucketLabel(KEEL_LAT_BUCKETS - 2) == "<8388608us");
  CHECK(LatencyBucketLabel(KEEL_LAT_BUCKETS - 1) == ">=8388608us");
}

TEST_CASE("LatencyPercentile: interpolates inside the bucket") {
  LatencyHistogram h{};
  CHECK_FALSE(LatencyPercentile(h, 0.5).has_value());
  h[3] = 100;  // all in [8, 16) us
  CHECK(*LatencyPercentile(h, 0.5) == doctest::Approx(12.0));
  CHECK(*LatencyPercentile(h, 0.99) == doctest::Approx(15.92));
  h[0] = 100;  // half in [0, 2) us
  CHECK(*LatencyPercentile(h, 0.5) == doctest::Approx(2.0));
  CHECK(*LatencyPercentile(h, 0.25) == doctest::Approx(1.0));
  CHECK(*LatencyPercentile(h, 0.99) == doctest::Approx(15.84));
  h[KEEL_LAT_BUCKETS - 1] = 1000;  // the open bucket: its lower bound
  CHECK(*LatencyPercentile(h, 0.99) == doctest::Approx(double(1 << 23)));
}

TEST_CASE("FormatMicros") {
  CHECK(FormatMicros(0.5) == "0.5us");
  CHECK(FormatMicros(12.34) == "12.3us");
  CHECK(FormatMicros(850) == "850us");
  CHECK(FormatMicros(1500) == "1.5ms");
  CHECK(FormatMicros(2000000) == "2s");
}

TEST_CASE("FormatTable: aligned columns, no trailing blanks") {
  CHECK(FormatTable({{"ID", "NAME", "X"}, {"12", "a", ""}, {"3", "longer", "y"}}) ==
        "ID  NAME    X\n"
        "12  a\n"
        "3   longer  y\n");
  CHECK(FormatTable({}) == "");
}

TEST_CASE("VolumeTable: one row per volume") {
  std::string t = FormatTable(VolumeTable({SampleVolume(true), SampleVolume(false)}));
  CHECK(t ==
        "ID  UUID                                  SIZE   BS    STATE               DEVICE      "
        "REPLICATION  BACKING\n"
        "3   6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b  1 GiB  4096  attached,direct-io  /dev/keel3  "
        "-            /var/lib/keel/v3.img\n"
        "3   6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b  1 GiB  4096  direct-io           -           "
        "-            /var/lib/keel/v3.img\n");
}

TEST_CASE("VolumeJson: every field, device null when detached") {
  nlohmann::json j = VolumeJson(SampleVolume(true));
  CHECK(j["id"] == 3);
  CHECK(j["uuid"] == "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b");
  CHECK(j["size"] == 1ULL << 30);
  CHECK(j["block_size"] == 4096);
  CHECK(j["backing_path"] == "/var/lib/keel/v3.img");
  CHECK(j["state"] == nlohmann::json({"attached", "direct-io"}));
  CHECK(j["state_mask"] == 3);
  CHECK(j["epoch"] == 7);
  CHECK(j["data_offset"] == 1 << 20);
  CHECK(j["device"] == "/dev/keel3");
  CHECK(j["major"] == 252);
  CHECK(j["minor"] == 48);
  for (const char* k : {"reads", "writes", "read_bytes", "write_bytes", "flushes", "fua",
                        "discards", "write_zeroes", "errors", "in_flight", "backing_syncs"})
    CHECK_MESSAGE(j["stats"].contains(k), k);
  CHECK(j["stats"]["reads"] == 10);
  CHECK(j["stats"]["latency_us"].size() == KEEL_LAT_BUCKETS);

  nlohmann::json d = VolumeJson(SampleVolume(false));
  CHECK(d["device"].is_null());
  CHECK(d["major"].is_null());
  CHECK(d["state"] == nlohmann::json({"direct-io"}));
}

TEST_CASE("StatsText and StatsReportJson: only non-empty buckets, percentiles") {
  VolumeStatus v = SampleVolume(true);
  CHECK(StatsText(v).find("no requests completed yet") != std::string::npos);
  CHECK(StatsReportJson(v)["p50_us"].is_null());
  v.stats.latency_us[1] = 4;
  v.stats.latency_us[KEEL_LAT_BUCKETS - 1] = 1;
  std::string text = StatsText(v);
  CHECK(text.find("volume 3 (/dev/keel3, attached,direct-io)") == 0);
  CHECK(text.find("reads:          10  40 KiB") != std::string::npos);
  CHECK(text.find("<4us") != std::string::npos);
  CHECK(text.find(">=8388608us") != std::string::npos);
  CHECK(text.find("<2us") == std::string::npos);
  CHECK(text.find("p50 ~") != std::string::npos);
  nlohmann::json j = StatsReportJson(v);
  CHECK(j["latency_buckets"].size() == 2);
  CHECK(j["latency_buckets"][0]["below_us"] == 4);
  CHECK(j["latency_buckets"][1]["below_us"].is_null());
  CHECK(j["p50_us"].get<double>() == doctest::Approx(3.25));
}

TEST_CASE("VolumeText: detached volumes say how to attach") {
  std::string t = VolumeText(SampleVolume(false));
  CHECK(t.find("device:       none (attach with: keelsetup attach 3)") != std::string::npos);
  CHECK(t.find("size:         1 GiB (1073741824 bytes)") != std::string::npos);
  CHECK(VolumeText(SampleVolume(true)).find("/dev/keel3 (252:48)") != std::string::npos);
}

TEST_CASE("Events as text and JSON") {
  KernelEvent ev;
  ev.type = KEEL_EVENT_IO_ERROR;
  ev.volume_id = 3;
  ev.error = EIO;
  ev.sector = 2048;
  CHECK(EventText(ev) ==
        "io-error volume=3 uuid=00000000-0000-0000-0000-000000000000 error=EIO sector=2048");
  nlohmann::json j = EventJson(ev);
  CHECK(j["type"] == "io-error");
  CHECK(j["error"] == EIO);
  CHECK(j["error_name"] == "EIO");
  CHECK(j["sector"] == 2048);
  ev.type = KEEL_EVENT_VOLUME_CREATED;
  ev.error = 0;
  CHECK(EventText(ev) == "volume-created volume=3 uuid=00000000-0000-0000-0000-000000000000");
  nlohmann::json c = EventJson(ev);
  for (const char* k :
       {"sector", "error", "error_name", "peer_slot", "sync_percent", "epoch", "message"})
    CHECK_MESSAGE(c[k].is_null(), k);
}

TEST_CASE("Events: replication fields as text and JSON") {
  KernelEvent ev;
  ev.type = KEEL_EVENT_PEER_REFUSED;
  ev.volume_id = 2;
  ev.peer_slot = 1;
  ev.error = ESTALE;
  ev.epoch = 4;
  ev.message = "stale epoch: 3 < \"4\"";
  CHECK(EventText(ev) ==
        "peer-refused volume=2 uuid=00000000-0000-0000-0000-000000000000 slot=1 error=ESTALE "
        "epoch=4 message=\"stale epoch: 3 < \\\"4\\\"\"");
  nlohmann::json j = EventJson(ev);
  CHECK(j["type"] == "peer-refused");
  CHECK(j["peer_slot"] == 1);
  CHECK(j["error"] == ESTALE);
  CHECK(j["error_name"] == "ESTALE");
  CHECK(j["sector"].is_null());
  CHECK(j["epoch"] == 4);
  CHECK(j["message"] == "stale epoch: 3 < \"4\"");
  CHECK(j["sync_percent"].is_null());

  KernelEvent progress;
  progress.type = KEEL_EVENT_SYNC_PROGRESS;
  progress.volume_id = 2;
  progress.peer_slot = 0;
  progress.sync_percent = 0;  // present though 0
  CHECK(EventText(progress) ==
        "sync-progress volume=2 uuid=00000000-0000-0000-0000-000000000000 slot=0 percent=0");
  CHECK(EventJson(progress)["sync_percent"] == 0);
  CHECK(EventJson(progress)["peer_slot"] == 0);
}

static VolumeStatus ReplicatedVolume() {
  VolumeStatus v = SampleVolume(true);
  v.freeze_policy = KEEL_FREEZE_FAIL;
  v.freeze_timeout_ms = 30000;
  v.peer_timeout_ms = 5000;
  v.resync_rate = 50ULL << 20;
  v.data_digest = true;
  v.granularity = 65536;
  PeerStatus p;
  p.slot = 1;
  p.name = "node-b";
  p.addr = "10.214.0.2";
  p.port = 7800;
  p.state = KEEL_PEER_STATE_SYNCING;
  p.connected = true;
  p.sync_percent = 42;
  p.dirty_bytes = 1 << 20;
  p.bytes_sent = 8192;
  p.bytes_acked = 4096;
  p.resync_bytes = 65536;
  p.resync_rate = 10 << 20;
  p.epoch = 7;
  p.connects = 2;
  v.peers.push_back(p);
  PeerStatus lost;
  lost.slot = 2;
  lost.addr = "fd00::3";
  lost.port = 7800;
  lost.state = KEEL_PEER_STATE_LOST;
  lost.in_sync = true;
  lost.error = ECONNREFUSED;
  lost.message = "connection refused";
  v.peers.push_back(lost);
  return v;
}

TEST_CASE("VolumeText: settings, peers and their errors, the target") {
  VolumeStatus v = ReplicatedVolume();
  std::string t = VolumeText(v);
  CHECK(t.find("replication settings:\n") != std::string::npos);
  CHECK(t.find("freeze policy:   fail\n") != std::string::npos);
  CHECK(t.find("freeze timeout:  30000 ms\n") != std::string::npos);
  CHECK(t.find("peer timeout:    5000 ms\n") != std::string::npos);
  CHECK(t.find("resync rate:     50 MiB/s\n") != std::string::npos);
  CHECK(t.find("data digest:     on\n") != std::string::npos);
  CHECK(t.find("granularity:     64 KiB (65536 bytes) per bitmap bit\n") != std::string::npos);
  CHECK(t.find("peers:\n  SLOT  NAME") != std::string::npos);
  CHECK(t.find("  1     node-b  10.214.0.2:7800  syncing  no       yes        42%   1 MiB  8 KiB  "
               "4 KiB  64 KiB    10 MiB/s     7      2\n") != std::string::npos);
  CHECK(t.find("  2     -       [fd00::3]:7800   lost     yes      no         -     0 B") !=
        std::string::npos);
  CHECK(t.find("  peer 2 last error: ECONNREFUSED: connection refused\n") != std::string::npos);
  CHECK(t.find("peer 1 last error") == std::string::npos);
  CHECK(t.find("replica target") == std::string::npos);

  TargetStatus target;
  target.addr = "0.0.0.0";
  target.port = 7801;
  target.accepted = 3;
  target.refused = 1;
  target.error = EACCES;
  target.message = "wrong MAC";
  target.bytes_written = 4096;
  v.target = target;
  t = VolumeText(v);
  CHECK(t.find("replica target:\n  listening on:   0.0.0.0:7801\n") != std::string::npos);
  CHECK(t.find("  connected:      no\n") != std::string::npos);
  CHECK(t.find("  last refusal:   EACCES: wrong MAC\n") != std::string::npos);
  CHECK(t.find("  bytes written:  4 KiB (4096 bytes)\n") != std::string::npos);

  // Nothing about replication for a module that reports none of it.
  CHECK(ReplicationText(SampleVolume(true)).empty());
  VolumeStatus diskless = SampleVolume(false);
  diskless.backing_path.clear();
  diskless.state |= KEEL_STATE_DISKLESS;
  CHECK(VolumeText(diskless).find("backing:      none (diskless)\n") != std::string::npos);
  CHECK(ResyncRateText(0) == "unlimited");
}

TEST_CASE("ReplicationSummary: peers in sync, the target") {
  VolumeStatus v = ReplicatedVolume();
  CHECK(ReplicationSummary(v) == "0/2 peers in-sync");
  v.peers[0].state = KEEL_PEER_STATE_IN_SYNC;
  CHECK(ReplicationSummary(v) == "1/2 peers in-sync");
  v.target = TargetStatus{};
  CHECK(ReplicationSummary(v) == "1/2 peers in-sync;target");
  v.peers.clear();
  v.target->connected = true;
  CHECK(ReplicationSummary(v) == "target,connected");
  VolumeStatus diskless = SampleVolume(false);
  diskless.backing_path.clear();
  std::string t = FormatTable(VolumeTable({diskless}));
  CHECK(t.substr(t.size() - 3) == " -\n");
}

TEST_CASE("VolumeJson: settings, peers and target fields") {
  nlohmann::json plain = VolumeJson(SampleVolume(false));
  for (const char* k : {"freeze_policy", "freeze_timeout_ms", "peer_timeout_ms", "resync_rate",
                        "data_digest", "granularity", "target"})
    CHECK_MESSAGE(plain[k].is_null(), k);
  CHECK(plain["peers"] == nlohmann::json::array());

  VolumeStatus v = ReplicatedVolume();
  TargetStatus target;
  target.addr = "10.214.0.3";
  target.port = 7801;
  target.connected = true;
  target.accepted = 1;
  target.bytes_written = 1 << 20;
  v.target = target;
  nlohmann::json j = VolumeJson(v);
  CHECK(j["freeze_policy"] == "fail");
  CHECK(j["freeze_timeout_ms"] == 30000);
  CHECK(j["peer_timeout_ms"] == 5000);
  CHECK(j["resync_rate"] == 50ULL << 20);
  CHECK(j["data_digest"] == true);
  CHECK(j["granularity"] == 65536);
  REQUIRE(j["peers"].size() == 2);
  const nlohmann::json& p = j["peers"][0];
  CHECK(p == nlohmann::json({{"slot", 1},
                             {"name", "node-b"},
                             {"addr", "10.214.0.2"},
                             {"port", 7800},
                             {"state", "syncing"},
                             {"state_code", KEEL_PEER_STATE_SYNCING},
                             {"in_sync", false},
                             {"connected", true},
                             {"sync_percent", 42},
                             {"dirty_bytes", 1 << 20},
                             {"bytes_sent", 8192},
                             {"bytes_acked", 4096},
                             {"resync_bytes", 65536},
                             {"resync_rate", 10 << 20},
                             {"epoch", 7},
                             {"error", 0},
                             {"error_name", nullptr},
                             {"message", nullptr},
                             {"connects", 2},
                             {"pulling", false}}));
  const nlohmann::json& lost = j["peers"][1];
  CHECK(lost["state"] == "lost");
  CHECK(lost["sync_percent"].is_null());
  CHECK(lost["epoch"].is_null());
  CHECK(lost["error"] == ECONNREFUSED);
  CHECK(lost["error_name"] == "ECONNREFUSED");
  CHECK(lost["message"] == "connection refused");
  CHECK(j["target"] == nlohmann::json({{"addr", "10.214.0.3"},
                                       {"port", 7801},
                                       {"connected", true},
                                       {"accepted", 1},
                                       {"refused", 0},
                                       {"error", 0},
                                       {"error_name", nullptr},
                                       {"message", nullptr},
                                       {"bytes_written", 1 << 20}}));
  CHECK(j.dump().find("secret") == std::string::npos);
}

TEST_CASE("StateWords and FeatureNames: replication bits") {
  CHECK(StateText(KEEL_STATE_DISKLESS | KEEL_STATE_LISTENING | KEEL_STATE_FROZEN) ==
        "diskless,listening,frozen");
  CHECK(FeatureNames(KEEL_FEATURE_REPLICATION) == std::vector<std::string>{"replication"});
}

TEST_CASE("InfoJson and InfoText: objects and volume count, absent from old modules") {
  ModuleInfo info;
  info.version = "0.1.0";
  info.api_version = 1;
  info.features = KEEL_FEATURE_EVENTS | KEEL_FEATURE_VOLUMES;
  info.kernel_release = "6.1.0";
  CHECK(InfoJson(info)["objects"].is_null());
  CHECK(InfoText(info).find("objects:         -") != std::string::npos);
  info.objects = 5;
  info.volume_count = 1;
  nlohmann::json j = InfoJson(info);
  CHECK(j["objects"] == 5);
  CHECK(j["volume_count"] == 1);
  CHECK(j["features"] == nlohmann::json({"events", "volumes"}));
  std::string t = InfoText(info);
  CHECK(t.find("module version:  0.1.0\n") == 0);
  CHECK(t.find("volumes:         1\n") != std::string::npos);
  CHECK(t.find("objects:         5\n") != std::string::npos);
}

TEST_CASE("ErrorJson") {
  CHECK(ErrorJson(Status::Error(ENOENT, "no such volume")).dump() ==
        R"({"error":{"code":2,"message":"no such volume"}})");
}

}  // namespace keel
