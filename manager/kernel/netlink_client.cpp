#include "manager/kernel/netlink_client.h"

#include <endian.h>
#include <linux/genetlink.h>
#include <linux/keel.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <initializer_list>

namespace keel {
namespace {

const char* const kAttrNames[] = {
    "UNSPEC",
    "PAD",
    "VERSION",
    "API_VERSION",
    "FEATURES",
    "KERNEL_RELEASE",
    "OBJECTS",
    "VOLUME_COUNT",
    "VOLUME_ID",
    "UUID",
    "SIZE",
    "BLOCK_SIZE",
    "BACKING_PATH",
    "FLAGS",
    "STATE",
    "EPOCH",
    "DATA_OFFSET",
    "DEVICE_NAME",
    "DEVICE_MAJOR",
    "DEVICE_MINOR",
    "STATS",
    "EVENT_TYPE",
    "ERRNO",
    "SECTOR",
    "SECRET",
    "FREEZE_POLICY",
    "FREEZE_TIMEOUT_MS",
    "PEER_TIMEOUT_MS",
    "RESYNC_RATE",
    "DATA_DIGEST",
    "ADDR",
    "PORT",
    "PEER_SLOT",
    "PEER_NAME",
    "PEER_SYNC",
    "PEERS",
    "PEER",
    "TARGET",
    "SYNC_PERCENT",
    "MESSAGE",
    "GRANULARITY",
};
static_assert(sizeof(kAttrNames) / sizeof(kAttrNames[0]) == KEEL_ATTR_MAX + 1,
              "every KEEL_ATTR_* needs a name here");

// Fixed-size types get maxlen too, so a module that sends a u64 where the
// header says u32 is caught rather than misread.  Strings are NLA_STRING:
// libnl checks those for a terminating NUL (it does not check
// NLA_NUL_STRING at all).
nla_policy Fixed(uint16_t type, uint16_t len) { return nla_policy{type, len, len}; }

// Policy used to parse replies and events: types must match what keel.ko
// sends.
const nla_policy* ReplyPolicy() {
  static const auto* policy = [] {
    static nla_policy p[KEEL_ATTR_MAX + 1] = {};
    p[KEEL_ATTR_VERSION] = {NLA_STRING, 0, KEEL_STRING_MAX};
    p[KEEL_ATTR_API_VERSION] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_FEATURES] = Fixed(NLA_U64, 8);
    p[KEEL_ATTR_KERNEL_RELEASE] = {NLA_STRING, 0, KEEL_STRING_MAX};
    p[KEEL_ATTR_OBJECTS] = Fixed(NLA_U64, 8);
    p[KEEL_ATTR_VOLUME_COUNT] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_VOLUME_ID] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_UUID] = Fixed(NLA_UNSPEC, KEEL_UUID_LEN);
    p[KEEL_ATTR_SIZE] = Fixed(NLA_U64, 8);
    p[KEEL_ATTR_BLOCK_SIZE] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_BACKING_PATH] = {NLA_STRING, 0, 0};  // up to PATH_MAX
    p[KEEL_ATTR_FLAGS] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_STATE] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_EPOCH] = Fixed(NLA_U64, 8);
    p[KEEL_ATTR_DATA_OFFSET] = Fixed(NLA_U64, 8);
    p[KEEL_ATTR_DEVICE_NAME] = {NLA_STRING, 0, KEEL_STRING_MAX};
    p[KEEL_ATTR_DEVICE_MAJOR] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_DEVICE_MINOR] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_STATS] = {NLA_NESTED, 0, 0};
    p[KEEL_ATTR_EVENT_TYPE] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_ERRNO] = Fixed(NLA_U32, 4);  // s32; libnl does not check NLA_S32
    p[KEEL_ATTR_SECTOR] = Fixed(NLA_U64, 8);
    p[KEEL_ATTR_SECRET] = {NLA_UNSPEC, KEEL_SECRET_MIN, KEEL_SECRET_MAX};
    p[KEEL_ATTR_FREEZE_POLICY] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_FREEZE_TIMEOUT_MS] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_PEER_TIMEOUT_MS] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_RESYNC_RATE] = Fixed(NLA_U64, 8);
    p[KEEL_ATTR_DATA_DIGEST] = Fixed(NLA_U8, 1);
    p[KEEL_ATTR_ADDR] = {NLA_UNSPEC, 4, 16};
    p[KEEL_ATTR_PORT] = Fixed(NLA_U16, 2);
    p[KEEL_ATTR_PEER_SLOT] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_PEER_NAME] = {NLA_STRING, 0, KEEL_STRING_MAX};
    p[KEEL_ATTR_PEER_SYNC] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_PEERS] = {NLA_NESTED, 0, 0};
    p[KEEL_ATTR_PEER] = {NLA_NESTED, 0, 0};
    p[KEEL_ATTR_TARGET] = {NLA_NESTED, 0, 0};
    p[KEEL_ATTR_SYNC_PERCENT] = Fixed(NLA_U32, 4);
    p[KEEL_ATTR_MESSAGE] = {NLA_STRING, 0, 0};  // for people: any length
    p[KEEL_ATTR_GRANULARITY] = Fixed(NLA_U32, 4);
    return p;
  }();
  return policy;
}

const nla_policy* StatsPolicy() {
  static const auto* policy = [] {
    static nla_policy p[KEEL_STAT_MAX + 1] = {};
    for (int i = KEEL_STAT_READS; i <= KEEL_STAT_BACKING_SYNCS; ++i) p[i] = Fixed(NLA_U64, 8);
    p[KEEL_STAT_LATENCY_US] = Fixed(NLA_UNSPEC, KEEL_LAT_BUCKETS * sizeof(uint64_t));
    return p;
  }();
  return policy;
}

