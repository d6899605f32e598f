#include "manager/kernel/kernel_client.h"

#include <arpa/inet.h>
#include <linux/keel.h>

#include <cerrno>
#include <cstdio>

namespace keel {
namespace {

Status NotSupported(const char* what) {
  return Status::Error(ENOTSUP, std::string(what) + " is not supported by this client");
}

}  // namespace

Result<VolumeStatus> KernelClient::SetVolume(uint32_t, const SetVolumeRequest&) {
  return NotSupported("VOLUME_SET");
}
Status KernelClient::ListenStart(uint32_t, const std::string&, uint16_t) {
  return NotSupported("LISTEN_START");
}
Status KernelClient::ListenStop(uint32_t) { return NotSupported("LISTEN_STOP"); }
Status KernelClient::PeerAdd(uint32_t, uint32_t, const std::string&, uint16_t, const std::string&,
                             PeerSync) {
  return NotSupported("PEER_ADD");
}
Status KernelClient::PeerRemove(uint32_t, uint32_t) { return NotSupported("PEER_REMOVE"); }
Status KernelClient::PeerOutdate(uint32_t, uint32_t, uint64_t) {
  return NotSupported("PEER_OUTDATE");
}

std::string EventTypeName(uint32_t type) {
  switch (type) {
    case KEEL_EVENT_VOLUME_CREATED:
      return "volume-created";
    case KEEL_EVENT_VOLUME_DELETED:
      return "volume-deleted";
    case KEEL_EVENT_VOLUME_ATTACHED:
      return "volume-attached";
    case KEEL_EVENT_VOLUME_DETACHED:
      return "volume-detached";
    case KEEL_EVENT_IO_ERROR:
      return "io-error";
    case KEEL_EVENT_PEER_CONNECTED:
      return "peer-connected";
    case KEEL_EVENT_PEER_REFUSED:
      return "peer-refused";
    case KEEL_EVENT_PEER_LOST:
      return "peer-lost";
    case KEEL_EVENT_PEER_OUTDATED:
      return "peer-outdated";
    case KEEL_EVENT_PEER_DISCONNECTED:
      return "peer-disconnected";
    case KEEL_EVENT_SYNC_STARTED:
      return "sync-started";
    case KEEL_EVENT_SYNC_PROGRESS:
      return "sync-progress";
    case KEEL_EVENT_PEER_IN_SYNC:
      return "peer-in-sync";
    case KEEL_EVENT_FREEZE_TIMEOUT:
      return "freeze-timeout";
    case KEEL_EVENT_TARGET_CONNECTED:
      return "target-connected";
    case KEEL_EVENT_TARGET_REFUSED:
      return "target-refused";
    default:
      return "event-" + std::to_string(type);
  }
}

std::string PeerStateName(uint32_t state) {
  switch (state) {
    case KEEL_PEER_STATE_CONNECTING:
      return "connecting";
    case KEEL_PEER_STATE_IN_SYNC:
      return "in-sync";
    case KEEL_PEER_STATE_SYNCING:
      return "syncing";
    case KEEL_PEER_STATE_LOST:
      return "lost";
    case KEEL_PEER_STATE_OUTDATED:
      return "outdated";
    default:
      return "state-" + std::to_string(state);
  }
}

std::string FreezePolicyName(uint32_t policy) {
  switch (policy) {
    case KEEL_FREEZE_HOLD:
      return "hold";
    case KEEL_FREEZE_FAIL:
      return "fail";
    default:
      return "policy-" + std::to_string(policy);
  }
}

Result<uint32_t> ParseFreezePolicy(const std::string& name) {
  if (name == "hold") return uint32_t{KEEL_FREEZE_HOLD};
  if (name == "fail") return uint32_t{KEEL_FREEZE_FAIL};
  return Status::Error(EINVAL, "invalid freeze policy '" + name + "': use hold or fail");
}

Result<std::vector<uint8_t>> ParseAddress(const std::string& text) {
  std::string t = text;
  if (t.size() >= 2 && t.front() == '[' && t.back() == ']') t = t.substr(1, t.size() - 2);
  in_addr v4;
  if (t.find(':') == std::string::npos && inet_pton(AF_INET, t.c_str(), &v4) == 1) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v4);
    return std::vector<uint8_t>(p, p + 4);
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, t.c_str(), &v6) == 1) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v6);
    return std::vector<uint8_t>(p, p + 16);
  }
  return Status::Error(EINVAL, "invalid address '" + text +
                                   "': need an IPv4 or IPv6 address such as 10.214.0.2 or "
                                   "fd00::2 (no host names)");
}

std::string FormatAddress(const uint8_t* bytes, size_t len) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (len == 4 && inet_ntop(AF_INET, bytes, buf, sizeof(buf))) return buf;
  if (len == 16 && inet_ntop(AF_INET6, bytes, buf, sizeof(buf))) return buf;
  std::string out = "?";
  for (size_t i = 0; i < len; ++i) {
    char hex[3];
    snprintf(hex, sizeof(hex), "%02x", bytes[i]);
    out += hex;
  }
  return out;
}

std::string FormatEndpoint(const std::string& addr, uint16_t port) {
  if (addr.find(':') != std::string::npos) return "[" + addr + "]:" + std::to_string(port);
  return addr + ":" + std::to_string(port);
}

}  // namespace keel
