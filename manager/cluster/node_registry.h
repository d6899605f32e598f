// NodeRegistry: this keeld's copy of the node records in the kvdb
// ("/keel/nodes/"), kept current by the caller from a Watch, and the bus's
// peer directory: a node may talk on the bus exactly while its record (and
// so its CURVE public key) is in etcd.  Thread-safe: the bus reads it from
// its threads while the watch thread applies changes.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "manager/bus/peer_directory.h"
#include "manager/cluster/records.h"
#include "manager/common/status.h"
#include "manager/kvdb/kvdb.h"

namespace keel::cluster {

// A node record as read, with the revision a CAS on it must name.
struct NodeEntry {
  NodeRecord record;
  int64_t mod_revision = 0;
};

class NodeRegistry : public bus::PeerDirectory {
 public:
  // Replaces the contents with every record under kNodesPrefix; returns the
  // store revision to watch from (the one after the listing).  A record
  // that does not parse is logged and left out: one bad record must not
  // take the whole cluster off the bus.
  Result<int64_t> Load(Kvdb* kvdb);
  // Applies one watch event (keys outside kNodesPrefix are ignored).
  // Returns the name of the node that changed, if any.
  std::optional<std::string> Apply(const WatchEvent& event);

  std::optional<NodeEntry> Get(std::string_view node) const;
  std::vector<NodeEntry> All() const;  // in name order

  std::optional<bus::PeerInfo> Lookup(std::string_view node) const override;
  std::optional<std::string> NodeForKey(std::string_view public_key) const override;

 private:
  mutable std::mutex mu_;
  std::map<std::string, NodeEntry, std::less<>> nodes_;
};

}  // namespace keel::cluster
