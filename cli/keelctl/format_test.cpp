// keelctl's pure formatting: tables, fields, sizes, times, colours, and the
// text of keeld's replies (including replies with fields missing).
#include "cli/keelctl/format.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>

namespace keel {
namespace {

using nlohmann::json;

json SampleVolume() {
  return json::parse(R"({"name": "db", "uuid": "6f1c0000-0000-4000-8000-000000000001",
    "size": 10737418240, "size_human": "10 GiB", "block_size": 4096,
    "labels": {"tier": "gold", "app": "pg"}, "replicas": 1, "node": "node1",
    "state": "attached", "device": "/dev/keel0", "kernel_id": 0,
    "backing_path": "/var/lib/keel/pool/6f1c.img", "created_at_ms": 1732472000000})");
}

TEST_CASE("keelctl format: visible width skips colour codes and counts UTF-8 characters once") {
  CHECK(VisibleWidth("attached") == 8);
  CHECK(VisibleWidth("\x1b[32mattached\x1b[0m") == 8);
  CHECK(VisibleWidth("") == 0);
  CHECK(VisibleWidth("caf\xc3\xa9") == 4);
}

TEST_CASE("keelctl format: a table aligns columns two spaces apart without trailing blanks") {
  std::string t =
      FormatTable({{"NAME", "SIZE", "STATE"}, {"database", "10 GiB", ""}, {"a", "1", "x"}});
  CHECK(t ==
        "NAME      SIZE    STATE\n"
        "database  10 GiB\n"
        "a         1       x\n");
}

TEST_CASE("keelctl format: coloured cells keep the columns aligned") {
  std::string plain = VolumeTable(json::array({SampleVolume()}), false);
  std::string color = VolumeTable(json::array({SampleVolume()}), true);
  CHECK(color != plain);
  CHECK(color.find("\x1b[32mattached\x1b[0m") != std::string::npos);
  // Removing the escapes gives exactly the plain table.
  std::string stripped = color;
  for (const char* esc : {"\x1b[32m", "\x1b[0m"}) {
    for (size_t p; (p = stripped.find(esc)) != std::string::npos;) stripped.erase(p, strlen(esc));
  }
  CHECK(stripped == plain);
}

TEST_CASE("keelctl format: states are coloured by meaning, and only when asked") {
  CHECK(PaintState("attached", false) == "attached");
  CHECK(PaintState("attached", true) == "\x1b[32mattached\x1b[0m");
  CHECK(PaintState("pending", true) == "\x1b[33mpending\x1b[0m");
  CHECK(PaintState("missing", true) == "\x1b[31mmissing\x1b[0m");
  CHECK(PaintState("detached", true) == "detached");
}

TEST_CASE("keelctl format: field, size, label and time text, with '-' for what is absent") {
  json j = {{"s", "x"},  {"n", 42},     {"z", nullptr}, {"size", 10737418240ULL},
            {"neg", -5}, {"str", "10G"}};
  CHECK(FieldText(j, "s") == "x");
  CHECK(FieldText(j, "n") == "42");
  CHECK(FieldText(j, "z") == "-");
  CHECK(FieldText(j, "missing") == "-");
  CHECK(FieldText(json::array(), "s") == "-");
  CHECK(SizeText(j, "size") == "10 GiB");
  CHECK(SizeText(j, "str") == "-");
  CHECK(SizeText(j, "missing") == "-");
  CHECK(SizeText(j, "neg") == "-5 B");
  CHECK(LabelsText(json::object()) == "-");
  CHECK(LabelsText(nullptr) == "-");
  CHECK(LabelsText({{"zone", "a"}, {"app", "pg"}}) == "app=pg,zone=a");
  CHECK(TimeText(0) == "1970-01-01 00:00:00 UTC");
  CHECK(TimeText(1732472000000) == "2024-11-24 18:13:20 UTC");
}

TEST_CASE("keelctl format: the volume table has a header and one row per volume") {
  json detached = SampleVolume();
  detached["name"] = "web";
  detached["size"] = 512ULL << 20;
  detached["state"] = "detached";
  detached["device"] = nullptr;
  detached["labels"] = json::object();
  std::string t = VolumeTable(json::array({SampleVolume(), detached}), false);
  CHECK(t ==
        "NAME  SIZE     STATE     DEVICE      REPLICAS  NODE   LABELS\n"
        "db    10 GiB   attached  /dev/keel0  1         node1  app=pg,tier=gold\n"
        "web   512 MiB  detached  -           1         node1  -\n");
  CHECK(VolumeTable(json::array(), false) == "NAME  SIZE  STATE  DEVICE  REPLICAS  NODE  LABELS\n");
}

TEST_CASE("keelctl format: inspect text shows the record and the kernel's counters") {
  json v = SampleVolume();
  v["kernel"] = json::parse(R"({"state": ["attached", "direct-io", "formatted"], "epoch": 3,
    "data_offset": 1048576, "stats": {"reads": 10, "writes": 20, "read_bytes": 40960,
    "write_bytes": 2097152, "flushes": 2, "discards": 0, "errors": 0, "in_flight": 1}})");
  std::string t = VolumeText(v, false);
  CHECK(t.find("Name:          db\n") != std::string::npos);
  CHECK(t.find("Size:          10 GiB (10737418240 bytes)\n") != std::string::npos);
  CHECK(t.find("Device:        /dev/keel0\n") != std::string::npos);
  CHECK(t.find("Labels:        app=pg,tier=gold\n") != std::string::npos);
  CHECK(t.find("Created:       2024-11-24 18:13:20 UTC\n") != std::string::npos);
  CHECK(t.find("Kernel flags:  attached,direct-io,formatted\n") != std::string::npos);
  CHECK(t.find("Epoch:         3\n") != std::string::npos);
  CHECK(t.find("Writes:        20 (2 MiB)\n") != std::string::npos);
  CHECK(t.find("In flight:     1\n") != std::string::npos);
  // Without the kernel part (volume.list's objects), no kernel lines.
  CHECK(VolumeText(SampleVolume(), false).find("Epoch") == std::string::npos);
}

