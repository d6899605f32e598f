#include "cli/keelctl/format.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "manager/common/size.h"

namespace keel {
namespace {

using nlohmann::json;

const json& Get(const json& j, const std::string& key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string Count(const json& j, const std::string& key) { return FieldText(j, key); }

}  // namespace

size_t VisibleWidth(const std::string& s) {
  size_t width = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) ++i;  // up to the final byte
      continue;
    }
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], VisibleWidth(row[c]));
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - VisibleWidth(row[c]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string FormatFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [k, v] : fields) width = std::max(width, VisibleWidth(k));
  std::string out;
  for (const auto& [k, v] : fields) {
    out += k + ":" + std::string(width - VisibleWidth(k) + 2, ' ') + v + "\n";
  }
  return out;
}

std::string PaintState(const std::string& state, bool color) {
  if (!color) return state;
  const char* code = nullptr;
  if (state == "attached" || state == "up" || state == "in-sync") code = "32";
  if (state == "pending" || state == "suspect" || state == "syncing" || state == "connecting") {
    code = "33";
  }
  if (state == "missing" || state == "down" || state == "outdated" || state == "lost") code = "31";
  if (!code) return state;
  return std::string("\x1b[") + code + "m" + state + "\x1b[0m";
}

std::string FieldText(const json& j, const std::string& key) {
  const json& v = Get(j, key);
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string SizeText(const json& j, const std::string& key) {
  const json& v = Get(j, key);
  if (!v.is_number_unsigned()) return v.is_number_integer() ? v.dump() + " B" : "-";
  return FormatSize(v.get<uint64_t>());
}

std::string LabelsText(const json& labels) {
  if (!labels.is_object() || labels.empty()) return "-";
  std::string out;
  for (const auto& [k, v] : labels.items()) {
    if (!out.empty()) out += ",";
    out += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

std::string TimeText(int64_t ms) {
  time_t t = static_cast<time_t>(ms / 1000);
  tm tm{};
  if (!gmtime_r(&t, &tm)) return std::to_string(ms);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string VolumeTable(const json& volumes, bool color) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "SIZE", "STATE", "DEVICE", "REPLICAS", "NODE", "LABELS"}};
  if (volumes.is_array()) {
    for (const json& v : volumes) {
      rows.push_back({FieldText(v, "name"), SizeText(v, "size"),
                      PaintState(FieldText(v, "state"), color), FieldText(v, "device"),
                      FieldText(v, "replicas"), FieldText(v, "node"),
                      LabelsText(Get(v, "labels"))});
    }
  }
  return FormatTable(rows);
}

std::string VolumeText(const json& v, bool color) {
  std::string size = SizeText(v, "size");
  if (Get(v, "size").is_number_unsigned()) size += " (" + FieldText(v, "size") + " bytes)";
  const json& created = Get(v, "created_at_ms");
  std::vector<std::pair<std::string, std::string>> f = {
      {"Name", FieldText(v, "name")},
      {"UUID", FieldText(v, "uuid")},
      {"Size", size},
      {"Block size", FieldText(v, "block_size")},
      {"State", PaintState(FieldText(v, "state"), color)},
      {"Device", FieldText(v, "device")},
      {"Node", FieldText(v, "node")},
      {"Replicas", FieldText(v, "replicas")},
      {"Labels", LabelsText(Get(v, "labels"))},
      {"Backing file", FieldText(v, "backing_path")},
      {"Kernel id", FieldText(v, "kernel_id")},
      {"Created", created.is_number_integer() ? TimeText(created.get<int64_t>()) : "-"},
  };
  const json& k = Get(v, "kernel");
  if (k.is_object()) {
    std::string flags;
    const json& st = Get(k, "state");
    if (st.is_array()) {
      for (const json& w : st) {
        if (!flags.empty()) flags += ",";
        flags += w.is_string() ? w.get<std::string>() : w.dump();
      }
    }
    f.push_back({"Kernel flags", flags.empty() ? "-" : flags});
    f.push_back({"Epoch", FieldText(k, "epoch")});
    f.push_back({"Data offset", FieldText(k, "data_offset")});
    const json& s = Get(k, "stats");
    f.push_back({"Reads", Count(s, "reads") + " (" + SizeText(s, "read_bytes") + ")"});
    f.push_back({"Writes", Count(s, "writes") + " (" + SizeText(s, "write_bytes") + ")"});
    f.push_back({"Flushes", Count(s, "flushes")});
    f.push_back({"Discards", Count(s, "discards")});
    f.push_back({"IO errors", Count(s, "errors")});
    f.push_back({"In flight", Count(s, "in_flight")});
  }
  return FormatFields(f);
}

std::string NodeText(const json& info) {
  const json& m = Get(info, "module");
  std::string module;
  if (Get(m, "error").is_string()) {
    module = "unavailable: " + Get(m, "error").get<std::string>();
  } else {
    module = FieldText(m, "version") + " (API " + FieldText(m, "api_version") + ", kernel " +
             FieldText(m, "kernel_release") + ")";
  }
  const json& p = Get(info, "pool");
  std::string used = SizeText(p, "used");
  const json& cap = Get(p, "capacity");
  const json& u = Get(p, "used");
  if (cap.is_number_unsigned() && u.is_number_unsigned() && cap.get<uint64_t>() > 0) {
    used += " (" + std::to_string(u.get<uint64_t>() * 100 / cap.get<uint64_t>()) + "%)";
  }
  return FormatFields({
      {"Node", FieldText(info, "node_name")},
      {"Labels", LabelsText(Get(info, "labels"))},
      {"keeld", FieldText(info, "keeld_version") + " (API " + FieldText(info, "api") + ")"},
      {"keel.ko", module},
      {"kvdb", FieldText(info, "kvdb")},
      {"Pool", FieldText(p, "directory")},
      {"Capacity", SizeText(p, "capacity")},
      {"Used", used},
      {"Free", SizeText(p, "free")},
      {"Volumes", FieldText(p, "volumes")},
  });
}

std::string AgoText(int64_t now_ms, int64_t ms) {
  int64_t s = now_ms > ms ? (now_ms - ms) / 1000 : 0;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < 86400) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

namespace {

std::string SinceText(const json& node, int64_t now_ms) {
  const json& t = Get(node, "state_changed_ms");
  return t.is_number_integer() ? AgoText(now_ms, t.get<int64_t>()) : "-";
}

std::string TextOr(const json& j, const std::string& key, const std::string& empty) {
  std::string t = FieldText(j, key);
  return t.empty() ? empty : t;
}

bool IsTrue(const json& j, const std::string& key) {
  const json& v = Get(j, key);
  return v.is_boolean() && v.get<bool>();
}

}  // namespace

std::string NodeTable(const json& nodes, int64_t now_ms, bool color) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "STATE", "SINCE", "ZONE", "RACK", "FREE/CAPACITY", "COORD"}};
  if (nodes.is_array()) {
    for (const json& n : nodes) {
      rows.push_back({FieldText(n, "name"), NodeStateText(n, color), SinceText(n, now_ms),
                      TextOr(n, "zone", "-"), TextOr(n, "rack", "-"),
                      SizeText(n, "free_bytes") + "/" + SizeText(n, "capacity_bytes"),
                      IsTrue(n, "coordinator") ? "*" : ""});
    }
  }
  return FormatTable(rows);
}

