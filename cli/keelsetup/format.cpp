#include "cli/keelsetup/format.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "manager/common/size.h"

namespace keel {
namespace {

template <typename Mask>
std::vector<std::string> BitWords(Mask mask,
                                  std::initializer_list<std::pair<Mask, const char*>> known) {
  std::vector<std::string> words;
  Mask unknown = mask;
  for (const auto& [bit, word] : known) {
    if (mask & bit) words.emplace_back(word);
    unknown &= ~bit;
  }
  for (int i = 0; i < static_cast<int>(sizeof(Mask) * 8); ++i)
    if (unknown & (Mask{1} << i)) words.push_back("bit" + std::to_string(i));
  return words;
}

std::string Join(const std::vector<std::string>& words, const char* sep) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : sep) + w;
  return out;
}

// One decimal below 100, none above; no trailing ".0".
std::string Number(double v) {
  char buf[64];
  snprintf(buf, sizeof(buf), v < 99.95 ? "%.1f" : "%.0f", v);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

std::string SizeWithBytes(uint64_t bytes) {
  return FormatSize(bytes) + " (" + std::to_string(bytes) + " bytes)";
}

std::string YesNo(bool b) { return b ? "yes" : "no"; }

// "ECONNREFUSED: connection refused", "ECONNREFUSED", "connection refused",
// or "" when there is neither.
std::string ErrorText(int32_t error, const std::string& message) {
  std::string out = error ? ErrnoName(error) : "";
  if (!message.empty()) out += (out.empty() ? "" : ": ") + message;
  return out;
}

template <typename T>
nlohmann::json OrNull(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json ErrnoNameJson(int32_t error) {
  return error ? nlohmann::json(ErrnoName(error)) : nlohmann::json(nullptr);
}

nlohmann::json StringOrNull(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

}  // namespace

std::vector<std::string> StateWords(uint32_t mask) {
  return BitWords<uint32_t>(mask, {{KEEL_STATE_ATTACHED, "attached"},
                                   {KEEL_STATE_DIRECT_IO, "direct-io"},
                                   {KEEL_STATE_FORMATTED, "formatted"},
                                   {KEEL_STATE_IO_ERROR, "io-error"},
                                   {KEEL_STATE_DISKLESS, "diskless"},
                                   {KEEL_STATE_LISTENING, "listening"},
                                   {KEEL_STATE_FROZEN, "frozen"}});
}

std::string StateText(uint32_t mask) {
  std::string s = Join(StateWords(mask), ",");
  return s.empty() ? "-" : s;
}

std::vector<std::string> FeatureNames(uint64_t mask) {
  return BitWords<uint64_t>(mask, {{KEEL_FEATURE_EVENTS, "events"},
                                   {KEEL_FEATURE_VOLUMES, "volumes"},
                                   {KEEL_FEATURE_DISCARD, "discard"},
                                   {KEEL_FEATURE_FLUSH_FUA, "flush-fua"},
                                   {KEEL_FEATURE_REPLICATION, "replication"}});
}

std::string DevicePath(const VolumeStatus& v) {
  return v.device_name.empty() ? "" : "/dev/" + v.device_name;
}

std::string ErrnoName(int error) {
  const char* name = strerrorname_np(error);
  return name ? name : std::to_string(error);
}

std::string LatencyBucketLabel(size_t i) {
  if (i + 1 >= KEEL_LAT_BUCKETS) return ">=" + std::to_string(1ULL << i) + "us";
  return "<" + std::to_string(1ULL << (i + 1)) + "us";
}

std::optional<double> LatencyPercentile(const LatencyHistogram& h, double p) {
  double total = 0;
  for (uint64_t c : h) total += static_cast<double>(c);
  if (total == 0) return std::nullopt;
  double rank = p * total;
  double below = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    if (h[i] == 0) continue;
    double count = static_cast<double>(h[i]);
    double lower = i == 0 ? 0 : std::ldexp(1.0, static_cast<int>(i));
    if (i + 1 == h.size()) return lower;  // open-ended: all we know
    if (below + count >= rank) {
      double upper = std::ldexp(1.0, static_cast<int>(i + 1));
      return lower + (upper - lower) * (rank - below) / count;
    }
    below += count;
  }
  return std::nullopt;  // not reached: rank <= total
}

std::string FormatMicros(double us) {
  if (us < 1000) return Number(us) + "us";
  if (us < 1000000) return Number(us / 1000) + "ms";
  return Number(us / 1000000) + "s";
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string ReplicationSummary(const VolumeStatus& v) {
  std::vector<std::string> parts;
  if (!v.peers.empty()) {
    size_t in_sync = 0;
    for (const PeerStatus& p : v.peers) in_sync += p.state == KEEL_PEER_STATE_IN_SYNC;
    parts.push_back(std::to_string(in_sync) + "/" + std::to_string(v.peers.size()) +
                    " peers in-sync");
  }
  if (v.target) parts.push_back(v.target->connected ? "target,connected" : "target");
  return parts.empty() ? "-" : Join(parts, ";");
}

std::vector<std::vector<std::string>> VolumeTable(const std::vector<VolumeStatus>& volumes) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "UUID", "SIZE", "BS", "STATE", "DEVICE", "REPLICATION", "BACKING"}};
  for (const auto& v : volumes) {
    std::string dev = DevicePath(v);
    rows.push_back({std::to_string(v.id), v.uuid.ToString(), FormatSize(v.size),
                    std::to_string(v.block_size), StateText(v.state), dev.empty() ? "-" : dev,
                    ReplicationSummary(v), v.backing_path.empty() ? "-" : v.backing_path});
  }
  return rows;
}

