// Pure formatting for keelctl's human output: aligned tables, key/value
// blocks, sizes, times, coloured states.  The input is keeld's JSON as
// docs/api.md describes it; a missing or mistyped field prints as "-",
// never a crash.  Nothing here does I/O; format_test.cpp covers it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace keel {

// Columns on a terminal, ignoring ANSI colour sequences (and counting a
// UTF-8 character as one column).
size_t VisibleWidth(const std::string& s);
// Rows of cells as columns aligned on the widest cell, two spaces apart,
// without trailing blanks; each row ends in a newline.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);
// "key:   value" lines with the values aligned.
std::string FormatFields(const std::vector<std::pair<std::string, std::string>>& fields);

// A volume, node or replica state, coloured when `color`: attached, up and
// in-sync green; pending, suspect, syncing and connecting yellow; missing,
// down, outdated and lost red; others are left plain.
std::string PaintState(const std::string& state, bool color);

// j[key] as text: a string as it is, a number in decimal, "-" when missing
// or null, other JSON as JSON.
std::string FieldText(const nlohmann::json& j, const std::string& key);
// "10 GiB" for a byte count in j[key], "-" when it is not an unsigned number.
std::string SizeText(const nlohmann::json& j, const std::string& key);
// "tier=gold,zone=a", or "-" for no labels.
std::string LabelsText(const nlohmann::json& labels);
// Milliseconds since the epoch as "2024-11-24 18:13:20 UTC".
std::string TimeText(int64_t ms);

// `volume list`: NAME SIZE STATE DEVICE REPLICAS NODE LABELS, a row per
// volume in the order given.
std::string VolumeTable(const nlohmann::json& volumes, bool color);
// `volume inspect`: every field of the volume, then the kernel's view (flags,
// epoch, IO counters) when keeld included it.
std::string VolumeText(const nlohmann::json& volume, bool color);
// `node inspect`: node.info's result.
std::string NodeText(const nlohmann::json& info);

// How long ago `ms` was, at `now_ms`, in its largest unit: "42s", "5m",
// "3h", "2d" ("0s" for a time in the future: clocks of nodes differ).
std::string AgoText(int64_t now_ms, int64_t ms);
// `node list`: NAME STATE SINCE ZONE RACK FREE/CAPACITY COORD, a row per node
// of node.list's result in the order given; COORD is "*" for the coordinator.
std::string NodeTable(const nlohmann::json& nodes, int64_t now_ms, bool color);
// `node inspect NAME`: every field of one node of node.list.
std::string ClusterNodeText(const nlohmann::json& node, int64_t now_ms, bool color);
// `cluster status`: coordinator, this node's lease, etcd endpoints, node and
// volume counts, then the node table.
std::string ClusterText(const nlohmann::json& status, int64_t now_ms, bool color);
// A node's state with its placement flags: "up", "up,cordoned", "down,draining"
// (draining implies cordoned, so it is named alone).  The state is coloured.
std::string NodeStateText(const nlohmann::json& node, bool color);

// Cells between the brackets of a progress bar.
inline constexpr int kProgressWidth = 22;
// A resync's progress: "[#########.............]  42%  37.2 MiB/s  ETA 0:01".
// `width` cells, filled in proportion to `percent` (clamped to 0-100; a
// negative percent is unknown: an empty bar and "  ?%"); `rate` in bytes/s;
// the ETA is remaining_bytes / rate rounded up to a second ("--:--" when the
// rate is 0).
std::string ProgressBar(double percent, uint64_t rate, uint64_t remaining_bytes, int width);
// Seconds as "0:03", "12:00", "1:02:03"; ">99h" from 100 hours on.
std::string EtaText(uint64_t seconds);
// One entry of volume.status's `sync`: "n1  [###...]  42%  37.2 MiB/s  ETA 0:01"
// while syncing, "n3  in-sync" (its state) otherwise.
std::string SyncLine(const nlohmann::json& sync);
// The progress of a volume.status result, a (node, line) per replica but the
// attached one: its SyncLine when `sync` has it, else "n1  in sync" or
// "n1  not in sync" from `in_sync`; and ("", "sync state unknown: ...") when
// keeld reports a `sync_error`.
std::vector<std::pair<std::string, std::string>> SyncLines(const nlohmann::json& status);
// The nodes of volume.status's replica_set that are not in its in_sync, in
// replica_set's order; empty when every replica is in sync.
std::vector<std::string> NotInSync(const nlohmann::json& status);
// `volume inspect` in cluster mode: volume.status's result (the volume, its
// epoch and state, where it is attached), then a row per replica: NODE SLOT
// IN-SYNC STATE PROGRESS.
std::string ClusterVolumeText(const nlohmann::json& status, bool color);
// `cluster rebalance`: cluster.rebalance's result: a line saying what it
// does, the moves (VOLUME SIZE FROM TO, and an error per move that could not
// start), each node's use before and after, and the plan's reason.
std::string RebalanceText(const nlohmann::json& plan);

}  // namespace keel