std::string ClusterNodeText(const json& n, int64_t now_ms, bool color) {
  std::string state = PaintState(FieldText(n, "state"), color);
  const json& t = Get(n, "state_changed_ms");
  if (t.is_number_integer()) {
    state +=
        " since " + TimeText(t.get<int64_t>()) + " (" + AgoText(now_ms, t.get<int64_t>()) + " ago)";
  }
  const json& heard = Get(n, "heard_ms_ago");
  auto yes_no = [&n](const std::string& key) {
    const json& v = Get(n, key);
    return v.is_boolean() ? (v.get<bool>() ? "yes" : "no") : "-";
  };
  return FormatFields({
      {"Node", FieldText(n, "name")},
      {"State", state},
      {"Alive", yes_no("alive")},
      {"Coordinator", yes_no("coordinator")},
      {"Last heard", heard.is_number_integer() ? heard.dump() + " ms ago" : "-"},
      {"Cordoned", yes_no("cordoned")},
      {"Draining", yes_no("draining")},
      {"Zone", TextOr(n, "zone", "-")},
      {"Rack", TextOr(n, "rack", "-")},
      {"Labels", LabelsText(Get(n, "labels"))},
      {"Capacity", SizeText(n, "capacity_bytes")},
      {"Free", SizeText(n, "free_bytes")},
      {"Bus", FieldText(n, "bus_endpoint")},
      {"Data address", FieldText(n, "data_address")},
      {"keeld", FieldText(n, "version")},
  });
}

