// Pure formatting for keelsetup: words for state and feature bits, the
// latency histogram, aligned tables, and the JSON of every reply.  Nothing
// here talks to the kernel; format_test.cpp covers it.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "manager/common/status.h"
#include "manager/kernel/kernel_client.h"

namespace keel {

using LatencyHistogram = std::array<uint64_t, KEEL_LAT_BUCKETS>;

// KEEL_STATE_* bits as words: "attached", "direct-io", "formatted",
// "io-error", "diskless", "listening", "frozen"; unknown bits as "bitN".
std::vector<std::string> StateWords(uint32_t mask);
// The words joined by commas, or "-" when no bit is set.
std::string StateText(uint32_t mask);
// KEEL_FEATURE_* bits: "events", "volumes", "discard", "flush-fua",
// "replication", "bitN".
std::vector<std::string> FeatureNames(uint64_t mask);
// "/dev/keel3", or "" when the volume is detached.
std::string DevicePath(const VolumeStatus& v);
// "EIO (Input/output error)"-style name of a positive errno: "EIO".
std::string ErrnoName(int error);

// Bucket i of the latency histogram: "<2us", "<4us", ..., and the last,
// open bucket ">=8388608us".
std::string LatencyBucketLabel(size_t i);
// The p-quantile (0 < p <= 1) in microseconds, estimated by interpolating
// inside the bucket that holds it (bucket i spans [2^i, 2^(i+1)) us, bucket
// 0 spans [0, 2)); the open last bucket gives its lower bound.  nullopt when
// the histogram is empty.
std::optional<double> LatencyPercentile(const LatencyHistogram& h, double p);
// "850us", "1.5ms", "2.25s": microseconds for people.
std::string FormatMicros(double us);

// Rows of cells as columns aligned on the widest cell, two spaces apart,
// without trailing blanks.  Every row ends in a newline.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);
// "1/2 peers in-sync", "target,connected", "target", both joined by ";",
// or "-" without replication.
std::string ReplicationSummary(const VolumeStatus& v);
// The header and one row per volume: ID UUID SIZE BS STATE DEVICE
// REPLICATION BACKING ("-" for a diskless volume).
std::vector<std::vector<std::string>> VolumeTable(const std::vector<VolumeStatus>& volumes);

// Multi-line "key: value" descriptions.  VolumeText ends with
// ReplicationText.
std::string VolumeText(const VolumeStatus& v);
// The replication settings the module reported, a table of the peers (and
// each one's last error) and the replica target; "" when there is none.
std::string ReplicationText(const VolumeStatus& v);
// "50 MiB/s", or "unlimited" for 0.
std::string ResyncRateText(uint64_t rate);
std::string StatsText(const VolumeStatus& v);
std::string InfoText(const ModuleInfo& info);
// One line: "volume-attached volume=3 uuid=... [slot=N] [error=EIO]
// [sector=N] [percent=N] [epoch=N] [message="..."]" (the message as a JSON
// string, so it stays on one line).
std::string EventText(const KernelEvent& ev);

// JSON, with the stable snake_case field names of docs/netlink.md.
nlohmann::json StatsJson(const VolumeStats& s);
nlohmann::json VolumeJson(const VolumeStatus& v);
nlohmann::json PeerJson(const PeerStatus& p);
nlohmann::json TargetJson(const TargetStatus& t);
// stats plus estimated percentiles and the non-empty buckets.
nlohmann::json StatsReportJson(const VolumeStatus& v);
nlohmann::json InfoJson(const ModuleInfo& info);
nlohmann::json EventJson(const KernelEvent& ev);
// {"error": {"code": errno, "message": "..."}}
nlohmann::json ErrorJson(const Status& s);

}  // namespace keel
