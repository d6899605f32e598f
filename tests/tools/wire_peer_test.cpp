// keel-wirepeer's protocol code: encodings against values computed
// independently (Python's struct and hmac), and every scenario against a
// small user-space replica target that follows docs/wire-protocol.md — and
// against a sloppy one that accepts anything, where the hostile scenarios
// must fail.
#include "tests/tools/wire_peer.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "manager/common/crc32c.h"

namespace keel::wirepeer {
namespace {

std::string Hex(const uint8_t* p, size_t n) {
  std::string out;
  char b[3];
  for (size_t i = 0; i < n; ++i) {
    snprintf(b, sizeof(b), "%02x", p[i]);
    out += b;
  }
  return out;
}

// Whether the connection this thread serves negotiated data digests.
thread_local bool t_digest = false;

const char kUuid[] = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

std::vector<uint8_t> Secret() {
  std::vector<uint8_t> s;
  for (uint8_t i = 0; i < 32; ++i) s.push_back(i);
  return s;
}

// How the test target misbehaves.
struct TargetMode {
  bool sloppy = false;        // acks every request with success, never closes
  bool wrong_secret = false;  // its MAC uses another secret
  bool digest = true;         // accepts KEEL_WIRE_FEAT_DIGEST
};

// A replica target of one in-memory volume on 127.0.0.1, one connection at
// a time, on its own thread.
class TestTarget {
 public:
  static constexpr uint64_t kSize = 1 << 20;
  static constexpr uint64_t kEpoch = 3;

  explicit TestTarget(TargetMode mode) : mode_(mode), data_(kSize, 0) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0);
    socklen_t len = sizeof(sin);
    REQUIRE(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
    port_ = ntohs(sin.sin_port);
    REQUIRE(listen(listen_fd_, 8) == 0);
    thread_ = std::thread([this] { Loop(); });
  }
  ~TestTarget() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
  }

  PeerConfig Config() const {
    PeerConfig c;
    c.addr = "127.0.0.1";
    c.port = port_;
    c.uuid = *Uuid::Parse(kUuid);
    c.size = kSize;
    c.block_size = 512;
    c.secret = Secret();
    c.epoch = kEpoch;
    c.offset = 8192;
    c.timeout = std::chrono::milliseconds(mode_.sloppy ? 300 : 3000);
    return c;
  }
  int connections() const { return connections_; }

