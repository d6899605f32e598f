#include "tests/tools/wire_peer.h"

#include <arpa/inet.h>
#include <endian.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <thread>

#include "manager/common/crc32c.h"
#include "manager/kernel/kernel_client.h"

namespace keel::wirepeer {
namespace {

using Clock = std::chrono::steady_clock;

void Put16(uint8_t* p, uint16_t v) {
  v = htole16(v);
  memcpy(p, &v, 2);
}
void Put32(uint8_t* p, uint32_t v) {
  v = htole32(v);
  memcpy(p, &v, 4);
}
void Put64(uint8_t* p, uint64_t v) {
  v = htole64(v);
  memcpy(p, &v, 8);
}
uint16_t Get16(const uint8_t* p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return le16toh(v);
}
uint32_t Get32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return le32toh(v);
}
uint64_t Get64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return le64toh(v);
}

#define KEEL_OFF(type, field) offsetof(struct type, field)

Nonce RandomNonce() {
  Nonce n;
  size_t done = 0;
  while (done < n.size()) {
    ssize_t r = getrandom(n.data() + done, n.size() - done, 0);
    if (r > 0) done += static_cast<size_t>(r);
  }
  return n;
}

std::vector<uint8_t> RandomBytes(size_t n) {
  std::vector<uint8_t> b(n);
  size_t done = 0;
  while (done < n) {
    ssize_t r = getrandom(b.data() + done, std::min<size_t>(n - done, 256), 0);
    if (r > 0) done += static_cast<size_t>(r);
  }
  return b;
}

std::string ErrnoText(uint32_t status) {
  const char* name = strerrorname_np(static_cast<int>(status));
  return name ? name : "errno " + std::to_string(status);
}

std::string Ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

std::array<uint8_t, KEEL_WIRE_HDR_SIZE> EncodeHeader(const Msg& m) {
  std::array<uint8_t, KEEL_WIRE_HDR_SIZE> h{};
  Put32(&h[KEEL_OFF(keel_wire_hdr, magic)], m.magic);
  Put16(&h[KEEL_OFF(keel_wire_hdr, type)], m.type);
  Put16(&h[KEEL_OFF(keel_wire_hdr, flags)], m.flags);
  Put32(&h[KEEL_OFF(keel_wire_hdr, length)], m.length);
  Put32(&h[KEEL_OFF(keel_wire_hdr, size)], m.size);
  Put64(&h[KEEL_OFF(keel_wire_hdr, seq)], m.seq);
  Put64(&h[KEEL_OFF(keel_wire_hdr, offset)], m.offset);
  Put64(&h[KEEL_OFF(keel_wire_hdr, epoch)], m.epoch);
  Put32(&h[KEEL_OFF(keel_wire_hdr, digest)], m.digest);
  Put32(&h[KEEL_OFF(keel_wire_hdr, status)], m.status);
  return h;
}

Msg DecodeHeader(const uint8_t* p) {
  Msg m;
  m.magic = Get32(p + KEEL_OFF(keel_wire_hdr, magic));
  m.type = Get16(p + KEEL_OFF(keel_wire_hdr, type));
  m.flags = Get16(p + KEEL_OFF(keel_wire_hdr, flags));
  m.length = Get32(p + KEEL_OFF(keel_wire_hdr, length));
  m.size = Get32(p + KEEL_OFF(keel_wire_hdr, size));
  m.seq = Get64(p + KEEL_OFF(keel_wire_hdr, seq));
  m.offset = Get64(p + KEEL_OFF(keel_wire_hdr, offset));
  m.epoch = Get64(p + KEEL_OFF(keel_wire_hdr, epoch));
  m.digest = Get32(p + KEEL_OFF(keel_wire_hdr, digest));
  m.status = Get32(p + KEEL_OFF(keel_wire_hdr, status));
  return m;
}

std::vector<uint8_t> Encode(const Msg& m) {
  auto h = EncodeHeader(m);
  std::vector<uint8_t> out(h.size() + m.payload.size());
  memcpy(out.data(), h.data(), h.size());
  if (!m.payload.empty()) memcpy(out.data() + h.size(), m.payload.data(), m.payload.size());
  return out;
}

std::string TypeName(uint16_t type) {
  switch (type) {
    case KEEL_WIRE_HELLO:
      return "HELLO";
    case KEEL_WIRE_CHALLENGE:
      return "CHALLENGE";
    case KEEL_WIRE_AUTH:
      return "AUTH";
    case KEEL_WIRE_WELCOME:
      return "WELCOME";
    case KEEL_WIRE_REFUSE:
      return "REFUSE";
    case KEEL_WIRE_WRITE:
      return "WRITE";
    case KEEL_WIRE_FLUSH:
      return "FLUSH";
    case KEEL_WIRE_DISCARD:
      return "DISCARD";
    case KEEL_WIRE_WRITE_ZEROES:
      return "WRITE_ZEROES";
    case KEEL_WIRE_READ:
      return "READ";
    case KEEL_WIRE_ACK:
      return "ACK";
    case KEEL_WIRE_PING:
      return "PING";
    case KEEL_WIRE_PONG:
      return "PONG";
    default:
      return "type-" + std::to_string(type);
  }
}

std::string RefusalName(uint32_t reason) {
  switch (reason) {
    case KEEL_REFUSE_PROTOCOL:
      return "protocol";
    case KEEL_REFUSE_VERSION:
      return "version";
    case KEEL_REFUSE_VOLUME:
      return "volume";
    case KEEL_REFUSE_AUTH:
      return "auth";
    case KEEL_REFUSE_STALE_EPOCH:
      return "stale-epoch";
    case KEEL_REFUSE_BUSY:
      return "busy";
    default:
      return "reason-" + std::to_string(reason);
  }
}

