// Who may talk on the bus: node name -> bus endpoint and CURVE public key.
// The cluster backs this with the node registry in etcd; the in-memory
// directory serves a single node and tests.  The bus calls it from its own
// threads, so implementations must be thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "manager/common/status.h"

namespace keel::bus {

struct PeerInfo {
  std::string node;        // node name (config.h ValidateName rules)
  std::string endpoint;    // where its bus listens: "tcp://host:port"
  std::string public_key;  // its CURVE public key, Z85
};

class PeerDirectory {
 public:
  virtual ~PeerDirectory() = default;
  // The node's endpoint and key; nullopt if it is not a member.
  virtual std::optional<PeerInfo> Lookup(std::string_view node) const = 0;
  // The member whose public key this is; nullopt if none.  The bus admits
  // a connection only for a member's key, and that member's name becomes
  // the authenticated sender of everything on the connection.
  virtual std::optional<std::string> NodeForKey(std::string_view public_key) const = 0;
};

// Checks a PeerInfo: valid node name, endpoint "tcp://<host>:<port>" with a
// port 1..65535, Z85 public key.  EINVAL with the reason.
Status ValidatePeerInfo(const PeerInfo& peer);

class InMemoryPeerDirectory : public PeerDirectory {
 public:
  // Adds or replaces `peer.node`.  EEXIST if another node has the same
  // public key: a key must name exactly one node.
  Status Put(const PeerInfo& peer);
  void Remove(std::string_view node);

  std::optional<PeerInfo> Lookup(std::string_view node) const override;
  std::optional<std::string> NodeForKey(std::string_view public_key) const override;

 private:
  mutable std::mutex mu_;
  std::map<std::string, PeerInfo, std::less<>> by_node_;
};

}  // namespace keel::bus
