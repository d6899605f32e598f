#include "manager/common/status.h"

#include <doctest/doctest.h>

#include <cerrno>

namespace keel {

TEST_CASE("Status: ok and error") {
  CHECK(Status().ok());
  Status s = Status::Error(ENOENT, "volume 'db' not found");
  CHECK_FALSE(s.ok());
  CHECK(s.code() == ENOENT);
  CHECK(s.ToString() == "volume 'db' not found (ENOENT)");
}

TEST_CASE("Result: holds a value or a status") {
  Result<int> good = 42;
  REQUIRE(good.ok());
  CHECK(*good == 42);
  Result<int> bad = Status::Error(EINVAL, "bad size");
  CHECK_FALSE(bad.ok());
  CHECK(bad.status().code() == EINVAL);
  CHECK(good.status().ok());
}

}  // namespace keel
