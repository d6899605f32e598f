// CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, initial value ~0,
// final xor ~0, as iSCSI, ext4 and the kernel's crc32c() + ~ use it.  Keel's
// on-disk superblock is protected by it (struct keel_meta_sb.crc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace keel {

// The CRC-32C of data[0..n).  Crc32c("123456789", 9) == 0xE3069283.
uint32_t Crc32c(const void* data, size_t n);

// The CRC-32C of A followed by data[0..n), given crc == Crc32c(A).
// Crc32cExtend(0, data, n) == Crc32c(data, n).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

}  // namespace keel