TEST_CASE("keelctl format: inspect text of a reply with fields missing or mistyped") {
  std::string t = VolumeText({{"name", "odd"}, {"size", "big"}, {"kernel", {{"state", 7}}}}, false);
  CHECK(t.find("Name:          odd\n") != std::string::npos);
  CHECK(t.find("Size:          -\n") != std::string::npos);
  CHECK(t.find("Kernel flags:  -\n") != std::string::npos);
  CHECK(t.find("Reads:         - (-)\n") != std::string::npos);
  CHECK(VolumeText(nullptr, false).find("Name:") != std::string::npos);
}

TEST_CASE("keelctl format: node text shows versions, module error and pool usage") {
  json info = json::parse(R"({"node_name": "node1", "labels": {"zone": "z1"},
    "keeld_version": "0.1.0", "api": 1, "kvdb": "embedded",
    "module": {"version": "0.1.0", "api_version": 2, "kernel_release": "6.12.0"},
    "pool": {"directory": "/var/lib/keel/pool", "capacity": 4294967296, "used": 1073741824,
             "free": 3221225472, "volumes": 2}})");
  std::string t = NodeText(info);
  CHECK(t.find("Node:      node1\n") != std::string::npos);
  CHECK(t.find("keeld:     0.1.0 (API 1)\n") != std::string::npos);
  CHECK(t.find("keel.ko:   0.1.0 (API 2, kernel 6.12.0)\n") != std::string::npos);
  CHECK(t.find("Used:      1 GiB (25%)\n") != std::string::npos);
  CHECK(t.find("Free:      3 GiB\n") != std::string::npos);
  info["module"] = {{"error", "keel.ko is not loaded (ENOENT)"}};
  CHECK(NodeText(info).find("keel.ko:   unavailable: keel.ko is not loaded (ENOENT)\n") !=
        std::string::npos);
}

TEST_CASE("keelctl format: ago in the largest unit, never negative") {
  CHECK(AgoText(100000, 100000) == "0s");
  CHECK(AgoText(100000, 200000) == "0s");
  CHECK(AgoText(159999, 100000) == "59s");
  CHECK(AgoText(160000, 100000) == "1m");
  CHECK(AgoText(100000 + 3600000, 100000) == "1h");
  CHECK(AgoText(100000 + 2 * 86400000LL + 5, 100000) == "2d");
}