std::array<uint8_t, KEEL_WIRE_TRANSCRIPT_SIZE> Transcript(bool target, const Nonce& nonce_i,
                                                          const Nonce& nonce_t, const Uuid& uuid,
                                                          uint64_t epoch_i, uint64_t epoch_t) {
  std::array<uint8_t, KEEL_WIRE_TRANSCRIPT_SIZE> t{};
  const char* label = target ? KEEL_WIRE_LABEL_TARGET : KEEL_WIRE_LABEL_INITIATOR;
  memcpy(&t[KEEL_OFF(keel_wire_transcript, label)], label, strlen(label));
  memcpy(&t[KEEL_OFF(keel_wire_transcript, nonce_i)], nonce_i.data(), nonce_i.size());
  memcpy(&t[KEEL_OFF(keel_wire_transcript, nonce_t)], nonce_t.data(), nonce_t.size());
  memcpy(&t[KEEL_OFF(keel_wire_transcript, uuid)], uuid.bytes().data(), KEEL_UUID_LEN);
  Put64(&t[KEEL_OFF(keel_wire_transcript, epoch_i)], epoch_i);
  Put64(&t[KEEL_OFF(keel_wire_transcript, epoch_t)], epoch_t);
  return t;
}

Mac TranscriptMac(const std::vector<uint8_t>& secret, bool target, const Nonce& nonce_i,
                  const Nonce& nonce_t, const Uuid& uuid, uint64_t epoch_i, uint64_t epoch_t) {
  auto t = Transcript(target, nonce_i, nonce_t, uuid, epoch_i, epoch_t);
  return HmacSha256(secret.data(), secret.size(), t.data(), t.size());
}

std::vector<uint8_t> EncodeHello(const HelloFields& h) {
  std::vector<uint8_t> p(KEEL_WIRE_HELLO_SIZE, 0);
  Put32(&p[KEEL_OFF(keel_wire_hello, version_min)], h.version_min);
  Put32(&p[KEEL_OFF(keel_wire_hello, version_max)], h.version_max);
  Put64(&p[KEEL_OFF(keel_wire_hello, features)], h.features);
  memcpy(&p[KEEL_OFF(keel_wire_hello, uuid)], h.uuid.bytes().data(), KEEL_UUID_LEN);
  Put64(&p[KEEL_OFF(keel_wire_hello, size)], h.size);
  Put32(&p[KEEL_OFF(keel_wire_hello, block_size)], h.block_size);
  memcpy(&p[KEEL_OFF(keel_wire_hello, nonce)], h.nonce.data(), h.nonce.size());
  return p;
}

Result<HelloFields> DecodeHello(const std::vector<uint8_t>& p) {
  if (p.size() != KEEL_WIRE_HELLO_SIZE)
    return Status::Error(EPROTO, "HELLO payload of " + std::to_string(p.size()) + " bytes");
  HelloFields h;
  h.version_min = Get32(&p[KEEL_OFF(keel_wire_hello, version_min)]);
  h.version_max = Get32(&p[KEEL_OFF(keel_wire_hello, version_max)]);
  h.features = Get64(&p[KEEL_OFF(keel_wire_hello, features)]);
  Uuid::Bytes u;
  memcpy(u.data(), &p[KEEL_OFF(keel_wire_hello, uuid)], u.size());
  h.uuid = Uuid(u);
  h.size = Get64(&p[KEEL_OFF(keel_wire_hello, size)]);
  h.block_size = Get32(&p[KEEL_OFF(keel_wire_hello, block_size)]);
  memcpy(h.nonce.data(), &p[KEEL_OFF(keel_wire_hello, nonce)], h.nonce.size());
  return h;
}

std::vector<uint8_t> EncodeChallenge(const ChallengeFields& c) {
  std::vector<uint8_t> p(KEEL_WIRE_CHALLENGE_SIZE, 0);
  Put32(&p[KEEL_OFF(keel_wire_challenge, version)], c.version);
  Put64(&p[KEEL_OFF(keel_wire_challenge, features)], c.features);
  Put64(&p[KEEL_OFF(keel_wire_challenge, epoch)], c.epoch);
  memcpy(&p[KEEL_OFF(keel_wire_challenge, nonce)], c.nonce.data(), c.nonce.size());
  memcpy(&p[KEEL_OFF(keel_wire_challenge, mac)], c.mac.data(), c.mac.size());
  return p;
}

Result<ChallengeFields> DecodeChallenge(const std::vector<uint8_t>& p) {
  if (p.size() != KEEL_WIRE_CHALLENGE_SIZE)
    return Status::Error(EPROTO, "CHALLENGE payload of " + std::to_string(p.size()) + " bytes");
  ChallengeFields c;
  c.version = Get32(&p[KEEL_OFF(keel_wire_challenge, version)]);
  c.features = Get64(&p[KEEL_OFF(keel_wire_challenge, features)]);
  c.epoch = Get64(&p[KEEL_OFF(keel_wire_challenge, epoch)]);
  memcpy(c.nonce.data(), &p[KEEL_OFF(keel_wire_challenge, nonce)], c.nonce.size());
  memcpy(c.mac.data(), &p[KEEL_OFF(keel_wire_challenge, mac)], c.mac.size());
  return c;
}

std::vector<uint8_t> EncodeRefuse(const RefuseFields& r) {
  std::vector<uint8_t> p(KEEL_WIRE_REFUSE_SIZE, 0);
  Put32(&p[KEEL_OFF(keel_wire_refuse, reason)], r.reason);
  size_t max = sizeof(keel_wire_refuse::message) - 1;
  memcpy(&p[KEEL_OFF(keel_wire_refuse, message)], r.message.data(),
         std::min(max, r.message.size()));
  return p;
}

Result<RefuseFields> DecodeRefuse(const std::vector<uint8_t>& p) {
  if (p.size() != KEEL_WIRE_REFUSE_SIZE)
    return Status::Error(EPROTO, "REFUSE payload of " + std::to_string(p.size()) + " bytes");
  RefuseFields r;
  r.reason = Get32(&p[KEEL_OFF(keel_wire_refuse, reason)]);
  const char* msg = reinterpret_cast<const char*>(&p[KEEL_OFF(keel_wire_refuse, message)]);
  r.message.assign(msg, strnlen(msg, sizeof(keel_wire_refuse::message)));
  return r;
}

// ---- Conn ----

