// Tests of NetlinkKernelClient that run on a build machine, where keel.ko is
// not loaded: message parsing against messages built as keel.ko builds them,
// and the request/reply loop against the real generic-netlink controller.
// The round-trip with the module itself is in tests/vm/basic/.
#include "manager/kernel/netlink_client.h"

#include <doctest/doctest.h>
#include <endian.h>
#include <linux/genetlink.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <string>

namespace keel {

static bool KeelLoaded() {
  std::ifstream f("/proc/modules");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("keel ", 0) == 0) return true;
  return false;
}

TEST_CASE("Connect without the module says how to load it") {
  if (KeelLoaded()) return;  // covered by the VM suite instead
  auto c = NetlinkKernelClient::Connect(std::chrono::milliseconds(500));
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == ENOENT);
  CHECK(c.status().message().find("modprobe keel") != std::string::npos);
}

TEST_CASE("Event listener without the module says how to load it") {
  if (KeelLoaded()) return;
  auto l = NetlinkEventListener::Connect();
  REQUIRE_FALSE(l.ok());
  CHECK(l.status().code() == ENOENT);
  CHECK(l.status().message().find("modprobe keel") != std::string::npos);
}

// A message of family 0x20 as keel.ko would send it; owns the nl_msg.
class KeelMsg {
 public:
  explicit KeelMsg(uint8_t cmd) : msg_(nlmsg_alloc()) {
    REQUIRE(msg_);
    REQUIRE(genlmsg_put(msg_, 0, 1, 0x20, 0, 0, cmd, KEEL_GENL_VERSION));
  }
  ~KeelMsg() { nlmsg_free(msg_); }
  nl_msg* get() { return msg_; }
  // Parses with the client's code.
  Status Parse(NetlinkKernelClient::Attrs* attrs) {
    return ParseKeelMessage(nlmsg_hdr(msg_), attrs);
  }

 private:
  nl_msg* msg_;
};

const char kUuidText[] = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

void PutVolume(nl_msg* m, bool attached) {
  Uuid u = *Uuid::Parse(kUuidText);
  REQUIRE(nla_put_u32(m, KEEL_ATTR_VOLUME_ID, 3) == 0);
  REQUIRE(nla_put(m, KEEL_ATTR_UUID, KEEL_UUID_LEN, u.bytes().data()) == 0);
  REQUIRE(nla_put_u64(m, KEEL_ATTR_SIZE, 1ULL << 30) == 0);
  REQUIRE(nla_put_u32(m, KEEL_ATTR_BLOCK_SIZE, 4096) == 0);
  REQUIRE(nla_put_string(m, KEEL_ATTR_BACKING_PATH, "/var/lib/keel/v3.img") == 0);
  REQUIRE(nla_put_u32(m, KEEL_ATTR_STATE,
                      attached ? KEEL_STATE_ATTACHED | KEEL_STATE_DIRECT_IO : 0) == 0);
  REQUIRE(nla_put_u64(m, KEEL_ATTR_EPOCH, 7) == 0);
  REQUIRE(nla_put_u64(m, KEEL_ATTR_DATA_OFFSET, 1 << 20) == 0);
  if (attached) {
    REQUIRE(nla_put_string(m, KEEL_ATTR_DEVICE_NAME, "keel3") == 0);
    REQUIRE(nla_put_u32(m, KEEL_ATTR_DEVICE_MAJOR, 252) == 0);
    REQUIRE(nla_put_u32(m, KEEL_ATTR_DEVICE_MINOR, 48) == 0);
  }
}

void PutStats(nl_msg* m, size_t latency_bytes) {
  nlattr* nest = nla_nest_start(m, KEEL_ATTR_STATS);
  REQUIRE(nest);
  for (int i = KEEL_STAT_READS; i <= KEEL_STAT_BACKING_SYNCS; ++i)
    REQUIRE(nla_put_u64(m, i, 100 + i) == 0);
  std::vector<uint64_t> lat(latency_bytes / 8 + 1);
  for (size_t i = 0; i < lat.size(); ++i) lat[i] = htole64(i * 1000 + 1);
  REQUIRE(nla_put(m, KEEL_STAT_LATENCY_US, static_cast<int>(latency_bytes), lat.data()) == 0);
  nla_nest_end(m, nest);
}

TEST_CASE("VolumeStatusFromAttrs: every field, stats and latency histogram") {
  KeelMsg msg(KEEL_CMD_VOLUME_GET);
  PutVolume(msg.get(), true);
  PutStats(msg.get(), KEEL_LAT_BUCKETS * 8);
  NetlinkKernelClient::Attrs a;
  REQUIRE(msg.Parse(&a).ok());
  auto v = VolumeStatusFromAttrs(a);
  REQUIRE(v.ok());
  CHECK(v->id == 3);
  CHECK(v->uuid.ToString() == kUuidText);
  CHECK(v->size == 1ULL << 30);
  CHECK(v->block_size == 4096);
  CHECK(v->backing_path == "/var/lib/keel/v3.img");
  CHECK(v->state == (KEEL_STATE_ATTACHED | KEEL_STATE_DIRECT_IO));
  CHECK(v->epoch == 7);
  CHECK(v->data_offset == 1 << 20);
  CHECK(v->device_name == "keel3");
  CHECK(v->major == 252);
  CHECK(v->minor == 48);
  CHECK(v->stats.reads == 100 + KEEL_STAT_READS);
  CHECK(v->stats.write_zeroes == 100 + KEEL_STAT_WRITE_ZEROES);
  CHECK(v->stats.in_flight == 100 + KEEL_STAT_IN_FLIGHT);
  CHECK(v->stats.backing_syncs == 100 + KEEL_STAT_BACKING_SYNCS);
  CHECK(v->stats.latency_us[0] == 1);
  CHECK(v->stats.latency_us[KEEL_LAT_BUCKETS - 1] == (KEEL_LAT_BUCKETS - 1) * 1000 + 1);
}

