// keel-nlfuzz: a generic-netlink fuzzer for keel.ko, run as root inside a
// test VM against the real module.
//
// Worker threads, each with its own raw NETLINK_GENERIC socket, send a mix
// of random commands, valid commands with mutated attributes, header lies,
// bogus backing paths, edge values, and real create/attach/detach/delete
// sequences on a few shared volumes (so threads race on the same ids).
// Every reply is read and checked; results are counted per errno.  At the
// end every volume the run created is deleted, and the module must still
// answer GET_INFO, list no volume of ours, and be back to the number of
// kernel objects it had before.
//
// Safety: messages only ever reach the keel family (header lies are checked
// with DispatchedTypes), creates only use files this run makes in
// --backing-dir or paths that cannot be formatted, and volumes that existed
// before the run are never targeted.
//
// Exit status: 0 the module stayed responsive and clean, 1 it did not (or
// it hung: a watchdog ends the run), 2 usage.
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/keel.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "manager/common/uuid.h"
#include "manager/kernel/kernel_client.h"
#include "tests/tools/nlmsg_builder.h"

namespace keel::nlfuzz {
namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

struct Options {
  uint64_t messages = 100000;
  uint64_t seed = 0;
  int threads = 4;
  std::string backing_dir;
  bool json = false;
  double time_limit = 600;
  double reply_timeout = 30;
};

std::string ErrName(int err) {
  if (err == 0) return "OK";
  const char* name = strerrorname_np(err);
  return name ? name : "errno" + std::to_string(err);
}

// ---------------------------------------------------------------------------
// What the run learned, per worker; merged at the end.

struct Tally {
  std::map<std::string, std::map<std::string, uint64_t>> by_op;  // op -> result -> count
  std::map<std::string, uint64_t> extack;                        // kernel message -> count
  uint64_t messages = 0;  // fuzz messages sent (syncs not counted)
  uint64_t syncs = 0;
  uint64_t timeouts = 0;
  uint64_t overruns = 0;
  uint64_t stray = 0;
  uint64_t created = 0;
  uint64_t deleted = 0;
  std::vector<std::string> problems;  // each one fails the run

  void Record(const std::string& op, const std::string& result) { ++by_op[op][result]; }
  void Problem(const std::string& what) {
    if (problems.size() < 50) problems.push_back(what);
  }
  void Merge(const Tally& o) {
    for (const auto& [op, results] : o.by_op)
      for (const auto& [r, n] : results) by_op[op][r] += n;
    for (const auto& [m, n] : o.extack) extack[m] += n;
    messages += o.messages;
    syncs += o.syncs;
    timeouts += o.timeouts;
    overruns += o.overruns;
    stray += o.stray;
    created += o.created;
    deleted += o.deleted;
    for (const auto& p : o.problems) Problem(p);
  }
};

// ---------------------------------------------------------------------------
// State shared by the workers.

// A backing file of this run with the volume that may live on it.
struct Slot {
  std::string path;
  uint32_t id = 0;
  uint64_t size = 0;
  uint32_t block_size = 0;
  std::mutex mu;
  Uuid uuid;  // what the file's metadata should hold (changes on reformat)
};

// What a worker is doing, for the watchdog.
struct Activity {
  std::atomic<int64_t> busy_since{0};  // steady-clock ns, 0 when idle
  std::mutex mu;
  std::string op;
};

struct Shared {
  Options opt;
  uint16_t family = 0;
  Clock::time_point start;
  Clock::time_point fuzz_deadline;
  std::atomic<uint64_t> claimed{0};
  std::set<uint32_t> preexisting;  // ids of volumes that existed before the run
  std::vector<std::unique_ptr<Slot>> slots;
  std::vector<std::string> bogus_paths;
  std::vector<std::string> files;  // every path this run created, to remove
  std::mutex ids_mu;
  std::set<uint32_t> known_ids;  // ids our creates got

  void LearnId(uint32_t id) {
    std::lock_guard<std::mutex> l(ids_mu);
    if (!preexisting.count(id)) known_ids.insert(id);
  }
};

// ---------------------------------------------------------------------------
// A raw generic-netlink socket.

class Socket {
 public:
  ~Socket() { Close(); }
  bool Open(std::string* err) {
    Close();
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    if (fd_ < 0) {
      *err = std::string("socket: ") + strerror(errno);
      return false;
    }
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
      *err = std::string("bind: ") + strerror(errno);
      Close();
      return false;
    }
    int one = 1;
    setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    int rcvbuf = 4 << 20;
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    return true;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }
  bool JoinGroup(int group) {
    return setsockopt(fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) == 0;
  }
  // 0 or an errno.
  int Send(const Bytes& b) {
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t n =
        sendto(fd_, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    return n < 0 ? errno : 0;
  }
  // One datagram into `buf`: its size, 0 on timeout, -errno on error.
  // *truncated is set if it did not fit.
  ssize_t Recv(Bytes* buf, Clock::time_point deadline, bool* truncated) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() < 0) return 0;
      pollfd p{fd_, POLLIN, 0};
      int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      if (r < 0 && errno != EINTR) return -errno;
      if (r <= 0) continue;
      ssize_t n = recv(fd_, buf->data(), buf->size(), MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return -errno;
      }
      *truncated = static_cast<size_t>(n) > buf->size();
      return std::min<ssize_t>(n, static_cast<ssize_t>(buf->size()));
    }
  }

 private:
  int fd_ = -1;
};

// ---------------------------------------------------------------------------
// Checking what the module sends.

enum class Kind { kNone, kU32, kU64, kString, kUuid, kNested };

Kind AttrKind(int type) {
  switch (type) {
    case KEEL_ATTR_API_VERSION:
    case KEEL_ATTR_VOLUME_COUNT:
    case KEEL_ATTR_VOLUME_ID:
    case KEEL_ATTR_BLOCK_SIZE:
    case KEEL_ATTR_FLAGS:
    case KEEL_ATTR_STATE:
    case KEEL_ATTR_DEVICE_MAJOR:
    case KEEL_ATTR_DEVICE_MINOR:
    case KEEL_ATTR_EVENT_TYPE:
    case KEEL_ATTR_ERRNO:
      return Kind::kU32;
    case KEEL_ATTR_FEATURES:
    case KEEL_ATTR_OBJECTS:
    case KEEL_ATTR_SIZE:
    case KEEL_ATTR_EPOCH:
    case KEEL_ATTR_DATA_OFFSET:
    case KEEL_ATTR_SECTOR:
      return Kind::kU64;
    case KEEL_ATTR_VERSION:
    case KEEL_ATTR_KERNEL_RELEASE:
    case KEEL_ATTR_BACKING_PATH:
    case KEEL_ATTR_DEVICE_NAME:
      return Kind::kString;
    case KEEL_ATTR_UUID:
      return Kind::kUuid;
    case KEEL_ATTR_STATS:
      return Kind::kNested;
    default:
      return Kind::kNone;
  }
}

// What a reply message said that the fuzzer cares about.
struct ReplyInfo {
  std::optional<uint32_t> volume_id;
  std::optional<Uuid> uuid;
  std::optional<std::string> device_name;
  std::optional<std::string> backing_path;
  std::optional<uint64_t> objects;
  std::optional<uint32_t> volume_count;
};