 private:
  bool ReadFull(int fd, void* p, size_t n) {
    size_t got = 0;
    while (got < n) {
      ssize_t r = recv(fd, static_cast<uint8_t*>(p) + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }
  void Send(int fd, const Msg& m) {
    auto b = Encode(m);
    (void)send(fd, b.data(), b.size(), MSG_NOSIGNAL);
  }
  void Refuse(int fd, uint32_t reason, const std::string& why) {
    Msg m;
    m.type = KEEL_WIRE_REFUSE;
    m.length = KEEL_WIRE_REFUSE_SIZE;
    m.epoch = kEpoch;
    m.payload = EncodeRefuse({reason, why});
    Send(fd, m);
  }
  void Ack(int fd, const Msg& req, uint32_t status, std::vector<uint8_t> data = {}) {
    Msg a;
    a.type = KEEL_WIRE_ACK;
    a.seq = req.seq;
    a.epoch = kEpoch;
    a.status = status;
    a.length = static_cast<uint32_t>(data.size());
    if (!data.empty() && t_digest) {
      a.flags = KEEL_WIRE_F_DIGEST;
      a.digest = Crc32c(data.data(), data.size());
    }
    a.payload = std::move(data);
    Send(fd, a);
  }
  bool RangeOk(const Msg& m) const {
    return m.size && m.size <= KEEL_WIRE_MAX_PAYLOAD && m.offset % 512 == 0 && m.size % 512 == 0 &&
           m.offset <= kSize && m.size <= kSize - m.offset;
  }

  // Serves one connection; returns when it is closed.
  void Serve(int fd) {
    enum { kHello, kAuth, kData } state = kHello;
    Nonce nonce_i{}, nonce_t{};
    uint64_t epoch_i = 0;
    t_digest = false;
    for (;;) {
      uint8_t h[KEEL_WIRE_HDR_SIZE];
      if (!ReadFull(fd, h, sizeof(h))) return;
      Msg m = DecodeHeader(h);
      if (!mode_.sloppy && (m.magic != KEEL_WIRE_MAGIC || m.length > KEEL_WIRE_MAX_PAYLOAD)) return;
      if (m.length > KEEL_WIRE_MAX_PAYLOAD) {  // sloppy: "fine", and read on
        Ack(fd, m, 0);
        continue;
      }
      m.payload.resize(m.length);
      if (m.length && !ReadFull(fd, m.payload.data(), m.length)) return;
      if (mode_.sloppy) {
        if (m.type == KEEL_WIRE_HELLO && m.length == KEEL_WIRE_HELLO_SIZE) {
          nonce_i = DecodeHello(m.payload)->nonce;
          epoch_i = m.epoch;
          SendChallenge(fd, nonce_i, epoch_i, &nonce_t);
        } else if (m.type == KEEL_WIRE_AUTH) {
          Msg w;
          w.type = KEEL_WIRE_WELCOME;
          w.epoch = kEpoch;
          Send(fd, w);
        } else {
          Ack(fd, m, 0,
              m.type == KEEL_WIRE_READ ? std::vector<uint8_t>(m.size, 0) : std::vector<uint8_t>{});
        }
        continue;
      }
      switch (state) {
        case kHello: {
          if (m.type != KEEL_WIRE_HELLO || m.length != KEEL_WIRE_HELLO_SIZE)
            return Refuse(fd, KEEL_REFUSE_PROTOCOL, "expected HELLO");
          auto hello = DecodeHello(m.payload);
          if (hello->uuid != *Uuid::Parse(kUuid) || hello->size != kSize)
            return Refuse(fd, KEEL_REFUSE_VOLUME, "not this volume");
          if (m.epoch < kEpoch) return Refuse(fd, KEEL_REFUSE_STALE_EPOCH, "stale epoch");
          {
            std::lock_guard<std::mutex> lock(mu_);
            for (const Nonce& n : issued_)
              if (n == hello->nonce) return Refuse(fd, KEEL_REFUSE_PROTOCOL, "reflected challenge");
          }
          nonce_i = hello->nonce;
          epoch_i = m.epoch;
          t_digest = mode_.digest && (hello->features & KEEL_WIRE_FEAT_DIGEST);
          SendChallenge(fd, nonce_i, epoch_i, &nonce_t);
          state = kAuth;
          break;
        }
        case kAuth: {
          if (m.type != KEEL_WIRE_AUTH || m.length != KEEL_WIRE_AUTH_SIZE)
            return Refuse(fd, KEEL_REFUSE_PROTOCOL, "expected AUTH");
          Mac want = TranscriptMac(Secret(), false, nonce_i, nonce_t, *Uuid::Parse(kUuid), epoch_i,
                                   kEpoch);
          Mac got;
          memcpy(got.data(), m.payload.data(), got.size());
          if (!DigestEqual(want, got)) return Refuse(fd, KEEL_REFUSE_AUTH, "wrong MAC");
          Msg w;
          w.type = KEEL_WIRE_WELCOME;
          w.epoch = kEpoch;
          Send(fd, w);
          state = kData;
          break;
        }
        case kData:
          if (!HandleRequest(fd, m)) return;
          break;
      }
    }
  }

  void SendChallenge(int fd, const Nonce& nonce_i, uint64_t epoch_i, Nonce* nonce_t) {
    ChallengeFields c;
    c.version = KEEL_WIRE_VERSION;
    c.features = t_digest ? KEEL_WIRE_FEAT_DIGEST : 0;
    c.epoch = kEpoch;
    uint8_t seed = seed_++;
    for (size_t i = 0; i < c.nonce.size(); ++i) c.nonce[i] = static_cast<uint8_t>(i * 7 + seed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      issued_.push_back(c.nonce);
    }
    *nonce_t = c.nonce;
    std::vector<uint8_t> key = Secret();
    if (mode_.wrong_secret) key[0] ^= 1;
    c.mac = TranscriptMac(key, true, nonce_i, c.nonce, *Uuid::Parse(kUuid), epoch_i, kEpoch);
    Msg m;
    m.type = KEEL_WIRE_CHALLENGE;
    m.length = KEEL_WIRE_CHALLENGE_SIZE;
    m.epoch = kEpoch;
    m.payload = EncodeChallenge(c);
    Send(fd, m);
  }

  // false: close the connection.
  bool HandleRequest(int fd, const Msg& m) {
    if (m.flags & KEEL_WIRE_F_DIGEST) {
      if (!t_digest || m.type != KEEL_WIRE_WRITE) return false;
      if (Crc32c(m.payload.data(), m.payload.size()) != m.digest) return false;
    }
    switch (m.type) {
      case KEEL_WIRE_WRITE:
        if (m.length != m.size || !RangeOk(m)) return false;
        if (m.epoch < kEpoch) {
          Ack(fd, m, ESTALE);
          return true;
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          memcpy(&data_[m.offset], m.payload.data(), m.size);
        }
        Ack(fd, m, 0);
        return true;
      case KEEL_WIRE_READ: {
        if (m.length != 0) return false;
        if (!RangeOk(m)) {
          Ack(fd, m, EINVAL);
          return true;
        }
        std::vector<uint8_t> data;
        {
          std::lock_guard<std::mutex> lock(mu_);
          data.assign(&data_[m.offset], &data_[m.offset] + m.size);
        }
        Ack(fd, m, 0, std::move(data));
        return true;
      }
      case KEEL_WIRE_FLUSH:
        if (m.length) return false;
        Ack(fd, m, 0);
        return true;
      case KEEL_WIRE_PING: {
        if (m.length) return false;
        Msg p;
        p.type = KEEL_WIRE_PONG;
        p.seq = m.seq;
        p.epoch = kEpoch;
        Send(fd, p);
        return true;
      }
      default:
        return false;
    }
  }

  void Loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      timeval tv{mode_.sloppy ? 1 : 10, 0};  // a stuck test must not hang the target
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      conns_.emplace_back([this, fd] {
        Serve(fd);
        close(fd);
      });
    }
    for (auto& c : conns_) c.join();
  }