const nla_policy* PeerPolicy() {
  static const auto* policy = [] {
    static nla_policy p[KEEL_PEER_MAX + 1] = {};
    p[KEEL_PEER_SLOT] = Fixed(NLA_U32, 4);
    p[KEEL_PEER_NAME] = {NLA_STRING, 0, 0};
    p[KEEL_PEER_ADDR] = {NLA_UNSPEC, 4, 16};
    p[KEEL_PEER_PORT] = Fixed(NLA_U16, 2);
    p[KEEL_PEER_STATE] = Fixed(NLA_U32, 4);
    p[KEEL_PEER_IN_SYNC] = Fixed(NLA_U8, 1);
    p[KEEL_PEER_CONNECTED] = Fixed(NLA_U8, 1);
    p[KEEL_PEER_PULLING] = Fixed(NLA_U8, 1);
    p[KEEL_PEER_SYNC_PERCENT] = Fixed(NLA_U32, 4);
    for (int i :
         {KEEL_PEER_DIRTY_BYTES, KEEL_PEER_BYTES_SENT, KEEL_PEER_BYTES_ACKED,
          KEEL_PEER_RESYNC_BYTES, KEEL_PEER_RESYNC_RATE, KEEL_PEER_EPOCH, KEEL_PEER_CONNECTS})
      p[i] = Fixed(NLA_U64, 8);
    p[KEEL_PEER_ERRNO] = Fixed(NLA_U32, 4);  // s32
    p[KEEL_PEER_MESSAGE] = {NLA_STRING, 0, 0};
    return p;
  }();
  return policy;
}

const nla_policy* TargetPolicy() {
  static const auto* policy = [] {
    static nla_policy p[KEEL_TARGET_MAX + 1] = {};
    p[KEEL_TARGET_ADDR] = {NLA_UNSPEC, 4, 16};
    p[KEEL_TARGET_PORT] = Fixed(NLA_U16, 2);
    p[KEEL_TARGET_CONNECTED] = Fixed(NLA_U8, 1);
    p[KEEL_TARGET_ACCEPTED] = Fixed(NLA_U64, 8);
    p[KEEL_TARGET_REFUSED] = Fixed(NLA_U64, 8);
    p[KEEL_TARGET_ERRNO] = Fixed(NLA_U32, 4);  // s32
    p[KEEL_TARGET_MESSAGE] = {NLA_STRING, 0, 0};
    p[KEEL_TARGET_BYTES_WRITTEN] = Fixed(NLA_U64, 8);
    return p;
  }();
  return policy;
}

Status Malformed(const std::string& why) {
  return Status::Error(
      EPROTO, "malformed message from keel.ko: " + why + " (is keelsetup as new as the module?)");
}

// Refuses a message lacking any of `required`.
Status Require(const NetlinkKernelClient::Attrs& a, std::initializer_list<int> required,
               const char* what) {
  if (a.size() < KEEL_ATTR_MAX + 1)
    return Malformed(std::string(what) + " parsed with a short table");
  std::string missing;
  for (int attr : required) {
    if (!a[attr])
      missing += std::string(missing.empty() ? "" : ", ") + "KEEL_ATTR_" + kAttrNames[attr];
  }
  if (!missing.empty()) return Malformed(std::string(what) + " lacks " + missing);
  return Status();
}

Status WithContext(const Status& s, const std::string& what) {
  if (s.ok()) return s;
  return Status::Error(s.code(), what + ": " + s.message());
}

// The extended-ack message (NLMSGERR_ATTR_MSG) in the TLVs that start
// `tlv_offset` bytes into the payload of an error or done message.
std::string ExtackMessage(nlmsghdr* hdr, size_t tlv_offset) {
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  int len = static_cast<int>(hdr->nlmsg_len) - NLMSG_HDRLEN - static_cast<int>(tlv_offset);
  if (len <= 0) return "";
  auto* attrs = reinterpret_cast<nlattr*>(static_cast<char*>(NLMSG_DATA(hdr)) + tlv_offset);
  nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
  static nla_policy policy[NLMSGERR_ATTR_MAX + 1] = {};
  policy[NLMSGERR_ATTR_MSG].type = NLA_STRING;
  if (nla_parse(tb, NLMSGERR_ATTR_MAX, attrs, len, policy) != 0 || !tb[NLMSGERR_ATTR_MSG])
    return "";
  return nla_get_string(tb[NLMSGERR_ATTR_MSG]);
}

struct TransactState {
  const NetlinkKernelClient::ReplyFn* on_reply;
  int maxattr;
  const nla_policy* policy;
  uint32_t seq = 0;
  Status status;
  bool done = false;
  int kernel_error = 0;
  std::string extack;
};

// Skips anything that does not answer our request (a late reply to an
// earlier request that timed out), instead of failing on it.
int OnSeqCheck(nl_msg* msg, void* arg) {
  return nlmsg_hdr(msg)->nlmsg_seq == static_cast<TransactState*>(arg)->seq ? NL_OK : NL_SKIP;
}

int OnValid(nl_msg* msg, void* arg) {
  auto* st = static_cast<TransactState*>(arg);
  NetlinkKernelClient::Attrs tb(st->maxattr + 1);
  int err = genlmsg_parse(nlmsg_hdr(msg), 0, tb.data(), st->maxattr, st->policy);
  // Keep reading after a bad message: the ack or NLMSG_DONE must be consumed.
  if (!st->status.ok()) return NL_OK;
  if (err < 0) {
    st->status = Malformed(nl_geterror(err));
    return NL_OK;
  }
  if (*st->on_reply) st->status = (*st->on_reply)(tb);
  return NL_OK;
}

// Error and ack messages; extended-ack TLVs carry the kernel's message.
int OnError(sockaddr_nl*, nlmsgerr* e, void* arg) {
  auto* st = static_cast<TransactState*>(arg);
  st->kernel_error = -e->error;
  st->done = true;
  nlmsghdr* hdr = reinterpret_cast<nlmsghdr*>(e) - 1;
  size_t off = sizeof(*e);
  if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - NLMSG_HDRLEN;
  st->extack = ExtackMessage(hdr, off);
  return NL_STOP;
}