// Walks attributes like nla_ok(); "" if well-formed, else what is wrong.
std::string CheckAttrs(const uint8_t* p, size_t len, bool stats, ReplyInfo* info) {
  size_t off = 0;
  while (len - off >= NLA_HDRLEN) {
    nlattr a;
    memcpy(&a, p + off, sizeof(a));
    if (a.nla_len < NLA_HDRLEN || a.nla_len > len - off)
      return "attribute " + std::to_string(a.nla_type) + " has nla_len " +
             std::to_string(a.nla_len) + " with " + std::to_string(len - off) + " bytes left";
    int type = a.nla_type & NLA_TYPE_MASK;
    const uint8_t* data = p + off + NLA_HDRLEN;
    size_t n = a.nla_len - NLA_HDRLEN;
    std::string name = (stats ? "stat " : "attribute ") + std::to_string(type);
    if (stats) {
      if (type == KEEL_STAT_LATENCY_US) {
        if (n != KEEL_LAT_BUCKETS * 8)
          return name + " (latency) has " + std::to_string(n) + " bytes";
      } else if (type >= KEEL_STAT_READS && type <= KEEL_STAT_BACKING_SYNCS) {
        if (n != 8) return name + " is not a u64";
      } else if (type != KEEL_STAT_PAD) {
        return "unknown " + name;
      }
    } else {
      if (type > KEEL_ATTR_MAX || type == KEEL_ATTR_UNSPEC) return "unknown " + name;
      switch (AttrKind(type)) {
        case Kind::kU32:
          if (n != 4) return name + " is not a u32";
          break;
        case Kind::kU64:
          if (n != 8) return name + " is not a u64";
          break;
        case Kind::kString:
          if (n == 0 || data[n - 1] != 0) return name + " is not a NUL-terminated string";
          break;
        case Kind::kUuid:
          if (n != KEEL_UUID_LEN) return name + " (uuid) has " + std::to_string(n) + " bytes";
          break;
        case Kind::kNested: {
          std::string inner = CheckAttrs(data, n, true, nullptr);
          if (!inner.empty()) return "in STATS: " + inner;
          break;
        }
        case Kind::kNone:
          break;
      }
      if (info) {
        uint32_t u32 = 0;
        uint64_t u64 = 0;
        if (n >= 4) memcpy(&u32, data, 4);
        if (n >= 8) memcpy(&u64, data, 8);
        if (type == KEEL_ATTR_VOLUME_ID) info->volume_id = u32;
        if (type == KEEL_ATTR_VOLUME_COUNT) info->volume_count = u32;
        if (type == KEEL_ATTR_OBJECTS) info->objects = u64;
        if (type == KEEL_ATTR_UUID) {
          Uuid::Bytes b;
          memcpy(b.data(), data, b.size());
          info->uuid = Uuid(b);
        }
        if (type == KEEL_ATTR_DEVICE_NAME) info->device_name = reinterpret_cast<const char*>(data);
        if (type == KEEL_ATTR_BACKING_PATH)
          info->backing_path = reinterpret_cast<const char*>(data);
      }
    }
    off += NLA_ALIGN(a.nla_len);
    if (off > len) off = len;
  }
  if (off != len) return std::to_string(len - off) + " trailing bytes after the attributes";
  return "";
}

// The extended-ack message in the TLVs at `p`.
std::string ExtackMessage(const uint8_t* p, size_t len) {
  size_t off = 0;
  while (len - off >= NLA_HDRLEN) {
    nlattr a;
    memcpy(&a, p + off, sizeof(a));
    if (a.nla_len < NLA_HDRLEN || a.nla_len > len - off) break;
    if ((a.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && a.nla_len > NLA_HDRLEN)
      return std::string(
          reinterpret_cast<const char*>(p + off + NLA_HDRLEN),
          strnlen(reinterpret_cast<const char*>(p + off + NLA_HDRLEN), a.nla_len - NLA_HDRLEN));
    off += NLA_ALIGN(a.nla_len);
  }
  return "";
}

// ---------------------------------------------------------------------------
// One message sent and what came back for it.

struct Sent {
  uint32_t seq = 0;
  std::string op;
  uint8_t cmd = 0;
  std::optional<Uuid> create_uuid;  // a well-formed create: the reply must match
  std::optional<uint32_t> create_id;
};

struct Outcome {
  bool answered = false;
  int error = 0;  // positive errno; 0 ok
  std::vector<ReplyInfo> replies;
};

class Worker {
 public:
  Worker(Shared* shared, int index, Activity* activity)
      : s_(shared), index_(index), activity_(activity), rng_(shared->opt.seed + 7919 * index) {
    buf_.resize(256 << 10);
  }
  bool Open(std::string* err) { return sock_.Open(err); }
  void Run();
  Tally& tally() { return tally_; }

  // A well-formed request; the outcome, or nullopt if no answer came.
  std::optional<Outcome> Request(const std::string& op, uint8_t cmd, std::vector<Attr> attrs,
                                 uint16_t extra_flags = 0);

 private:
  // Random helpers.
  uint64_t U(uint64_t n) { return n ? rng_() % n : 0; }
  bool P(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[U(v.size())];
  }
  Bytes RandomBytes(size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng_());
    return b;
  }
  Uuid RandomUuid() {
    Uuid::Bytes b;
    for (auto& x : b) x = static_cast<uint8_t>(rng_());
    return Uuid(b);
  }
  uint32_t RandomId();
  Slot* RandomSlot() { return s_->slots.empty() ? nullptr : s_->slots[U(s_->slots.size())].get(); }
  Header NewHeader(uint8_t cmd, uint16_t flags = NLM_F_REQUEST | NLM_F_ACK) {
    Header h;
    h.type = s_->family;
    h.flags = flags;
    h.seq = seq_++;
    h.cmd = cmd;
    h.version = KEEL_GENL_VERSION;
    return h;
  }

  // Message makers.
  std::vector<Attr> ValidAttrs(uint8_t cmd);
  Attr GarbageAttr(int depth);
  void Mutate(std::vector<Attr>* attrs, Bytes* tail);

  // The mix.
  void RandomCommand();
  void MutatedCommand();
  void HeaderGames();
  void BogusPath();
  void EdgeValues();
  void Sequence();
  void OpenDisk(uint32_t id);

  // Sends `datagram`, holding `sent`, and reads until each has its ack or
  // NLMSG_DONE.  With `maybe_silent` (the kernel may drop some of it), a
  // GET_INFO follows and only its ack is awaited.  Records the results.
  std::vector<Outcome> Exchange(const Bytes& datagram, const std::vector<Sent>& sent,
                                bool maybe_silent);
  // Sends one message built from `h` and `attrs`, expecting an answer.
  Outcome SendOne(const std::string& op, const Header& h, const std::vector<Attr>& attrs,
                  const Bytes& tail = {}, std::optional<Uuid> create_uuid = std::nullopt,
                  std::optional<uint32_t> create_id = std::nullopt);
  void Busy(const std::string& op) {
    {
      std::lock_guard<std::mutex> l(activity_->mu);
      activity_->op = op;
    }
    activity_->busy_since = Clock::now().time_since_epoch().count();
  }
  void Idle() { activity_->busy_since = 0; }

  Shared* s_;
  int index_;
  Activity* activity_;
  std::mt19937_64 rng_;
  Socket sock_;
  uint32_t seq_ = 1;
  Bytes buf_;
  Tally tally_;
};

uint32_t Worker::RandomId() {
  uint64_t r = U(100);
  if (r < 40 && !s_->slots.empty()) return RandomSlot()->id;
  if (r < 55) {
    std::lock_guard<std::mutex> l(s_->ids_mu);
    if (!s_->known_ids.empty()) {
      auto it = s_->known_ids.begin();
      std::advance(it, U(s_->known_ids.size()));
      return *it;
    }
  }
  if (r < 80) {
    for (int i = 0; i < 10; ++i) {
      uint32_t id = static_cast<uint32_t>(U(KEEL_MAX_VOLUMES));
      if (!s_->preexisting.count(id)) return id;
    }
  }
  static const std::vector<uint32_t> kOut = {
      KEEL_MAX_VOLUMES, KEEL_MAX_VOLUMES + 1, 8191, 65535, 0x7fffffff, 0x80000000, 0xffffffff};
  return Pick(kOut);
}

std::vector<Attr> Worker::ValidAttrs(uint8_t cmd) {
  std::vector<Attr> a;
  switch (cmd) {
    case KEEL_CMD_VOLUME_CREATE: {
      Slot* slot = RandomSlot();
      std::string path = slot && P(0.5) ? slot->path
                         : s_->opt.backing_dir.empty()
                             ? "/nonexistent-keel-nlfuzz/missing.img"
                             : s_->opt.backing_dir + "/keel-nlfuzz-missing.img";
      Uuid u = RandomUuid();
      a.push_back(BytesAttr(KEEL_ATTR_UUID, u.bytes().data(), KEEL_UUID_LEN));
      a.push_back(U64Attr(KEEL_ATTR_SIZE, 1 << 20));
      a.push_back(StringAttr(KEEL_ATTR_BACKING_PATH, path));
      if (P(0.7)) a.push_back(U32Attr(KEEL_ATTR_VOLUME_ID, RandomId()));
      if (P(0.5)) a.push_back(U32Attr(KEEL_ATTR_BLOCK_SIZE, P(0.5) ? 512 : 4096));
      if (P(0.3)) a.push_back(U32Attr(KEEL_ATTR_FLAGS, 0));
      break;
    }
    case KEEL_CMD_VOLUME_DELETE:
    case KEEL_CMD_VOLUME_DETACH:
      a.push_back(U32Attr(KEEL_ATTR_VOLUME_ID, RandomId()));
      if (P(0.5)) a.push_back(U32Attr(KEEL_ATTR_FLAGS, U(2)));
      break;
    case KEEL_CMD_VOLUME_ATTACH:
    case KEEL_CMD_VOLUME_GET:
      a.push_back(U32Attr(KEEL_ATTR_VOLUME_ID, RandomId()));
      break;
    default:
      break;
  }
  return a;
}

