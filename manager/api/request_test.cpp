#include "manager/api/request.h"

#include <doctest/doctest.h>

#include <cerrno>

#include "manager/common/json_depth.h"

namespace keel {
namespace {

std::string Code(std::string_view text) {
  auto r = ParseRequest(text);
  if (auto* e = std::get_if<ApiError>(&r)) return e->code;
  return "ok";
}

}  // namespace

TEST_CASE("request: well-formed requests parse") {
  auto r = ParseRequest(R"({"api":1,"command":"volume.create","args":{"name":"db","size":"10G",)"
                        R"("block_size":512,"labels":{"tier":"gold"}}})");
  REQUIRE(std::holds_alternative<Request>(r));
  const Request& q = std::get<Request>(r);
  CHECK(q.command == Command::kVolumeCreate);
  CHECK(q.name == "db");
  CHECK(q.size == 10ULL << 30);
  CHECK(q.block_size == 512);
  CHECK(q.labels.at("tier") == "gold");
  auto d = ParseRequest(R"({"api":1,"command":"volume.delete","args":{"name":"db","force":true}})");
  CHECK(std::get<Request>(d).force);
  CHECK(Code(R"({"api":1,"command":"volume.list"})") == "ok");
  CHECK(Code(R"({"command":"node.info","api":1,"args":{}})") == "ok");
  CHECK(std::get<Request>(
            ParseRequest(R"({"api":1,"command":"volume.create","args":{"name":"a","size":8192}})"))
            .size == 8192);
}

TEST_CASE("request: every kind of bad input has its own code") {
  CHECK(Code("") == "invalid_json");
  CHECK(Code("{") == "invalid_json");
  CHECK(Code("not json") == "invalid_json");
  CHECK(Code("[1]") == "invalid_request");
  CHECK(Code("\"str\"") == "invalid_request");
  CHECK(Code(R"({"command":"volume.list"})") == "missing_field");
  CHECK(Code(R"({"api":"1","command":"volume.list"})") == "wrong_type");
  CHECK(Code(R"({"api":2,"command":"volume.list"})") == "unsupported_api");
  CHECK(Code(R"({"api":1})") == "missing_field");
  CHECK(Code(R"({"api":1,"command":7})") == "wrong_type");
  CHECK(Code(R"({"api":1,"command":"volume.explode"})") == "unknown_command");
  CHECK(Code(R"({"api":1,"command":"volume.list","extra":1})") == "unknown_field");
  CHECK(Code(R"({"api":1,"command":"volume.list","args":[]})") == "wrong_type");
  CHECK(Code(R"({"api":1,"command":"volume.list","args":{"name":"x"}})") == "unknown_field");
  CHECK(Code(R"({"api":1,"command":"volume.attach","args":{}})") == "missing_field");
  CHECK(Code(R"({"api":1,"command":"volume.attach","args":{"name":5}})") == "wrong_type");
  CHECK(Code(R"({"api":1,"command":"volume.attach","args":{"name":"a/b"}})") == "invalid_argument");
  CHECK(Code(R"({"api":1,"command":"volume.attach","args":{"name":")" + std::string(300, 'x') +
             R"("}})") == "invalid_argument");
  CHECK(Code(R"({"api":1,"command":"volume.attach","args":{"name":""}})") == "invalid_argument");
  CHECK(Code(R"({"api":1,"command":"volume.detach","args":{"name":"a","force":"yes"}})") ==
        "wrong_type");
}

TEST_CASE("request: sizes") {
  auto create = [](const std::string& size) {
    return Code(R"({"api":1,"command":"volume.create","args":{"name":"a","size":)" + size + "}}");
  };
  CHECK(create("\"512M\"") == "ok");
  CHECK(create("0") == "invalid_argument");
  CHECK(create("\"0\"") == "invalid_argument");
  CHECK(create("-1") == "invalid_argument");
  CHECK(create("\"-1G\"") == "invalid_argument");
  CHECK(create("\"lots\"") == "invalid_argument");
  CHECK(create("1.5") == "wrong_type");
  CHECK(create("null") == "wrong_type");
  CHECK(create("\"1000\"") == "invalid_argument");  // not a multiple of 4096
  CHECK(create("\"99999999999999999999999G\"") == "invalid_argument");
  CHECK(
      Code(
          R"({"api":1,"command":"volume.create","args":{"name":"a","size":"1M","block_size":1024}})") ==
      "invalid_argument");
  CHECK(
      Code(
          R"({"api":1,"command":"volume.create","args":{"name":"a","size":"1M","labels":{"k":1}}})") ==
      "wrong_type");
  CHECK(
      Code(
          R"({"api":1,"command":"volume.create","args":{"name":"a","size":"1M","labels":{"a b":"c"}}})") ==
      "invalid_argument");
}

TEST_CASE("request: deep nesting is refused before parsing") {
  std::string deep = R"({"api":1,"command":"volume.list","args":{"x":)" + std::string(100000, '[') +
                     std::string(100000, ']') + "}}";
  auto r = ParseRequest(deep);
  REQUIRE(std::holds_alternative<ApiError>(r));
  CHECK(std::get<ApiError>(r).code == "invalid_json");
  CHECK(JsonDepth(R"({"a":"[[[[[[["})", 3) == 1);
  CHECK(JsonDepth(R"({"a":"\"[[[[["})", 3) == 1);
}

TEST_CASE("request: replies and error codes") {
  CHECK(OkReply({{"x", 1}}) == R"({"api":1,"ok":true,"result":{"x":1}})");
  ApiError e = ErrorFromStatus(Status::Error(ENOENT, "volume 'a' does not exist"));
  CHECK(e.code == "not_found");
  CHECK(
      ErrorReply(e) ==
      R"({"api":1,"error":{"code":"not_found","errno":"ENOENT","message":"volume 'a' does not exist"},"ok":false})");
  CHECK(ErrorFromStatus(Status::Error(EEXIST, "")).code == "already_exists");
  CHECK(ErrorFromStatus(Status::Error(ENOSPC, "")).code == "insufficient_capacity");
  CHECK(ErrorFromStatus(Status::Error(EBUSY, "")).code == "busy");
  CHECK(ErrorFromStatus(Status::Error(EAGAIN, "")).code == "try_again");
  CHECK(ErrorFromStatus(Status::Error(EIO, "")).code == "internal");
  // Invalid UTF-8 in a message never breaks the reply.
  CHECK(ErrorReply({"x", std::string("bad \xff byte"), 0}).find("bad") != std::string::npos);
}

}  // namespace keel
