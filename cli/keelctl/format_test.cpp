// keelctl's pure formatting: tables, fields, sizes, times, colours, and the
// text of keeld's replies (including replies with fields missing).
#include "cli/keelctl/format.h"

#include <doctest/doctest.h>

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

}  // namespace
}  // namespace keel