// Any attribute at all, nested garbage included.
Attr Worker::GarbageAttr(int depth) {
  Attr a;
  a.type = static_cast<uint16_t>(P(0.8) ? U(KEEL_ATTR_MAX + 4) : U(0x10000));
  if (P(0.1)) a.type |= NLA_F_NESTED;
  if (P(0.05)) a.type |= NLA_F_NET_BYTEORDER;
  if (depth < 4 && P(0.15)) {
    std::vector<Attr> inner;
    for (uint64_t i = 0, n = U(5); i < n; ++i) inner.push_back(GarbageAttr(depth + 1));
    return NestedAttr(a.type, inner);
  }
  static const std::vector<size_t> kSizes = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 64, 200};
  a.data = RandomBytes(P(0.02) ? 1000 + U(60000) : Pick(kSizes));
  if (P(0.1)) a.len = static_cast<uint16_t>(U(0x10000));
  return a;
}

void Worker::Mutate(std::vector<Attr>* attrs, Bytes* tail) {
  for (uint64_t m = 0, count = 1 + U(3); m < count; ++m) {
    bool have = !attrs->empty();
    Attr* victim = have ? &(*attrs)[U(attrs->size())] : nullptr;
    switch (U(14)) {
      case 0:  // drop one
        if (have) attrs->erase(attrs->begin() + U(attrs->size()));
        break;
      case 1:  // duplicate one
        if (have) attrs->push_back(*victim);
        break;
      case 2:  // a little longer
        if (have) {
          Bytes extra = RandomBytes(1 + U(8));
          victim->data.insert(victim->data.end(), extra.begin(), extra.end());
        }
        break;
      case 3:  // as long as an attribute can be
        if (have) victim->data.resize(0xffff - NLA_HDRLEN, 'A');
        break;
      case 4:  // shorter, down to nothing
        if (have) victim->data.resize(U(victim->data.size() + 1));
        break;
      case 5:  // another attribute's type
        if (have) victim->type = static_cast<uint16_t>(U(KEEL_ATTR_MAX + 3));
        break;
      case 6:  // nla_len lies
        if (have) {
          static const std::vector<uint16_t> kLies = {0, 1, 3, 4, 5, 0xffff};
          int delta = P(0.5) ? 1 + static_cast<int>(U(16)) : -1 - static_cast<int>(U(3));
          int honest = static_cast<int>(NLA_HDRLEN + victim->data.size());
          victim->len = P(0.5) ? Pick(kLies) : static_cast<uint16_t>(honest + delta);
        }
        break;
      case 7:  // unknown types and flag bits
        attrs->push_back(U32Attr(static_cast<uint16_t>(KEEL_ATTR_MAX + 1 + U(60)), U(100)));
        if (P(0.3)) attrs->back().type |= NLA_F_NESTED;
        break;
      case 8: {  // attributes only the module sends, STATS with nested garbage
        std::vector<Attr> inner;
        for (uint64_t i = 0, n = U(6); i < n; ++i) {
          Attr g = GarbageAttr(1);
          g.type = static_cast<uint16_t>(U(KEEL_STAT_MAX + 3)) | (g.type & NLA_F_NESTED);
          inner.push_back(g);
        }
        Attr stats = NestedAttr(KEEL_ATTR_STATS, inner);
        if (P(0.5)) stats.type |= NLA_F_NESTED;
        static const std::vector<uint16_t> kReplyOnly = {
            KEEL_ATTR_VERSION,    KEEL_ATTR_STATE,          KEEL_ATTR_OBJECTS,
            KEEL_ATTR_EPOCH,      KEEL_ATTR_DEVICE_NAME,    KEEL_ATTR_DEVICE_MAJOR,
            KEEL_ATTR_EVENT_TYPE, KEEL_ATTR_KERNEL_RELEASE, KEEL_ATTR_SECTOR};
        attrs->push_back(P(0.5) ? stats : U64Attr(Pick(kReplyOnly), rng_()));
        break;
      }
      case 9:  // strings without their NUL, or with one inside
        for (Attr& a : *attrs) {
          if (a.type != KEEL_ATTR_BACKING_PATH || a.data.empty()) continue;
          if (P(0.5))
            a.data.pop_back();
          else
            a.data[U(a.data.size())] = 0;
        }
        break;
      case 10:  // bytes after the last attribute
        *tail = RandomBytes(1 + U(7));
        break;
      case 11:  // random payload, same length
        if (have) victim->data = RandomBytes(victim->data.size());
        break;
      case 12:  // shuffled order
        std::shuffle(attrs->begin(), attrs->end(), rng_);
        break;
      case 13:  // one more garbage attribute
        attrs->push_back(GarbageAttr(0));
        break;
    }
  }
}

