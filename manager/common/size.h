// Sizes as people write them ("10G", "512M", "4096") and as we print them
// ("10 GiB").  Suffixes are binary (K = 1024); an optional "i"/"iB"/"B" is
// accepted ("10GiB", "10GB" mean the same).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "manager/common/status.h"

namespace keel {

// Parses a size; refuses empty input, negative numbers, unknown suffixes,
// fractions that are not a whole number of bytes, and overflow of 64 bits.
Result<uint64_t> ParseSize(std::string_view text);

// Formats with the largest binary unit that keeps at most one decimal:
// 0 -> "0 B", 1536 -> "1.5 KiB", 10737418240 -> "10 GiB".
std::string FormatSize(uint64_t bytes);

}  // namespace keel