  TargetMode mode_;
  std::vector<uint8_t> data_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<uint8_t> seed_{1};
  std::mutex mu_;              // data_ and issued_
  std::vector<Nonce> issued_;  // challenge nonces sent
  std::vector<std::thread> conns_;
};

}  // namespace

TEST_CASE("Wire structs: the sizes of the header file") {
  CHECK(sizeof(keel_wire_hdr) == 48);
  CHECK(sizeof(keel_wire_hello) == 80);
  CHECK(sizeof(keel_wire_challenge) == 88);
  CHECK(sizeof(keel_wire_auth) == 32);
  CHECK(sizeof(keel_wire_refuse) == 64);
  CHECK(sizeof(keel_wire_transcript) == 128);
}

TEST_CASE("EncodeHeader: little-endian fields at their offsets") {
  Msg m;
  m.type = KEEL_WIRE_WRITE;
  m.flags = KEEL_WIRE_F_FUA | KEEL_WIRE_F_DIGEST;
  m.length = m.size = 4096;
  m.seq = 9;
  m.offset = 1 << 20;
  m.epoch = 7;
  m.digest = 0xdeadbeef;
  m.status = 5;
  auto h = EncodeHeader(m);
  // Python: struct.pack("<IHHIIQQQII", 0x4557524b, 6, 3, 4096, 4096, 9, 1<<20, 7, 0xdeadbeef, 5)
  CHECK(Hex(h.data(), h.size()) ==
        "4b525745060003000010000000100000090000000000000000001000000000000700000000000000efbead"
        "de05000000");
  CHECK(std::string(reinterpret_cast<const char*>(h.data()), 4) == "KRWE");
  Msg d = DecodeHeader(h.data());
  CHECK(d.magic == KEEL_WIRE_MAGIC);
  CHECK(d.type == m.type);
  CHECK(d.flags == m.flags);
  CHECK(d.length == 4096);
  CHECK(d.seq == 9);
  CHECK(d.offset == 1 << 20);
  CHECK(d.epoch == 7);
  CHECK(d.digest == 0xdeadbeef);
  CHECK(d.status == 5);
}