TEST_CASE("VolumeStatusFromAttrs: a detached volume without stats") {
  KeelMsg msg(KEEL_CMD_VOLUME_GET);
  PutVolume(msg.get(), false);
  NetlinkKernelClient::Attrs a;
  REQUIRE(msg.Parse(&a).ok());
  auto v = VolumeStatusFromAttrs(a);
  REQUIRE(v.ok());
  CHECK(v->device_name.empty());
  CHECK(v->major == 0);
  CHECK(v->stats.reads == 0);
  CHECK(v->stats.latency_us[5] == 0);
}

TEST_CASE("VolumeStatusFromAttrs: a missing attribute is named") {
  KeelMsg msg(KEEL_CMD_VOLUME_GET);
  REQUIRE(nla_put_u32(msg.get(), KEEL_ATTR_VOLUME_ID, 3) == 0);
  REQUIRE(nla_put_u64(msg.get(), KEEL_ATTR_SIZE, 4096) == 0);
  NetlinkKernelClient::Attrs a;
  REQUIRE(msg.Parse(&a).ok());
  auto v = VolumeStatusFromAttrs(a);
  REQUIRE_FALSE(v.ok());
  CHECK(v.status().code() == EPROTO);
  CHECK(v.status().message().find("KEEL_ATTR_UUID") != std::string::npos);
  CHECK(v.status().message().find("KEEL_ATTR_STATE") != std::string::npos);
  CHECK(v.status().message().find("KEEL_ATTR_SIZE") == std::string::npos);
}

TEST_CASE("ParseKeelMessage: wrong sizes and unterminated strings are malformed") {
  SUBCASE("u64 where the header says u32") {
    KeelMsg msg(KEEL_CMD_VOLUME_GET);
    REQUIRE(nla_put_u64(msg.get(), KEEL_ATTR_VOLUME_ID, 3) == 0);
    NetlinkKernelClient::Attrs a;
    Status s = msg.Parse(&a);
    CHECK(s.code() == EPROTO);
    CHECK(s.message().find("malformed message from keel.ko") == 0);
  }
  SUBCASE("short UUID") {
    KeelMsg msg(KEEL_CMD_VOLUME_GET);
    REQUIRE(nla_put(msg.get(), KEEL_ATTR_UUID, 8, "12345678") == 0);
    NetlinkKernelClient::Attrs a;
    CHECK(msg.Parse(&a).code() == EPROTO);
  }
  SUBCASE("string without its NUL") {
    KeelMsg msg(KEEL_CMD_VOLUME_GET);
    REQUIRE(nla_put(msg.get(), KEEL_ATTR_BACKING_PATH, 4, "/dev") == 0);
    NetlinkKernelClient::Attrs a;
    CHECK(msg.Parse(&a).code() == EPROTO);
  }
  SUBCASE("latency histogram of the wrong length") {
    KeelMsg msg(KEEL_CMD_VOLUME_GET);
    PutVolume(msg.get(), false);
    PutStats(msg.get(), (KEEL_LAT_BUCKETS - 1) * 8);
    NetlinkKernelClient::Attrs a;
    REQUIRE(msg.Parse(&a).ok());
    auto v = VolumeStatusFromAttrs(a);
    REQUIRE_FALSE(v.ok());
    CHECK(v.status().code() == EPROTO);
    CHECK(v.status().message().find("KEEL_ATTR_STATS") != std::string::npos);
  }
}

TEST_CASE("ModuleInfoFromAttrs: objects and volume count are optional") {
  KeelMsg msg(KEEL_CMD_GET_INFO);
  REQUIRE(nla_put_string(msg.get(), KEEL_ATTR_VERSION, "0.1.0") == 0);
  REQUIRE(nla_put_u32(msg.get(), KEEL_ATTR_API_VERSION, 1) == 0);
  REQUIRE(nla_put_u64(msg.get(), KEEL_ATTR_FEATURES, KEEL_FEATURE_EVENTS) == 0);
  REQUIRE(nla_put_string(msg.get(), KEEL_ATTR_KERNEL_RELEASE, "test-release") == 0);
  NetlinkKernelClient::Attrs a;
  REQUIRE(msg.Parse(&a).ok());
  auto old_module = ModuleInfoFromAttrs(a);
  REQUIRE(old_module.ok());
  CHECK(old_module->version == "0.1.0");
  CHECK(old_module->kernel_release == "test-release");
  CHECK_FALSE(old_module->objects.has_value());
  CHECK_FALSE(old_module->volume_count.has_value());

  REQUIRE(nla_put_u64(msg.get(), KEEL_ATTR_OBJECTS, 12) == 0);
  REQUIRE(nla_put_u32(msg.get(), KEEL_ATTR_VOLUME_COUNT, 2) == 0);
  REQUIRE(msg.Parse(&a).ok());
  auto info = ModuleInfoFromAttrs(a);
  REQUIRE(info.ok());
  CHECK(info->objects == 12u);
  CHECK(info->volume_count == 2u);
}