std::string VolumeText(const VolumeStatus& v) {
  std::string dev = DevicePath(v);
  if (dev.empty()) {
    dev = "none (attach with: keelsetup attach " + std::to_string(v.id) + ")";
  } else {
    dev += " (" + std::to_string(v.major) + ":" + std::to_string(v.minor) + ")";
  }
  return FormatTable({
             {"volume:", std::to_string(v.id)},
             {"uuid:", v.uuid.ToString()},
             {"size:", SizeWithBytes(v.size)},
             {"block size:", std::to_string(v.block_size)},
             {"state:", StateText(v.state)},
             {"device:", dev},
             {"backing:", v.backing_path.empty() && (v.state & KEEL_STATE_DISKLESS)
                              ? "none (diskless)"
                              : v.backing_path},
             {"data offset:", SizeWithBytes(v.data_offset)},
             {"epoch:", std::to_string(v.epoch)},
         }) +
         ReplicationText(v);
}

std::string ResyncRateText(uint64_t rate) {
  return rate == 0 ? "unlimited" : FormatSize(rate) + "/s";
}

std::string ReplicationText(const VolumeStatus& v) {
  std::string out;
  std::vector<std::vector<std::string>> settings;
  if (v.freeze_policy) {
    settings.push_back({"  freeze policy:", FreezePolicyName(*v.freeze_policy)});
  }
  if (v.freeze_timeout_ms)
    settings.push_back({"  freeze timeout:", std::to_string(*v.freeze_timeout_ms) + " ms"});
  if (v.peer_timeout_ms)
    settings.push_back({"  peer timeout:", std::to_string(*v.peer_timeout_ms) + " ms"});
  if (v.resync_rate) settings.push_back({"  resync rate:", ResyncRateText(*v.resync_rate)});
  if (v.data_digest) settings.push_back({"  data digest:", *v.data_digest ? "on" : "off"});
  if (v.granularity)
    settings.push_back({"  granularity:", SizeWithBytes(*v.granularity) + " per bitmap bit"});
  if (!settings.empty()) out += "replication settings:\n" + FormatTable(settings);

  if (!v.peers.empty()) {
    out += "peers:\n";
    std::vector<std::vector<std::string>> rows = {{"  SLOT", "NAME", "ADDRESS", "STATE", "IN-SYNC",
                                                   "CONNECTED", "SYNC", "DIRTY", "SENT", "ACKED",
                                                   "RESYNCED", "RESYNC-RATE", "EPOCH", "CONNECTS"}};
    for (const PeerStatus& p : v.peers) {
      rows.push_back({"  " + std::to_string(p.slot), p.name.empty() ? "-" : p.name,
                      p.addr.empty() ? "-" : FormatEndpoint(p.addr, p.port), PeerStateName(p.state),
                      YesNo(p.in_sync), YesNo(p.connected),
                      p.sync_percent ? std::to_string(*p.sync_percent) + "%" : "-",
                      FormatSize(p.dirty_bytes), FormatSize(p.bytes_sent),
                      FormatSize(p.bytes_acked), FormatSize(p.resync_bytes),
                      FormatSize(p.resync_rate) + "/s", p.epoch ? std::to_string(*p.epoch) : "-",
                      std::to_string(p.connects)});
    }
    out += FormatTable(rows);
    for (const PeerStatus& p : v.peers) {
      std::string e = ErrorText(p.error, p.message);
      if (!e.empty()) out += "  peer " + std::to_string(p.slot) + " last error: " + e + "\n";
    }
  }

  if (v.target) {
    const TargetStatus& t = *v.target;
    std::vector<std::vector<std::string>> rows = {
        {"  listening on:", t.addr.empty() ? "-" : FormatEndpoint(t.addr, t.port)},
        {"  connected:", YesNo(t.connected)},
        {"  accepted:", std::to_string(t.accepted)},
        {"  refused:", std::to_string(t.refused)},
    };
    std::string e = ErrorText(t.error, t.message);
    if (!e.empty()) rows.push_back({"  last refusal:", e});
    rows.push_back({"  bytes written:", SizeWithBytes(t.bytes_written)});
    out += "replica target:\n" + FormatTable(rows);
  }
  return out;
}

