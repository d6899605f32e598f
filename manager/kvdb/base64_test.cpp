#include "manager/kvdb/base64.h"

#include <doctest/doctest.h>

#include <cerrno>

namespace keel {

TEST_CASE("kvdb base64: RFC 4648 test vectors both ways") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, encoded] : vectors) {
    CHECK(Base64Encode(plain) == encoded);
    auto d = Base64Decode(encoded);
    REQUIRE(d.ok());
    CHECK(*d == plain);
  }
}

TEST_CASE("kvdb base64: every byte value round-trips, including NUL and 0xff") {
  std::string all;
  for (int i = 0; i < 256; i++) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); n += 37) {
    std::string s = all.substr(0, n) + std::string(n % 3, '\xff');
    auto d = Base64Decode(Base64Encode(s));
    REQUIRE(d.ok());
    CHECK(*d == s);
  }
  CHECK(Base64Encode(std::string("\xfb\xff", 2)) == "+/8=");
}

TEST_CASE("kvdb base64: malformed input is refused with EINVAL") {
  for (const char* bad : {"Zg", "Zg=", "Zm9v!A==", "Z===", "=Zg=", "Zh==", "Zm9=Zm9v", "Zm-_"}) {
    auto d = Base64Decode(bad);
    CHECK_MESSAGE(d.status().code() == EINVAL, bad);
  }
}

}  // namespace keel