std::vector<Outcome> Worker::Exchange(const Bytes& datagram, const std::vector<Sent>& sent,
                                      bool maybe_silent) {
  std::vector<Outcome> out(sent.size());
  std::map<uint32_t, size_t> index;
  for (size_t i = 0; i < sent.size(); ++i) index[sent[i].seq] = i;
  std::string ops;
  for (const auto& x : sent) ops += (ops.empty() ? "" : "+") + x.op;
  Busy(ops);
  tally_.messages += sent.size();

  auto fail_all = [&](const std::string& result) {
    for (size_t i = 0; i < sent.size(); ++i)
      if (!out[i].answered) tally_.Record(sent[i].op, result);
    Idle();
    return out;
  };

  int err = sock_.Send(datagram);
  if (err) {
    // The kernel refused the datagram itself (e.g. EMSGSIZE, ENOBUFS).
    for (const auto& x : sent) tally_.Record(x.op, "send:" + ErrName(err));
    Idle();
    return out;
  }
  std::set<uint32_t> waiting;
  uint32_t sync_seq = 0;
  bool overrun = false;
  auto send_sync = [&]() {
    Header h = NewHeader(KEEL_CMD_GET_INFO);
    sync_seq = h.seq;
    ++tally_.syncs;
    int e = sock_.Send(BuildMessage(h, {}));
    if (e) tally_.Problem("cannot send a GET_INFO: " + ErrName(e));
    waiting = {sync_seq};
  };
  if (maybe_silent) {
    send_sync();
  } else {
    for (const auto& x : sent) waiting.insert(x.seq);
  }

  auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(s_->opt.reply_timeout * 1000));
  while (!waiting.empty()) {
    bool truncated = false;
    ssize_t n = sock_.Recv(&buf_, deadline, &truncated);
    if (n == 0) {
      ++tally_.timeouts;
      tally_.Problem("no answer to " + ops + " within " +
                     std::to_string(static_cast<int>(s_->opt.reply_timeout)) + " s");
      std::string e;
      if (!sock_.Open(&e)) tally_.Problem("cannot reopen the socket: " + e);
      return fail_all("timeout");
    }
    if (n < 0) {
      if (-n == ENOBUFS) {  // replies were dropped: resynchronize
        ++tally_.overruns;
        overrun = true;
        if (!sync_seq) send_sync();
        continue;
      }
      tally_.Problem("receive failed: " + ErrName(static_cast<int>(-n)));
      std::string e;
      sock_.Open(&e);
      return fail_all("recv-error");
    }
    if (truncated) tally_.Problem("a reply of more than " + std::to_string(buf_.size()) + " bytes");
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf_.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      auto it = index.find(h->nlmsg_seq);
      bool is_sync = sync_seq && h->nlmsg_seq == sync_seq;
      if (it == index.end() && !is_sync) {
        ++tally_.stray;
        continue;
      }
      Outcome* o = is_sync ? nullptr : &out[it->second];
      const auto* payload = static_cast<const uint8_t*>(NLMSG_DATA(h));
      size_t plen = h->nlmsg_len - NLMSG_HDRLEN;
      if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE) {
        int code = 0;
        size_t tlv = 0;
        if (h->nlmsg_type == NLMSG_ERROR) {
          if (plen < sizeof(nlmsgerr)) {
            tally_.Problem("a truncated NLMSG_ERROR");
            continue;
          }
          nlmsgerr e;
          memcpy(&e, payload, sizeof(e));
          code = e.error;
          tlv = sizeof(e);
          if (!(h->nlmsg_flags & NLM_F_CAPPED)) tlv += e.msg.nlmsg_len - NLMSG_HDRLEN;
        } else {
          if (plen < sizeof(int)) {
            tally_.Problem("a truncated NLMSG_DONE");
            continue;
          }
          memcpy(&code, payload, sizeof(int));
          tlv = sizeof(int);
        }
        if (code > 0) tally_.Problem("a positive error " + std::to_string(code) + " in an ack");
        if ((h->nlmsg_flags & NLM_F_ACK_TLVS) && tlv < plen) {
          std::string msg = ExtackMessage(payload + tlv, plen - tlv);
          if (!msg.empty() && (tally_.extack.size() < 200 || tally_.extack.count(msg)))
            ++tally_.extack[msg];
        }
        waiting.erase(h->nlmsg_seq);
        if (o && !o->answered) {
          o->answered = true;
          o->error = -code;
        }
        continue;
      }
      if (h->nlmsg_type != s_->family) {
        tally_.Problem("a reply of type " + std::to_string(h->nlmsg_type));
        continue;
      }
      if (plen < GENL_HDRLEN) {
        tally_.Problem("a reply without a genetlink header");
        continue;
      }
      ReplyInfo info;
      std::string bad = CheckAttrs(payload + GENL_HDRLEN, plen - GENL_HDRLEN, false, &info);
      if (!bad.empty()) {
        auto cmd = static_cast<const genlmsghdr*>(static_cast<const void*>(payload))->cmd;
        tally_.Problem("malformed reply (cmd " + std::to_string(cmd) + "): " + bad);
        continue;
      }
      if (o) o->replies.push_back(info);
    }
  }

  for (size_t i = 0; i < sent.size(); ++i) {
    const Sent& x = sent[i];
    Outcome& o = out[i];
    if (!o.answered) {
      if (maybe_silent) {
        tally_.Record(x.op, "no-reply");
      } else if (overrun) {
        tally_.Record(x.op, "lost-in-overrun");
      } else {
        tally_.Record(x.op, "unanswered");
        tally_.Problem(x.op + ": no ack");
      }
      continue;
    }
    tally_.Record(x.op, ErrName(o.error));
    if (o.error) continue;
    if (x.cmd == KEEL_CMD_VOLUME_DELETE) ++tally_.deleted;
    if (x.cmd == KEEL_CMD_VOLUME_CREATE) {
      ++tally_.created;
      for (const auto& r : o.replies)
        if (r.volume_id) s_->LearnId(*r.volume_id);
      if (x.create_uuid) {
        if (o.replies.size() != 1) {
          tally_.Problem(x.op + ": " + std::to_string(o.replies.size()) + " status replies");
        } else if (o.replies[0].uuid != x.create_uuid) {
          tally_.Problem(x.op + ": the reply's UUID is not the one created");
        } else if (x.create_id && o.replies[0].volume_id != x.create_id) {
          tally_.Problem(x.op + ": created with id " + std::to_string(*x.create_id) +
                         ", the reply says another");
        }
      }
    }
    if (x.cmd == KEEL_CMD_VOLUME_ATTACH && x.op.rfind("seq.", 0) == 0) {
      if (o.replies.size() != 1 || !o.replies[0].volume_id || !o.replies[0].device_name ||
          *o.replies[0].device_name != "keel" + std::to_string(*o.replies[0].volume_id))
        tally_.Problem(x.op + ": the reply lacks the right DEVICE_NAME");
    }
  }
  Idle();
  return out;
}

Outcome Worker::SendOne(const std::string& op, const Header& h, const std::vector<Attr>& attrs,
                        const Bytes& tail, std::optional<Uuid> create_uuid,
                        std::optional<uint32_t> create_id) {
  Sent x{h.seq, op, h.cmd, create_uuid, create_id};
  Bytes m = BuildMessage(h, attrs, tail);
  return Exchange(m, {x}, !(h.flags & NLM_F_ACK) || !(h.flags & NLM_F_REQUEST))[0];
}

std::optional<Outcome> Worker::Request(const std::string& op, uint8_t cmd, std::vector<Attr> attrs,
                                       uint16_t extra_flags) {
  Outcome o = SendOne(op, NewHeader(cmd, NLM_F_REQUEST | NLM_F_ACK | extra_flags), attrs);
  if (!o.answered) return std::nullopt;
  return o;
}

void Worker::RandomCommand() {
  Header h = NewHeader(static_cast<uint8_t>(U(256)));
  if (P(0.2)) h.flags |= NLM_F_DUMP;
  if (P(0.1)) h.version = static_cast<uint8_t>(U(256));
  std::vector<Attr> attrs;
  for (uint64_t i = 0, n = U(7); i < n; ++i) attrs.push_back(GarbageAttr(0));
  std::string op = h.cmd <= KEEL_CMD_MAX ? "random.cmd" + std::to_string(h.cmd) : "random.cmd>max";
  SendOne(op, h, attrs);
}

void Worker::MutatedCommand() {
  uint8_t cmd = static_cast<uint8_t>(1 + U(KEEL_CMD_MAX));
  Header h = NewHeader(cmd);
  if (P(0.1)) h.flags |= NLM_F_DUMP;
  std::vector<Attr> attrs = ValidAttrs(cmd);
  Bytes tail;
  Mutate(&attrs, &tail);
  SendOne("mutated.cmd" + std::to_string(cmd), h, attrs, tail);
}

void Worker::HeaderGames() {
  uint8_t cmd = static_cast<uint8_t>(1 + U(KEEL_CMD_MAX));
  Header h = NewHeader(cmd);
  std::vector<Attr> attrs = ValidAttrs(cmd);
  // cmd 0: whether the kernel ran the command at all is not known.
  Sent x{h.seq, "", 0, std::nullopt, std::nullopt};
  Bytes m;
  switch (U(8)) {
    case 0:  // shorter than a netlink header
      m = BuildMessage(h, attrs);
      m.resize(U(NLMSG_HDRLEN));
      x.op = "header.short-datagram";
      break;
    case 1:  // nlmsg_len beyond the datagram
      m = BuildMessage(h, attrs);
      m = BuildMessage(h, attrs, {}, static_cast<uint32_t>(m.size() + 1 + U(100000)));
      x.op = "header.len-too-big";
      break;
    case 2:  // nlmsg_len below a netlink header
      m = BuildMessage(h, attrs, {}, static_cast<uint32_t>(U(NLMSG_HDRLEN)));
      x.op = "header.len-below-header";
      break;
    case 3: {  // genetlink header missing or cut
      m = BuildMessage(h, attrs, {}, static_cast<uint32_t>(NLMSG_HDRLEN + U(GENL_HDRLEN)));
      x.op = "header.no-genl-header";
      break;
    }
    case 4: {  // nlmsg_len cuts into the attributes
      Bytes full = BuildMessage(h, attrs);
      uint32_t len = static_cast<uint32_t>(NLMSG_HDRLEN + GENL_HDRLEN +
                                           U(full.size() - NLMSG_HDRLEN - GENL_HDRLEN + 1));
      m = BuildMessage(h, attrs, {}, len);
      x.op = "header.len-cuts-attrs";
      break;
    }
    case 5:  // random flags
      h.flags = static_cast<uint16_t>(rng_());
      m = BuildMessage(h, attrs);
      x.op = "header.random-flags";
      break;
    case 6:  // control message types
      h.type = static_cast<uint16_t>(U(NLMSG_MIN_TYPE));
      m = BuildMessage(h, attrs);
      x.op = "header.control-type";
      break;
    case 7: {  // several messages in one datagram
      std::vector<Sent> batch;
      Bytes all;
      for (uint64_t i = 0, n = 2 + U(3); i < n; ++i) {
        uint8_t c = static_cast<uint8_t>(1 + U(KEEL_CMD_MAX));
        Header bh = NewHeader(c);
        if (P(0.2)) bh.flags |= NLM_F_DUMP;
        std::vector<Attr> a = ValidAttrs(c);
        Bytes tail;
        if (P(0.5)) Mutate(&a, &tail);
        Bytes one = BuildMessage(bh, a, tail);
        while (one.size() % 4) one.push_back(0);
        all.insert(all.end(), one.begin(), one.end());
        batch.push_back(
            Sent{bh.seq, "header.batch-cmd" + std::to_string(c), c, std::nullopt, std::nullopt});
      }
      if (OnlyReaches(all, s_->family)) Exchange(all, batch, true);
      return;
    }
  }
  if (P(0.1) && m.size() >= NLMSG_HDRLEN + GENL_HDRLEN)
    m[NLMSG_HDRLEN + 1] = static_cast<uint8_t>(rng_());  // genl version
  // Never let a lie hand bytes to another family.
  if (!OnlyReaches(m, s_->family)) {
    tally_.Record(x.op, "skipped-unsafe");
    return;
  }
  Exchange(m, {x}, true);
}