std::string StatsText(const VolumeStatus& v) {
  const VolumeStats& s = v.stats;
  std::string dev = DevicePath(v);
  std::string out = "volume " + std::to_string(v.id) + " (" + (dev.empty() ? "detached" : dev) +
                    ", " + StateText(v.state) + ")\n";
  out += FormatTable({
      {"  reads:", std::to_string(s.reads), FormatSize(s.read_bytes)},
      {"  writes:", std::to_string(s.writes), FormatSize(s.write_bytes)},
      {"  flushes:", std::to_string(s.flushes)},
      {"  fua writes:", std::to_string(s.fua)},
      {"  discards:", std::to_string(s.discards)},
      {"  write zeroes:", std::to_string(s.write_zeroes)},
      {"  errors:", std::to_string(s.errors)},
      {"  in flight:", std::to_string(s.in_flight)},
      {"  backing syncs:", std::to_string(s.backing_syncs)},
  });
  auto p50 = LatencyPercentile(s.latency_us, 0.50);
  if (!p50) return out + "latency: no requests completed yet\n";
  auto p99 = LatencyPercentile(s.latency_us, 0.99);
  out += "latency: p50 ~" + FormatMicros(*p50) + ", p99 ~" + FormatMicros(*p99) +
         " (estimated from the histogram)\n";
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < s.latency_us.size(); ++i) {
    if (s.latency_us[i])
      rows.push_back({"  " + LatencyBucketLabel(i), std::to_string(s.latency_us[i])});
  }
  return out + FormatTable(rows);
}

std::string InfoText(const ModuleInfo& info) {
  std::string features = Join(FeatureNames(info.features), ",");
  return FormatTable({
      {"module version:", info.version},
      {"netlink api:", std::to_string(info.api_version) + " (keelsetup speaks " +
                           std::to_string(KEEL_GENL_VERSION) + ")"},
      {"features:", features.empty() ? "-" : features},
      {"kernel:", info.kernel_release},
      {"volumes:", info.volume_count ? std::to_string(*info.volume_count) : "-"},
      {"objects:", info.objects ? std::to_string(*info.objects) : "-"},
      {"keelsetup:", KEEL_VERSION},
  });
}

std::string EventText(const KernelEvent& ev) {
  std::string out = EventTypeName(ev.type) + " volume=" + std::to_string(ev.volume_id) +
                    " uuid=" + ev.uuid.ToString();
  if (ev.peer_slot) out += " slot=" + std::to_string(*ev.peer_slot);
  if (ev.type == KEEL_EVENT_IO_ERROR) {
    out += " error=" + ErrnoName(ev.error) + " sector=" + std::to_string(ev.sector);
  } else if (ev.error) {
    out += " error=" + ErrnoName(ev.error);
  }
  if (ev.sync_percent) out += " percent=" + std::to_string(*ev.sync_percent);
  if (ev.epoch) out += " epoch=" + std::to_string(*ev.epoch);
  if (ev.message) out += " message=" + nlohmann::json(*ev.message).dump();
  return out;
}

nlohmann::json StatsJson(const VolumeStats& s) {
  return {
      {"reads", s.reads},
      {"writes", s.writes},
      {"read_bytes", s.read_bytes},
      {"write_bytes", s.write_bytes},
      {"flushes", s.flushes},
      {"fua", s.fua},
      {"discards", s.discards},
      {"write_zeroes", s.write_zeroes},
      {"errors", s.errors},
      {"in_flight", s.in_flight},
      {"backing_syncs", s.backing_syncs},
      {"latency_us", s.latency_us},
  };
}