TEST_CASE("Transcript and MACs: layout and RFC-checked HMAC") {
  Nonce ni, nt;
  ni.fill(0x11);
  nt.fill(0x22);
  Uuid u = *Uuid::Parse(kUuid);
  auto t = Transcript(true, ni, nt, u, 5, 7);
  CHECK(std::string(reinterpret_cast<const char*>(t.data())) == "keel-target-v1");
  CHECK(t[14] == 0);
  CHECK(t[31] == 0);
  CHECK(t[32] == 0x11);
  CHECK(t[64] == 0x22);
  CHECK(t[96] == 0x6f);
  CHECK(t[112] == 5);
  CHECK(t[120] == 7);
  // Python: hmac.new(bytes(range(32)), label.ljust(32, b"\0") + b"\x11"*32 +
  //   b"\x22"*32 + uuid + struct.pack("<QQ", 5, 7), hashlib.sha256).hexdigest()
  Mac target = TranscriptMac(Secret(), true, ni, nt, u, 5, 7);
  CHECK(Hex(target.data(), target.size()) ==
        "b38b16c92066f583fd6dfb63f2c13cb29312cc7e8d5f9ea305dee548e086176a");
  Mac initiator = TranscriptMac(Secret(), false, ni, nt, u, 5, 7);
  CHECK(Hex(initiator.data(), initiator.size()) ==
        "6f82895f665648d258ef1b5cd1d38805d0862c554e76f06e6dddbdf754d450ba");
}

TEST_CASE("Hello, challenge and refuse payloads round-trip") {
  HelloFields h;
  h.uuid = *Uuid::Parse(kUuid);
  h.size = 1 << 30;
  h.block_size = 4096;
  h.nonce.fill(0x33);
  auto p = EncodeHello(h);
  REQUIRE(p.size() == KEEL_WIRE_HELLO_SIZE);
  CHECK(p[0] == 1);  // version_min
  CHECK(p[4] == 1);  // version_max
  CHECK(p[8] == KEEL_WIRE_FEAT_DIGEST);
  CHECK(p[16] == 0x6f);      // uuid
  CHECK(p[32 + 3] == 0x40);  // size 2^30, little-endian
  CHECK(p[40 + 1] == 0x10);  // block size 4096
  CHECK(p[48] == 0x33);
  auto back = DecodeHello(p);
  REQUIRE(back.ok());
  CHECK(back->uuid == h.uuid);
  CHECK(back->block_size == 4096);
  CHECK_FALSE(DecodeHello(std::vector<uint8_t>(79)).ok());

  ChallengeFields c;
  c.version = 1;
  c.features = 1;
  c.epoch = 0x0102030405060708;
  c.nonce.fill(0x44);
  c.mac.fill(0x55);
  auto cp = EncodeChallenge(c);
  REQUIRE(cp.size() == KEEL_WIRE_CHALLENGE_SIZE);
  CHECK(cp[16] == 0x08);
  CHECK(cp[24] == 0x44);
  CHECK(cp[56] == 0x55);
  auto cb = DecodeChallenge(cp);
  REQUIRE(cb.ok());
  CHECK(cb->epoch == c.epoch);
  CHECK(cb->mac == c.mac);

  auto rp = EncodeRefuse({KEEL_REFUSE_STALE_EPOCH, std::string(100, 'x')});
  REQUIRE(rp.size() == KEEL_WIRE_REFUSE_SIZE);
  auto rb = DecodeRefuse(rp);
  REQUIRE(rb.ok());
  CHECK(rb->reason == KEEL_REFUSE_STALE_EPOCH);
  CHECK(rb->message == std::string(55, 'x'));  // NUL-terminated in 56 bytes
  CHECK(RefusalName(KEEL_REFUSE_STALE_EPOCH) == "stale-epoch");
  CHECK(TypeName(KEEL_WIRE_WRITE_ZEROES) == "WRITE_ZEROES");
  CHECK(TypeName(99) == "type-99");
}