int OnAck(nl_msg*, void* arg) {
  static_cast<TransactState*>(arg)->done = true;
  return NL_STOP;
}

// NLMSG_DONE ends a dump; its payload is an int, negative if the dump
// failed part-way (libnl does not look at it), followed by ack TLVs.
int OnFinish(nl_msg* msg, void* arg) {
  auto* st = static_cast<TransactState*>(arg);
  st->done = true;
  nlmsghdr* hdr = nlmsg_hdr(msg);
  if (nlmsg_datalen(hdr) >= static_cast<int>(sizeof(int))) {
    int err;
    memcpy(&err, nlmsg_data(hdr), sizeof(err));
    if (err < 0) {
      st->kernel_error = -err;
      st->extack = ExtackMessage(hdr, sizeof(int));
    }
  }
  return NL_STOP;
}

void SetTimeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// A connected generic-netlink socket with extended acks.
Result<nl_sock*> OpenSocket() {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return Status::Error(ENOMEM, "cannot allocate a netlink socket");
  int err = genl_connect(sock);
  if (err < 0) {
    nl_socket_free(sock);
    return Status::Error(EIO,
                         std::string("cannot open a generic netlink socket: ") + nl_geterror(err));
  }
  int fd = nl_socket_get_fd(sock);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  return sock;
}

const char kNotLoaded[] =
    "the keel kernel module is not loaded (generic netlink family '" KEEL_GENL_NAME
    "' not found); load it with: modprobe keel";

uint64_t GetLe64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, sizeof(v));
  return le64toh(v);
}

}  // namespace

Status ParseKeelMessage(nlmsghdr* hdr, NetlinkKernelClient::Attrs* attrs) {
  attrs->assign(KEEL_ATTR_MAX + 1, nullptr);
  int err = genlmsg_parse(hdr, 0, attrs->data(), KEEL_ATTR_MAX, ReplyPolicy());
  if (err < 0) return Malformed(nl_geterror(err));
  return Status();
}

Result<ModuleInfo> ModuleInfoFromAttrs(const NetlinkKernelClient::Attrs& a) {
  Status s = Require(a, {KEEL_ATTR_VERSION, KEEL_ATTR_API_VERSION, KEEL_ATTR_FEATURES},
                     "the GET_INFO reply");
  if (!s.ok()) return s;
  ModuleInfo info;
  info.version = nla_get_string(a[KEEL_ATTR_VERSION]);
  info.api_version = nla_get_u32(a[KEEL_ATTR_API_VERSION]);
  info.features = nla_get_u64(a[KEEL_ATTR_FEATURES]);
  if (a[KEEL_ATTR_KERNEL_RELEASE])
    info.kernel_release = nla_get_string(a[KEEL_ATTR_KERNEL_RELEASE]);
  if (a[KEEL_ATTR_OBJECTS]) info.objects = nla_get_u64(a[KEEL_ATTR_OBJECTS]);
  if (a[KEEL_ATTR_VOLUME_COUNT]) info.volume_count = nla_get_u32(a[KEEL_ATTR_VOLUME_COUNT]);
  return info;
}

