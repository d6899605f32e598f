#include "tests/tools/nlmsg_builder.h"

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <cstring>

namespace keel::nlfuzz {
namespace {

void Append(Bytes* out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out->insert(out->end(), b, b + n);
}

void PadTo4(Bytes* out) {
  while (out->size() % 4) out->push_back(0);
}

}  // namespace

Attr U32Attr(uint16_t type, uint32_t v) { return BytesAttr(type, &v, sizeof(v)); }

Attr U64Attr(uint16_t type, uint64_t v) { return BytesAttr(type, &v, sizeof(v)); }

Attr BytesAttr(uint16_t type, const void* data, size_t n) {
  Attr a;
  a.type = type;
  Append(&a.data, data, n);
  return a;
}

Attr StringAttr(uint16_t type, std::string_view s, bool nul) {
  Attr a = BytesAttr(type, s.data(), s.size());
  if (nul) a.data.push_back(0);
  return a;
}

Attr NestedAttr(uint16_t type, const std::vector<Attr>& inner) {
  Attr a;
  a.type = type;
  AppendAttrs(&a.data, inner);
  return a;
}

void AppendAttrs(Bytes* out, const std::vector<Attr>& attrs) {
  for (const Attr& a : attrs) {
    nlattr h{};
    h.nla_len = a.len ? *a.len : static_cast<uint16_t>(NLA_HDRLEN + a.data.size());
    h.nla_type = a.type;
    Append(out, &h, sizeof(h));
    Append(out, a.data.data(), a.data.size());
    PadTo4(out);
  }
}

Bytes BuildMessage(const Header& h, const std::vector<Attr>& attrs, const Bytes& tail,
                   std::optional<uint32_t> nlmsg_len) {
  Bytes out(NLMSG_HDRLEN + GENL_HDRLEN, 0);
  genlmsghdr g{};
  g.cmd = h.cmd;
  g.version = h.version;
  g.reserved = h.reserved;
  memcpy(out.data() + NLMSG_HDRLEN, &g, sizeof(g));
  AppendAttrs(&out, attrs);
  Append(&out, tail.data(), tail.size());
  nlmsghdr n{};
  n.nlmsg_len = nlmsg_len ? *nlmsg_len : static_cast<uint32_t>(out.size());
  n.nlmsg_type = h.type;
  n.nlmsg_flags = h.flags;
  n.nlmsg_seq = h.seq;
  n.nlmsg_pid = h.pid;
  memcpy(out.data(), &n, sizeof(n));
  return out;
}

std::vector<uint16_t> DispatchedTypes(const Bytes& datagram) {
  std::vector<uint16_t> types;
  size_t off = 0;
  while (datagram.size() - off >= NLMSG_HDRLEN) {
    nlmsghdr n;
    memcpy(&n, datagram.data() + off, sizeof(n));
    size_t left = datagram.size() - off;
    if (n.nlmsg_len < NLMSG_HDRLEN || left < n.nlmsg_len) break;
    if ((n.nlmsg_flags & NLM_F_REQUEST) && n.nlmsg_type >= NLMSG_MIN_TYPE)
      types.push_back(n.nlmsg_type);
    size_t step = NLMSG_ALIGN(n.nlmsg_len);
    off += step > left ? left : step;
  }
  return types;
}

bool OnlyReaches(const Bytes& datagram, uint16_t family) {
  for (uint16_t t : DispatchedTypes(datagram))
    if (t != family) return false;
  return true;
}

}  // namespace keel::nlfuzz