TEST_CASE("Every scenario passes against a target that follows the protocol") {
  for (bool digest : {true, false}) {
    TargetMode mode;
    mode.digest = digest;
    TestTarget target(mode);
    for (const auto& [name, what] : Scenarios()) {
      ScenarioResult r = RunScenario(name, target.Config());
      INFO(name << " (digest " << digest << "): " << r.detail);
      CHECK(r.pass);
      CHECK(r.name == name);
      if (getenv("WIREPEER_VERBOSE")) MESSAGE(std::string(name) << ": " << r.detail);
    }
  }
}

TEST_CASE("Hostile scenarios fail against a target that accepts anything") {
  TargetMode mode;
  mode.sloppy = true;
  TestTarget target(mode);
  // The valid ones pass, as a sloppy target still answers them.
  CHECK(RunScenario("handshake", target.Config()).pass);
  for (const char* name :
       {"bad-magic", "oversized", "write-before-auth", "bad-mac", "reflect", "out-of-order",
        "beyond-end", "length-mismatch", "bad-digest", "stale-epoch", "garbage", "unknown-type"}) {
    ScenarioResult r = RunScenario(name, target.Config());
    INFO(name << ": " << r.detail);
    CHECK_FALSE(r.pass);
    if (getenv("WIREPEER_VERBOSE")) MESSAGE(std::string(name) << ": " << r.detail);
  }
}

TEST_CASE("Handshake: a target with another secret is caught by its MAC") {
  TargetMode mode;
  mode.wrong_secret = true;
  TestTarget target(mode);
  HandshakeResult h = Handshake(target.Config(), TestTarget::kEpoch);
  CHECK_FALSE(h.session.has_value());
  CHECK(h.detail.find("the target's MAC is wrong") == 0);
  ScenarioResult r = RunScenario("handshake", target.Config());
  CHECK_FALSE(r.pass);
}

TEST_CASE("Handshake: refusals are reported with their reason") {
  TestTarget target(TargetMode{});
  PeerConfig cfg = target.Config();
  cfg.size = 4096;  // not the target's volume
  HandshakeResult h = Handshake(cfg, TestTarget::kEpoch);
  REQUIRE(h.refused.has_value());
  CHECK(h.refused->reason == KEEL_REFUSE_VOLUME);
  CHECK(h.detail == "refused after HELLO: REFUSE volume: \"not this volume\"");
  cfg = target.Config();
  cfg.secret[5] ^= 1;  // our secret differs: the target's MAC fails our check first
  h = Handshake(cfg, TestTarget::kEpoch);
  CHECK(h.detail.find("the target's MAC is wrong") == 0);
  CHECK(RunScenario("no-such-scenario", target.Config()).detail == "unknown scenario");
}

TEST_CASE("Conn: nothing listening is an error, not a pass") {
  PeerConfig cfg;
  {
    TestTarget t(TargetMode{});
    cfg = t.Config();
  }  // closed: the port is free again
  cfg.timeout = std::chrono::milliseconds(500);
  ScenarioResult r = RunScenario("garbage", cfg);
  CHECK_FALSE(r.pass);
  CHECK(r.detail.find("cannot connect") != std::string::npos);
}

}  // namespace keel::wirepeer