TEST_CASE("KernelEventFromAttrs: an IO error event") {
  KeelMsg msg(KEEL_CMD_EVENT);
  Uuid u = *Uuid::Parse(kUuidText);
  REQUIRE(nla_put_u32(msg.get(), KEEL_ATTR_EVENT_TYPE, KEEL_EVENT_IO_ERROR) == 0);
  REQUIRE(nla_put_u32(msg.get(), KEEL_ATTR_VOLUME_ID, 9) == 0);
  REQUIRE(nla_put(msg.get(), KEEL_ATTR_UUID, KEEL_UUID_LEN, u.bytes().data()) == 0);
  REQUIRE(nla_put_s32(msg.get(), KEEL_ATTR_ERRNO, EIO) == 0);
  REQUIRE(nla_put_u64(msg.get(), KEEL_ATTR_SECTOR, 123456) == 0);
  NetlinkKernelClient::Attrs a;
  REQUIRE(msg.Parse(&a).ok());
  auto ev = KernelEventFromAttrs(a);
  REQUIRE(ev.ok());
  CHECK(ev->type == KEEL_EVENT_IO_ERROR);
  CHECK(ev->volume_id == 9);
  CHECK(ev->uuid == u);
  CHECK(ev->error == EIO);
  CHECK(ev->sector == 123456);

  KeelMsg bare(KEEL_CMD_EVENT);
  REQUIRE(nla_put_u32(bare.get(), KEEL_ATTR_VOLUME_ID, 9) == 0);
  REQUIRE(bare.Parse(&a).ok());
  CHECK(KernelEventFromAttrs(a).status().message().find("KEEL_ATTR_EVENT_TYPE") !=
        std::string::npos);
}

void PutPeer(nl_msg* m, uint32_t slot, const std::vector<uint8_t>& addr, bool extra_unknown) {
  nlattr* peer = nla_nest_start(m, KEEL_ATTR_PEER);
  REQUIRE(peer);
  REQUIRE(nla_put_u32(m, KEEL_PEER_SLOT, slot) == 0);
  REQUIRE(nla_put_string(m, KEEL_PEER_NAME, "node-b") == 0);
  REQUIRE(nla_put(m, KEEL_PEER_ADDR, static_cast<int>(addr.size()), addr.data()) == 0);
  REQUIRE(nla_put_u16(m, KEEL_PEER_PORT, 7800) == 0);
  REQUIRE(nla_put_u32(m, KEEL_PEER_STATE, KEEL_PEER_STATE_SYNCING) == 0);
  REQUIRE(nla_put_u8(m, KEEL_PEER_IN_SYNC, 0) == 0);
  REQUIRE(nla_put_u8(m, KEEL_PEER_CONNECTED, 1) == 0);
  REQUIRE(nla_put_u32(m, KEEL_PEER_SYNC_PERCENT, 42) == 0);
  REQUIRE(nla_put_u64(m, KEEL_PEER_DIRTY_BYTES, 1 << 20) == 0);
  REQUIRE(nla_put_u64(m, KEEL_PEER_BYTES_SENT, 5000) == 0);
  REQUIRE(nla_put_u64(m, KEEL_PEER_BYTES_ACKED, 4096) == 0);
  REQUIRE(nla_put_u64(m, KEEL_PEER_RESYNC_BYTES, 65536) == 0);
  REQUIRE(nla_put_u64(m, KEEL_PEER_RESYNC_RATE, 50 << 20) == 0);
  REQUIRE(nla_put_u64(m, KEEL_PEER_EPOCH, 6) == 0);
  REQUIRE(nla_put_s32(m, KEEL_PEER_ERRNO, ECONNREFUSED) == 0);
  REQUIRE(nla_put_string(m, KEEL_PEER_MESSAGE, "connection refused") == 0);
  REQUIRE(nla_put_u64(m, KEEL_PEER_CONNECTS, 3) == 0);
  // A newer module's attribute: ignored.
  if (extra_unknown) REQUIRE(nla_put_u64(m, KEEL_PEER_MAX + 3, 99) == 0);
  nla_nest_end(m, peer);
}

