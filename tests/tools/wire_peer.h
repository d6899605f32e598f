// The client side of the replication wire protocol (include/uapi/linux/keel.h,
// docs/wire-protocol.md) for keel-wirepeer: message encoding, the handshake
// MACs, a TCP connection with timeouts, and the scenarios that check how a
// replica target treats a valid initiator and hostile ones.  Nothing here
// needs the kernel; wire_peer_test.cpp runs the scenarios against a
// user-space target.
#pragma once

#include <linux/keel.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "manager/common/status.h"
#include "manager/common/uuid.h"
#include "tests/tools/sha256.h"

namespace keel::wirepeer {

// The layout is part of the protocol (keel.ko checks the same sizes).
static_assert(sizeof(keel_wire_hdr) == KEEL_WIRE_HDR_SIZE, "wire header size");
static_assert(sizeof(keel_wire_hello) == KEEL_WIRE_HELLO_SIZE, "wire hello size");
static_assert(sizeof(keel_wire_challenge) == KEEL_WIRE_CHALLENGE_SIZE, "wire challenge size");
static_assert(sizeof(keel_wire_auth) == KEEL_WIRE_AUTH_SIZE, "wire auth size");
static_assert(sizeof(keel_wire_refuse) == KEEL_WIRE_REFUSE_SIZE, "wire refuse size");
static_assert(sizeof(keel_wire_transcript) == KEEL_WIRE_TRANSCRIPT_SIZE, "wire transcript size");

using Nonce = std::array<uint8_t, KEEL_WIRE_NONCE_LEN>;
using Mac = Sha256::Digest;

// A message in host byte order.  `length` is what the header claims; the
// payload sent is `payload`, which hostile scenarios make differ.
struct Msg {
  uint32_t magic = KEEL_WIRE_MAGIC;
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t length = 0;
  uint32_t size = 0;
  uint64_t seq = 0;
  uint64_t offset = 0;
  uint64_t epoch = 0;
  uint32_t digest = 0;
  uint32_t status = 0;
  std::vector<uint8_t> payload;
};

std::array<uint8_t, KEEL_WIRE_HDR_SIZE> EncodeHeader(const Msg& m);
// Decodes the 48 header bytes (any magic; the caller checks it).
Msg DecodeHeader(const uint8_t* p);
// Header and payload as sent.
std::vector<uint8_t> Encode(const Msg& m);

// "HELLO", ..., "PONG"; "type-N" otherwise.
std::string TypeName(uint16_t type);
// enum keel_wire_refusal: "protocol", "version", "volume", "auth",
// "stale-epoch", "busy"; "reason-N" otherwise.
std::string RefusalName(uint32_t reason);

// struct keel_wire_transcript, little-endian, as the MACs cover it.
std::array<uint8_t, KEEL_WIRE_TRANSCRIPT_SIZE> Transcript(bool target, const Nonce& nonce_i,
                                                          const Nonce& nonce_t, const Uuid& uuid,
                                                          uint64_t epoch_i, uint64_t epoch_t);
// HMAC-SHA256(secret, Transcript(...)).
Mac TranscriptMac(const std::vector<uint8_t>& secret, bool target, const Nonce& nonce_i,
                  const Nonce& nonce_t, const Uuid& uuid, uint64_t epoch_i, uint64_t epoch_t);

struct HelloFields {
  uint32_t version_min = KEEL_WIRE_VERSION;
  uint32_t version_max = KEEL_WIRE_VERSION;
  uint64_t features = KEEL_WIRE_FEAT_DIGEST;
  Uuid uuid;
  uint64_t size = 0;
  uint32_t block_size = 512;
  Nonce nonce{};
};
std::vector<uint8_t> EncodeHello(const HelloFields& h);
Result<HelloFields> DecodeHello(const std::vector<uint8_t>& payload);

struct ChallengeFields {
  uint32_t version = 0;
  uint64_t features = 0;
  uint64_t epoch = 0;
  Nonce nonce{};
  Mac mac{};
};
std::vector<uint8_t> EncodeChallenge(const ChallengeFields& c);
Result<ChallengeFields> DecodeChallenge(const std::vector<uint8_t>& payload);

struct RefuseFields {
  uint32_t reason = 0;
  std::string message;
};
std::vector<uint8_t> EncodeRefuse(const RefuseFields& r);
Result<RefuseFields> DecodeRefuse(const std::vector<uint8_t>& payload);

// What to connect to and as whom.
struct PeerConfig {
  std::string addr;  // IPv4 or IPv6 text
  uint16_t port = 0;
  Uuid uuid;
  uint64_t size = 0;  // the volume's data bytes
  uint32_t block_size = 512;
  std::vector<uint8_t> secret;
  uint64_t epoch = 1;
  uint64_t offset = 0;  // where write-read and bad-digest write
  size_t garbage_bytes = 4096;
  std::chrono::milliseconds timeout{5000};  // per wait for the target
};

// One TCP connection to the target.
class Conn {
 public:
  enum class Kind { kMessage, kClosed, kTimeout, kBadMessage };
  struct Received {
    Kind kind = Kind::kTimeout;
    Msg msg;             // kMessage
    std::string detail;  // kClosed: how; kBadMessage: what was wrong
  };

  static Result<Conn> Open(const PeerConfig& cfg);
  Conn(Conn&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Conn& operator=(Conn&& other) noexcept;
  Conn(const Conn&) = delete;
  ~Conn();

  // EPIPE or ECONNRESET when the target has closed the connection.
  Status SendBytes(const void* data, size_t n);
  Status Send(const Msg& m) {
    auto b = Encode(m);
    return SendBytes(b.data(), b.size());
  }
  // The next message: its header must have the magic and a payload within
  // KEEL_WIRE_MAX_PAYLOAD, else kBadMessage.
  Received Recv(std::chrono::milliseconds timeout);
  void ShutdownWrite();

 private:
  explicit Conn(int fd) : fd_(fd) {}
  // Reads exactly n bytes: kMessage on success.
  Kind ReadFull(uint8_t* p, size_t n, std::chrono::steady_clock::time_point deadline,
                std::string* detail);
  int fd_ = -1;
};

// An authenticated connection, or why there is none.
struct Session {
  std::optional<Conn> conn;  // set once welcomed
  Nonce nonce_i{};
  ChallengeFields challenge;
  uint64_t epoch = 0;  // ours, as sent in HELLO
  uint64_t next_seq = 1;
  bool digest = false;  // KEEL_WIRE_FEAT_DIGEST accepted
};

struct HandshakeResult {
  std::optional<Session> session;  // WELCOME
  std::optional<RefuseFields> refused;
  std::string detail;  // what happened, for people
};

// A full handshake as a correct initiator with epoch `epoch`, retrying for
// up to cfg.timeout while the target answers BUSY (its previous connection
// may still be closing).
HandshakeResult Handshake(const PeerConfig& cfg, uint64_t epoch);

struct ScenarioResult {
  std::string name;
  bool pass = false;
  std::string detail;
};

// The scenarios keel-wirepeer knows, in the order of its --help.
const std::vector<std::pair<std::string, std::string>>& Scenarios();
// Runs one scenario; an unknown name fails.
ScenarioResult RunScenario(const std::string& name, const PeerConfig& cfg);

}  // namespace keel::wirepeer
