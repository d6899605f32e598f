#include "manager/common/json_depth.h"

#include <doctest/doctest.h>

#include <string>

namespace keel {

TEST_CASE("JsonDepth: brackets outside strings, counting stops past the limit") {
  CHECK(JsonDepth("", 8) == 0);
  CHECK(JsonDepth("42", 8) == 0);
  CHECK(JsonDepth(R"({"a":[1,{"b":[]}]})", 8) == 4);
  CHECK(JsonDepth(R"([[],[],[]])", 8) == 2);
  // Brackets in strings, also after escaped quotes and backslashes, do not count.
  CHECK(JsonDepth(R"({"a":"[[[[{{{{"})", 8) == 1);
  CHECK(JsonDepth(R"({"a":"\"[[[[["})", 8) == 1);
  CHECK(JsonDepth(R"({"a":"\\", "b":[[]]})", 8) == 3);
  // A million brackets: the count stops at limit + 1.
  CHECK(JsonDepth(std::string(1000000, '['), 32) == 33);
  // Unbalanced closers never make the result negative; the parser refuses
  // such text afterwards.
  CHECK(JsonDepth("]]]{", 8) == 0);
}

}  // namespace keel