std::string ClusterText(const json& st, int64_t now_ms, bool color) {
  std::string coord = FieldText(st, "coordinator");
  if (coord == "-") coord = "none known";
  if (IsTrue(st, "is_coordinator")) coord += " (this node)";
  std::string lease = IsTrue(st, "lease_ok") ? "ok" : "failing: " + FieldText(st, "lease_error");
  std::vector<std::pair<std::string, std::string>> f = {
      {"Node", FieldText(st, "node")},
      {"Coordinator", coord},
      {"Lease", lease},
  };
  const json& eps = Get(Get(st, "etcd"), "endpoints");
  if (eps.is_array()) {
    for (const json& e : eps) {
      std::string health =
          IsTrue(e, "healthy")
              ? PaintState("up", color) + " (revision " + FieldText(e, "revision") + ")"
              : PaintState("down", color) + ": " + FieldText(e, "error");
      f.push_back({"etcd", FieldText(e, "endpoint") + "  " + health});
    }
  }
  const json& n = Get(st, "nodes");
  f.push_back({"Nodes", FieldText(n, "total") + " (" + FieldText(n, "up") + " up, " +
                            FieldText(n, "suspect") + " suspect, " + FieldText(n, "down") +
                            " down, " + FieldText(n, "maintenance") + " maintenance)"});
  const json& v = Get(st, "volumes");
  f.push_back({"Volumes", FieldText(v, "total") + " (" + FieldText(v, "attached") + " attached, " +
                              FieldText(v, "degraded") + " degraded, " +
                              FieldText(v, "unreadable") + " unreadable)"});
  return FormatFields(f) + "\n" + NodeTable(Get(st, "node_list"), now_ms, color);
}

std::string NodeStateText(const json& node, bool color) {
  std::string state = PaintState(FieldText(node, "state"), color);
  if (IsTrue(node, "draining")) return state + ",draining";
  if (IsTrue(node, "cordoned")) return state + ",cordoned";
  return state;
}

std::string EtaText(uint64_t seconds) {
  if (seconds >= 100 * 3600) return ">99h";
  char buf[32];
  if (seconds >= 3600) {
    snprintf(buf, sizeof(buf), "%u:%02u:%02u", static_cast<unsigned>(seconds / 3600),
             static_cast<unsigned>(seconds / 60 % 60), static_cast<unsigned>(seconds % 60));
  } else {
    snprintf(buf, sizeof(buf), "%u:%02u", static_cast<unsigned>(seconds / 60),
             static_cast<unsigned>(seconds % 60));
  }
  return buf;
}

std::string ProgressBar(double percent, uint64_t rate, uint64_t remaining_bytes, int width) {
  width = std::max(width, 0);
  bool known = percent >= 0;  // false for NaN too
  double p = known ? std::min(percent, 100.0) : 0;
  int filled = static_cast<int>(p * width / 100);
  std::string pct = known ? std::to_string(static_cast<int>(p)) + "%" : "?%";
  pct.insert(0, 4 - pct.size(), ' ');
  std::string eta = "--:--";
  if (rate > 0) eta = EtaText(remaining_bytes / rate + (remaining_bytes % rate != 0));
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] " + pct + "  " +
         FormatSize(rate) + "/s  ETA " + eta;
}