TEST_CASE("VolumeStatusFromAttrs: settings, peers and target") {
  KeelMsg msg(KEEL_CMD_VOLUME_GET);
  nl_msg* m = msg.get();
  PutVolume(m, true);
  REQUIRE(nla_put_u32(m, KEEL_ATTR_FREEZE_POLICY, KEEL_FREEZE_FAIL) == 0);
  REQUIRE(nla_put_u32(m, KEEL_ATTR_FREEZE_TIMEOUT_MS, 30000) == 0);
  REQUIRE(nla_put_u32(m, KEEL_ATTR_PEER_TIMEOUT_MS, 5000) == 0);
  REQUIRE(nla_put_u64(m, KEEL_ATTR_RESYNC_RATE, 50 << 20) == 0);
  REQUIRE(nla_put_u8(m, KEEL_ATTR_DATA_DIGEST, 1) == 0);
  REQUIRE(nla_put_u32(m, KEEL_ATTR_GRANULARITY, 65536) == 0);
  nlattr* peers = nla_nest_start(m, KEEL_ATTR_PEERS);
  REQUIRE(peers);
  PutPeer(m, 1, {10, 214, 0, 2}, true);
  // Something other than a PEER inside PEERS: skipped.
  REQUIRE(nla_put_u32(m, KEEL_ATTR_PEER_SLOT, 77) == 0);
  std::vector<uint8_t> v6(16, 0);
  v6[0] = 0xfd;
  v6[15] = 2;
  PutPeer(m, 4, v6, false);
  nla_nest_end(m, peers);
  nlattr* target = nla_nest_start(m, KEEL_ATTR_TARGET);
  REQUIRE(target);
  uint8_t taddr[4] = {10, 214, 0, 3};
  REQUIRE(nla_put(m, KEEL_TARGET_ADDR, 4, taddr) == 0);
  REQUIRE(nla_put_u16(m, KEEL_TARGET_PORT, 7801) == 0);
  REQUIRE(nla_put_u8(m, KEEL_TARGET_CONNECTED, 1) == 0);
  REQUIRE(nla_put_u64(m, KEEL_TARGET_ACCEPTED, 2) == 0);
  REQUIRE(nla_put_u64(m, KEEL_TARGET_REFUSED, 5) == 0);
  REQUIRE(nla_put_s32(m, KEEL_TARGET_ERRNO, EACCES) == 0);
  REQUIRE(nla_put_string(m, KEEL_TARGET_MESSAGE, "wrong MAC: secrets differ") == 0);
  REQUIRE(nla_put_u64(m, KEEL_TARGET_BYTES_WRITTEN, 123456789) == 0);
  nla_nest_end(m, target);
  // A top-level attribute this build does not know: ignored.
  REQUIRE(nla_put_u32(m, KEEL_ATTR_MAX + 7, 1) == 0);

  NetlinkKernelClient::Attrs a;
  REQUIRE(msg.Parse(&a).ok());
  auto v = VolumeStatusFromAttrs(a);
  REQUIRE(v.ok());
  CHECK(v->freeze_policy == uint32_t{KEEL_FREEZE_FAIL});
  CHECK(v->freeze_timeout_ms == 30000u);
  CHECK(v->peer_timeout_ms == 5000u);
  CHECK(v->resync_rate == uint64_t{50 << 20});
  CHECK(v->data_digest == true);
  CHECK(v->granularity == 65536u);
  REQUIRE(v->peers.size() == 2);
  const PeerStatus& p = v->peers[0];
  CHECK(p.slot == 1);
  CHECK(p.name == "node-b");
  CHECK(p.addr == "10.214.0.2");
  CHECK(p.port == 7800);
  CHECK(p.state == KEEL_PEER_STATE_SYNCING);
  CHECK_FALSE(p.in_sync);
  CHECK(p.connected);
  CHECK(p.sync_percent == 42u);
  CHECK(p.dirty_bytes == 1 << 20);
  CHECK(p.bytes_sent == 5000);
  CHECK(p.bytes_acked == 4096);
  CHECK(p.resync_bytes == 65536);
  CHECK(p.resync_rate == 50 << 20);
  CHECK(p.epoch == 6u);
  CHECK(p.error == ECONNREFUSED);
  CHECK(p.message == "connection refused");
  CHECK(p.connects == 3);
  CHECK(v->peers[1].slot == 4);
  CHECK(v->peers[1].addr == "fd00::2");
  REQUIRE(v->target.has_value());
  CHECK(v->target->addr == "10.214.0.3");
  CHECK(v->target->port == 7801);
  CHECK(v->target->connected);
  CHECK(v->target->accepted == 2);
  CHECK(v->target->refused == 5);
  CHECK(v->target->error == EACCES);
  CHECK(v->target->message == "wrong MAC: secrets differ");
  CHECK(v->target->bytes_written == 123456789);
}

TEST_CASE("VolumeStatusFromAttrs: a diskless volume of an older-style reply") {
  KeelMsg msg(KEEL_CMD_VOLUME_GET);
  Uuid u = *Uuid::Parse(kUuidText);
  REQUIRE(nla_put_u32(msg.get(), KEEL_ATTR_VOLUME_ID, 5) == 0);
  REQUIRE(nla_put(msg.get(), KEEL_ATTR_UUID, KEEL_UUID_LEN, u.bytes().data()) == 0);
  REQUIRE(nla_put_u64(msg.get(), KEEL_ATTR_SIZE, 1 << 20) == 0);
  REQUIRE(nla_put_u32(msg.get(), KEEL_ATTR_BLOCK_SIZE, 512) == 0);
  REQUIRE(nla_put_u32(msg.get(), KEEL_ATTR_STATE, KEEL_STATE_DISKLESS) == 0);
  NetlinkKernelClient::Attrs a;
  REQUIRE(msg.Parse(&a).ok());
  auto v = VolumeStatusFromAttrs(a);
  REQUIRE(v.ok());
  CHECK(v->backing_path.empty());
  CHECK(v->state == KEEL_STATE_DISKLESS);
  CHECK_FALSE(v->freeze_policy.has_value());
  CHECK_FALSE(v->data_digest.has_value());
  CHECK_FALSE(v->granularity.has_value());
  CHECK(v->peers.empty());
  CHECK_FALSE(v->target.has_value());
}