Result<Conn> Conn::Open(const PeerConfig& cfg) {
  auto addr = ParseAddress(cfg.addr);
  if (!addr.ok()) return addr.status();
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  if (addr->size() == 4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(cfg.port);
    memcpy(&sin->sin_addr, addr->data(), 4);
    len = sizeof(*sin);
    family = AF_INET;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(cfg.port);
    memcpy(&sin6->sin6_addr, addr->data(), 16);
    len = sizeof(*sin6);
    family = AF_INET6;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::Error(errno, std::string("socket: ") + strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::string where = FormatEndpoint(cfg.addr, cfg.port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    if (errno != EINPROGRESS) {
      int e = errno;
      close(fd);
      return Status::Error(e, "cannot connect to " + where + ": " + strerror(e));
    }
    pollfd p{fd, POLLOUT, 0};
    int r = poll(&p, 1, static_cast<int>(cfg.timeout.count()));
    if (r <= 0) {
      close(fd);
      return Status::Error(ETIMEDOUT,
                           "cannot connect to " + where + ": timed out after " + Ms(cfg.timeout));
    }
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
      close(fd);
      return Status::Error(err, "cannot connect to " + where + ": " + strerror(err));
    }
  }
  return Conn(fd);
}

Conn& Conn::operator=(Conn&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Conn::~Conn() {
  if (fd_ >= 0) close(fd_);
}

Status Conn::SendBytes(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (n) {
    ssize_t w = send(fd_, p, n, MSG_NOSIGNAL);
    if (w > 0) {
      p += w;
      n -= static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (Clock::now() > deadline) return Status::Error(ETIMEDOUT, "send timed out");
      pollfd pf{fd_, POLLOUT, 0};
      poll(&pf, 1, 100);
      continue;
    }
    int e = errno;
    return Status::Error(e, std::string("send: ") + strerror(e));
  }
  return Status();
}

void Conn::ShutdownWrite() { shutdown(fd_, SHUT_WR); }

Conn::Kind Conn::ReadFull(uint8_t* p, size_t n, Clock::time_point deadline, std::string* detail) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd_, p + got, n - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) {
      *detail = got ? "closed by target in the middle of a message" : "closed by target";
      return Kind::kClosed;
    }
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) {
      *detail = "closed by target (connection reset)";
      return Kind::kClosed;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *detail = std::string("receive failed: ") + strerror(errno);
      return Kind::kBadMessage;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Kind::kTimeout;
    pollfd pf{fd_, POLLIN, 0};
    poll(&pf, 1, static_cast<int>(left.count()));
  }
  return Kind::kMessage;
}

Conn::Received Conn::Recv(std::chrono::milliseconds timeout) {
  Received r;
  auto deadline = Clock::now() + timeout;
  uint8_t h[KEEL_WIRE_HDR_SIZE];
  r.kind = ReadFull(h, sizeof(h), deadline, &r.detail);
  if (r.kind != Kind::kMessage) return r;
  r.msg = DecodeHeader(h);
  if (r.msg.magic != KEEL_WIRE_MAGIC) {
    r.kind = Kind::kBadMessage;
    r.detail = "the target sent a header with a bad magic";
    return r;
  }
  if (r.msg.length > KEEL_WIRE_MAX_PAYLOAD) {
    r.kind = Kind::kBadMessage;
    r.detail = "the target sent a " + TypeName(r.msg.type) + " with a payload of " +
               std::to_string(r.msg.length) + " bytes";
    return r;
  }
  r.msg.payload.resize(r.msg.length);
  if (r.msg.length) {
    r.kind = ReadFull(r.msg.payload.data(), r.msg.length, deadline, &r.detail);
    if (r.kind == Kind::kTimeout) {
      r.kind = Kind::kBadMessage;
      r.detail = "the target sent a " + TypeName(r.msg.type) + " header but not its payload";
    }
  }
  return r;
}

// ---- handshake ----

