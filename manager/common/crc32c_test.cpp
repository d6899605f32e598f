#include "manager/common/crc32c.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

namespace keel {

TEST_CASE("Crc32c: check value and empty input") {
  CHECK(Crc32c("123456789", 9) == 0xE3069283u);
  CHECK(Crc32c("", 0) == 0u);
  CHECK(Crc32c("a", 1) == 0xC1D04330u);
}

// The test vectors of RFC 3720 (iSCSI), appendix B.4.
TEST_CASE("Crc32c: RFC 3720 vectors") {
  uint8_t buf[32];
  memset(buf, 0, sizeof(buf));
  CHECK(Crc32c(buf, sizeof(buf)) == 0x8A9136AAu);
  memset(buf, 0xff, sizeof(buf));
  CHECK(Crc32c(buf, sizeof(buf)) == 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
  CHECK(Crc32c(buf, sizeof(buf)) == 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(31 - i);
  CHECK(Crc32c(buf, sizeof(buf)) == 0x113FDB5Cu);
}

TEST_CASE("Crc32c: extending equals one pass") {
  std::string s = "hello, replicated block device world";
  for (size_t split = 0; split <= s.size(); ++split) {
    uint32_t a = Crc32c(s.data(), split);
    CHECK(Crc32cExtend(a, s.data() + split, s.size() - split) == Crc32c(s.data(), s.size()));
  }
  CHECK(Crc32cExtend(0, "123456789", 9) == 0xE3069283u);
}

}  // namespace keel