TEST_CASE("VolumeStatusFromAttrs: malformed peers and targets are refused") {
  SUBCASE("a peer without its slot") {
    KeelMsg msg(KEEL_CMD_VOLUME_GET);
    PutVolume(msg.get(), false);
    nlattr* peers = nla_nest_start(msg.get(), KEEL_ATTR_PEERS);
    nlattr* peer = nla_nest_start(msg.get(), KEEL_ATTR_PEER);
    REQUIRE(nla_put_u8(msg.get(), KEEL_PEER_CONNECTED, 1) == 0);
    nla_nest_end(msg.get(), peer);
    nla_nest_end(msg.get(), peers);
    NetlinkKernelClient::Attrs a;
    REQUIRE(msg.Parse(&a).ok());
    auto v = VolumeStatusFromAttrs(a);
    REQUIRE_FALSE(v.ok());
    CHECK(v.status().code() == EPROTO);
    CHECK(v.status().message().find("KEEL_PEER_SLOT") != std::string::npos);
  }
  SUBCASE("a peer counter of the wrong size") {
    KeelMsg msg(KEEL_CMD_VOLUME_GET);
    PutVolume(msg.get(), false);
    nlattr* peers = nla_nest_start(msg.get(), KEEL_ATTR_PEERS);
    nlattr* peer = nla_nest_start(msg.get(), KEEL_ATTR_PEER);
    REQUIRE(nla_put_u32(msg.get(), KEEL_PEER_SLOT, 0) == 0);
    REQUIRE(nla_put_u32(msg.get(), KEEL_PEER_BYTES_SENT, 1) == 0);
    nla_nest_end(msg.get(), peer);
    nla_nest_end(msg.get(), peers);
    NetlinkKernelClient::Attrs a;
    REQUIRE(msg.Parse(&a).ok());
    auto v = VolumeStatusFromAttrs(a);
    REQUIRE_FALSE(v.ok());
    CHECK(v.status().message().find("KEEL_ATTR_PEER") != std::string::npos);
  }
  SUBCASE("a target address of 5 bytes is shown, not hidden") {
    KeelMsg msg(KEEL_CMD_VOLUME_GET);
    PutVolume(msg.get(), false);
    nlattr* target = nla_nest_start(msg.get(), KEEL_ATTR_TARGET);
    REQUIRE(nla_put(msg.get(), KEEL_TARGET_ADDR, 5, "\x01\x02\x03\x04\x05") == 0);
    nla_nest_end(msg.get(), target);
    NetlinkKernelClient::Attrs a;
    REQUIRE(msg.Parse(&a).ok());
    auto v = VolumeStatusFromAttrs(a);
    REQUIRE(v.ok());
    CHECK(v->target->addr == "?0102030405");
  }
  SUBCASE("a top-level address of 20 bytes") {
    KeelMsg msg(KEEL_CMD_VOLUME_GET);
    REQUIRE(nla_put(msg.get(), KEEL_ATTR_ADDR, 20, std::string(20, 'x').data()) == 0);
    NetlinkKernelClient::Attrs a;
    CHECK(msg.Parse(&a).code() == EPROTO);
  }
}

TEST_CASE("KernelEventFromAttrs: replication events carry slot, percent, message, epoch") {
  KeelMsg msg(KEEL_CMD_EVENT);
  REQUIRE(nla_put_u32(msg.get(), KEEL_ATTR_EVENT_TYPE, KEEL_EVENT_PEER_REFUSED) == 0);
  REQUIRE(nla_put_u32(msg.get(), KEEL_ATTR_VOLUME_ID, 2) == 0);
  REQUIRE(nla_put_u32(msg.get(), KEEL_ATTR_PEER_SLOT, 1) == 0);
  REQUIRE(nla_put_s32(msg.get(), KEEL_ATTR_ERRNO, ESTALE) == 0);
  REQUIRE(nla_put_string(msg.get(), KEEL_ATTR_MESSAGE, "stale epoch 3 < 4") == 0);
  REQUIRE(nla_put_u64(msg.get(), KEEL_ATTR_EPOCH, 4) == 0);
  REQUIRE(nla_put_u32(msg.get(), KEEL_ATTR_SYNC_PERCENT, 0) == 0);
  NetlinkKernelClient::Attrs a;
  REQUIRE(msg.Parse(&a).ok());
  auto ev = KernelEventFromAttrs(a);
  REQUIRE(ev.ok());
  CHECK(ev->type == KEEL_EVENT_PEER_REFUSED);
  CHECK(ev->peer_slot == 1u);
  CHECK(ev->error == ESTALE);
  CHECK(ev->message == std::string("stale epoch 3 < 4"));
  CHECK(ev->epoch == 4u);
  CHECK(ev->sync_percent == 0u);
  CHECK(EventTypeName(ev->type) == "peer-refused");

  KeelMsg bare(KEEL_CMD_EVENT);
  REQUIRE(nla_put_u32(bare.get(), KEEL_ATTR_EVENT_TYPE, KEEL_EVENT_VOLUME_CREATED) == 0);
  REQUIRE(nla_put_u32(bare.get(), KEEL_ATTR_VOLUME_ID, 2) == 0);
  REQUIRE(bare.Parse(&a).ok());
  auto plain = KernelEventFromAttrs(a);
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->peer_slot.has_value());
  CHECK_FALSE(plain->sync_percent.has_value());
  CHECK_FALSE(plain->message.has_value());
  CHECK_FALSE(plain->epoch.has_value());
}

TEST_CASE("BuildCreateVolume: diskless sends no backing path; granularity when set") {
  CreateVolumeRequest req;
  req.uuid = *Uuid::Parse(kUuidText);
  req.size = 1 << 30;
  req.diskless = true;
  req.granularity = 1 << 20;
  req.backing_path = "/ignored";
  KeelMsg msg(KEEL_CMD_VOLUME_CREATE);
  REQUIRE(BuildCreateVolume(msg.get(), req).ok());
  NetlinkKernelClient::Attrs a;
  REQUIRE(msg.Parse(&a).ok());
  CHECK(a[KEEL_ATTR_BACKING_PATH] == nullptr);
  REQUIRE(a[KEEL_ATTR_FLAGS]);
  CHECK(nla_get_u32(a[KEEL_ATTR_FLAGS]) == KEEL_CREATE_F_DISKLESS);
  REQUIRE(a[KEEL_ATTR_GRANULARITY]);
  CHECK(nla_get_u32(a[KEEL_ATTR_GRANULARITY]) == 1u << 20);
  CHECK(nla_get_u64(a[KEEL_ATTR_SIZE]) == 1ULL << 30);

  req.diskless = false;
  req.granularity.reset();
  req.force_format = true;
  KeelMsg disk(KEEL_CMD_VOLUME_CREATE);
  REQUIRE(BuildCreateVolume(disk.get(), req).ok());
  REQUIRE(disk.Parse(&a).ok());
  REQUIRE(a[KEEL_ATTR_BACKING_PATH]);
  CHECK(std::string(nla_get_string(a[KEEL_ATTR_BACKING_PATH])) == "/ignored");
  CHECK(nla_get_u32(a[KEEL_ATTR_FLAGS]) == KEEL_CREATE_F_FORCE_FORMAT);
  CHECK(a[KEEL_ATTR_GRANULARITY] == nullptr);

  req.backing_path.clear();
  KeelMsg none(KEEL_CMD_VOLUME_CREATE);
  CHECK(BuildCreateVolume(none.get(), req).code() == EINVAL);
}

