#include "manager/common/size.h"

#include <doctest/doctest.h>

#include <cerrno>

namespace keel {

TEST_CASE("ParseSize: plain numbers and binary units") {
  CHECK(*ParseSize("0") == 0);
  CHECK(*ParseSize("4096") == 4096);
  CHECK(*ParseSize("4096B") == 4096);
  CHECK(*ParseSize("1K") == 1024);
  CHECK(*ParseSize("512M") == 512ULL << 20);
  CHECK(*ParseSize("10G") == 10ULL << 30);
  CHECK(*ParseSize("10GiB") == 10ULL << 30);
  CHECK(*ParseSize("10GB") == 10ULL << 30);
  CHECK(*ParseSize("10g") == 10ULL << 30);
  CHECK(*ParseSize("2T") == 2ULL << 40);
  CHECK(*ParseSize("15E") == 15ULL << 60);
}

TEST_CASE("ParseSize: exact fractions") {
  CHECK(*ParseSize("1.5K") == 1536);
  CHECK(*ParseSize("1.5T") == 3ULL << 39);
  CHECK(*ParseSize("0.5M") == 512ULL << 10);
  CHECK_FALSE(ParseSize("1.1K").ok());  // 1126.4 bytes
  CHECK_FALSE(ParseSize("1.5").ok());   // half a byte
}

TEST_CASE("ParseSize: bad input gets a clear error") {
  for (const char* bad : {"", "G", "-1G", "10X", "10 G", "10GiBs", "1e9", "18446744073709551616",
                          "16E", "99999999999999999999K", "10BB", ".", "0x10"}) {
    auto r = ParseSize(bad);
    INFO("input: '" << bad << "'");
    CHECK_FALSE(r.ok());
    CHECK(r.status().code() == EINVAL);
    CHECK(r.status().message().find("invalid size") == 0);
  }
  CHECK(*ParseSize("18446744073709551615") == UINT64_MAX);
}

TEST_CASE("FormatSize: largest unit, at most one decimal") {
  CHECK(FormatSize(0) == "0 B");
  CHECK(FormatSize(1023) == "1023 B");
  CHECK(FormatSize(1024) == "1 KiB");
  CHECK(FormatSize(1536) == "1.5 KiB");
  CHECK(FormatSize(10ULL << 30) == "10 GiB");
  CHECK(FormatSize((1ULL << 20) - 1) == "1024 KiB");
  CHECK(FormatSize(UINT64_MAX) == "16 EiB");
}

TEST_CASE("FormatSize and ParseSize round-trip whole units") {
  for (uint64_t v : {1ULL << 10, 3ULL << 20, 7ULL << 30, 1ULL << 40}) {
    std::string s = FormatSize(v);
    s.erase(s.find(' '), 1);
    CHECK(*ParseSize(s) == v);
  }
}

}  // namespace keel