Result<VolumeStatus> VolumeStatusFromAttrs(const NetlinkKernelClient::Attrs& a) {
  // BACKING_PATH is absent for diskless volumes.
  Status s = Require(
      a,
      {KEEL_ATTR_VOLUME_ID, KEEL_ATTR_UUID, KEEL_ATTR_SIZE, KEEL_ATTR_BLOCK_SIZE, KEEL_ATTR_STATE},
      "a volume status");
  if (!s.ok()) return s;
  VolumeStatus v;
  v.id = nla_get_u32(a[KEEL_ATTR_VOLUME_ID]);
  Uuid::Bytes bytes;
  memcpy(bytes.data(), nla_data(a[KEEL_ATTR_UUID]), bytes.size());
  v.uuid = Uuid(bytes);
  v.size = nla_get_u64(a[KEEL_ATTR_SIZE]);
  v.block_size = nla_get_u32(a[KEEL_ATTR_BLOCK_SIZE]);
  if (a[KEEL_ATTR_BACKING_PATH]) v.backing_path = nla_get_string(a[KEEL_ATTR_BACKING_PATH]);
  v.state = nla_get_u32(a[KEEL_ATTR_STATE]);
  if (a[KEEL_ATTR_EPOCH]) v.epoch = nla_get_u64(a[KEEL_ATTR_EPOCH]);
  if (a[KEEL_ATTR_DATA_OFFSET]) v.data_offset = nla_get_u64(a[KEEL_ATTR_DATA_OFFSET]);
  if (a[KEEL_ATTR_DEVICE_NAME]) v.device_name = nla_get_string(a[KEEL_ATTR_DEVICE_NAME]);
  if (a[KEEL_ATTR_DEVICE_MAJOR]) v.major = nla_get_u32(a[KEEL_ATTR_DEVICE_MAJOR]);
  if (a[KEEL_ATTR_DEVICE_MINOR]) v.minor = nla_get_u32(a[KEEL_ATTR_DEVICE_MINOR]);
  if (a[KEEL_ATTR_STATS]) {
    nlattr* tb[KEEL_STAT_MAX + 1] = {};
    int err = nla_parse_nested(tb, KEEL_STAT_MAX, a[KEEL_ATTR_STATS], StatsPolicy());
    if (err < 0) return Malformed(std::string("KEEL_ATTR_STATS: ") + nl_geterror(err));
    auto u64 = [&](int attr) -> uint64_t { return tb[attr] ? nla_get_u64(tb[attr]) : 0; };
    VolumeStats& st = v.stats;
    st.reads = u64(KEEL_STAT_READS);
    st.writes = u64(KEEL_STAT_WRITES);
    st.read_bytes = u64(KEEL_STAT_READ_BYTES);
    st.write_bytes = u64(KEEL_STAT_WRITE_BYTES);
    st.flushes = u64(KEEL_STAT_FLUSHES);
    st.fua = u64(KEEL_STAT_FUA);
    st.discards = u64(KEEL_STAT_DISCARDS);
    st.write_zeroes = u64(KEEL_STAT_WRITE_ZEROES);
    st.errors = u64(KEEL_STAT_ERRORS);
    st.in_flight = u64(KEEL_STAT_IN_FLIGHT);
    st.backing_syncs = u64(KEEL_STAT_BACKING_SYNCS);
    if (tb[KEEL_STAT_LATENCY_US]) {
      const auto* p = static_cast<const uint8_t*>(nla_data(tb[KEEL_STAT_LATENCY_US]));
      for (size_t i = 0; i < st.latency_us.size(); ++i)
        st.latency_us[i] = GetLe64(p + i * sizeof(uint64_t));
    }
  }
  if (a[KEEL_ATTR_FREEZE_POLICY]) v.freeze_policy = nla_get_u32(a[KEEL_ATTR_FREEZE_POLICY]);
  if (a[KEEL_ATTR_FREEZE_TIMEOUT_MS])
    v.freeze_timeout_ms = nla_get_u32(a[KEEL_ATTR_FREEZE_TIMEOUT_MS]);
  if (a[KEEL_ATTR_PEER_TIMEOUT_MS]) v.peer_timeout_ms = nla_get_u32(a[KEEL_ATTR_PEER_TIMEOUT_MS]);
  if (a[KEEL_ATTR_RESYNC_RATE]) v.resync_rate = nla_get_u64(a[KEEL_ATTR_RESYNC_RATE]);
  if (a[KEEL_ATTR_DATA_DIGEST]) v.data_digest = nla_get_u8(a[KEEL_ATTR_DATA_DIGEST]) != 0;
  if (a[KEEL_ATTR_GRANULARITY]) v.granularity = nla_get_u32(a[KEEL_ATTR_GRANULARITY]);
  if (a[KEEL_ATTR_PEERS]) {
    nlattr* peer;
    int rem;
    nla_for_each_nested(peer, a[KEEL_ATTR_PEERS], rem) {
      if (nla_type(peer) != KEEL_ATTR_PEER) continue;  // tolerate what we do not know
      auto p = PeerStatusFromAttr(peer);
      if (!p.ok()) return p.status();
      v.peers.push_back(std::move(p).value());
    }
  }
  if (a[KEEL_ATTR_TARGET]) {
    auto t = TargetStatusFromAttr(a[KEEL_ATTR_TARGET]);
    if (!t.ok()) return t.status();
    v.target = std::move(t).value();
  }
  return v;
}

Result<PeerStatus> PeerStatusFromAttr(nlattr* nested) {
  nlattr* tb[KEEL_PEER_MAX + 1] = {};
  int err = nla_parse_nested(tb, KEEL_PEER_MAX, nested, PeerPolicy());
  if (err < 0) return Malformed(std::string("KEEL_ATTR_PEER: ") + nl_geterror(err));
  if (!tb[KEEL_PEER_SLOT]) return Malformed("KEEL_ATTR_PEER lacks KEEL_PEER_SLOT");
  PeerStatus p;
  auto u64 = [&](int attr) -> uint64_t { return tb[attr] ? nla_get_u64(tb[attr]) : 0; };
  p.slot = nla_get_u32(tb[KEEL_PEER_SLOT]);
  if (tb[KEEL_PEER_NAME]) p.name = nla_get_string(tb[KEEL_PEER_NAME]);
  if (tb[KEEL_PEER_ADDR]) {
    p.addr = FormatAddress(static_cast<const uint8_t*>(nla_data(tb[KEEL_PEER_ADDR])),
                           nla_len(tb[KEEL_PEER_ADDR]));
  }
  if (tb[KEEL_PEER_PORT]) p.port = nla_get_u16(tb[KEEL_PEER_PORT]);
  if (tb[KEEL_PEER_STATE]) p.state = nla_get_u32(tb[KEEL_PEER_STATE]);
  if (tb[KEEL_PEER_IN_SYNC]) p.in_sync = nla_get_u8(tb[KEEL_PEER_IN_SYNC]) != 0;
  if (tb[KEEL_PEER_CONNECTED]) p.connected = nla_get_u8(tb[KEEL_PEER_CONNECTED]) != 0;
  if (tb[KEEL_PEER_SYNC_PERCENT]) p.sync_percent = nla_get_u32(tb[KEEL_PEER_SYNC_PERCENT]);
  p.dirty_bytes = u64(KEEL_PEER_DIRTY_BYTES);
  p.bytes_sent = u64(KEEL_PEER_BYTES_SENT);
  p.bytes_acked = u64(KEEL_PEER_BYTES_ACKED);
  p.resync_bytes = u64(KEEL_PEER_RESYNC_BYTES);
  p.resync_rate = u64(KEEL_PEER_RESYNC_RATE);
  if (tb[KEEL_PEER_EPOCH]) p.epoch = nla_get_u64(tb[KEEL_PEER_EPOCH]);
  if (tb[KEEL_PEER_ERRNO]) p.error = nla_get_s32(tb[KEEL_PEER_ERRNO]);
  if (tb[KEEL_PEER_MESSAGE]) p.message = nla_get_string(tb[KEEL_PEER_MESSAGE]);
  p.connects = u64(KEEL_PEER_CONNECTS);
  if (tb[KEEL_PEER_PULLING]) p.pulling = nla_get_u8(tb[KEEL_PEER_PULLING]) != 0;
  return p;
}