namespace {

// j[key] as a byte count; 0 when it is not a non-negative integer.
uint64_t Bytes(const json& j, const std::string& key) {
  const json& v = Get(j, key);
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() > 0) return v.get<int64_t>();
  return 0;
}

// A replica's progress bar from its entry in volume.status's sync.
std::string SyncBar(const json& sync) {
  const json& p = Get(sync, "percent");
  return ProgressBar(p.is_number() ? p.get<double>() : -1, Bytes(sync, "rate"),
                     Bytes(sync, "remaining_bytes"), kProgressWidth);
}

// The entry of volume.status's sync for `node`, or null.
const json& SyncOf(const json& status, const std::string& node) {
  static const json kNull;
  const json& sync = Get(status, "sync");
  if (sync.is_array()) {
    for (const json& s : sync) {
      if (FieldText(s, "node") == node) return s;
    }
  }
  return kNull;
}

bool InSync(const json& status, const std::string& node) {
  const json& in = Get(status, "in_sync");
  return in.is_array() && std::find(in.begin(), in.end(), json(node)) != in.end();
}

// volume.status's attached_node; "" when detached.
std::string AttachedNode(const json& status) {
  const json& n = Get(status, "attached_node");
  return n.is_string() ? n.get<std::string>() : "";
}

// The node whose kernel drives the resyncs: the attached node, or while
// detached the sync source filling the other replicas; "" when none.
std::string SourceNode(const json& status) {
  std::string node = AttachedNode(status);
  if (!node.empty()) return node;
  const json& s = Get(status, "sync_source");
  return s.is_string() ? s.get<std::string>() : "";
}

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : ", ") + w;
  return out;
}

}  // namespace

std::string SyncLine(const json& sync) {
  std::string state = FieldText(sync, "state");
  return FieldText(sync, "node") + "  " + (state == "syncing" ? SyncBar(sync) : state);
}

std::vector<std::pair<std::string, std::string>> SyncLines(const json& status) {
  std::vector<std::pair<std::string, std::string>> lines;
  const json& set = Get(status, "replica_set");
  std::string source = SourceNode(status);
  if (set.is_array()) {
    for (const json& r : set) {
      std::string node = FieldText(r, "node");
      if (node == source) continue;
      const json& s = SyncOf(status, node);
      lines.push_back({node, !s.is_null()           ? SyncLine(s)
                             : InSync(status, node) ? node + "  in sync"
                                                    : node + "  not in sync"});
    }
  }
  if (Get(status, "sync_error").is_string()) {
    lines.push_back({"", "sync state unknown: " + FieldText(status, "sync_error")});
  }
  return lines;
}

std::vector<std::string> NotInSync(const json& status) {
  std::vector<std::string> nodes;
  const json& set = Get(status, "replica_set");
  if (set.is_array()) {
    for (const json& r : set) {
      std::string node = FieldText(r, "node");
      if (!InSync(status, node)) nodes.push_back(node);
    }
  }
  return nodes;
}

