// Unit tests of keel.ko's wire protocol encoding and validation
// (keel_wire.c), compiled in user space.
extern "C" {
#include "keel_wire.h"
}

#include <doctest/doctest.h>

#include <cstring>

namespace {

constexpr uint64_t kVol = 64ULL << 20;

keel_wire_hdr Enc(const keel_wire_msg& m) {
  keel_wire_hdr h{};
  keel_wire_encode(&m, &h);
  return h;
}

const char* Check(const keel_wire_msg& m, uint32_t bs = 512) {
  keel_wire_hdr h = Enc(m);
  keel_wire_msg out{};
  return keel_wire_decode(&h, &out, kVol, bs);
}

}  // namespace

TEST_CASE("wire: header is little-endian and round-trips") {
  keel_wire_msg m{};
  m.type = KEEL_WIRE_WRITE;
  m.flags = KEEL_WIRE_F_FUA;
  m.length = m.size = 8192;
  m.seq = 0x0102030405060708ULL;
  m.offset = 1 << 20;
  m.epoch = 42;
  keel_wire_hdr h = Enc(m);
  const auto* b = reinterpret_cast<const uint8_t*>(&h);
  CHECK(std::memcmp(b, "KRWE", 4) == 0);
  CHECK(b[16] == 0x08);  // seq, low byte first
  keel_wire_msg out{};
  REQUIRE(keel_wire_decode(&h, &out, kVol, 512) == nullptr);
  CHECK(out.type == m.type);
  CHECK(out.flags == m.flags);
  CHECK(out.seq == m.seq);
  CHECK(out.offset == m.offset);
  CHECK(out.epoch == 42);
}

TEST_CASE("wire: malformed headers are refused with a reason") {
  keel_wire_msg m{};
  m.type = KEEL_WIRE_WRITE;
  m.length = m.size = 4096;
  CHECK(Check(m) == nullptr);

  keel_wire_hdr h = Enc(m);
  h.magic = 0;
  keel_wire_msg out{};
  CHECK(std::strcmp(keel_wire_decode(&h, &out, kVol, 512), "bad magic") == 0);

  keel_wire_msg bad = m;
  bad.size = 8192;  // payload length differs from size
  CHECK(Check(bad) != nullptr);
  bad = m;
  bad.length = bad.size = KEEL_WIRE_MAX_PAYLOAD + 512;
  CHECK(Check(bad) != nullptr);
  bad = m;
  bad.offset = kVol - 2048;  // runs past the end
  CHECK(Check(bad) != nullptr);
  bad = m;
  bad.offset = ~0ULL - 100;  // overflow
  CHECK(Check(bad) != nullptr);
  bad = m;
  bad.offset = 512;  // fine at 512, not at 4096
  CHECK(Check(bad, 512) == nullptr);
  CHECK(Check(bad, 4096) != nullptr);
  bad = m;
  bad.flags = 0x8000;
  CHECK(Check(bad) != nullptr);
  bad = m;
  bad.type = 99;
  CHECK(Check(bad) != nullptr);
  bad = m;
  bad.length = bad.size = 0;
  CHECK(Check(bad) != nullptr);
}

TEST_CASE("wire: handshake and control messages need their exact lengths") {
  keel_wire_msg m{};
  m.type = KEEL_WIRE_HELLO;
  m.length = KEEL_WIRE_HELLO_SIZE;
  CHECK(Check(m) == nullptr);
  m.length = KEEL_WIRE_HELLO_SIZE - 1;
  CHECK(Check(m) != nullptr);
  m.type = KEEL_WIRE_AUTH;
  m.length = KEEL_WIRE_AUTH_SIZE;
  CHECK(Check(m) == nullptr);
  m.type = KEEL_WIRE_FLUSH;
  m.length = 0;
  CHECK(Check(m) == nullptr);
  m.length = 4;
  CHECK(Check(m) != nullptr);
  m.type = KEEL_WIRE_READ;
  m.length = 0;
  m.size = 4096;
  CHECK(Check(m) == nullptr);
  m.length = 4096;  // READ carries no payload
  CHECK(Check(m) != nullptr);
}

TEST_CASE("wire: transcripts differ by role, so a MAC cannot be reflected") {
  uint8_t ni[KEEL_WIRE_NONCE_LEN], nt[KEEL_WIRE_NONCE_LEN], uuid[KEEL_UUID_LEN];
  std::memset(ni, 1, sizeof(ni));
  std::memset(nt, 2, sizeof(nt));
  std::memset(uuid, 3, sizeof(uuid));
  keel_wire_transcript t{}, i{};
  keel_wire_make_transcript(&t, true, ni, nt, uuid, 5, 6);
  keel_wire_make_transcript(&i, false, ni, nt, uuid, 5, 6);
  CHECK(std::memcmp(&t, &i, sizeof(t)) != 0);
  CHECK(std::strcmp(t.label, "keel-target-v1") == 0);
  CHECK(std::strcmp(i.label, "keel-initiator-v1") == 0);
  const auto* b = reinterpret_cast<const uint8_t*>(&t);
  CHECK(b[32] == 1);   // nonce_i
  CHECK(b[64] == 2);   // nonce_t
  CHECK(b[96] == 3);   // uuid
  CHECK(b[112] == 5);  // epoch_i, little-endian
  CHECK(b[120] == 6);  // epoch_t
  CHECK(std::strcmp(keel_wire_type_str(KEEL_WIRE_ACK), "ACK") == 0);
  CHECK(std::strcmp(keel_wire_type_str(200), "unknown") == 0);
}