Result<TargetStatus> TargetStatusFromAttr(nlattr* nested) {
  nlattr* tb[KEEL_TARGET_MAX + 1] = {};
  int err = nla_parse_nested(tb, KEEL_TARGET_MAX, nested, TargetPolicy());
  if (err < 0) return Malformed(std::string("KEEL_ATTR_TARGET: ") + nl_geterror(err));
  TargetStatus t;
  auto u64 = [&](int attr) -> uint64_t { return tb[attr] ? nla_get_u64(tb[attr]) : 0; };
  if (tb[KEEL_TARGET_ADDR]) {
    t.addr = FormatAddress(static_cast<const uint8_t*>(nla_data(tb[KEEL_TARGET_ADDR])),
                           nla_len(tb[KEEL_TARGET_ADDR]));
  }
  if (tb[KEEL_TARGET_PORT]) t.port = nla_get_u16(tb[KEEL_TARGET_PORT]);
  if (tb[KEEL_TARGET_CONNECTED]) t.connected = nla_get_u8(tb[KEEL_TARGET_CONNECTED]) != 0;
  t.accepted = u64(KEEL_TARGET_ACCEPTED);
  t.refused = u64(KEEL_TARGET_REFUSED);
  if (tb[KEEL_TARGET_ERRNO]) t.error = nla_get_s32(tb[KEEL_TARGET_ERRNO]);
  if (tb[KEEL_TARGET_MESSAGE]) t.message = nla_get_string(tb[KEEL_TARGET_MESSAGE]);
  t.bytes_written = u64(KEEL_TARGET_BYTES_WRITTEN);
  return t;
}

Result<KernelEvent> KernelEventFromAttrs(const NetlinkKernelClient::Attrs& a) {
  Status s = Require(a, {KEEL_ATTR_EVENT_TYPE, KEEL_ATTR_VOLUME_ID}, "an event");
  if (!s.ok()) return s;
  KernelEvent ev;
  ev.type = nla_get_u32(a[KEEL_ATTR_EVENT_TYPE]);
  ev.volume_id = nla_get_u32(a[KEEL_ATTR_VOLUME_ID]);
  if (a[KEEL_ATTR_UUID]) {
    Uuid::Bytes bytes;
    memcpy(bytes.data(), nla_data(a[KEEL_ATTR_UUID]), bytes.size());
    ev.uuid = Uuid(bytes);
  }
  if (a[KEEL_ATTR_ERRNO]) ev.error = nla_get_s32(a[KEEL_ATTR_ERRNO]);
  if (a[KEEL_ATTR_SECTOR]) ev.sector = nla_get_u64(a[KEEL_ATTR_SECTOR]);
  if (a[KEEL_ATTR_PEER_SLOT]) ev.peer_slot = nla_get_u32(a[KEEL_ATTR_PEER_SLOT]);
  if (a[KEEL_ATTR_SYNC_PERCENT]) ev.sync_percent = nla_get_u32(a[KEEL_ATTR_SYNC_PERCENT]);
  if (a[KEEL_ATTR_MESSAGE]) ev.message = nla_get_string(a[KEEL_ATTR_MESSAGE]);
  if (a[KEEL_ATTR_EPOCH]) ev.epoch = nla_get_u64(a[KEEL_ATTR_EPOCH]);
  return ev;
}

namespace {

Status PutFailed(int err) {
  return Status::Error(EINVAL, std::string("request too large: ") + nl_geterror(err));
}

// Puts KEEL_ATTR_ADDR and KEEL_ATTR_PORT.
int PutAddress(nl_msg* m, const std::vector<uint8_t>& addr, uint16_t port) {
  int err = nla_put(m, KEEL_ATTR_ADDR, static_cast<int>(addr.size()), addr.data());
  if (!err) err = nla_put_u16(m, KEEL_ATTR_PORT, port);
  return err;
}

Status CheckSlot(uint32_t slot) {
  if (slot >= KEEL_META_MAX_PEERS)
    return Status::Error(EINVAL, "invalid peer slot " + std::to_string(slot) + ": must be 0-" +
                                     std::to_string(KEEL_META_MAX_PEERS - 1));
  return Status();
}

}  // namespace

Status BuildCreateVolume(nl_msg* m, const CreateVolumeRequest& req) {
  if (!req.diskless && req.backing_path.empty())
    return Status::Error(EINVAL, "a volume with a local replica needs a backing path");
  int err = nla_put(m, KEEL_ATTR_UUID, Uuid::kSize, req.uuid.bytes().data());
  if (!err) err = nla_put_u64(m, KEEL_ATTR_SIZE, req.size);
  if (!err && !req.diskless)
    err = nla_put_string(m, KEEL_ATTR_BACKING_PATH, req.backing_path.c_str());
  if (!err && req.block_size) err = nla_put_u32(m, KEEL_ATTR_BLOCK_SIZE, req.block_size);
  if (!err && req.id) err = nla_put_u32(m, KEEL_ATTR_VOLUME_ID, *req.id);
  uint32_t flags = (req.force_format ? KEEL_CREATE_F_FORCE_FORMAT : 0) |
                   (req.diskless ? KEEL_CREATE_F_DISKLESS : 0);
  if (!err && flags) err = nla_put_u32(m, KEEL_ATTR_FLAGS, flags);
  if (!err && req.granularity) err = nla_put_u32(m, KEEL_ATTR_GRANULARITY, *req.granularity);
  if (err < 0) return PutFailed(err);
  return Status();
}