TEST_CASE("BuildSetVolume: only what is set; the secret's length is checked") {
  SetVolumeRequest req;
  KeelMsg empty(KEEL_CMD_VOLUME_SET);
  REQUIRE(BuildSetVolume(empty.get(), 3, req).ok());
  NetlinkKernelClient::Attrs a;
  REQUIRE(empty.Parse(&a).ok());
  CHECK(nla_get_u32(a[KEEL_ATTR_VOLUME_ID]) == 3);
  for (int attr = KEEL_ATTR_VOLUME_ID + 1; attr <= KEEL_ATTR_MAX; ++attr) CHECK(a[attr] == nullptr);

  req.epoch = 9;
  req.secret = std::vector<uint8_t>(32, 0x5a);
  req.freeze_policy = KEEL_FREEZE_FAIL;
  req.freeze_timeout_ms = 0;  // set, even though 0
  req.peer_timeout_ms = 4000;
  req.resync_rate = 0;  // unlimited, sent
  req.data_digest = false;
  KeelMsg full(KEEL_CMD_VOLUME_SET);
  REQUIRE(BuildSetVolume(full.get(), 3, req).ok());
  REQUIRE(full.Parse(&a).ok());
  CHECK(nla_get_u64(a[KEEL_ATTR_EPOCH]) == 9);
  REQUIRE(a[KEEL_ATTR_SECRET]);
  CHECK(nla_len(a[KEEL_ATTR_SECRET]) == 32);
  CHECK(static_cast<const uint8_t*>(nla_data(a[KEEL_ATTR_SECRET]))[31] == 0x5a);
  CHECK(nla_get_u32(a[KEEL_ATTR_FREEZE_POLICY]) == KEEL_FREEZE_FAIL);
  REQUIRE(a[KEEL_ATTR_FREEZE_TIMEOUT_MS]);
  CHECK(nla_get_u32(a[KEEL_ATTR_FREEZE_TIMEOUT_MS]) == 0);
  CHECK(nla_get_u32(a[KEEL_ATTR_PEER_TIMEOUT_MS]) == 4000);
  REQUIRE(a[KEEL_ATTR_RESYNC_RATE]);
  CHECK(nla_get_u64(a[KEEL_ATTR_RESYNC_RATE]) == 0);
  REQUIRE(a[KEEL_ATTR_DATA_DIGEST]);
  CHECK(nla_get_u8(a[KEEL_ATTR_DATA_DIGEST]) == 0);

  req.secret = std::vector<uint8_t>(KEEL_SECRET_MIN - 1, 1);
  KeelMsg short_secret(KEEL_CMD_VOLUME_SET);
  Status s = BuildSetVolume(short_secret.get(), 3, req);
  CHECK(s.code() == EINVAL);
  CHECK(s.message().find("15 bytes") != std::string::npos);
  req.secret = std::vector<uint8_t>(KEEL_SECRET_MAX + 1, 1);
  KeelMsg long_secret(KEEL_CMD_VOLUME_SET);
  CHECK(BuildSetVolume(long_secret.get(), 3, req).code() == EINVAL);
  req.secret.reset();
  req.freeze_policy = 7;
  KeelMsg bad_policy(KEEL_CMD_VOLUME_SET);
  CHECK(BuildSetVolume(bad_policy.get(), 3, req).code() == EINVAL);
}