namespace {

Msg MakeHello(const PeerConfig& cfg, uint64_t epoch, const Nonce& nonce) {
  HelloFields h;
  h.uuid = cfg.uuid;
  h.size = cfg.size;
  h.block_size = cfg.block_size;
  h.nonce = nonce;
  Msg m;
  m.type = KEEL_WIRE_HELLO;
  m.length = KEEL_WIRE_HELLO_SIZE;
  m.epoch = epoch;
  m.payload = EncodeHello(h);
  return m;
}

Msg MakeAuth(uint64_t epoch, const Mac& mac) {
  Msg m;
  m.type = KEEL_WIRE_AUTH;
  m.length = KEEL_WIRE_AUTH_SIZE;
  m.epoch = epoch;
  m.payload.assign(mac.begin(), mac.end());
  return m;
}

std::string RefuseText(const RefuseFields& r) {
  return "REFUSE " + RefusalName(r.reason) + (r.message.empty() ? "" : ": \"" + r.message + "\"");
}

// Where a handshake stopped and what the connection is left with.
struct Partial {
  std::optional<Conn> conn;
  Nonce nonce_i{};
  std::optional<ChallengeFields> challenge;
  std::optional<RefuseFields> refused;
  std::string error;  // a failure that is not a refusal
};

// Connects and sends HELLO with epoch `epoch`; reads the CHALLENGE (checked:
// length, version, features, its MAC, a nonce of its own).
Partial HelloAndChallenge(const PeerConfig& cfg, uint64_t epoch) {
  Partial p;
  auto c = Conn::Open(cfg);
  if (!c.ok()) {
    p.error = c.status().message();
    return p;
  }
  p.conn.emplace(std::move(c).value());
  p.nonce_i = RandomNonce();
  Status s = p.conn->Send(MakeHello(cfg, epoch, p.nonce_i));
  if (!s.ok()) {
    p.error = "sending HELLO: " + s.message();
    return p;
  }
  auto r = p.conn->Recv(cfg.timeout);
  if (r.kind == Conn::Kind::kTimeout) {
    p.error = "no answer to HELLO within " + Ms(cfg.timeout);
    return p;
  }
  if (r.kind != Conn::Kind::kMessage) {
    p.error = "after HELLO: " + r.detail;
    return p;
  }
  if (r.msg.type == KEEL_WIRE_REFUSE) {
    auto ref = DecodeRefuse(r.msg.payload);
    if (!ref.ok()) {
      p.error = "after HELLO: a malformed REFUSE (" + ref.status().message() + ")";
      return p;
    }
    p.refused = *ref;
    return p;
  }
  if (r.msg.type != KEEL_WIRE_CHALLENGE) {
    p.error = "the target answered HELLO with " + TypeName(r.msg.type);
    return p;
  }
  auto ch = DecodeChallenge(r.msg.payload);
  if (!ch.ok()) {
    p.error = "a malformed CHALLENGE: " + ch.status().message();
    return p;
  }
  if (ch->version != KEEL_WIRE_VERSION) {
    p.error = "the target chose protocol version " + std::to_string(ch->version) +
              ", which HELLO did not offer";
    return p;
  }
  if (ch->features & ~uint64_t{KEEL_WIRE_FEAT_DIGEST}) {
    p.error = "the target accepted features HELLO did not offer";
    return p;
  }
  if (ch->epoch != r.msg.epoch) {
    p.error = "the CHALLENGE's epoch " + std::to_string(ch->epoch) + " differs from its header's " +
              std::to_string(r.msg.epoch);
    return p;
  }
  p.challenge = *ch;
  return p;
}

// Reads the answer to AUTH: WELCOME or REFUSE.
void ReadWelcome(const PeerConfig& cfg, Partial* p, HandshakeResult* out) {
  auto r = p->conn->Recv(cfg.timeout);
  if (r.kind == Conn::Kind::kTimeout) {
    out->detail = "no answer to AUTH within " + Ms(cfg.timeout);
    return;
  }
  if (r.kind != Conn::Kind::kMessage) {
    out->detail = "after AUTH: " + r.detail;
    return;
  }
  if (r.msg.type == KEEL_WIRE_REFUSE) {
    auto ref = DecodeRefuse(r.msg.payload);
    if (!ref.ok()) {
      out->detail = "after AUTH: a malformed REFUSE (" + ref.status().message() + ")";
      return;
    }
    out->refused = *ref;
    out->detail = "refused after AUTH: " + RefuseText(*ref);
    return;
  }
  if (r.msg.type != KEEL_WIRE_WELCOME || r.msg.length != 0) {
    out->detail = "the target answered AUTH with " + TypeName(r.msg.type) + " of " +
                  std::to_string(r.msg.length) + " bytes";
    return;
  }
  Session s;
  s.conn.emplace(std::move(*p->conn));
  p->conn.reset();
  s.nonce_i = p->nonce_i;
  s.challenge = *p->challenge;
  s.digest = p->challenge->features & KEEL_WIRE_FEAT_DIGEST;
  out->session = std::move(s);
  out->detail = "WELCOME (target epoch " + std::to_string(r.msg.epoch) + ")";
}

// Checks the CHALLENGE's MAC and nonce as an initiator must; false (and
// sends REFUSE auth) when it is wrong.
bool VerifyChallenge(const PeerConfig& cfg, uint64_t epoch, Partial* p, std::string* detail) {
  const ChallengeFields& ch = *p->challenge;
  if (ch.nonce == p->nonce_i) {
    *detail = "the target sent our own nonce back as its nonce (reflection)";
    return false;
  }
  Mac want = TranscriptMac(cfg.secret, true, p->nonce_i, ch.nonce, cfg.uuid, epoch, ch.epoch);
  if (!DigestEqual(want, ch.mac)) {
    *detail = "the target's MAC is wrong: the secrets differ (or the target computes it wrongly)";
    Msg m;
    m.type = KEEL_WIRE_REFUSE;
    m.length = KEEL_WIRE_REFUSE_SIZE;
    m.epoch = epoch;
    m.payload = EncodeRefuse({KEEL_REFUSE_AUTH, "wrong target MAC"});
    (void)p->conn->Send(m);
    return false;
  }
  return true;
}

}  // namespace