Status BuildSetVolume(nl_msg* m, uint32_t id, const SetVolumeRequest& req) {
  if (req.secret &&
      (req.secret->size() < KEEL_SECRET_MIN || req.secret->size() > KEEL_SECRET_MAX)) {
    return Status::Error(EINVAL, "the secret has " + std::to_string(req.secret->size()) +
                                     " bytes: it needs " + std::to_string(KEEL_SECRET_MIN) +
                                     " to " + std::to_string(KEEL_SECRET_MAX));
  }
  if (req.freeze_policy && *req.freeze_policy != KEEL_FREEZE_HOLD &&
      *req.freeze_policy != KEEL_FREEZE_FAIL)
    return Status::Error(EINVAL, "invalid freeze policy " + std::to_string(*req.freeze_policy));
  int err = nla_put_u32(m, KEEL_ATTR_VOLUME_ID, id);
  if (!err && req.epoch) err = nla_put_u64(m, KEEL_ATTR_EPOCH, *req.epoch);
  if (!err && req.secret)
    err = nla_put(m, KEEL_ATTR_SECRET, static_cast<int>(req.secret->size()), req.secret->data());
  if (!err && req.freeze_policy) err = nla_put_u32(m, KEEL_ATTR_FREEZE_POLICY, *req.freeze_policy);
  if (!err && req.freeze_timeout_ms)
    err = nla_put_u32(m, KEEL_ATTR_FREEZE_TIMEOUT_MS, *req.freeze_timeout_ms);
  if (!err && req.peer_timeout_ms)
    err = nla_put_u32(m, KEEL_ATTR_PEER_TIMEOUT_MS, *req.peer_timeout_ms);
  if (!err && req.resync_rate) err = nla_put_u64(m, KEEL_ATTR_RESYNC_RATE, *req.resync_rate);
  if (!err && req.data_digest) err = nla_put_u8(m, KEEL_ATTR_DATA_DIGEST, *req.data_digest ? 1 : 0);
  if (err < 0) return PutFailed(err);
  return Status();
}

Status BuildListenStart(nl_msg* m, uint32_t id, const std::string& addr, uint16_t port) {
  auto bytes = ParseAddress(addr);
  if (!bytes.ok()) return bytes.status();
  if (port == 0) return Status::Error(EINVAL, "invalid port 0");
  int err = nla_put_u32(m, KEEL_ATTR_VOLUME_ID, id);
  if (!err) err = PutAddress(m, *bytes, port);
  if (err < 0) return PutFailed(err);
  return Status();
}

Status BuildPeerAdd(nl_msg* m, uint32_t id, uint32_t slot, const std::string& addr, uint16_t port,
                    const std::string& name, PeerSync sync) {
  Status s = CheckSlot(slot);
  if (!s.ok()) return s;
  auto bytes = ParseAddress(addr);
  if (!bytes.ok()) return bytes.status();
  if (port == 0) return Status::Error(EINVAL, "invalid port 0");
  if (name.size() >= KEEL_STRING_MAX)
    return Status::Error(EINVAL, "peer name '" + name + "' is longer than " +
                                     std::to_string(KEEL_STRING_MAX - 1) + " bytes");
  int err = nla_put_u32(m, KEEL_ATTR_VOLUME_ID, id);
  if (!err) err = nla_put_u32(m, KEEL_ATTR_PEER_SLOT, slot);
  if (!err) err = PutAddress(m, *bytes, port);
  if (!err && !name.empty()) err = nla_put_string(m, KEEL_ATTR_PEER_NAME, name.c_str());
  if (!err) err = nla_put_u32(m, KEEL_ATTR_PEER_SYNC, static_cast<uint32_t>(sync));
  if (err < 0) return PutFailed(err);
  return Status();
}

Status BuildPeerSlot(nl_msg* m, uint32_t id, uint32_t slot, std::optional<uint64_t> epoch) {
  Status s = CheckSlot(slot);
  if (!s.ok()) return s;
  int err = nla_put_u32(m, KEEL_ATTR_VOLUME_ID, id);
  if (!err) err = nla_put_u32(m, KEEL_ATTR_PEER_SLOT, slot);
  if (!err && epoch) err = nla_put_u64(m, KEEL_ATTR_EPOCH, *epoch);
  if (err < 0) return PutFailed(err);
  return Status();
}

Result<std::unique_ptr<NetlinkKernelClient>> NetlinkKernelClient::Connect(
    std::chrono::milliseconds timeout) {
  auto c = ConnectFamily(KEEL_GENL_NAME, KEEL_GENL_VERSION, KEEL_ATTR_MAX, ReplyPolicy(), timeout);
  if (!c.ok() && c.status().code() == ENOENT) return Status::Error(ENOENT, kNotLoaded);
  return c;
}

Result<std::unique_ptr<NetlinkKernelClient>> NetlinkKernelClient::ConnectFamily(
    const std::string& name, uint8_t version, int maxattr, const nla_policy* policy,
    std::chrono::milliseconds timeout) {
  auto sock = OpenSocket();
  if (!sock.ok()) return sock.status();
  SetTimeouts(nl_socket_get_fd(*sock), timeout);
  int family = genl_ctrl_resolve(*sock, name.c_str());
  if (family < 0) {
    nl_socket_free(*sock);
    return Status::Error(ENOENT, "generic netlink family '" + name + "' not found");
  }
  return std::unique_ptr<NetlinkKernelClient>(
      new NetlinkKernelClient(*sock, family, version, maxattr, policy));
}

NetlinkKernelClient::~NetlinkKernelClient() { nl_socket_free(sock_); }

