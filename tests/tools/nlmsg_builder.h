// Byte-exact generic-netlink messages for keel-nlfuzz, including the
// malformed ones libnl would refuse to build: attributes whose nla_len lies,
// strings without their NUL, nlmsg_len lies, trailing garbage.  Plus a walk
// of a datagram as the kernel's netlink_rcv_skb() does it, so the fuzzer can
// make sure its lies never reach a family other than keel.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace keel::nlfuzz {

using Bytes = std::vector<uint8_t>;

struct Attr {
  uint16_t type = 0;            // may carry NLA_F_NESTED / NLA_F_NET_BYTEORDER
  Bytes data;                   // payload, padded to 4 bytes when written
  std::optional<uint16_t> len;  // nla_len to write instead of 4 + data.size()
};

Attr U32Attr(uint16_t type, uint32_t v);
Attr U64Attr(uint16_t type, uint64_t v);
Attr BytesAttr(uint16_t type, const void* data, size_t n);
// With `nul`, the terminating NUL is part of the payload (as nla_put_string).
Attr StringAttr(uint16_t type, std::string_view s, bool nul = true);
Attr NestedAttr(uint16_t type, const std::vector<Attr>& inner);

// Appends attributes, each padded to a multiple of 4 bytes.
void AppendAttrs(Bytes* out, const std::vector<Attr>& attrs);

struct Header {
  uint16_t type = 0;  // the family id, or a control type
  uint16_t flags = 0;
  uint32_t seq = 0;
  uint32_t pid = 0;
  uint8_t cmd = 0;
  uint8_t version = 1;
  uint16_t reserved = 0;
};

// nlmsghdr + genlmsghdr + attributes + `tail`; nlmsg_len is the true size
// unless `nlmsg_len` says otherwise.
Bytes BuildMessage(const Header& h, const std::vector<Attr>& attrs, const Bytes& tail = {},
                   std::optional<uint32_t> nlmsg_len = std::nullopt);

// The nlmsg_type of every message the kernel would hand to a family for
// this datagram, in order (netlink_rcv_skb: stops at a length it cannot
// trust, skips control types and messages without NLM_F_REQUEST).
std::vector<uint16_t> DispatchedTypes(const Bytes& datagram);
// True if every message dispatched goes to `family`.
bool OnlyReaches(const Bytes& datagram, uint16_t family);

}  // namespace keel::nlfuzz
