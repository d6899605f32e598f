#include "manager/cluster/node_registry.h"

#include "manager/log/log.h"

namespace keel::cluster {

Result<int64_t> NodeRegistry::Load(Kvdb* kvdb) {
  // The revision is read before the listing: a change between the two is
  // both in the listing and replayed by a watch from rev+1, and applying a
  // record twice is harmless (Apply never goes back), missing one is not.
  auto rev = kvdb->Revision();
  if (!rev.ok()) return rev.status();
  auto entries = kvdb->List(kNodesPrefix);
  if (!entries.ok()) return entries.status();
  std::map<std::string, NodeEntry, std::less<>> fresh;
  for (const auto& e : *entries) {
    auto rec = NodeRecordFromKv(e.key, e.value);
    if (!rec.ok()) {
      KLOG(kError, "node record refused", {{"key", e.key}, {"error", rec.status().ToString()}});
      continue;
    }
    std::string name = rec->name;
    fresh[name] = NodeEntry{std::move(rec).value(), e.mod_revision};
  }
  std::lock_guard lock(mu_);
  nodes_ = std::move(fresh);
  return *rev + 1;
}

std::optional<std::string> NodeRegistry::Apply(const WatchEvent& event) {
  auto name = NameFromKey(kNodesPrefix, event.kv.key);
  if (!name.ok()) return std::nullopt;
  std::lock_guard lock(mu_);
  if (event.type == WatchEvent::Type::kDelete) {
    nodes_.erase(*name);
    return *name;
  }
  auto rec = NodeRecordFromKv(event.kv.key, event.kv.value);
  if (!rec.ok()) {
    KLOG(kError, "node record refused",
         {{"key", event.kv.key}, {"error", rec.status().ToString()}});
    return std::nullopt;
  }
  auto it = nodes_.find(*name);
  // A watch may replay what Load already saw; never go back in time.
  if (it != nodes_.end() && it->second.mod_revision > event.kv.mod_revision) return std::nullopt;
  nodes_[*name] = NodeEntry{std::move(rec).value(), event.kv.mod_revision};
  return *name;
}

std::optional<NodeEntry> NodeRegistry::Get(std::string_view node) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

std::vector<NodeEntry> NodeRegistry::All() const {
  std::lock_guard lock(mu_);
  std::vector<NodeEntry> out;
  for (const auto& [_, e] : nodes_) out.push_back(e);
  return out;
}

std::optional<bus::PeerInfo> NodeRegistry::Lookup(std::string_view node) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return std::nullopt;
  const NodeRecord& r = it->second.record;
  return bus::PeerInfo{r.name, r.bus_endpoint, r.bus_public_key};
}

std::optional<std::string> NodeRegistry::NodeForKey(std::string_view public_key) const {
  std::lock_guard lock(mu_);
  for (const auto& [name, e] : nodes_) {
    if (e.record.bus_public_key == public_key) return name;
  }
  return std::nullopt;
}

}  // namespace keel::cluster