Status NetlinkKernelClient::Transact(uint8_t cmd, int flags, const BuildFn& build,
                                     const ReplyFn& on_reply) {
  nl_msg* msg = nlmsg_alloc();
  if (!msg) return Status::Error(ENOMEM, "cannot allocate a netlink message");
  if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family_, 0, flags | NLM_F_ACK, cmd, version_)) {
    nlmsg_free(msg);
    return Status::Error(ENOMEM, "cannot build a netlink message");
  }
  if (build) {
    Status s = build(msg);
    if (!s.ok()) {
      nlmsg_free(msg);
      return s;
    }
  }

  TransactState st;
  st.on_reply = &on_reply;
  st.maxattr = maxattr_;
  st.policy = policy_;
  nl_cb* cb = nl_cb_alloc(NL_CB_CUSTOM);
  if (!cb) {
    nlmsg_free(msg);
    return Status::Error(ENOMEM, "cannot allocate netlink callbacks");
  }
  nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, OnSeqCheck, &st);
  nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, OnValid, &st);
  nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, OnAck, &st);
  nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, OnFinish, &st);
  nl_cb_err(cb, NL_CB_CUSTOM, OnError, &st);

  int err = nl_send_auto(sock_, msg);
  st.seq = nlmsg_hdr(msg)->nlmsg_seq;
  nlmsg_free(msg);
  if (err < 0) {
    nl_cb_put(cb);
    return Status::Error(EIO, std::string("cannot send to keel.ko: ") + nl_geterror(err));
  }
  // nl_recvmsgs returns after each batch it reads; a dump spans several.
  while (!st.done) {
    err = nl_recvmsgs(sock_, cb);
    if (err < 0 && !st.done) {
      nl_cb_put(cb);
      if (err == -NLE_AGAIN) return Status::Error(ETIMEDOUT, "keel.ko did not answer in time");
      return Status::Error(EIO, std::string("netlink receive failed: ") + nl_geterror(err));
    }
  }
  nl_cb_put(cb);
  if (st.kernel_error) {
    std::string what = st.extack.empty() ? strerror(st.kernel_error) : st.extack;
    if (st.kernel_error == EPERM) what += " (keel commands need CAP_SYS_ADMIN: run as root)";
    return Status::Error(st.kernel_error, "keel.ko refused the request: " + what);
  }
  return st.status;
}

Result<ModuleInfo> NetlinkKernelClient::GetInfo() {
  std::optional<Result<ModuleInfo>> info;
  Status s = Transact(KEEL_CMD_GET_INFO, 0, nullptr, [&](const Attrs& a) {
    info = ModuleInfoFromAttrs(a);
    return info->status();
  });
  if (!s.ok()) return s;
  if (!info) return Status::Error(EPROTO, "keel.ko sent no GET_INFO reply");
  return *info;
}

Result<VolumeStatus> NetlinkKernelClient::CreateVolume(const CreateVolumeRequest& req) {
  std::optional<Result<VolumeStatus>> reply;
  Status s = Transact(
      KEEL_CMD_VOLUME_CREATE, 0, [&](nl_msg* m) { return BuildCreateVolume(m, req); },
      [&](const Attrs& a) {
        reply = VolumeStatusFromAttrs(a);
        return reply->status();
      });
  std::string what = "create volume";
  if (req.id) what += " " + std::to_string(*req.id);
  what += req.diskless ? " (diskless)" : " on " + req.backing_path;
  if (!s.ok()) return WithContext(s, what);
  if (!reply) return Status::Error(EPROTO, what + ": keel.ko sent no volume status");
  return *reply;
}

NetlinkKernelClient::BuildFn NetlinkKernelClient::IdRequest(uint32_t id, uint32_t flags) {
  return [id, flags](nl_msg* m) {
    int err = nla_put_u32(m, KEEL_ATTR_VOLUME_ID, id);
    if (!err && flags) err = nla_put_u32(m, KEEL_ATTR_FLAGS, flags);
    if (err < 0)
      return Status::Error(ENOMEM, std::string("cannot build a request: ") + nl_geterror(err));
    return Status();
  };
}

Result<VolumeStatus> NetlinkKernelClient::VolumeCommand(uint8_t cmd, uint32_t id,
                                                        const std::string& what) {
  std::optional<Result<VolumeStatus>> reply;
  Status s = Transact(cmd, 0, IdRequest(id, 0), [&](const Attrs& a) {
    reply = VolumeStatusFromAttrs(a);
    return reply->status();
  });
  std::string context = what + " volume " + std::to_string(id);
  if (!s.ok()) return WithContext(s, context);
  if (!reply) return Status::Error(EPROTO, context + ": keel.ko sent no volume status");
  return *reply;
}

Status NetlinkKernelClient::DeleteVolume(uint32_t id, bool force) {
  Status s =
      Transact(KEEL_CMD_VOLUME_DELETE, 0, IdRequest(id, force ? KEEL_DELETE_F_FORCE : 0), nullptr);
  return WithContext(s, "delete volume " + std::to_string(id));
}

Result<VolumeStatus> NetlinkKernelClient::AttachVolume(uint32_t id) {
  return VolumeCommand(KEEL_CMD_VOLUME_ATTACH, id, "attach");
}

Status NetlinkKernelClient::DetachVolume(uint32_t id, bool force) {
  Status s =
      Transact(KEEL_CMD_VOLUME_DETACH, 0, IdRequest(id, force ? KEEL_DETACH_F_FORCE : 0), nullptr);
  return WithContext(s, "detach volume " + std::to_string(id));
}

Result<VolumeStatus> NetlinkKernelClient::GetVolume(uint32_t id) {
  return VolumeCommand(KEEL_CMD_VOLUME_GET, id, "get");
}

Result<std::vector<VolumeStatus>> NetlinkKernelClient::ListVolumes() {
  std::vector<VolumeStatus> volumes;
  Status s = Transact(KEEL_CMD_VOLUME_GET, NLM_F_DUMP, nullptr, [&](const Attrs& a) {
    auto v = VolumeStatusFromAttrs(a);
    if (!v.ok()) return v.status();
    volumes.push_back(std::move(v).value());
    return Status();
  });
  if (!s.ok()) return WithContext(s, "list volumes");
  return volumes;
}

Result<VolumeStatus> NetlinkKernelClient::SetVolume(uint32_t id, const SetVolumeRequest& req) {
  std::optional<Result<VolumeStatus>> reply;
  Status s = Transact(
      KEEL_CMD_VOLUME_SET, 0, [&](nl_msg* m) { return BuildSetVolume(m, id, req); },
      [&](const Attrs& a) {
        reply = VolumeStatusFromAttrs(a);
        return reply->status();
      });
  std::string what = "set volume " + std::to_string(id);
  if (!s.ok()) return WithContext(s, what);
  if (!reply) return Status::Error(EPROTO, what + ": keel.ko sent no volume status");
  return *reply;
}

