// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for keel-wirepeer: the
// MACs of the replication handshake (docs/wire-protocol.md).  A plain,
// portable implementation; speed does not matter for a test tool.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace keel {

class Sha256 {
 public:
  static constexpr size_t kDigestSize = 32;
  static constexpr size_t kBlockSize = 64;
  using Digest = std::array<uint8_t, kDigestSize>;

  Sha256();
  void Update(const void* data, size_t n);
  // The digest of everything Update() was given; the object is then reset.
  Digest Final();

  static Digest Hash(const void* data, size_t n);

 private:
  void Reset();
  void Block(const uint8_t* p);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, kBlockSize> buf_;
  size_t buffered_ = 0;
  uint64_t total_ = 0;  // bytes
};

// HMAC-SHA256 of data[0..n) keyed with key[0..key_len) (any length).
Sha256::Digest HmacSha256(const void* key, size_t key_len, const void* data, size_t n);

// Compares two MACs in time independent of where they differ.
bool DigestEqual(const Sha256::Digest& a, const Sha256::Digest& b);

}  // namespace keel
