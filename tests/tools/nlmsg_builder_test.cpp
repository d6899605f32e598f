#include "tests/tools/nlmsg_builder.h"

#include <doctest/doctest.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <cstring>

namespace keel::nlfuzz {

static nlmsghdr HeaderOf(const Bytes& b, size_t off = 0) {
  nlmsghdr n;
  memcpy(&n, b.data() + off, sizeof(n));
  return n;
}

static nlattr AttrAt(const Bytes& b, size_t off) {
  nlattr a;
  memcpy(&a, b.data() + off, sizeof(a));
  return a;
}

TEST_CASE("BuildMessage: headers, padded attributes, true lengths") {
  Header h;
  h.type = 0x1234;
  h.flags = NLM_F_REQUEST | NLM_F_ACK;
  h.seq = 7;
  h.cmd = 2;
  Bytes m = BuildMessage(h, {U32Attr(8, 3), StringAttr(12, "/x"), U64Attr(10, 1)});
  // 16 + 4 + (4+4) + (4+3 -> 8) + (4+8)
  REQUIRE(m.size() == 48);
  nlmsghdr n = HeaderOf(m);
  CHECK(n.nlmsg_len == 48);
  CHECK(n.nlmsg_type == 0x1234);
  CHECK(n.nlmsg_seq == 7);
  CHECK(m[NLMSG_HDRLEN] == 2);  // genl cmd
  CHECK(AttrAt(m, 20).nla_len == 8);
  CHECK(AttrAt(m, 20).nla_type == 8);
  CHECK(AttrAt(m, 28).nla_len == 7);
  CHECK(memcmp(m.data() + 32, "/x\0", 3) == 0);
  CHECK(AttrAt(m, 36).nla_len == 12);
}

TEST_CASE("BuildMessage: lies are written as asked") {
  Attr a = U32Attr(8, 3);
  a.len = 200;
  Bytes m = BuildMessage(Header{}, {a, StringAttr(12, "abc", false)}, {0xff, 0xee}, 9);
  CHECK(HeaderOf(m).nlmsg_len == 9);
  CHECK(AttrAt(m, 20).nla_len == 200);
  CHECK(AttrAt(m, 28).nla_len == 7);
  CHECK(m.size() == 20 + 8 + 8 + 2);
  CHECK(m.back() == 0xee);
}

TEST_CASE("NestedAttr: inner attributes in the payload") {
  Attr n = NestedAttr(20, {U64Attr(2, 5), U64Attr(3, 6)});
  CHECK(n.data.size() == 24);
  Bytes out;
  AppendAttrs(&out, {n});
  CHECK(AttrAt(out, 0).nla_len == 28);
  CHECK(AttrAt(out, 4).nla_type == 2);
}

TEST_CASE("DispatchedTypes follows netlink_rcv_skb") {
  Header h;
  h.type = 0x20;
  h.flags = NLM_F_REQUEST;
  Bytes one = BuildMessage(h, {U32Attr(8, 1)});
  CHECK(DispatchedTypes(one) == std::vector<uint16_t>{0x20});

  Bytes two = one;
  Header h2 = h;
  h2.type = 0x21;
  Bytes other = BuildMessage(h2, {});
  two.insert(two.end(), other.begin(), other.end());
  CHECK(DispatchedTypes(two) == std::vector<uint16_t>{0x20, 0x21});
  CHECK_FALSE(OnlyReaches(two, 0x20));

  // Shorter than a header, a length beyond the datagram, below a header.
  CHECK(DispatchedTypes(Bytes(one.begin(), one.begin() + 15)).empty());
  CHECK(DispatchedTypes(BuildMessage(h, {}, {}, 1000)).empty());
  CHECK(DispatchedTypes(BuildMessage(h, {}, {}, 8)).empty());

  // No NLM_F_REQUEST, or a control type: not dispatched.
  Header reply = h;
  reply.flags = 0;
  CHECK(DispatchedTypes(BuildMessage(reply, {})).empty());
  Header noop = h;
  noop.type = NLMSG_NOOP;
  CHECK(DispatchedTypes(BuildMessage(noop, {})).empty());

  // A short nlmsg_len makes the kernel read the rest as a new message: here
  // the payload is a whole header of family 0x99.
  Bytes hidden = BuildMessage(h2, {});
  hidden[4] = 0x99;
  hidden[5] = 0;
  Bytes lie = BuildMessage(h, {}, hidden, NLMSG_HDRLEN + GENL_HDRLEN);
  CHECK(DispatchedTypes(lie) == std::vector<uint16_t>{0x20, 0x99});
  CHECK_FALSE(OnlyReaches(lie, 0x20));
}

}  // namespace keel::nlfuzz