Status NetlinkKernelClient::ListenStart(uint32_t id, const std::string& addr, uint16_t port) {
  Status s = Transact(
      KEEL_CMD_LISTEN_START, 0, [&](nl_msg* m) { return BuildListenStart(m, id, addr, port); },
      nullptr);
  return WithContext(
      s, "listen for volume " + std::to_string(id) + " on " + FormatEndpoint(addr, port));
}

Status NetlinkKernelClient::ListenStop(uint32_t id) {
  Status s = Transact(KEEL_CMD_LISTEN_STOP, 0, IdRequest(id, 0), nullptr);
  return WithContext(s, "stop listening for volume " + std::to_string(id));
}

Status NetlinkKernelClient::PeerAdd(uint32_t id, uint32_t slot, const std::string& addr,
                                    uint16_t port, const std::string& name, PeerSync sync) {
  Status s = Transact(
      KEEL_CMD_PEER_ADD, 0,
      [&](nl_msg* m) { return BuildPeerAdd(m, id, slot, addr, port, name, sync); }, nullptr);
  return WithContext(s, "add peer " + std::to_string(slot) + " (" + FormatEndpoint(addr, port) +
                            ") to volume " + std::to_string(id));
}

Status NetlinkKernelClient::PeerRemove(uint32_t id, uint32_t slot) {
  Status s = Transact(
      KEEL_CMD_PEER_REMOVE, 0, [&](nl_msg* m) { return BuildPeerSlot(m, id, slot, std::nullopt); },
      nullptr);
  return WithContext(s, "remove peer " + std::to_string(slot) + " of volume " + std::to_string(id));
}

Status NetlinkKernelClient::PeerOutdate(uint32_t id, uint32_t slot, uint64_t epoch) {
  Status s = Transact(
      KEEL_CMD_PEER_OUTDATE, 0, [&](nl_msg* m) { return BuildPeerSlot(m, id, slot, epoch); },
      nullptr);
  return WithContext(s, "outdate peer " + std::to_string(slot) + " of volume " +
                            std::to_string(id) + " at epoch " + std::to_string(epoch));
}

Result<std::unique_ptr<NetlinkEventListener>> NetlinkEventListener::Connect() {
  auto sock = OpenSocket();
  if (!sock.ok()) return sock.status();
  int family = genl_ctrl_resolve(*sock, KEEL_GENL_NAME);
  if (family < 0) {
    nl_socket_free(*sock);
    return Status::Error(ENOENT, kNotLoaded);
  }
  int group = genl_ctrl_resolve_grp(*sock, KEEL_GENL_NAME, KEEL_MCGRP_EVENTS);
  if (group < 0) {
    nl_socket_free(*sock);
    return Status::Error(ENOENT, "keel.ko has no '" KEEL_MCGRP_EVENTS
                                 "' multicast group (a module without KEEL_FEATURE_EVENTS?)");
  }
  nl_socket_disable_seq_check(*sock);
  int err = nl_socket_add_membership(*sock, group);
  if (err < 0) {
    nl_socket_free(*sock);
    return Status::Error(EPERM, std::string("cannot join keel.ko's events group: ") +
                                    nl_geterror(err) + " (run as root)");
  }
  // A larger buffer makes losing events under bursts less likely; the
  // kernel caps it at net.core.rmem_max, which is fine.
  nl_socket_set_buffer_size(*sock, 1 << 20, 0);
  return std::unique_ptr<NetlinkEventListener>(new NetlinkEventListener(*sock, family));
}

NetlinkEventListener::~NetlinkEventListener() { nl_socket_free(sock_); }

Status NetlinkEventListener::ReadAvailable() {
  std::vector<char> buf(65536);
  sockaddr_nl from{};
  socklen_t from_len = sizeof(from);
  ssize_t n = recvfrom(nl_socket_get_fd(sock_), buf.data(), buf.size(), MSG_DONTWAIT,
                       reinterpret_cast<sockaddr*>(&from), &from_len);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return Status();
    if (errno == ENOBUFS)
      return Status::Error(ENOBUFS, "some keel events were lost: the listener fell behind");
    int e = errno;
    return Status::Error(e, std::string("cannot read keel events: ") + strerror(e));
  }
  if (from.nl_pid != 0) return Status();  // only the kernel speaks for keel.ko
  int len = static_cast<int>(n);
  for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
       h = NLMSG_NEXT(h, len)) {
    if (h->nlmsg_type != family_ || h->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN)) continue;
    if (static_cast<genlmsghdr*>(NLMSG_DATA(h))->cmd != KEEL_CMD_EVENT) continue;
    NetlinkKernelClient::Attrs attrs;
    Status s = ParseKeelMessage(h, &attrs);
    if (!s.ok()) return s;
    auto ev = KernelEventFromAttrs(attrs);
    if (!ev.ok()) return ev.status();
    pending_.push_back(*ev);
  }
  return Status();
}

Result<std::optional<KernelEvent>> NetlinkEventListener::Next(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pending_.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    long wait = std::max<long>(0, std::min<long>(left.count(), INT_MAX));
    pollfd p{nl_socket_get_fd(sock_), POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(wait));
    if (ready < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      return Status::Error(e, std::string("cannot wait for keel events: ") + strerror(e));
    }
    if (ready == 0) return std::optional<KernelEvent>();
    Status s = ReadAvailable();
    if (!s.ok()) return s;
  }
  KernelEvent ev = pending_.front();
  pending_.pop_front();
  return std::optional<KernelEvent>(ev);
}

}  // namespace keel