void Worker::BogusPath() {
  Header h = NewHeader(KEEL_CMD_VOLUME_CREATE);
  Uuid u = RandomUuid();
  std::vector<Attr> attrs = {BytesAttr(KEEL_ATTR_UUID, u.bytes().data(), KEEL_UUID_LEN),
                             U64Attr(KEEL_ATTR_SIZE, 1 << 20)};
  std::string op;
  switch (U(6)) {
    case 0:
    case 1:
      attrs.push_back(StringAttr(KEEL_ATTR_BACKING_PATH, Pick(s_->bogus_paths)));
      op = "bogus.path";
      break;
    case 2:  // very long
      attrs.push_back(StringAttr(
          KEEL_ATTR_BACKING_PATH,
          "/" + std::string(Pick(std::vector<size_t>{254, 255, 4094, 4095, 4096, 5000, 65000}),
                            'k')));
      op = "bogus.long-path";
      break;
    case 3:  // not NUL-terminated
      attrs.push_back(StringAttr(KEEL_ATTR_BACKING_PATH, Pick(s_->bogus_paths), false));
      op = "bogus.unterminated-path";
      break;
    case 4: {  // a NUL inside
      std::string p = "/dev/null";
      p += '\0';
      p += "garbage";
      attrs.push_back(StringAttr(KEEL_ATTR_BACKING_PATH, p));
      op = "bogus.embedded-nul";
      break;
    }
    case 5: {  // another volume's disk, or a file in use
      Slot* slot = RandomSlot();
      std::string p =
          slot ? (P(0.5) ? "/dev/keel" + std::to_string(slot->id) : slot->path) : "/dev/keel0";
      attrs.push_back(StringAttr(KEEL_ATTR_BACKING_PATH, p));
      op = "bogus.in-use";
      break;
    }
  }
  if (P(0.5)) attrs.push_back(U32Attr(KEEL_ATTR_VOLUME_ID, RandomId()));
  if (P(0.2)) attrs.push_back(U32Attr(KEEL_ATTR_FLAGS, KEEL_CREATE_F_FORCE_FORMAT));
  SendOne(op, h, attrs);
}

void Worker::EdgeValues() {
  Slot* slot = RandomSlot();
  std::string valid_path = slot ? slot->path : "/nonexistent-keel-nlfuzz/x.img";
  Uuid u = RandomUuid();
  switch (U(5)) {
    case 0: {  // sizes that must be refused; a valid file, so only the size is wrong
      static const std::vector<uint64_t> kSizes = {0,
                                                   1,
                                                   511,
                                                   513,
                                                   4095,
                                                   (1 << 20) + 1,
                                                   KEEL_MAX_VOLUME_SIZE + 512,
                                                   KEEL_MAX_VOLUME_SIZE * 2,
                                                   1ULL << 63,
                                                   UINT64_MAX - 511,
                                                   UINT64_MAX};
      uint64_t size = Pick(kSizes);
      SendOne("edge.size", NewHeader(KEEL_CMD_VOLUME_CREATE),
              {BytesAttr(KEEL_ATTR_UUID, u.bytes().data(), KEEL_UUID_LEN),
               U64Attr(KEEL_ATTR_SIZE, size), StringAttr(KEEL_ATTR_BACKING_PATH, valid_path),
               U32Attr(KEEL_ATTR_BLOCK_SIZE, 512)});
      // Large but legal sizes only with a path that cannot be opened.
      SendOne("edge.size-large-missing", NewHeader(KEEL_CMD_VOLUME_CREATE),
              {BytesAttr(KEEL_ATTR_UUID, u.bytes().data(), KEEL_UUID_LEN),
               U64Attr(KEEL_ATTR_SIZE, P(0.5) ? KEEL_MAX_VOLUME_SIZE : 1ULL << 40),
               StringAttr(KEEL_ATTR_BACKING_PATH, "/nonexistent-keel-nlfuzz/big.img")});
      break;
    }
    case 1: {  // block sizes
      static const std::vector<uint32_t> kBs = {0,    1,    256,  511,   513,
                                                1024, 2048, 8192, 65536, UINT32_MAX};
      SendOne("edge.block-size", NewHeader(KEEL_CMD_VOLUME_CREATE),
              {BytesAttr(KEEL_ATTR_UUID, u.bytes().data(), KEEL_UUID_LEN),
               U64Attr(KEEL_ATTR_SIZE, 1 << 20), StringAttr(KEEL_ATTR_BACKING_PATH, valid_path),
               U32Attr(KEEL_ATTR_BLOCK_SIZE, Pick(kBs))});
      break;
    }
    case 2: {  // flags with unknown bits on every command that takes flags, and on others
      static const std::vector<uint32_t> kFlags = {1U << 1, 1U << 5, 1U << 31, 0xffffffff, 3};
      uint8_t cmd = static_cast<uint8_t>(1 + U(KEEL_CMD_MAX));
      std::vector<Attr> attrs = ValidAttrs(cmd);
      attrs.push_back(U32Attr(KEEL_ATTR_FLAGS, Pick(kFlags)));
      SendOne("edge.flags-cmd" + std::to_string(cmd), NewHeader(cmd), attrs);
      break;
    }
    case 3: {  // ids out of range or nonexistent, on every command
      static const std::vector<uint32_t> kIds = {KEEL_MAX_VOLUMES, KEEL_MAX_VOLUMES + 1, 0x7fffffff,
                                                 0xffffffff};
      uint8_t cmd = static_cast<uint8_t>(1 + U(KEEL_CMD_MAX));
      uint32_t id = P(0.5) ? Pick(kIds) : RandomId();
      std::vector<Attr> attrs = ValidAttrs(cmd);
      std::erase_if(attrs, [](const Attr& a) { return a.type == KEEL_ATTR_VOLUME_ID; });
      attrs.push_back(U32Attr(KEEL_ATTR_VOLUME_ID, id));
      SendOne("edge.id-cmd" + std::to_string(cmd), NewHeader(cmd), attrs);
      break;
    }
    case 4: {  // nil and wrong-length UUIDs
      size_t len = Pick(std::vector<size_t>{0, 15, 16, 17, 32});
      Bytes raw(len, 0);  // all zero: the nil UUID at the right length
      if (P(0.5)) raw = RandomBytes(len);
      SendOne("edge.uuid-len" + std::to_string(len), NewHeader(KEEL_CMD_VOLUME_CREATE),
              {BytesAttr(KEEL_ATTR_UUID, raw.data(), raw.size()), U64Attr(KEEL_ATTR_SIZE, 1 << 20),
               StringAttr(KEEL_ATTR_BACKING_PATH, valid_path)});
      break;
    }
  }
}

void Worker::OpenDisk(uint32_t id) {
  std::string path = "/dev/keel" + std::to_string(id);
  Busy("seq.open-disk " + path);
  ++tally_.messages;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    tally_.Record("seq.open-disk", "open:" + ErrName(errno));
    Idle();
    return;
  }
  Bytes b(4096);
  ssize_t n = pread(fd, b.data(), b.size(), static_cast<off_t>(U(256)) * 4096);
  tally_.Record("seq.open-disk", n < 0 ? "read:" + ErrName(errno) : "OK");
  if (P(0.5)) std::this_thread::sleep_for(std::chrono::milliseconds(U(5)));
  close(fd);
  Idle();
}

