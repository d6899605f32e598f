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
  CHECK(v.status().message().find("KEEL_ATTR_BACKING_PATH") != std::string::npos);
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
