// Unit tests of keel.ko's pure logic (keel_meta.c, keel_hist.h), compiled
// in user space.
extern "C" {
#include "keel_meta.h"

#include "keel_hist.h"
}

#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <vector>

#include "manager/common/crc32c.h"

namespace {

keel_meta Sample(uint64_t size = 1ULL << 30, uint32_t bs = 512) {
  keel_meta m{};
  m.size = size;
  m.block_size = bs;
  for (int i = 0; i < KEEL_UUID_LEN; ++i) m.uuid[i] = static_cast<uint8_t>(i + 1);
  m.epoch = 7;
  m.created_sec = 1700000000;
  REQUIRE(keel_meta_layout(&m) == 0);
  return m;
}

}  // namespace

TEST_CASE("meta layout: 1 GiB volume") {
  keel_meta m = Sample();
  CHECK(m.granularity == 65536);
  CHECK(m.bitmap_offset == 4096);
  CHECK(m.bitmap_bytes == 4096);  // 16384 bits = 2 KiB, rounded to 4 KiB
  CHECK(m.max_peers == KEEL_META_MAX_PEERS);
  CHECK(m.data_offset == (1u << 20));
  CHECK(keel_meta_backing_bytes(&m) == (1ULL << 30) + (1u << 20));
}

TEST_CASE("meta layout: largest volume keeps the bitmaps before the data") {
  keel_meta m = Sample(KEEL_MAX_VOLUME_SIZE, 4096);
  CHECK(m.bitmap_bytes == (1ULL << 31));  // 2^34 bits
  CHECK(m.data_offset % KEEL_META_ALIGN == 0);
  CHECK(m.data_offset >= m.bitmap_offset + uint64_t(m.bitmap_bytes) * m.max_peers);
}

TEST_CASE("meta layout: bad sizes are refused") {
  keel_meta m{};
  m.block_size = 512;
  for (uint64_t size :
       {uint64_t{0}, uint64_t{511}, uint64_t{4097}, uint64_t{KEEL_MAX_VOLUME_SIZE + 512}}) {
    m.size = size;
    CHECK(keel_meta_layout(&m) == -EINVAL);
  }
  m.size = 1 << 20;
  for (uint32_t bs : {0u, 1u, 1024u, 8192u}) {
    m.block_size = bs;
    CHECK(keel_meta_layout(&m) == -EINVAL);
  }
  m.block_size = 4096;
  m.size = 4096 * 3;
  CHECK(keel_meta_layout(&m) == 0);
}

TEST_CASE("meta encode/decode round-trips; bytes on disk are little-endian") {
  keel_meta m = Sample();
  m.flags = KEEL_META_F_OPEN;
  std::vector<uint8_t> block(KEEL_META_BLOCK, 0xAA);
  keel_meta_encode(&m, block.data());
  CHECK(std::memcmp(block.data(), "KEEL", 4) == 0);
  CHECK(block[4] == KEEL_META_VERSION);
  CHECK(block[sizeof(keel_meta_sb)] == 0);  // zero padding after the superblock
  CHECK(block[KEEL_META_BLOCK - 1] == 0);

  // The stored checksum is standard CRC-32C of the bytes before it.
  uint32_t stored;
  std::memcpy(&stored, block.data() + offsetof(keel_meta_sb, crc), 4);
  CHECK(stored == keel::Crc32c(block.data(), offsetof(keel_meta_sb, crc)));

  keel_meta back{};
  REQUIRE(keel_meta_decode(block.data(), &back) == KEEL_META_VALID);
  CHECK(std::memcmp(&back, &m, sizeof(m)) == 0);
}

TEST_CASE("meta decode: empty, foreign, corrupt, too new") {
  std::vector<uint8_t> block(KEEL_META_BLOCK, 0);
  keel_meta out{};
  CHECK(keel_meta_decode(block.data(), &out) == KEEL_META_EMPTY);

  block[100] = 1;  // someone's data, no magic
  CHECK(keel_meta_decode(block.data(), &out) == KEEL_META_FOREIGN);

  std::mt19937 rng(42);
  for (auto& b : block) b = static_cast<uint8_t>(rng());
  CHECK(keel_meta_decode(block.data(), &out) == KEEL_META_FOREIGN);

  keel_meta m = Sample();
  keel_meta_encode(&m, block.data());
  // Every single-bit flip inside the checksummed bytes is caught.
  for (size_t byte = 4; byte < offsetof(keel_meta_sb, crc); byte += 7) {
    std::vector<uint8_t> bad = block;
    bad[byte] ^= 0x10;
    INFO("flipped byte " << byte);
    CHECK(keel_meta_decode(bad.data(), &out) != KEEL_META_VALID);
  }

  // A newer format version, even with a good checksum, is not guessed at.
  auto* sb = reinterpret_cast<keel_meta_sb*>(block.data());
  sb->version = KEEL_META_VERSION + 1;
  sb->crc = keel::Crc32c(block.data(), offsetof(keel_meta_sb, crc));
  CHECK(keel_meta_decode(block.data(), &out) == KEEL_META_TOO_NEW);

  // A layout that does not match the size is corrupt, checksum or not.
  keel_meta_encode(&m, block.data());
  sb->data_offset = 4096;
  sb->crc = keel::Crc32c(block.data(), offsetof(keel_meta_sb, crc));
  CHECK(keel_meta_decode(block.data(), &out) == KEEL_META_CORRUPT);
}

TEST_CASE("superblock is 256 bytes with the checksum last") {
  CHECK(sizeof(keel_meta_sb) == 256);
  CHECK(offsetof(keel_meta_sb, crc) == 252);
  CHECK(offsetof(keel_meta_sb, uuid) == 16);
}

TEST_CASE("latency buckets: bucket i holds latencies below 2^(i+1) us") {
  CHECK(keel_lat_bucket(0) == 0);
  CHECK(keel_lat_bucket(1) == 0);
  CHECK(keel_lat_bucket(2) == 1);
  CHECK(keel_lat_bucket(3) == 1);
  CHECK(keel_lat_bucket(4) == 2);
  CHECK(keel_lat_bucket(1023) == 9);
  CHECK(keel_lat_bucket(1024) == 10);
  CHECK(keel_lat_bucket(1ULL << 40) == KEEL_LAT_BUCKETS - 1);
  for (uint64_t us = 1; us < (1u << 20); us = us * 3 + 1) {
    unsigned b = keel_lat_bucket(us);
    CHECK(us < (2ULL << b));
    if (b > 0) CHECK(us >= (1ULL << b));
  }
}