void Worker::Sequence() {
  Slot* slot = RandomSlot();
  uint64_t r = U(100);
  if (r < 35) {  // create: re-open, lowest free id, reformat, wrong UUID
    Uuid u;
    uint64_t size;
    uint32_t bs;
    {
      std::lock_guard<std::mutex> l(slot->mu);
      u = slot->uuid;
      size = slot->size;
      bs = slot->block_size;
    }
    std::string op = "seq.create";
    bool force = false, with_id = true;
    uint64_t kind = U(100);
    if (kind < 10) {
      with_id = false;
      op = "seq.create-any-id";
    } else if (kind < 16) {
      u = RandomUuid();
      force = true;
      op = "seq.create-reformat";
    } else if (kind < 22) {
      u = RandomUuid();
      op = "seq.create-other-uuid";
    } else if (kind < 26) {
      size *= 2;
      op = "seq.create-other-size";
    }
    std::vector<Attr> attrs = {
        BytesAttr(KEEL_ATTR_UUID, u.bytes().data(), KEEL_UUID_LEN), U64Attr(KEEL_ATTR_SIZE, size),
        StringAttr(KEEL_ATTR_BACKING_PATH, slot->path), U32Attr(KEEL_ATTR_BLOCK_SIZE, bs)};
    if (with_id) attrs.push_back(U32Attr(KEEL_ATTR_VOLUME_ID, slot->id));
    if (force) attrs.push_back(U32Attr(KEEL_ATTR_FLAGS, KEEL_CREATE_F_FORCE_FORMAT));
    Outcome o = SendOne(op, NewHeader(KEEL_CMD_VOLUME_CREATE), attrs, {}, u,
                        with_id ? std::optional<uint32_t>(slot->id) : std::nullopt);
    if (o.answered && o.error == 0 && force) {
      std::lock_guard<std::mutex> l(slot->mu);
      slot->uuid = u;
    }
    return;
  }
  uint32_t id = slot->id;
  if (r < 42) {
    std::lock_guard<std::mutex> l(s_->ids_mu);
    if (!s_->known_ids.empty()) {
      auto it = s_->known_ids.begin();
      std::advance(it, U(s_->known_ids.size()));
      id = *it;
    }
  }
  Header h;
  std::vector<Attr> attrs = {U32Attr(KEEL_ATTR_VOLUME_ID, id)};
  std::string op;
  if (r < 55) {
    h = NewHeader(KEEL_CMD_VOLUME_ATTACH);
    op = "seq.attach";
  } else if (r < 65) {
    bool force = P(0.4);
    h = NewHeader(KEEL_CMD_VOLUME_DETACH);
    if (force) attrs.push_back(U32Attr(KEEL_ATTR_FLAGS, KEEL_DETACH_F_FORCE));
    op = force ? "seq.detach-force" : "seq.detach";
  } else if (r < 78) {
    bool force = P(0.5);
    h = NewHeader(KEEL_CMD_VOLUME_DELETE);
    if (force) attrs.push_back(U32Attr(KEEL_ATTR_FLAGS, KEEL_DELETE_F_FORCE));
    op = force ? "seq.delete-force" : "seq.delete";
  } else if (r < 88) {
    h = NewHeader(KEEL_CMD_VOLUME_GET);
    op = "seq.get";
  } else if (r < 94) {
    h = NewHeader(KEEL_CMD_VOLUME_GET, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP);
    attrs.clear();
    op = "seq.dump";
  } else if (r < 97) {
    h = NewHeader(KEEL_CMD_GET_INFO);
    attrs.clear();
    op = "seq.info";
  } else {
    OpenDisk(id);
    return;
  }
  SendOne(op, h, attrs);
}

void Worker::Run() {
  const bool have_slots = !s_->slots.empty();
  while (s_->claimed.fetch_add(1) < s_->opt.messages && Clock::now() < s_->fuzz_deadline) {
    uint64_t r = U(100);
    if (r < 10) {
      RandomCommand();
    } else if (r < 40 || (r >= 65 && !have_slots)) {
      MutatedCommand();
    } else if (r < 48) {
      HeaderGames();
    } else if (r < 55) {
      BogusPath();
    } else if (r < 65) {
      EdgeValues();
    } else {
      Sequence();
    }
  }
}

// ---------------------------------------------------------------------------
// Events: a listener keeps the module's multicast path busy and checks it.

struct EventStats {
  std::map<std::string, uint64_t> by_type;
  uint64_t lost = 0;
  std::vector<std::string> problems;
};

void ListenEvents(uint16_t family, int group, std::atomic<bool>* stop, EventStats* stats) {
  Socket sock;
  std::string err;
  if (!sock.Open(&err)) {
    stats->problems.push_back("events listener: " + err);
    return;
  }
  if (!sock.JoinGroup(group)) {
    stats->problems.push_back(std::string("cannot join the events group: ") + strerror(errno));
    return;
  }
  Bytes buf(64 << 10);
  while (!*stop) {
    bool truncated = false;
    ssize_t n = sock.Recv(&buf, Clock::now() + std::chrono::milliseconds(200), &truncated);
    if (n == -ENOBUFS) {
      ++stats->lost;
      continue;
    }
    if (n <= 0) continue;
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type != family) continue;
      const auto* payload = static_cast<const uint8_t*>(NLMSG_DATA(h));
      size_t plen = h->nlmsg_len - NLMSG_HDRLEN;
      if (plen < GENL_HDRLEN) {
        if (stats->problems.size() < 20)
          stats->problems.push_back("an event without a genetlink header");
        continue;
      }
      ReplyInfo info;
      std::string bad = CheckAttrs(payload + GENL_HDRLEN, plen - GENL_HDRLEN, false, &info);
      if (!bad.empty() && stats->problems.size() < 20)
        stats->problems.push_back("malformed event: " + bad);
      uint32_t type = 0;
      size_t off = GENL_HDRLEN;
      while (off + NLA_HDRLEN <= plen) {
        nlattr a;
        memcpy(&a, payload + off, sizeof(a));
        if (a.nla_len < NLA_HDRLEN) break;
        if ((a.nla_type & NLA_TYPE_MASK) == KEEL_ATTR_EVENT_TYPE && a.nla_len == 8)
          memcpy(&type, payload + off + NLA_HDRLEN, 4);
        off += NLA_ALIGN(a.nla_len);
      }
      ++stats->by_type[EventTypeName(type)];
    }
  }
}

// ---------------------------------------------------------------------------
// Setup, cleanup, verdict.

struct VolumeSeen {
  uint32_t id;
  Uuid uuid;
  std::string backing;
};

// Every volume, by a VOLUME_GET dump; nullopt if the module did not answer.
std::optional<std::vector<VolumeSeen>> ListVolumes(Worker* w, std::string* err) {
  auto o = w->Request("check.dump", KEEL_CMD_VOLUME_GET, {}, NLM_F_DUMP);
  if (!o || o->error) {
    *err = o ? "VOLUME_GET dump failed: " + ErrName(o->error) : "VOLUME_GET dump: no answer";
    return std::nullopt;
  }
  std::vector<VolumeSeen> all;
  for (const auto& r : o->replies) {
    if (!r.volume_id) continue;
    all.push_back(VolumeSeen{*r.volume_id, r.uuid.value_or(Uuid()), r.backing_path.value_or("")});
  }
  return all;
}

struct Verdict {
  std::vector<std::string> failures;
  uint64_t deleted_in_cleanup = 0;
  std::vector<uint32_t> left_behind;
  std::optional<uint64_t> objects_before, objects_after;
  std::optional<uint32_t> volume_count;
  bool responsive = false;
};

std::optional<ReplyInfo> GetInfo(Worker* w) {
  auto o = w->Request("check.info", KEEL_CMD_GET_INFO, {});
  if (!o || o->error || o->replies.empty()) return std::nullopt;
  return o->replies[0];
}