TEST_CASE("BuildPeerAdd and BuildListenStart: binary address and port") {
  KeelMsg msg(KEEL_CMD_PEER_ADD);
  REQUIRE(BuildPeerAdd(msg.get(), 2, 6, "10.214.0.2", 7802, "node-c", PeerSync::kFull).ok());
  NetlinkKernelClient::Attrs a;
  REQUIRE(msg.Parse(&a).ok());
  CHECK(nla_get_u32(a[KEEL_ATTR_VOLUME_ID]) == 2);
  CHECK(nla_get_u32(a[KEEL_ATTR_PEER_SLOT]) == 6);
  REQUIRE(a[KEEL_ATTR_ADDR]);
  REQUIRE(nla_len(a[KEEL_ATTR_ADDR]) == 4);
  const auto* ip = static_cast<const uint8_t*>(nla_data(a[KEEL_ATTR_ADDR]));
  CHECK((ip[0] == 10 && ip[1] == 214 && ip[2] == 0 && ip[3] == 2));
  CHECK(nla_get_u16(a[KEEL_ATTR_PORT]) == 7802);
  CHECK(std::string(nla_get_string(a[KEEL_ATTR_PEER_NAME])) == "node-c");
  CHECK(nla_get_u32(a[KEEL_ATTR_PEER_SYNC]) == KEEL_PEER_SYNC_FULL);

  KeelMsg v6(KEEL_CMD_PEER_ADD);
  REQUIRE(BuildPeerAdd(v6.get(), 2, 0, "[fd00::2]", 7802, "", PeerSync::kBitmap).ok());
  REQUIRE(v6.Parse(&a).ok());
  REQUIRE(nla_len(a[KEEL_ATTR_ADDR]) == 16);
  CHECK(static_cast<const uint8_t*>(nla_data(a[KEEL_ATTR_ADDR]))[0] == 0xfd);
  CHECK(a[KEEL_ATTR_PEER_NAME] == nullptr);
  CHECK(nla_get_u32(a[KEEL_ATTR_PEER_SYNC]) == KEEL_PEER_SYNC_BITMAP);

  KeelMsg bad(KEEL_CMD_PEER_ADD);
  CHECK(BuildPeerAdd(bad.get(), 2, KEEL_META_MAX_PEERS, "10.0.0.1", 1, "", PeerSync::kBitmap)
            .code() == EINVAL);
  CHECK(BuildPeerAdd(bad.get(), 2, 0, "node-b", 1, "", PeerSync::kBitmap).code() == EINVAL);
  CHECK(BuildPeerAdd(bad.get(), 2, 0, "10.0.0.1", 0, "", PeerSync::kBitmap).code() == EINVAL);
  CHECK(BuildPeerAdd(bad.get(), 2, 0, "10.0.0.1", 1, std::string(KEEL_STRING_MAX, 'n'),
                     PeerSync::kBitmap)
            .code() == EINVAL);
  // Nothing was added by the refused builds.
  REQUIRE(bad.Parse(&a).ok());
  CHECK(a[KEEL_ATTR_VOLUME_ID] == nullptr);

  KeelMsg listen(KEEL_CMD_LISTEN_START);
  REQUIRE(BuildListenStart(listen.get(), 4, "0.0.0.0", 7900).ok());
  REQUIRE(listen.Parse(&a).ok());
  CHECK(nla_get_u32(a[KEEL_ATTR_VOLUME_ID]) == 4);
  CHECK(nla_len(a[KEEL_ATTR_ADDR]) == 4);
  CHECK(nla_get_u16(a[KEEL_ATTR_PORT]) == 7900);
  KeelMsg bad_listen(KEEL_CMD_LISTEN_START);
  CHECK(BuildListenStart(bad_listen.get(), 4, "10.0.0.256", 7900).code() == EINVAL);
}

TEST_CASE("BuildPeerSlot: PEER_REMOVE and PEER_OUTDATE") {
  KeelMsg remove(KEEL_CMD_PEER_REMOVE);
  REQUIRE(BuildPeerSlot(remove.get(), 1, 3, std::nullopt).ok());
  NetlinkKernelClient::Attrs a;
  REQUIRE(remove.Parse(&a).ok());
  CHECK(nla_get_u32(a[KEEL_ATTR_PEER_SLOT]) == 3);
  CHECK(a[KEEL_ATTR_EPOCH] == nullptr);
  KeelMsg outdate(KEEL_CMD_PEER_OUTDATE);
  REQUIRE(BuildPeerSlot(outdate.get(), 1, 3, 12).ok());
  REQUIRE(outdate.Parse(&a).ok());
  CHECK(nla_get_u64(a[KEEL_ATTR_EPOCH]) == 12);
  KeelMsg bad(KEEL_CMD_PEER_OUTDATE);
  CHECK(BuildPeerSlot(bad.get(), 1, 99, 12).code() == EINVAL);
}

TEST_CASE("Addresses, endpoints and names") {
  auto v4 = ParseAddress("192.168.1.20");
  REQUIRE(v4.ok());
  CHECK(*v4 == std::vector<uint8_t>{192, 168, 1, 20});
  CHECK(FormatAddress(v4->data(), v4->size()) == "192.168.1.20");
  auto v6 = ParseAddress("fd00::1:2");
  REQUIRE(v6.ok());
  CHECK(v6->size() == 16);
  CHECK(FormatAddress(v6->data(), v6->size()) == "fd00::1:2");
  auto mapped = ParseAddress("::ffff:10.0.0.1");
  REQUIRE(mapped.ok());
  CHECK(mapped->size() == 16);
  for (const char* bad :
       {"", "10.0.0", "10.0.0.1:80", "localhost", "1.2.3.4.5", "[10.0.0.1", "fd00:::1"}) {
    CAPTURE(bad);
    CHECK(ParseAddress(bad).status().code() == EINVAL);
  }
  CHECK(FormatEndpoint("10.0.0.1", 7800) == "10.0.0.1:7800");
  CHECK(FormatEndpoint("fd00::1", 7800) == "[fd00::1]:7800");

  CHECK(PeerStateName(KEEL_PEER_STATE_CONNECTING) == "connecting");
  CHECK(PeerStateName(KEEL_PEER_STATE_IN_SYNC) == "in-sync");
  CHECK(PeerStateName(KEEL_PEER_STATE_SYNCING) == "syncing");
  CHECK(PeerStateName(KEEL_PEER_STATE_LOST) == "lost");
  CHECK(PeerStateName(KEEL_PEER_STATE_OUTDATED) == "outdated");
  CHECK(PeerStateName(40) == "state-40");
  CHECK(FreezePolicyName(KEEL_FREEZE_HOLD) == "hold");
  CHECK(FreezePolicyName(KEEL_FREEZE_FAIL) == "fail");
  CHECK(FreezePolicyName(9) == "policy-9");
  CHECK(*ParseFreezePolicy("fail") == uint32_t{KEEL_FREEZE_FAIL});
  CHECK(ParseFreezePolicy("HOLD").status().code() == EINVAL);

  // Every event type this build knows has a word; unknown ones a number.
  std::set<std::string> names;
  for (uint32_t t = KEEL_EVENT_VOLUME_CREATED; t <= KEEL_EVENT_MAX; ++t) {
    std::string n = EventTypeName(t);
    CHECK(n.rfind("event-", 0) != 0);
    names.insert(n);
  }
  CHECK(names.size() == KEEL_EVENT_MAX);
  CHECK(EventTypeName(KEEL_EVENT_SYNC_PROGRESS) == "sync-progress");
  CHECK(EventTypeName(KEEL_EVENT_TARGET_REFUSED) == "target-refused");
  CHECK(EventTypeName(KEEL_EVENT_MAX + 1) == "event-" + std::to_string(KEEL_EVENT_MAX + 1));
}