std::string RebalanceText(const json& plan) {
  const json& moves = Get(plan, "moves");
  const bool dry = Get(plan, "dry_run").is_boolean() && Get(plan, "dry_run").get<bool>();
  const size_t n = moves.is_array() ? moves.size() : 0;
  std::string out;
  if (n == 0) {
    out = "rebalance: nothing to move\n";
  } else {
    out = std::string(dry ? "rebalance (dry run): would move " : "rebalance: moving ") +
          std::to_string(n) + (n == 1 ? " replica\n\n" : " replicas\n\n");
    std::vector<std::vector<std::string>> rows = {{"VOLUME", "SIZE", "FROM", "TO", "ERROR"}};
    bool errors = false;
    for (const json& m : moves) {
      std::string err = Get(m, "error").is_string() ? FieldText(m, "error") : "";
      errors = errors || !err.empty();
      rows.push_back({FieldText(m, "volume"), SizeText(m, "size"), FieldText(m, "from"),
                      FieldText(m, "to"), err.empty() ? "-" : err});
    }
    if (!errors) {
      for (auto& row : rows) row.pop_back();
    }
    out += FormatTable(rows);
  }
  const json& before = Get(plan, "use_before");
  const json& after = Get(plan, "use_after");
  if (before.is_object() && !before.empty()) {
    std::vector<std::vector<std::string>> rows = {{"NODE", "USE NOW", "USE AFTER"}};
    auto pct = [](const json& v) {
      if (!v.is_number()) return std::string("-");
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f%%", v.get<double>());
      return std::string(buf);
    };
    for (const auto& [node, use] : before.items()) {
      rows.push_back({node, pct(use), pct(after.is_object() ? Get(after, node) : json())});
    }
    out += "\n" + FormatTable(rows);
  }
  if (Get(plan, "reason").is_string()) out += "\n" + FieldText(plan, "reason") + "\n";
  const json& going = Get(plan, "in_progress");
  if (going.is_array() && !going.empty()) {
    std::vector<std::string> names;
    for (const json& m : going) {
      names.push_back(FieldText(m, "volume") + " off " + FieldText(m, "from"));
    }
    out += "in progress: " + Join(names) + "\n";
  }
  return out;
}

std::string ClusterVolumeText(const json& st, bool color) {
  std::string size = SizeText(st, "size");
  if (Get(st, "size").is_number_unsigned()) size += " (" + FieldText(st, "size") + " bytes)";
  std::string attached = "no";
  std::string node = AttachedNode(st);
  if (!node.empty()) {
    attached = node;
    if (Get(st, "device").is_string()) attached += " at " + FieldText(st, "device");
    if (Get(st, "attached_epoch").is_number()) {
      attached += " (epoch " + FieldText(st, "attached_epoch") + ")";
    }
  }
  std::vector<std::string> in_sync;
  const json& in = Get(st, "in_sync");
  if (in.is_array()) {
    for (const json& n : in) in_sync.push_back(n.is_string() ? n.get<std::string>() : n.dump());
  }
  const json& created = Get(st, "created_ms");
  std::vector<std::pair<std::string, std::string>> f = {
      {"Name", FieldText(st, "name")},
      {"UUID", FieldText(st, "uuid")},
      {"Size", size},
      {"Block size", FieldText(st, "block_size")},
      {"Labels", LabelsText(Get(st, "labels"))},
      {"State", FieldText(st, "state")},
      {"Epoch", FieldText(st, "epoch")},
      {"Attached", attached},
      {"Replicas", FieldText(st, "replicas")},
      {"In sync", in_sync.empty() ? "none" : Join(in_sync)},
  };
  if (Get(st, "sync_source").is_string()) {
    f.push_back({"Source", FieldText(st, "sync_source") + " (detached: it fills the others)"});
  }
  if (Get(st, "sync_error").is_string()) {
    f.push_back({"Sync", "unknown: " + FieldText(st, "sync_error")});
  }
  f.push_back({"Created", created.is_number_integer() ? TimeText(created.get<int64_t>()) : "-"});

  std::vector<std::vector<std::string>> rows = {{"NODE", "SLOT", "IN-SYNC", "STATE", "PROGRESS"}};
  const json& set = Get(st, "replica_set");
  if (set.is_array()) {
    for (const json& r : set) {
      std::string n = FieldText(r, "node");
      const json& s = SyncOf(st, n);
      std::string state = !s.is_null()                          ? FieldText(s, "state")
                          : n == node                           ? "attached"
                          : node.empty() && n == SourceNode(st) ? "source"
                                                                : "-";
      rows.push_back({n, FieldText(r, "slot"), InSync(st, n) ? "yes" : "no",
                      PaintState(state, color), state == "syncing" ? SyncBar(s) : "-"});
    }
  }
  return FormatFields(f) + "\n" + FormatTable(rows);
}

}  // namespace keel