// Deletes every volume that is not one of `before`, then checks the module.
void CleanUpAndCheck(Worker* w, const std::vector<VolumeSeen>& before, Verdict* v) {
  auto is_ours = [&](const VolumeSeen& x) {
    for (const auto& b : before)
      if (b.id == x.id && b.uuid == x.uuid) return false;
    return true;
  };
  std::string err;
  for (int round = 0; round < 10; ++round) {
    auto all = ListVolumes(w, &err);
    if (!all) break;
    std::vector<VolumeSeen> ours;
    for (const auto& x : *all)
      if (is_ours(x)) ours.push_back(x);
    if (ours.empty()) break;
    // Volumes stacked on our disks first.
    std::stable_sort(ours.begin(), ours.end(), [](const VolumeSeen& a, const VolumeSeen& b) {
      return (a.backing.rfind("/dev/keel", 0) == 0) > (b.backing.rfind("/dev/keel", 0) == 0);
    });
    for (const auto& x : ours) {
      w->Request(
          "cleanup.detach", KEEL_CMD_VOLUME_DETACH,
          {U32Attr(KEEL_ATTR_VOLUME_ID, x.id), U32Attr(KEEL_ATTR_FLAGS, KEEL_DETACH_F_FORCE)});
      auto o = w->Request(
          "cleanup.delete", KEEL_CMD_VOLUME_DELETE,
          {U32Attr(KEEL_ATTR_VOLUME_ID, x.id), U32Attr(KEEL_ATTR_FLAGS, KEEL_DELETE_F_FORCE)});
      if (o && o->error == 0) ++v->deleted_in_cleanup;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 * (round + 1)));
  }

  auto info = GetInfo(w);
  v->responsive = info.has_value();
  if (!info) {
    v->failures.push_back("the module does not answer GET_INFO after the run");
    return;
  }
  auto after = ListVolumes(w, &err);
  if (!after) {
    v->failures.push_back(err);
    return;
  }
  for (const auto& x : *after)
    if (is_ours(x)) v->left_behind.push_back(x.id);
  if (!v->left_behind.empty())
    v->failures.push_back(std::to_string(v->left_behind.size()) +
                          " volume(s) of this run could not be deleted");
  for (const auto& b : before) {
    bool there = false;
    for (const auto& x : *after) there |= x.id == b.id && x.uuid == b.uuid;
    if (!there)
      v->failures.push_back("volume " + std::to_string(b.id) + ", there before the run, is gone");
  }
  // The object count settles once queued events are sent and disks freed.
  v->objects_after = info->objects;
  v->volume_count = info->volume_count;
  for (int i = 0; i < 50 && v->objects_before && info && info->objects != v->objects_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    info = GetInfo(w);
    if (info) {
      v->objects_after = info->objects;
      v->volume_count = info->volume_count;
    }
  }
  if (v->objects_before && v->objects_after != v->objects_before)
    v->failures.push_back(
        "kernel objects: " + std::to_string(*v->objects_before) + " before the run, " +
        (v->objects_after ? std::to_string(*v->objects_after) : "none") + " after (a leak?)");
  if (v->volume_count && *v->volume_count != after->size())
    v->failures.push_back("GET_INFO counts " + std::to_string(*v->volume_count) +
                          " volumes, the dump lists " + std::to_string(after->size()));
}

// Files for valid creates and for bogus paths, all in --backing-dir.
bool PrepareFiles(Shared* s, std::mt19937_64* rng, std::string* err) {
  std::vector<std::string> bogus = {"/nonexistent-keel-nlfuzz/x.img",
                                    "/dev/null",
                                    "/dev/zero",
                                    "/proc/version",
                                    "/proc/self/status",
                                    "/sys/kernel/mm",
                                    "/",
                                    "relative/path.img",
                                    "x.img",
                                    "",
                                    "/dev/keel-nonexistent"};
  const std::string& dir = s->opt.backing_dir;
  if (dir.empty()) {
    s->bogus_paths = bogus;
    return true;
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *err = "--backing-dir " + dir + " is not a directory";
    return false;
  }
  std::string base = dir + "/keel-nlfuzz-" + std::to_string(getpid());
  // Ids for the slots: the highest ones no volume uses yet.
  uint32_t next_id = KEEL_MAX_VOLUMES - 1;
  int nslots = std::min(16, std::max(4, 2 * s->opt.threads));
  for (int i = 0; i < nslots; ++i) {
    while (s->preexisting.count(next_id)) --next_id;
    auto slot = std::make_unique<Slot>();
    slot->path = base + "-slot" + std::to_string(i) + ".img";
    slot->id = next_id--;
    slot->size = ((*rng)() % 2 + 1) << 20;
    slot->block_size = (*rng)() % 2 ? 512 : 4096;
    Uuid::Bytes b;
    for (auto& x : b) x = static_cast<uint8_t>((*rng)());
    slot->uuid = Uuid(b);
    int fd = open(slot->path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      *err = "cannot create " + slot->path + ": " + strerror(errno);
      return false;
    }
    close(fd);
    s->files.push_back(slot->path);
    s->slots.push_back(std::move(slot));
  }
  // A FIFO (opening it for reading would block), a symlink loop, a symlink
  // to a file of its own (formatting it is fine), a directory.
  std::string fifo = base + "-fifo", loop = base + "-loop", target = base + "-linked.img",
              link = base + "-link", sub = base + "-dir", missing = base + "-missing.img";
  if (mkfifo(fifo.c_str(), 0600) == 0) s->files.push_back(fifo);
  if (symlink(loop.c_str(), loop.c_str()) == 0) s->files.push_back(loop);
  int fd = open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    close(fd);
    s->files.push_back(target);
    if (symlink(target.c_str(), link.c_str()) == 0) s->files.push_back(link);
  }
  if (mkdir(sub.c_str(), 0700) == 0) s->files.push_back(sub);
  for (const auto& p : {fifo, loop, link, sub, missing, dir, dir + "/../nonexistent.img"})
    bogus.push_back(p);
  s->bogus_paths = bogus;
  return true;
}

void RemoveFiles(const Shared& s) {
  for (auto it = s.files.rbegin(); it != s.files.rend(); ++it) {
    if (unlink(it->c_str()) != 0) rmdir(it->c_str());
  }
}