nlohmann::json VolumeJson(const VolumeStatus& v) {
  bool attached = !v.device_name.empty();
  nlohmann::json peers = nlohmann::json::array();
  for (const PeerStatus& p : v.peers) peers.push_back(PeerJson(p));
  return {
      {"id", v.id},
      {"uuid", v.uuid.ToString()},
      {"size", v.size},
      {"block_size", v.block_size},
      {"backing_path", v.backing_path},
      {"state", StateWords(v.state)},
      {"state_mask", v.state},
      {"epoch", v.epoch},
      {"data_offset", v.data_offset},
      {"device", attached ? nlohmann::json(DevicePath(v)) : nlohmann::json(nullptr)},
      {"major", attached ? nlohmann::json(v.major) : nlohmann::json(nullptr)},
      {"minor", attached ? nlohmann::json(v.minor) : nlohmann::json(nullptr)},
      {"stats", StatsJson(v.stats)},
      {"freeze_policy",
       v.freeze_policy ? nlohmann::json(FreezePolicyName(*v.freeze_policy)) : nullptr},
      {"freeze_timeout_ms", OrNull(v.freeze_timeout_ms)},
      {"peer_timeout_ms", OrNull(v.peer_timeout_ms)},
      {"resync_rate", OrNull(v.resync_rate)},
      {"data_digest", OrNull(v.data_digest)},
      {"granularity", OrNull(v.granularity)},
      {"peers", peers},
      {"target", v.target ? TargetJson(*v.target) : nlohmann::json(nullptr)},
  };
}

nlohmann::json PeerJson(const PeerStatus& p) {
  return {
      {"slot", p.slot},
      {"name", p.name},
      {"addr", p.addr},
      {"port", p.port},
      {"state", PeerStateName(p.state)},
      {"state_code", p.state},
      {"in_sync", p.in_sync},
      {"connected", p.connected},
      {"sync_percent", OrNull(p.sync_percent)},
      {"dirty_bytes", p.dirty_bytes},
      {"bytes_sent", p.bytes_sent},
      {"bytes_acked", p.bytes_acked},
      {"resync_bytes", p.resync_bytes},
      {"resync_rate", p.resync_rate},
      {"epoch", OrNull(p.epoch)},
      {"error", p.error},
      {"error_name", ErrnoNameJson(p.error)},
      {"message", StringOrNull(p.message)},
      {"connects", p.connects},
      {"pulling", p.pulling},
  };
}

nlohmann::json TargetJson(const TargetStatus& t) {
  return {
      {"addr", t.addr},
      {"port", t.port},
      {"connected", t.connected},
      {"accepted", t.accepted},
      {"refused", t.refused},
      {"error", t.error},
      {"error_name", ErrnoNameJson(t.error)},
      {"message", StringOrNull(t.message)},
      {"bytes_written", t.bytes_written},
  };
}

nlohmann::json StatsReportJson(const VolumeStatus& v) {
  nlohmann::json j = StatsJson(v.stats);
  j["id"] = v.id;
  j["device"] = v.device_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(DevicePath(v));
  auto percentile = [&](double p) {
    auto us = LatencyPercentile(v.stats.latency_us, p);
    return us ? nlohmann::json(*us) : nlohmann::json(nullptr);
  };
  j["p50_us"] = percentile(0.50);
  j["p99_us"] = percentile(0.99);
  nlohmann::json buckets = nlohmann::json::array();
  for (size_t i = 0; i < v.stats.latency_us.size(); ++i) {
    if (!v.stats.latency_us[i]) continue;
    bool last = i + 1 == v.stats.latency_us.size();
    buckets.push_back(
        {{"bucket", i},
         {"label", LatencyBucketLabel(i)},
         {"below_us", last ? nlohmann::json(nullptr) : nlohmann::json(1ULL << (i + 1))},
         {"count", v.stats.latency_us[i]}});
  }
  j["latency_buckets"] = buckets;
  return j;
}

nlohmann::json InfoJson(const ModuleInfo& info) {
  auto optional = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return {
      {"version", info.version},
      {"api_version", info.api_version},
      {"features", FeatureNames(info.features)},
      {"features_mask", info.features},
      {"kernel_release", info.kernel_release},
      {"objects", optional(info.objects)},
      {"volume_count", optional(info.volume_count)},
      {"keelsetup_version", KEEL_VERSION},
  };
}

nlohmann::json EventJson(const KernelEvent& ev) {
  bool io = ev.type == KEEL_EVENT_IO_ERROR;
  bool has_error = io || ev.error != 0;
  return {
      {"type", EventTypeName(ev.type)},
      {"type_code", ev.type},
      {"volume_id", ev.volume_id},
      {"uuid", ev.uuid.ToString()},
      {"error", has_error ? nlohmann::json(ev.error) : nlohmann::json(nullptr)},
      {"error_name", has_error ? nlohmann::json(ErrnoName(ev.error)) : nlohmann::json(nullptr)},
      {"sector", io ? nlohmann::json(ev.sector) : nlohmann::json(nullptr)},
      {"peer_slot", OrNull(ev.peer_slot)},
      {"sync_percent", OrNull(ev.sync_percent)},
      {"epoch", OrNull(ev.epoch)},
      {"message", OrNull(ev.message)},
  };
}

nlohmann::json ErrorJson(const Status& s) {
  return {{"error", {{"code", s.code()}, {"message", s.message()}}}};
}

}  // namespace keel
