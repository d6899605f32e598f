#include "manager/bus/peer_directory.h"

#include <cerrno>
#include <charconv>

#include "manager/bus/curve_keys.h"
#include "manager/config/config.h"

namespace keel::bus {

Status ValidatePeerInfo(const PeerInfo& peer) {
  Status s = ValidateName("node name", peer.node);
  if (!s.ok()) return s;
  const std::string_view prefix = "tcp://";
  std::string_view ep = peer.endpoint;
  auto bad_endpoint = [&](const std::string& why) {
    return Status::Error(EINVAL, "node " + peer.node + ": bus endpoint '" + peer.endpoint + "' " +
                                     why + " (want tcp://host:port)");
  };
  if (!ep.starts_with(prefix)) return bad_endpoint("is not tcp://");
  ep.remove_prefix(prefix.size());
  auto colon = ep.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad_endpoint("has no host:port");
  std::string_view port_text = ep.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return bad_endpoint("has no valid port");
  }
  if (!IsZ85Key(peer.public_key)) {
    return Status::Error(EINVAL, "node " + peer.node + ": public key is not a Z85 CURVE key");
  }
  return Status();
}

Status InMemoryPeerDirectory::Put(const PeerInfo& peer) {
  Status s = ValidatePeerInfo(peer);
  if (!s.ok()) return s;
  std::lock_guard lock(mu_);
  for (const auto& [name, info] : by_node_) {
    if (name != peer.node && info.public_key == peer.public_key) {
      return Status::Error(EEXIST, "node " + peer.node + " has the same public key as node " +
                                       name + "; every node needs its own key");
    }
  }
  by_node_[peer.node] = peer;
  return Status();
}

void InMemoryPeerDirectory::Remove(std::string_view node) {
  std::lock_guard lock(mu_);
  auto it = by_node_.find(node);
  if (it != by_node_.end()) by_node_.erase(it);
}

std::optional<PeerInfo> InMemoryPeerDirectory::Lookup(std::string_view node) const {
  std::lock_guard lock(mu_);
  auto it = by_node_.find(node);
  if (it == by_node_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> InMemoryPeerDirectory::NodeForKey(std::string_view public_key) const {
  std::lock_guard lock(mu_);
  for (const auto& [name, info] : by_node_) {
    if (info.public_key == public_key) return name;
  }
  return std::nullopt;
}

}  // namespace keel::bus