std::vector<std::pair<std::string, uint64_t>> ByCount(const std::map<std::string, uint64_t>& m) {
  std::vector<std::pair<std::string, uint64_t>> v(m.begin(), m.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return v;
}

std::string Line(const std::map<std::string, uint64_t>& m) {
  std::string out;
  for (const auto& [k, n] : ByCount(m))
    out += (out.empty() ? "" : ", ") + k + " " + std::to_string(n);
  return out.empty() ? "-" : out;
}

int Report(const Options& opt, const Tally& t, const EventStats& ev, const Verdict& v,
           double elapsed) {
  std::map<std::string, uint64_t> results;
  for (const auto& [op, r] : t.by_op)
    for (const auto& [name, n] : r) results[name] += n;
  std::vector<std::string> failures = v.failures;
  for (const auto& p : t.problems) failures.push_back(p);
  for (const auto& p : ev.problems) failures.push_back(p);
  bool pass = failures.empty();

  if (opt.json) {
    nlohmann::json by_op;
    for (const auto& [op, r] : t.by_op) by_op[op] = r;
    nlohmann::json extack = nlohmann::json::object();
    int shown = 0;
    for (const auto& [m, n] : ByCount(t.extack))
      if (shown++ < 40) extack[m] = n;
    auto opt_json = [](const auto& x) { return x ? nlohmann::json(*x) : nlohmann::json(nullptr); };
    nlohmann::json j = {
        {"result", pass ? "pass" : "fail"},
        {"seed", opt.seed},
        {"threads", opt.threads},
        {"messages_sent", t.messages},
        {"syncs", t.syncs},
        {"elapsed_s", elapsed},
        {"results", results},
        {"by_op", by_op},
        {"extack", extack},
        {"timeouts", t.timeouts},
        {"overruns", t.overruns},
        {"stray_replies", t.stray},
        {"volumes",
         {{"created", t.created},
          {"deleted", t.deleted},
          {"deleted_in_cleanup", v.deleted_in_cleanup},
          {"left_behind", v.left_behind}}},
        {"events", {{"by_type", ev.by_type}, {"lost", ev.lost}}},
        {"module",
         {{"responsive", v.responsive},
          {"objects_before", opt_json(v.objects_before)},
          {"objects_after", opt_json(v.objects_after)},
          {"volume_count", opt_json(v.volume_count)}}},
        {"failures", failures},
    };
    std::cout << j.dump(2) << "\n";
  } else {
    auto num = [](const auto& x) { return x ? std::to_string(*x) : std::string("-"); };
    printf("keel-nlfuzz: %s\n", pass ? "PASS" : "FAIL");
    printf("  seed %llu, %d threads, %llu messages (+%llu GET_INFO syncs) in %.1f s\n",
           static_cast<unsigned long long>(opt.seed), opt.threads,
           static_cast<unsigned long long>(t.messages), static_cast<unsigned long long>(t.syncs),
           elapsed);
    printf("  results: %s\n", Line(results).c_str());
    printf("  timeouts %llu, overruns %llu, stray replies %llu\n",
           static_cast<unsigned long long>(t.timeouts), static_cast<unsigned long long>(t.overruns),
           static_cast<unsigned long long>(t.stray));
    printf("  volumes: %llu created, %llu deleted, %llu deleted in cleanup, %zu left behind\n",
           static_cast<unsigned long long>(t.created), static_cast<unsigned long long>(t.deleted),
           static_cast<unsigned long long>(v.deleted_in_cleanup), v.left_behind.size());
    printf("  events: %s; lost %llu\n", Line(ev.by_type).c_str(),
           static_cast<unsigned long long>(ev.lost));
    printf("  module: %s, objects %s -> %s, %s volumes\n",
           v.responsive ? "answers GET_INFO" : "DOES NOT ANSWER", num(v.objects_before).c_str(),
           num(v.objects_after).c_str(), num(v.volume_count).c_str());
    printf("  per operation:\n");
    for (const auto& [op, r] : t.by_op) printf("    %-28s %s\n", op.c_str(), Line(r).c_str());
    printf("  kernel messages (extended ack), most frequent first:\n");
    int shown = 0;
    for (const auto& [m, n] : ByCount(t.extack))
      if (shown++ < 25) printf("    %8llu  %s\n", static_cast<unsigned long long>(n), m.c_str());
    if (!pass) {
      printf("  failures:\n");
      for (const auto& f : failures) printf("    %s\n", f.c_str());
    }
  }
  return pass ? 0 : 1;
}

// Ends the process if a worker is stuck in the kernel or time runs out:
// a hung module must fail the test, not hang it.
void Watchdog(const Shared& s, std::vector<std::unique_ptr<Activity>>* acts,
              std::atomic<bool>* done) {
  auto hard_deadline =
      s.start + std::chrono::milliseconds(static_cast<int64_t>(s.opt.time_limit * 1000));
  auto stuck_after = std::chrono::milliseconds(static_cast<int64_t>(s.opt.reply_timeout * 1000)) +
                     std::chrono::seconds(10);
  while (!*done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto now = Clock::now();
    std::string why;
    if (now > hard_deadline) why = "the time limit passed";
    for (size_t i = 0; i < acts->size() && why.empty(); ++i) {
      int64_t since = (*acts)[i]->busy_since;
      if (!since) continue;
      auto busy = now - Clock::time_point(Clock::duration(since));
      if (busy > stuck_after) {
        std::lock_guard<std::mutex> l((*acts)[i]->mu);
        why = "thread " + std::to_string(i) + " has been stuck for " +
              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(busy).count()) +
              " s in " + (*acts)[i]->op;
      }
    }
    if (why.empty()) continue;
    std::string msg = "keel-nlfuzz: FAIL: " + why +
                      " (the module may be hung: see the kernel log for hung tasks)";
    if (s.opt.json) {
      std::cout << nlohmann::json({{"result", "hung"}, {"failures", {msg}}}).dump(2) << std::endl;
    } else {
      std::cout << msg << std::endl;
    }
    std::cerr << msg << std::endl;
    RemoveFiles(s);
    _exit(1);
  }
}

}  // namespace
}  // namespace keel::nlfuzz

int main(int argc, char** argv) {
  using namespace keel::nlfuzz;
  Options opt;
  opt.seed = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  CLI::App app{
      "keel-nlfuzz - fuzz keel.ko's generic-netlink family as root, then check that the module\n"
      "still answers, that every volume of the run is gone and that no kernel object leaked.",
      "keel-nlfuzz"};
  app.add_option("--messages", opt.messages, "Messages to send, all threads together")
      ->capture_default_str();
  app.add_option("--seed", opt.seed, "Random seed (default: the clock; printed)");
  app.add_option("--threads", opt.threads, "Sending threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--backing-dir", opt.backing_dir,
                 "Directory for small backing files (valid creates and races need it)");
  app.add_option("--time-limit", opt.time_limit, "Seconds for the whole run, cleanup included")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--reply-timeout", opt.reply_timeout, "Seconds to wait for one answer")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--json", opt.json, "Print the summary as JSON");
  app.footer(
      "Example: keel-nlfuzz --messages 20000 --threads 4 --backing-dir /tmp/fuzz --json\n"
      "Exit status: 0 the module stayed responsive and clean, 1 it did not, 2 usage.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  Shared s;
  s.opt = opt;
  s.start = Clock::now();
  double fuzz_share = std::max(opt.time_limit * 0.75, opt.time_limit - 120);
  s.fuzz_deadline = s.start + std::chrono::milliseconds(static_cast<int64_t>(fuzz_share * 1000));

  // Resolve the family and the events group with libnl.
  nl_sock* nl = nl_socket_alloc();
  if (!nl || genl_connect(nl) < 0) {
    fprintf(stderr, "keel-nlfuzz: cannot open a generic netlink socket\n");
    return 1;
  }
  int family = genl_ctrl_resolve(nl, KEEL_GENL_NAME);
  int group = genl_ctrl_resolve_grp(nl, KEEL_GENL_NAME, KEEL_MCGRP_EVENTS);
  nl_socket_free(nl);
  if (family < 0) {
    fprintf(stderr, "keel-nlfuzz: keel.ko is not loaded (no generic netlink family 'keel')\n");
    return 1;
  }
  s.family = static_cast<uint16_t>(family);

  std::vector<std::unique_ptr<Activity>> acts;
  for (int i = 0; i <= opt.threads; ++i) acts.push_back(std::make_unique<Activity>());
  std::atomic<bool> done{false};
  std::thread watchdog(Watchdog, std::cref(s), &acts, &done);

  // The checker: a worker of its own, used before and after the run.
  Worker checker(&s, opt.threads, acts[opt.threads].get());
  std::string err;
  Verdict verdict;
  std::vector<VolumeSeen> before;
  int rc = 1;
  if (!checker.Open(&err)) {
    fprintf(stderr, "keel-nlfuzz: %s\n", err.c_str());
  } else if (auto info = GetInfo(&checker); !info) {
    fprintf(stderr, "keel-nlfuzz: keel.ko does not answer GET_INFO (not root?)\n");
  } else if (auto listed = ListVolumes(&checker, &err); !listed) {
    fprintf(stderr, "keel-nlfuzz: %s\n", err.c_str());
  } else {
    verdict.objects_before = info->objects;
    before = *listed;
    for (const auto& v : before) s.preexisting.insert(v.id);
    std::mt19937_64 rng(opt.seed);
    if (!PrepareFiles(&s, &rng, &err)) {
      fprintf(stderr, "keel-nlfuzz: %s\n", err.c_str());
      RemoveFiles(s);
      done = true;
      watchdog.join();
      return 2;
    }
    if (s.slots.empty())
      fprintf(stderr, "keel-nlfuzz: no --backing-dir: no valid creates, no races on volumes\n");

    std::atomic<bool> stop_events{false};
    EventStats events;
    std::thread listener;
    if (group >= 0) listener = std::thread(ListenEvents, s.family, group, &stop_events, &events);

    std::vector<std::unique_ptr<Worker>> workers;
    for (int i = 0; i < opt.threads; ++i) {
      workers.push_back(std::make_unique<Worker>(&s, i, acts[i].get()));
      if (!workers.back()->Open(&err)) {
        verdict.failures.push_back("cannot open a worker's socket: " + err);
        workers.pop_back();
        break;
      }
    }
    std::vector<std::thread> threads;
    for (auto& w : workers) threads.emplace_back([&w] { w->Run(); });
    for (auto& t : threads) t.join();

    CleanUpAndCheck(&checker, before, &verdict);
    stop_events = true;
    if (listener.joinable()) listener.join();
    RemoveFiles(s);

    Tally total;
    for (auto& w : workers) total.Merge(w->tally());
    total.Merge(checker.tally());
    double elapsed = std::chrono::duration<double>(Clock::now() - s.start).count();
    rc = Report(opt, total, events, verdict, elapsed);
  }
  done = true;
  watchdog.join();
  return rc;
}