HandshakeResult Handshake(const PeerConfig& cfg, uint64_t epoch) {
  auto deadline = Clock::now() + cfg.timeout;
  for (;;) {
    HandshakeResult out;
    Partial p = HelloAndChallenge(cfg, epoch);
    if (!p.error.empty()) {
      out.detail = p.error;
      return out;
    }
    if (p.refused) {
      out.refused = p.refused;
      out.detail = "refused after HELLO: " + RefuseText(*p.refused);
    } else {
      if (!VerifyChallenge(cfg, epoch, &p, &out.detail)) return out;
      Mac mac = TranscriptMac(cfg.secret, false, p.nonce_i, p.challenge->nonce, cfg.uuid, epoch,
                              p.challenge->epoch);
      Status s = p.conn->Send(MakeAuth(epoch, mac));
      if (!s.ok()) {
        out.detail = "sending AUTH: " + s.message();
        return out;
      }
      ReadWelcome(cfg, &p, &out);
      if (out.session) out.session->epoch = epoch;
    }
    // The target's previous connection may still be closing: retry.
    if (out.refused && out.refused->reason == KEEL_REFUSE_BUSY && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    return out;
  }
}

// ---- scenarios ----

namespace {

// Reads until the target closes.  Pass: it closed (after REFUSE or an error
// ACK, or nothing); with `error_ack_is_enough`, an ACK with an error status
// passes too.  Fail: a success ACK, any other answer, or silence.
ScenarioResult ExpectClose(Conn& c, const PeerConfig& cfg, const std::string& what,
                           bool error_ack_is_enough = false) {
  ScenarioResult r;
  std::string before;
  for (;;) {
    auto m = c.Recv(cfg.timeout);
    switch (m.kind) {
      case Conn::Kind::kClosed:
        r.pass = true;
        r.detail = what + ": " + m.detail + (before.empty() ? "" : " after " + before);
        return r;
      case Conn::Kind::kTimeout:
        if (error_ack_is_enough && before.rfind("ACK", 0) == 0) {
          r.pass = true;
          r.detail = what + ": " + before + " (connection kept)";
        } else {
          r.detail = what + ": the target kept the connection open for " + Ms(cfg.timeout) +
                     (before.empty() ? " without answering" : " after " + before);
        }
        return r;
      case Conn::Kind::kBadMessage:
        r.detail = what + ": " + m.detail;
        return r;
      case Conn::Kind::kMessage:
        break;
    }
    if (m.msg.type == KEEL_WIRE_REFUSE) {
      auto ref = DecodeRefuse(m.msg.payload);
      before = ref.ok() ? RefuseText(*ref) : "a malformed REFUSE";
      continue;
    }
    if (m.msg.type == KEEL_WIRE_ACK && m.msg.status != 0) {
      before = "ACK seq " + std::to_string(m.msg.seq) + " with " + ErrnoText(m.msg.status);
      if (error_ack_is_enough) {
        r.pass = true;
        r.detail = what + ": " + before;
        return r;
      }
      continue;
    }
    if (m.msg.type == KEEL_WIRE_ACK) {
      r.detail = what + ": the target acknowledged it with success (ACK seq " +
                 std::to_string(m.msg.seq) + ", status 0)";
      return r;
    }
    r.detail = what + ": the target answered " + TypeName(m.msg.type) + " instead of closing";
    return r;
  }
}

ScenarioResult Failed(std::string detail) {
  ScenarioResult r;
  r.detail = std::move(detail);
  return r;
}

// Runs steps in order; the scenario passes if all do.  Details are joined.
ScenarioResult AllOf(std::vector<std::function<ScenarioResult()>> steps) {
  ScenarioResult all;
  all.pass = true;
  for (auto& step : steps) {
    ScenarioResult r = step();
    all.detail += (all.detail.empty() ? "" : "; ") + r.detail;
    if (!r.pass) {
      all.pass = false;
      return all;
    }
  }
  return all;
}

// A connection that completed the handshake, or a failed result.
struct Authed {
  std::optional<Session> session;
  ScenarioResult failure;
};

Authed Authenticate(const PeerConfig& cfg, uint64_t epoch) {
  Authed a;
  HandshakeResult h = Handshake(cfg, epoch);
  if (!h.session) {
    a.failure = Failed("the valid handshake this scenario needs failed: " + h.detail);
    return a;
  }
  a.session = std::move(h.session);
  return a;
}

Msg Request(Session& s, uint16_t type, uint64_t offset, uint32_t size) {
  Msg m;
  m.type = type;
  m.seq = s.next_seq++;
  m.offset = offset;
  m.size = size;
  m.epoch = s.epoch;
  return m;
}

void SetPayload(Session& s, Msg* m, std::vector<uint8_t> data) {
  m->payload = std::move(data);
  m->length = static_cast<uint32_t>(m->payload.size());
  if (s.digest) {
    m->flags |= KEEL_WIRE_F_DIGEST;
    m->digest = Crc32c(m->payload.data(), m->payload.size());
  }
}

// A 4 KiB pattern that names its run, offset and byte.
std::vector<uint8_t> Pattern(uint64_t offset, size_t n) {
  auto salt = RandomBytes(8);
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; ++i)
    p[i] = static_cast<uint8_t>(salt[i % 8] ^ (i * 131) ^ (offset >> 9) ^ (i >> 8));
  return p;
}

// Sends `m` and waits for its ACK; "" and *ack on success, else why not.
std::string Exchange(Session& s, const PeerConfig& cfg, const Msg& m, Msg* ack) {
  Status st = s.conn->Send(m);
  if (!st.ok()) return "sending " + TypeName(m.type) + ": " + st.message();
  auto r = s.conn->Recv(cfg.timeout);
  if (r.kind == Conn::Kind::kTimeout)
    return "no answer to " + TypeName(m.type) + " within " + Ms(cfg.timeout);
  if (r.kind != Conn::Kind::kMessage) return "after " + TypeName(m.type) + ": " + r.detail;
  uint16_t want = m.type == KEEL_WIRE_PING ? KEEL_WIRE_PONG : KEEL_WIRE_ACK;
  if (r.msg.type != want)
    return "the target answered " + TypeName(m.type) + " with " + TypeName(r.msg.type);
  if (want == KEEL_WIRE_ACK && r.msg.seq != m.seq)
    return "ACK for seq " + std::to_string(r.msg.seq) + ", expected " + std::to_string(m.seq);
  *ack = std::move(r.msg);
  return "";
}

// READ of `n` bytes at `offset`; its data in *data.
std::string ReadBack(Session& s, const PeerConfig& cfg, uint64_t offset, uint32_t n,
                     std::vector<uint8_t>* data) {
  Msg ack;
  std::string e = Exchange(s, cfg, Request(s, KEEL_WIRE_READ, offset, n), &ack);
  if (!e.empty()) return e;
  if (ack.status) return "READ failed: " + ErrnoText(ack.status);
  if (ack.length != n)
    return "READ's ACK carries " + std::to_string(ack.length) + " bytes, not " + std::to_string(n);
  if ((ack.flags & KEEL_WIRE_F_DIGEST) && ack.digest != Crc32c(ack.payload.data(), n))
    return "READ's ACK has a wrong data digest";
  *data = std::move(ack.payload);
  return "";
}

// WRITE `data` at `offset` and expect ACK status 0.
std::string WriteOk(Session& s, const PeerConfig& cfg, uint64_t offset,
                    const std::vector<uint8_t>& data) {
  Msg w = Request(s, KEEL_WIRE_WRITE, offset, static_cast<uint32_t>(data.size()));
  SetPayload(s, &w, data);
  Msg ack;
  std::string e = Exchange(s, cfg, w, &ack);
  if (!e.empty()) return e;
  if (ack.status) return "WRITE failed: " + ErrnoText(ack.status);
  if (ack.length) return "WRITE's ACK carries a payload";
  return "";
}

uint64_t DataOffset(const PeerConfig& cfg) {
  // 4 KiB inside the volume, aligned.
  uint64_t off = cfg.offset - cfg.offset % 4096;
  if (cfg.size >= 4096 && off > cfg.size - 4096) off = (cfg.size - 4096) / 4096 * 4096;
  return off;
}

ScenarioResult ScenarioHandshake(const PeerConfig& cfg) {
  HandshakeResult h = Handshake(cfg, cfg.epoch);
  ScenarioResult r;
  r.pass = h.session.has_value();
  r.detail = h.detail;
  if (h.session && h.session->digest) r.detail += ", data digests on";
  return r;
}

ScenarioResult ScenarioWriteRead(const PeerConfig& cfg) {
  Authed a = Authenticate(cfg, cfg.epoch);
  if (!a.session) return a.failure;
  Session& s = *a.session;
  uint64_t off = DataOffset(cfg);
  std::vector<uint8_t> data = Pattern(off, 4096);
  std::string e = WriteOk(s, cfg, off, data);
  if (e.empty()) {
    Msg ack;
    e = Exchange(s, cfg, Request(s, KEEL_WIRE_FLUSH, 0, 0), &ack);
    if (e.empty() && ack.status) e = "FLUSH failed: " + ErrnoText(ack.status);
  }
  std::vector<uint8_t> back;
  if (e.empty()) e = ReadBack(s, cfg, off, 4096, &back);
  if (e.empty() && back != data) {
    size_t i = 0;
    while (i < back.size() && back[i] == data[i]) ++i;
    e = "READ returned other data than was written (first difference at byte " + std::to_string(i) +
        ")";
  }
  if (e.empty()) {
    Msg pong;
    Msg ping = Request(s, KEEL_WIRE_PING, 0, 0);
    e = Exchange(s, cfg, ping, &pong);
  }
  if (!e.empty()) return Failed(e);
  ScenarioResult r;
  r.pass = true;
  r.detail = "wrote, flushed and read back 4096 bytes at offset " + std::to_string(off) +
             (s.digest ? " with data digests" : "") + "; PING answered";
  return r;
}

// Connects and sends `bytes` as they are, then expects the target to close.
ScenarioResult RawThenClose(const PeerConfig& cfg, const std::vector<uint8_t>& bytes,
                            const std::string& what, bool shutdown_write = false) {
  auto opened = Conn::Open(cfg);
  if (!opened.ok()) return Failed(what + ": " + opened.status().message());
  Conn c = std::move(opened).value();
  Status s = c.SendBytes(bytes.data(), bytes.size());
  if (!s.ok() && s.code() != EPIPE && s.code() != ECONNRESET)
    return Failed(what + ": " + s.message());
  if (shutdown_write) c.ShutdownWrite();
  return ExpectClose(c, cfg, what);
}

// HELLO and a checked CHALLENGE, for the scenarios that misbehave after it.
struct Challenged {
  Partial p;
  ScenarioResult failure;
  bool ok = false;
};

Challenged Challenge(const PeerConfig& cfg, uint64_t epoch) {
  Challenged c;
  auto deadline = Clock::now() + cfg.timeout;
  for (;;) {
    c.p = HelloAndChallenge(cfg, epoch);
    if (c.p.refused && c.p.refused->reason == KEEL_REFUSE_BUSY && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    break;
  }
  if (!c.p.error.empty()) {
    c.failure = Failed("HELLO: " + c.p.error);
  } else if (c.p.refused) {
    c.failure = Failed("HELLO was refused: " + RefuseText(*c.p.refused));
  } else {
    c.ok = true;
  }
  return c;
}

// After a valid HELLO/CHALLENGE, sends `m` (built from what was exchanged)
// and expects the target to close.
ScenarioResult AfterChallenge(const PeerConfig& cfg, const std::string& what,
                              const std::function<Msg(const Partial&)>& make) {
  Challenged c = Challenge(cfg, cfg.epoch);
  if (!c.ok) return c.failure;
  Status s = c.p.conn->Send(make(c.p));
  if (!s.ok() && s.code() != EPIPE && s.code() != ECONNRESET)
    return Failed(what + ": " + s.message());
  ScenarioResult r = ExpectClose(*c.p.conn, cfg, what);
  // WELCOME would have been a failure inside ExpectClose already.
  return r;
}

// After WELCOME, sends `m` and expects a close (or, with
// `error_ack_is_enough`, an error ACK); a success ACK fails.
ScenarioResult AfterWelcome(const PeerConfig& cfg, const std::string& what,
                            const std::function<Msg(Session&)>& make,
                            bool error_ack_is_enough = false) {
  Authed a = Authenticate(cfg, cfg.epoch);
  if (!a.session) return a.failure;
  Msg m = make(*a.session);
  Status s = a.session->conn->Send(m);
  if (!s.ok() && s.code() != EPIPE && s.code() != ECONNRESET)
    return Failed(what + ": " + s.message());
  return ExpectClose(*a.session->conn, cfg, what, error_ack_is_enough);
}

Msg ValidHelloFor(const PeerConfig& cfg) { return MakeHello(cfg, cfg.epoch, RandomNonce()); }

ScenarioResult ScenarioBadMagic(const PeerConfig& cfg) {
  Msg m = ValidHelloFor(cfg);
  m.magic = 0x4b45454c;  // "LEEK": the metadata magic reversed
  return RawThenClose(cfg, Encode(m), "HELLO with magic 0x4b45454c");
}

ScenarioResult ScenarioTruncatedHeader(const PeerConfig& cfg) {
  auto bytes = Encode(ValidHelloFor(cfg));
  bytes.resize(20);
  return RawThenClose(cfg, bytes, "20 bytes of a header, then end of stream", true);
}

ScenarioResult ScenarioOversized(const PeerConfig& cfg) {
  return AllOf({
      [&] {
        Msg m = ValidHelloFor(cfg);
        m.length = KEEL_WIRE_MAX_PAYLOAD + 1;
        return RawThenClose(cfg, Encode(m), "HELLO claiming a payload of 4 MiB + 1");
      },
      [&] {
        return AfterWelcome(cfg, "WRITE of 4 MiB + 4 KiB", [&](Session& s) {
          uint32_t n = KEEL_WIRE_MAX_PAYLOAD + 4096;
          Msg m = Request(s, KEEL_WIRE_WRITE, 0, n);
          m.length = n;
          m.payload.assign(64 * 1024, 0x5a);  // the header is enough to refuse it
          return m;
        });
      },
  });
}

ScenarioResult ScenarioWriteBeforeAuth(const PeerConfig& cfg) {
  auto write = [&](uint64_t epoch) {
    Msg m;
    m.type = KEEL_WIRE_WRITE;
    m.seq = 1;
    m.offset = DataOffset(cfg);
    m.size = m.length = 4096;
    m.epoch = epoch;
    m.payload.assign(4096, 0xee);
    return m;
  };
  return AllOf({
      [&] { return RawThenClose(cfg, Encode(write(cfg.epoch)), "WRITE as the first message"); },
      [&] {
        return AfterChallenge(cfg, "WRITE instead of AUTH",
                              [&](const Partial&) { return write(cfg.epoch); });
      },
  });
}

ScenarioResult ScenarioBadMac(const PeerConfig& cfg) {
  return AfterChallenge(cfg, "AUTH with a wrong MAC", [&](const Partial& p) {
    Mac mac = TranscriptMac(cfg.secret, false, p.nonce_i, p.challenge->nonce, cfg.uuid, cfg.epoch,
                            p.challenge->epoch);
    mac[0] ^= 0x01;
    return MakeAuth(cfg.epoch, mac);
  });
}

ScenarioResult ScenarioReflect(const PeerConfig& cfg) {
  return AllOf({
      [&] {
        // The target's own MAC, sent back as ours: the labels differ.
        return AfterChallenge(cfg, "AUTH carrying the target's own MAC", [&](const Partial& p) {
          return MakeAuth(cfg.epoch, p.challenge->mac);
        });
      },
      [&] {
        // A second HELLO whose nonce is the target's challenge nonce.
        return AfterChallenge(
            cfg, "a second HELLO with the target's nonce as ours",
            [&](const Partial& p) { return MakeHello(cfg, cfg.epoch, p.challenge->nonce); });
      },
      [&] {
        // While one connection holds a challenge, a second one offers that
        // challenge's nonce as its own.
        Challenged first = Challenge(cfg, cfg.epoch);
        if (!first.ok) return first.failure;
        Msg hello = MakeHello(cfg, cfg.epoch, first.p.challenge->nonce);
        return RawThenClose(cfg, Encode(hello),
                            "a second connection whose HELLO nonce is the first one's challenge");
      },
      [&] {
        // Our MAC computed with the target's nonce in both places.
        return AfterChallenge(
            cfg, "AUTH over a transcript with nonce_i = nonce_t", [&](const Partial& p) {
              Mac mac = TranscriptMac(cfg.secret, false, p.challenge->nonce, p.challenge->nonce,
                                      cfg.uuid, cfg.epoch, p.challenge->epoch);
              return MakeAuth(cfg.epoch, mac);
            });
      },
  });
}

ScenarioResult ScenarioOutOfOrder(const PeerConfig& cfg) {
  return AllOf({
      [&] {
        Mac zero{};
        return RawThenClose(cfg, Encode(MakeAuth(cfg.epoch, zero)), "AUTH before HELLO");
      },
      [&] {
        return AfterChallenge(cfg, "HELLO twice",
                              [&](const Partial&) { return ValidHelloFor(cfg); });
      },
      [&] {
        return AfterWelcome(cfg, "HELLO after WELCOME",
                            [&](Session&) { return ValidHelloFor(cfg); });
      },
      [&] {
        return AfterWelcome(cfg, "AUTH after WELCOME", [&](Session& s) {
          Mac mac = TranscriptMac(cfg.secret, false, s.nonce_i, s.challenge.nonce, cfg.uuid,
                                  s.epoch, s.challenge.epoch);
          return MakeAuth(s.epoch, mac);
        });
      },
  });
}

ScenarioResult ScenarioBeyondEnd(const PeerConfig& cfg) {
  auto beyond = [&](uint64_t offset, const std::string& what) {
    return [&cfg, offset, what] {
      return AfterWelcome(
          cfg, what,
          [&](Session& s) {
            Msg m = Request(s, KEEL_WIRE_WRITE, offset, 4096);
            SetPayload(s, &m, std::vector<uint8_t>(4096, 0xbe));
            return m;
          },
          true);
    };
  };
  uint64_t end = cfg.size / 4096 * 4096;
  return AllOf({
      beyond(cfg.size, "WRITE at the volume's end"),
      beyond(end >= 4096 ? end - 512 : 0, "WRITE straddling the volume's end"),
      beyond(~uint64_t{0} - 4095, "WRITE at offset 2^64 - 4096 (wraps)"),
      [&] {
        return AfterWelcome(
            cfg, "READ beyond the volume's end",
            [&](Session& s) { return Request(s, KEEL_WIRE_READ, cfg.size + 4096, 4096); }, true);
      },
  });
}

ScenarioResult ScenarioLengthMismatch(const PeerConfig& cfg) {
  auto mismatch = [&](uint32_t size, uint32_t length, const std::string& what) {
    return [&cfg, size, length, what] {
      return AfterWelcome(cfg, what, [&](Session& s) {
        Msg m = Request(s, KEEL_WIRE_WRITE, DataOffset(cfg), size);
        SetPayload(s, &m, std::vector<uint8_t>(length, 0x1d));
        return m;
      });
    };
  };
  return AllOf({
      mismatch(4096, 8192, "WRITE of size 4096 with 8192 payload bytes"),
      mismatch(8192, 4096, "WRITE of size 8192 with 4096 payload bytes"),
      [&] {
        return AfterWelcome(cfg, "READ with a payload", [&](Session& s) {
          Msg m = Request(s, KEEL_WIRE_READ, DataOffset(cfg), 4096);
          m.payload.assign(4096, 0);
          m.length = 4096;
          return m;
        });
      },
  });
}

ScenarioResult ScenarioBadDigest(const PeerConfig& cfg) {
  uint64_t off = DataOffset(cfg);
  std::vector<uint8_t> good = Pattern(off, 4096);
  // A known state first, so that we can tell whether the bad write landed.
  {
    Authed a = Authenticate(cfg, cfg.epoch);
    if (!a.session) return a.failure;
    std::string e = WriteOk(*a.session, cfg, off, good);
    if (!e.empty()) return Failed("the valid WRITE before the bad one: " + e);
  }
  std::string how;
  {
    Authed a = Authenticate(cfg, cfg.epoch);
    if (!a.session) return a.failure;
    Session& s = *a.session;
    if (!s.digest) how = " (digests were not negotiated, so F_DIGEST is itself a violation)";
    Msg m = Request(s, KEEL_WIRE_WRITE, off, 4096);
    m.payload.assign(4096, 0xbd);
    m.length = 4096;
    m.flags |= KEEL_WIRE_F_DIGEST;
    m.digest = Crc32c(m.payload.data(), m.payload.size()) ^ 0x00100000;
    Status st = s.conn->Send(m);
    if (!st.ok() && st.code() != EPIPE && st.code() != ECONNRESET) return Failed(st.message());
    ScenarioResult r = ExpectClose(*s.conn, cfg, "WRITE with a wrong crc32c" + how, true);
    if (!r.pass) return r;
    how = r.detail;
  }
  Authed a = Authenticate(cfg, cfg.epoch);
  if (!a.session) return a.failure;
  std::vector<uint8_t> back;
  std::string e = ReadBack(*a.session, cfg, off, 4096, &back);
  if (!e.empty()) return Failed(how + "; reading back: " + e);
  if (back != good) return Failed(how + "; but the data of the refused WRITE was applied");
  ScenarioResult r;
  r.pass = true;
  r.detail = how + "; the data was not applied";
  return r;
}

ScenarioResult ScenarioStaleEpoch(const PeerConfig& cfg) {
  ScenarioResult r;
  HandshakeResult h = Handshake(cfg, 0);
  if (h.session) {
    r.detail = "a HELLO with epoch 0 was welcomed (" + h.detail +
               "): the target's epoch is 0, or it does not fence";
    return r;
  }
  if (!h.refused) return Failed("HELLO with epoch 0: " + h.detail);
  if (h.refused->reason != KEEL_REFUSE_STALE_EPOCH) {
    r.detail = "HELLO with epoch 0: " + h.detail + ", expected reason stale-epoch";
    return r;
  }
  r.pass = true;
  r.detail = "HELLO with epoch 0: " + h.detail;
  // With a session at our epoch, a request carrying a lower one must not
  // succeed either.
  if (cfg.epoch == 0) return r;
  ScenarioResult w = AfterWelcome(
      cfg, "WRITE with epoch 0 in an authenticated session",
      [&](Session& s) {
        Msg m = Request(s, KEEL_WIRE_WRITE, DataOffset(cfg), 4096);
        m.epoch = 0;
        SetPayload(s, &m, std::vector<uint8_t>(4096, 0x5e));
        return m;
      },
      true);
  r.pass = w.pass;
  r.detail += "; " + w.detail;
  return r;
}

ScenarioResult ScenarioGarbage(const PeerConfig& cfg) {
  return RawThenClose(cfg, RandomBytes(cfg.garbage_bytes),
                      std::to_string(cfg.garbage_bytes) + " random bytes");
}

ScenarioResult ScenarioUnknownType(const PeerConfig& cfg) {
  return AllOf({
      [&] {
        Msg m;
        m.type = 0x7fff;
        m.epoch = cfg.epoch;
        return RawThenClose(cfg, Encode(m), "type 0x7fff as the first message");
      },
      [&] {
        return AfterWelcome(cfg, "type 0x7fff after WELCOME",
                            [&](Session& s) { return Request(s, 0x7fff, 0, 0); });
      },
      [&] {
        // A type that only the target may send, sent to it.
        return AfterWelcome(cfg, "ACK sent to the target",
                            [&](Session& s) { return Request(s, KEEL_WIRE_ACK, 0, 0); });
      },
  });
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& Scenarios() {
  static const std::vector<std::pair<std::string, std::string>> all = {
      {"handshake", "a full valid handshake: WELCOME passes, REFUSE fails (reason printed)"},
      {"write-read", "WRITE 4 KiB at --offset, FLUSH, READ it back and compare, PING"},
      {"bad-magic", "HELLO with a wrong magic"},
      {"truncated-header", "20 bytes of a header, then end of stream"},
      {"oversized", "a length above KEEL_WIRE_MAX_PAYLOAD, before and after the handshake"},
      {"write-before-auth", "WRITE as the first message, and instead of AUTH"},
      {"bad-mac", "AUTH with a wrong MAC"},
      {"reflect",
       "the target's MAC or challenge nonce sent back as ours (also on a new connection)"},
      {"out-of-order", "AUTH before HELLO, HELLO twice, HELLO and AUTH after WELCOME"},
      {"beyond-end", "WRITEs and a READ past the volume's end (an error ACK passes)"},
      {"length-mismatch", "WRITE whose payload differs from its size; READ with a payload"},
      {"bad-digest", "WRITE with a wrong crc32c; then checks the data was not applied"},
      {"stale-epoch", "HELLO with epoch 0: REFUSE stale-epoch; a WRITE with epoch 0"},
      {"garbage", "random bytes (--garbage-bytes)"},
      {"unknown-type", "an unknown message type, before and after the handshake"},
  };
  return all;
}

ScenarioResult RunScenario(const std::string& name, const PeerConfig& cfg) {
  static const std::vector<std::pair<std::string, ScenarioResult (*)(const PeerConfig&)>> fns = {
      {"handshake", ScenarioHandshake},
      {"write-read", ScenarioWriteRead},
      {"bad-magic", ScenarioBadMagic},
      {"truncated-header", ScenarioTruncatedHeader},
      {"oversized", ScenarioOversized},
      {"write-before-auth", ScenarioWriteBeforeAuth},
      {"bad-mac", ScenarioBadMac},
      {"reflect", ScenarioReflect},
      {"out-of-order", ScenarioOutOfOrder},
      {"beyond-end", ScenarioBeyondEnd},
      {"length-mismatch", ScenarioLengthMismatch},
      {"bad-digest", ScenarioBadDigest},
      {"stale-epoch", ScenarioStaleEpoch},
      {"garbage", ScenarioGarbage},
      {"unknown-type", ScenarioUnknownType},
  };
  for (const auto& [n, fn] : fns) {
    if (n == name) {
      ScenarioResult r = fn(cfg);
      r.name = name;
      return r;
    }
  }
  ScenarioResult r;
  r.name = name;
  r.detail = "unknown scenario";
  return r;
}

}  // namespace keel::wirepeer