TEST_CASE("keelctl format: node table and cluster text survive missing or mistyped fields") {
  CHECK(NodeTable(json::array({{{"name", "n1"}}, 7}), 0, false) ==
        "NAME  STATE  SINCE  ZONE  RACK  FREE/CAPACITY  COORD\n"
        "n1    -      -      -     -     -/-\n"
        "-     -      -      -     -     -/-\n");
  CHECK(NodeTable(nullptr, 0, false) == "NAME  STATE  SINCE  ZONE  RACK  FREE/CAPACITY  COORD\n");
  std::string t = ClusterText(json::object(), 0, false);
  CHECK(t.find("Coordinator:  none known\n") != std::string::npos);
  CHECK(t.find("Nodes:        - (- up, - suspect, - down, - maintenance)\n") != std::string::npos);
  CHECK(ClusterNodeText(nullptr, 0, false).find("State:         -\n") != std::string::npos);
}

TEST_CASE("keelctl format: node states are coloured like volume states") {
  CHECK(PaintState("up", true) == "\x1b[32mup\x1b[0m");
  CHECK(PaintState("suspect", true) == "\x1b[33msuspect\x1b[0m");
  CHECK(PaintState("down", true) == "\x1b[31mdown\x1b[0m");
  CHECK(PaintState("maintenance", true) == "maintenance");
  CHECK(PaintState("down", false) == "down");
}

TEST_CASE("keelctl format: replica states are coloured too") {
  CHECK(PaintState("in-sync", true) == "\x1b[32min-sync\x1b[0m");
  CHECK(PaintState("syncing", true) == "\x1b[33msyncing\x1b[0m");
  CHECK(PaintState("connecting", true) == "\x1b[33mconnecting\x1b[0m");
  CHECK(PaintState("outdated", true) == "\x1b[31moutdated\x1b[0m");
  CHECK(PaintState("lost", true) == "\x1b[31mlost\x1b[0m");
  CHECK(PaintState("lost", false) == "lost");
}

TEST_CASE("keelctl format: a node's state names cordoned or draining, draining alone") {
  CHECK(NodeStateText({{"state", "up"}}, false) == "up");
  CHECK(NodeStateText({{"state", "up"}, {"cordoned", false}, {"draining", false}}, false) == "up");
  CHECK(NodeStateText({{"state", "up"}, {"cordoned", true}}, false) == "up,cordoned");
  CHECK(NodeStateText({{"state", "up"}, {"cordoned", true}, {"draining", true}}, false) ==
        "up,draining");
  CHECK(NodeStateText({{"state", "down"}, {"cordoned", true}}, true) ==
        "\x1b[31mdown\x1b[0m,cordoned");
  CHECK(NodeStateText({{"cordoned", "yes"}}, false) == "-");
  CHECK(NodeStateText(nullptr, false) == "-");
}

TEST_CASE("keelctl format: the progress bar: percent, rate and ETA") {
  CHECK(ProgressBar(42, 39000000, 38797312, kProgressWidth) ==
        "[#########.............]  42%  37.2 MiB/s  ETA 0:01");
  CHECK(ProgressBar(42, 1048576, 3 * 1048576, kProgressWidth) ==
        "[#########.............]  42%  1 MiB/s  ETA 0:03");
  // The ETA rounds up: a resync with bytes left never says 0:00.
  CHECK(ProgressBar(99, 1000, 1, 10).ends_with("ETA 0:01"));
  CHECK(ProgressBar(99, 1000, 2001, 10).ends_with("ETA 0:03"));
  CHECK(ProgressBar(100, 1000, 0, 10).ends_with("ETA 0:00"));
}

TEST_CASE("keelctl format: the progress bar's width") {
  CHECK(ProgressBar(50, 0, 0, 10) == "[#####.....]  50%  0 B/s  ETA --:--");
  CHECK(ProgressBar(50, 0, 0, 1) == "[.]  50%  0 B/s  ETA --:--");
  CHECK(ProgressBar(50, 0, 0, 0) == "[]  50%  0 B/s  ETA --:--");
  CHECK(ProgressBar(50, 0, 0, -5) == "[]  50%  0 B/s  ETA --:--");
  std::string wide = ProgressBar(25, 0, 0, 200);
  CHECK(wide.find("[" + std::string(50, '#') + std::string(150, '.') + "]") == 0);
  // The same width whatever the percent, so that rows line up.
  for (double p : {0.0, 5.0, 42.0, 100.0, -1.0}) {
    CAPTURE(p);
    CHECK(ProgressBar(p, 0, 0, kProgressWidth).size() == ProgressBar(42, 0, 0, 22).size());
  }
}