// A fake written before replication: the new calls fail, they do not crash.
class OldFake : public KernelClient {
 public:
  Result<ModuleInfo> GetInfo() override { return ModuleInfo{}; }
  Result<VolumeStatus> CreateVolume(const CreateVolumeRequest&) override { return VolumeStatus{}; }
  Status DeleteVolume(uint32_t, bool) override { return Status(); }
  Result<VolumeStatus> AttachVolume(uint32_t) override { return VolumeStatus{}; }
  Status DetachVolume(uint32_t, bool) override { return Status(); }
  Result<VolumeStatus> GetVolume(uint32_t) override { return VolumeStatus{}; }
  Result<std::vector<VolumeStatus>> ListVolumes() override { return std::vector<VolumeStatus>{}; }
};

TEST_CASE("KernelClient: replication calls default to ENOTSUP") {
  OldFake f;
  CHECK(f.SetVolume(0, {}).status().code() == ENOTSUP);
  CHECK(f.ListenStart(0, "10.0.0.1", 1).code() == ENOTSUP);
  CHECK(f.ListenStop(0).code() == ENOTSUP);
  CHECK(f.PeerAdd(0, 0, "10.0.0.1", 1, "", PeerSync::kBitmap).code() == ENOTSUP);
  CHECK(f.PeerRemove(0, 0).code() == ENOTSUP);
  Status s = f.PeerOutdate(0, 0, 1);
  CHECK(s.code() == ENOTSUP);
  CHECK(s.message().find("not supported by this client") != std::string::npos);
}

// The controller family is in every kernel: it exercises the same
// request/reply loop as keel.ko's commands, dumps included.
std::unique_ptr<NetlinkKernelClient> ConnectController() {
  auto c = NetlinkKernelClient::ConnectFamily("nlctrl", 2, CTRL_ATTR_MAX, nullptr,
                                              std::chrono::seconds(5));
  REQUIRE(c.ok());
  return std::move(c).value();
}

TEST_CASE("Transact: a dump is read to NLMSG_DONE, then the socket is reusable") {
  auto ctrl = ConnectController();
  for (int round = 0; round < 3; ++round) {
    std::set<std::string> families;
    Status s = ctrl->Transact(CTRL_CMD_GETFAMILY, NLM_F_DUMP, nullptr,
                              [&](const NetlinkKernelClient::Attrs& a) {
                                if (a[CTRL_ATTR_FAMILY_NAME])
                                  families.insert(nla_get_string(a[CTRL_ATTR_FAMILY_NAME]));
                                return Status();
                              });
    REQUIRE(s.ok());
    CHECK(families.count("nlctrl") == 1);
    CHECK(families.size() >= 2);

    // A plain request right after the dump gets its own reply.
    uint16_t id = 0;
    s = ctrl->Transact(
        CTRL_CMD_GETFAMILY, 0,
        [](nl_msg* m) {
          return nla_put_string(m, CTRL_ATTR_FAMILY_NAME, "nlctrl") == 0
                     ? Status()
                     : Status::Error(ENOMEM, "put");
        },
        [&](const NetlinkKernelClient::Attrs& a) {
          if (a[CTRL_ATTR_FAMILY_ID]) id = nla_get_u16(a[CTRL_ATTR_FAMILY_ID]);
          return Status();
        });
    REQUIRE(s.ok());
    CHECK(id == GENL_ID_CTRL);
  }
}

Status GetFamily(NetlinkKernelClient* ctrl, const std::string& name) {
  return ctrl->Transact(
      CTRL_CMD_GETFAMILY, 0,
      [&](nl_msg* m) {
        return nla_put_string(m, CTRL_ATTR_FAMILY_NAME, name.c_str()) == 0
                   ? Status()
                   : Status::Error(ENOMEM, "put");
      },
      nullptr);
}

TEST_CASE("Transact: the kernel's error comes back as a Status") {
  auto ctrl = ConnectController();
  Status s = GetFamily(ctrl.get(), "nosuchfamily");
  CHECK(s.code() == ENOENT);
  CHECK(s.message() == "keel.ko refused the request: No such file or directory");
  // A name longer than the policy allows: the extended-ack message is kept.
  s = GetFamily(ctrl.get(), std::string(40, 'x'));
  CHECK(s.code() == EINVAL);
  CHECK(s.message().find("keel.ko refused the request: ") == 0);
  CHECK(s.message().size() > strlen("keel.ko refused the request: Invalid argument"));
}

TEST_CASE("Transact: an error from the reply callback is returned after the ack") {
  auto ctrl = ConnectController();
  int calls = 0;
  Status s = ctrl->Transact(CTRL_CMD_GETFAMILY, NLM_F_DUMP, nullptr,
                            [&](const NetlinkKernelClient::Attrs&) {
                              ++calls;
                              return Status::Error(EPROTO, "not what we expected");
                            });
  CHECK(s.code() == EPROTO);
  CHECK(s.message() == "not what we expected");
  CHECK(calls == 1);  // later replies are read but not handed over
  // The whole dump was consumed: the next request works.
  s = ctrl->Transact(CTRL_CMD_GETFAMILY, NLM_F_DUMP, nullptr, nullptr);
  CHECK(s.ok());
}

}  // namespace keel
