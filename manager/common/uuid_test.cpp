#include "manager/common/uuid.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <set>

namespace keel {

TEST_CASE("Uuid: parse and print round-trip, lowercase") {
  auto u = Uuid::Parse("6F1C2A3B-4d5e-4F60-8a7b-9C0D1E2F3A4B");
  REQUIRE(u.ok());
  CHECK(u->ToString() == "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b");
  CHECK(u->bytes()[0] == 0x6f);
  CHECK(u->bytes()[15] == 0x4b);
  CHECK_FALSE(u->IsNil());
  CHECK(*Uuid::Parse(u->ToString()) == *u);
}

TEST_CASE("Uuid: nil") {
  CHECK(Uuid().IsNil());
  CHECK(Uuid().ToString() == "00000000-0000-0000-0000-000000000000");
  CHECK(Uuid::Parse("00000000-0000-0000-0000-000000000000")->IsNil());
}

TEST_CASE("Uuid: bad text gets a clear error") {
  for (const char* bad :
       {"", "6f1c2a3b", "6f1c2a3b4d5e4f608a7b9c0d1e2f3a4b", "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4",
        "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b0", "6f1c2a3b-4d5e-4f60-8a7b_9c0d1e2f3a4b",
        "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4g", "6f1c2a3-b4d5e-4f60-8a7b-9c0d1e2f3a4b",
        " 6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4", "{6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a}"}) {
    auto r = Uuid::Parse(bad);
    INFO("input: '" << bad << "'");
    CHECK_FALSE(r.ok());
    CHECK(r.status().code() == EINVAL);
    CHECK(r.status().message().find("invalid UUID") == 0);
  }
  CHECK(Uuid::Parse("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4g")
            .status()
            .message()
            .find("'g' at position 36") != std::string::npos);
}

TEST_CASE("Uuid: random is version 4, RFC 4122 variant, and differs") {
  std::set<Uuid> seen;
  for (int i = 0; i < 100; ++i) {
    auto u = Uuid::Random();
    REQUIRE(u.ok());
    CHECK((u->bytes()[6] >> 4) == 4);
    CHECK((u->bytes()[8] & 0xc0) == 0x80);
    CHECK(u->ToString()[14] == '4');
    CHECK_FALSE(u->IsNil());
    seen.insert(*u);
  }
  CHECK(seen.size() == 100);
}

}  // namespace keel