TEST_CASE("keelctl format: the progress bar at 0%, 100%, unknown and out of range") {
  CHECK(ProgressBar(0, 0, 1000, 10) == "[..........]   0%  0 B/s  ETA --:--");
  CHECK(ProgressBar(100, 5, 0, 10) == "[##########] 100%  5 B/s  ETA 0:00");
  // Not 100% until it is.
  CHECK(ProgressBar(99.9, 0, 0, 10) == "[#########.]  99%  0 B/s  ETA --:--");
  CHECK(ProgressBar(0.5, 0, 0, 10) == "[..........]   0%  0 B/s  ETA --:--");
  CHECK(ProgressBar(250, 0, 0, 10) == "[##########] 100%  0 B/s  ETA --:--");
  CHECK(ProgressBar(-1, 0, 0, 10) == "[..........]   ?%  0 B/s  ETA --:--");
  CHECK(ProgressBar(std::nan(""), 0, 0, 10) == "[..........]   ?%  0 B/s  ETA --:--");
}

TEST_CASE("keelctl format: the progress bar with huge values") {
  CHECK(ProgressBar(1e300, UINT64_MAX, UINT64_MAX, 10) == "[##########] 100%  16 EiB/s  ETA 0:01");
  CHECK(ProgressBar(1, 1, UINT64_MAX, 10) == "[..........]   1%  1 B/s  ETA >99h");
  CHECK(ProgressBar(1, UINT64_MAX, 1, 10).ends_with("ETA 0:01"));
  CHECK(ProgressBar(1, 1024, 1024ULL * 3600 * 99, 10).ends_with("ETA 99:00:00"));
  CHECK(ProgressBar(1, 1024, 1024ULL * 3600 * 100, 10).ends_with("ETA >99h"));
}

TEST_CASE("keelctl format: ETA text") {
  CHECK(EtaText(0) == "0:00");
  CHECK(EtaText(3) == "0:03");
  CHECK(EtaText(59) == "0:59");
  CHECK(EtaText(60) == "1:00");
  CHECK(EtaText(3599) == "59:59");
  CHECK(EtaText(3600) == "1:00:00");
  CHECK(EtaText(3723) == "1:02:03");
  CHECK(EtaText(100 * 3600 - 1) == "99:59:59");
  CHECK(EtaText(100 * 3600) == ">99h");
  CHECK(EtaText(UINT64_MAX) == ">99h");
}

json SampleStatus() {
  return json::parse(R"({"name": "db", "uuid": "u1", "size": 67108864, "block_size": 4096,
    "labels": {"tier": "gold"}, "replicas": 3, "constraints": {}, "epoch": 5,
    "replica_set": [{"node": "n1", "slot": 0, "synced_epoch": 4}, {"node": "n2", "slot": 1},
                    {"node": "n3", "slot": 2}],
    "in_sync": ["n2", "n3"], "attached_node": "n2", "device": "/dev/keel0",
    "attached_epoch": 5, "state": "ready", "created_ms": 1700000000000,
    "sync": [{"node": "n1", "slot": 0, "state": "syncing", "in_sync": false, "connected": true,
              "percent": 42, "rate": 39000000, "remaining_bytes": 38797312},
             {"node": "n3", "slot": 2, "state": "in-sync", "in_sync": true, "connected": true,
              "percent": 100, "rate": 0, "remaining_bytes": 0}]})");
}

const char kBar[] = "[#########.............]  42%  37.2 MiB/s  ETA 0:01";

TEST_CASE("keelctl format: a sync entry's line: a bar while syncing, else its state") {
  json st = SampleStatus();
  CHECK(SyncLine(st["sync"][0]) == std::string("n1  ") + kBar);
  CHECK(SyncLine(st["sync"][1]) == "n3  in-sync");
  CHECK(SyncLine({{"node", "n1"}, {"state", "connecting"}}) == "n1  connecting");
  CHECK(SyncLine({{"node", "n1"}, {"state", "syncing"}, {"percent", nullptr}}) ==
        "n1  [......................]   ?%  0 B/s  ETA --:--");
  CHECK(SyncLine(nullptr) == "-  -");
}

TEST_CASE("keelctl format: sync lines: every replica but the attached one") {
  json st = SampleStatus();
  using Lines = std::vector<std::pair<std::string, std::string>>;
  CHECK(SyncLines(st) == Lines{{"n1", std::string("n1  ") + kBar}, {"n3", "n3  in-sync"}});
  // Detached, or the attached node not asked: from in_sync.
  json detached = st;
  detached.erase("sync");
  detached.erase("attached_node");
  CHECK(SyncLines(detached) ==
        Lines{{"n1", "n1  not in sync"}, {"n2", "n2  in sync"}, {"n3", "n3  in sync"}});
  json unknown = st;
  unknown.erase("sync");
  unknown["sync_error"] = "n2: no answer";
  CHECK(SyncLines(unknown) == Lines{{"n1", "n1  not in sync"},
                                    {"n3", "n3  in sync"},
                                    {"", "sync state unknown: n2: no answer"}});
  CHECK(SyncLines(nullptr).empty());
  CHECK(SyncLines({{"replica_set", 3}, {"sync", "x"}}).empty());
  // Detached and filled from n3: n3 drives the resync, the others are shown.
  json filling = st;
  filling.erase("attached_node");
  filling["sync_source"] = "n3";
  filling["sync"] = json::array({st["sync"][0]});
  CHECK(SyncLines(filling) == Lines{{"n1", std::string("n1  ") + kBar}, {"n2", "n2  in sync"}});
}

TEST_CASE("keelctl format: the replicas not in sync") {
  json st = SampleStatus();
  CHECK(NotInSync(st) == std::vector<std::string>{"n1"});
  st["in_sync"] = {"n3", "n1", "n2"};
  CHECK(NotInSync(st).empty());
  st["in_sync"] = json::array();
  CHECK(NotInSync(st) == std::vector<std::string>{"n1", "n2", "n3"});
  st["in_sync"] = "n1";
  CHECK(NotInSync(st).size() == 3);
  CHECK(NotInSync(nullptr).empty());
}

TEST_CASE("keelctl format: the cluster volume: record, attachment, then a row per replica") {
  CHECK(ClusterVolumeText(SampleStatus(), false) ==
        "Name:        db\n"
        "UUID:        u1\n"
        "Size:        64 MiB (67108864 bytes)\n"
        "Block size:  4096\n"
        "Labels:      tier=gold\n"
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
        "n3    2     yes      in-sync   -\n");
  std::string color = ClusterVolumeText(SampleStatus(), true);
  CHECK(color.find("\x1b[33msyncing\x1b[0m   [#") != std::string::npos);
}

TEST_CASE("keelctl format: the cluster volume detached, or its sync state unknown") {
  json st = SampleStatus();
  st.erase("sync");
  st.erase("attached_node");
  st.erase("device");
  st.erase("attached_epoch");
  std::string t = ClusterVolumeText(st, false);
  CHECK(t.find("Attached:    no\n") != std::string::npos);
  CHECK(t.find("n1    0     no       -      -\n") != std::string::npos);
  CHECK(t.find("n2    1     yes      -      -\n") != std::string::npos);
  st = SampleStatus();
  st.erase("sync");
  st["sync_error"] = "n2 did not answer";
  t = ClusterVolumeText(st, false);
  CHECK(t.find("Sync:        unknown: n2 did not answer\n") != std::string::npos);
  CHECK(t.find("n2    1     yes      attached  -\n") != std::string::npos);
  st["in_sync"] = json::array();
  CHECK(ClusterVolumeText(st, false).find("In sync:     none\n") != std::string::npos);
  st = SampleStatus();
  st.erase("attached_node");
  st.erase("device");
  st.erase("attached_epoch");
  st["sync_source"] = "n2";
  st["sync"] = json::array({SampleStatus()["sync"][0]});
  t = ClusterVolumeText(st, false);
  CHECK(t.find("Source:      n2 (detached: it fills the others)\n") != std::string::npos);
  CHECK(t.find("n2    1     yes      source   -\n") != std::string::npos);
  CHECK(t.find("n1    0     no       syncing  [#") != std::string::npos);
}

TEST_CASE("keelctl format: the cluster volume survives missing or mistyped fields") {
  std::string t = ClusterVolumeText(nullptr, false);
  CHECK(t.find("Name:        -\n") != std::string::npos);
  CHECK(t.find("Attached:    no\n") != std::string::npos);
  CHECK(t.ends_with("\nNODE  SLOT  IN-SYNC  STATE  PROGRESS\n"));
  t = ClusterVolumeText({{"replica_set", {7, {{"node", "n1"}}}},
                         {"sync", {{{"node", "n1"}, {"state", "syncing"}, {"percent", "x"}}}},
                         {"in_sync", {1}}},
                        false);
  CHECK(t.ends_with(
      "-     -     no       -        -\n"
      "n1    -     no       syncing  [......................]   ?%  0 B/s  ETA --:--\n"));
}

}  // namespace
}  // namespace keel
