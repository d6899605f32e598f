#include "manager/bus/message.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <set>
#include <string>

namespace keel::bus {
namespace {

Message Request() {
  Message m;
  m.id = 42;
  m.type = MessageType::kRequest;
  m.from = "node-a";
  m.method = "volume.create";
  m.body = {{"name", "db"}, {"size", 1024}};
  return m;
}

// Parses `text` expecting a drop for `want`.
void ExpectDrop(const std::string& text, DropReason want) {
  CAPTURE(text);
  DropReason reason{};
  auto r = ParseMessage(text, &reason);
  REQUIRE_FALSE(r.ok());
  CHECK(DropReasonName(reason) == std::string(DropReasonName(want)));
  CHECK(!r.status().message().empty());
}

TEST_CASE("bus message: every type round-trips through serialize and parse") {
  Message req = Request();
  Message reply;
  reply.id = 42;
  reply.type = MessageType::kReply;
  reply.from = "node-b";
  reply.body = {{"ok", true}, {"nested", {{"list", {1, 2, 3}}}}};
  Message err;
  err.id = 42;
  err.type = MessageType::kError;
  err.from = "node-b";
  err.error_code = ENOENT;
  err.error_message = "no volume 'db'";
  Message notify;
  notify.id = UINT64_MAX;
  notify.type = MessageType::kNotify;
  notify.from = "node-a";
  notify.method = "heartbeat";
  for (const Message& m : {req, reply, err, notify}) {
    auto bytes = SerializeMessage(m);
    REQUIRE(bytes.ok());
    CAPTURE(*bytes);
    auto back = ParseMessage(*bytes);
    REQUIRE(back.ok());
    CHECK(back->id == m.id);
    CHECK(back->type == m.type);
    CHECK(back->from == m.from);
    CHECK(back->method == m.method);
    CHECK(back->body == m.body);
    CHECK(back->error_code == m.error_code);
    CHECK(back->error_message == m.error_message);
  }
  auto bytes = SerializeMessage(req);
  REQUIRE(bytes.ok());
  CHECK(Json::parse(*bytes) == Json::parse(R"({"v":1,"id":42,"type":"request","from":"node-a",
      "method":"volume.create","body":{"name":"db","size":1024}})"));
}

TEST_CASE("bus message: the sender refuses what the receiver would drop") {
  Message m = Request();
  m.id = 0;
  CHECK(SerializeMessage(m).status().code() == EINVAL);
  m = Request();
  m.from = "bad name";
  CHECK(SerializeMessage(m).status().code() == EINVAL);
  m = Request();
  m.method = "Upper";
  CHECK(SerializeMessage(m).status().code() == EINVAL);
  m = Request();
  m.body = Json::array();
  CHECK(SerializeMessage(m).status().code() == EINVAL);
  m = Request();
  m.body = {{"s", std::string("\xff\xfe")}};  // not UTF-8
  CHECK(SerializeMessage(m).status().code() == EINVAL);
  m = Request();
  m.body = {{"blob", std::string(kMaxMessageBytes, 'x')}};
  CHECK(SerializeMessage(m).status().code() == EMSGSIZE);
  m.type = MessageType::kError;
  m.error_code = 0;
  CHECK(SerializeMessage(m).status().code() == EINVAL);
}

TEST_CASE("bus message: method names") {
  CHECK(ValidateMethod("heartbeat").ok());
  CHECK(ValidateMethod("volume.create_v2-x").ok());
  CHECK_FALSE(ValidateMethod("").ok());
  CHECK_FALSE(ValidateMethod("9lives").ok());
  CHECK_FALSE(ValidateMethod("a b").ok());
  CHECK_FALSE(ValidateMethod(std::string(65, 'a')).ok());
  CHECK(ValidateMethod(std::string(64, 'a')).ok());
}

TEST_CASE("bus message: hostile input is dropped with the right reason") {
  const std::string ok_tail = R"(,"id":1,"type":"request","from":"a","method":"m","body":{}})";
  REQUIRE(ParseMessage(R"({"v":1)" + ok_tail).ok());

  ExpectDrop("", DropReason::kBadJson);
  ExpectDrop("not json", DropReason::kBadJson);
  ExpectDrop(std::string("\0\1\2\3", 4), DropReason::kBadJson);
  ExpectDrop(R"({"v":1,"id":1)", DropReason::kBadJson);  // truncated
  ExpectDrop(
      "{\"v\":1,\"id\":1,\"type\":\"request\",\"from\":\"a\",\"method\":\"m\",\"body\":"
      "{\"s\":\"\xc3\x28\"}}",
      DropReason::kBadJson);  // invalid UTF-8
  ExpectDrop(std::string(100000, '['), DropReason::kTooDeep);
  ExpectDrop(R"({"v":1,"id":1,"type":"request","from":"a","method":"m","body":)" +
                 std::string(40, '[') + std::string(40, ']') + "}",
             DropReason::kTooDeep);
  ExpectDrop(std::string(kMaxMessageBytes + 1, ' '), DropReason::kTooLarge);
  ExpectDrop("[1,2]", DropReason::kNotObject);
  ExpectDrop("\"str\"", DropReason::kNotObject);
  ExpectDrop("null", DropReason::kNotObject);

  ExpectDrop(R"({"id":1,"type":"request","from":"a","method":"m","body":{}})",
             DropReason::kMissingField);
  ExpectDrop(R"({"v":2)" + ok_tail, DropReason::kBadVersion);
  ExpectDrop(R"({"v":0)" + ok_tail, DropReason::kBadVersion);
  ExpectDrop(R"({"v":-1)" + ok_tail, DropReason::kBadVersion);
  ExpectDrop(R"({"v":1.0)" + ok_tail, DropReason::kBadField);
  ExpectDrop(R"({"v":"1")" + ok_tail, DropReason::kBadField);
  ExpectDrop(R"({"v":true)" + ok_tail, DropReason::kBadField);

  ExpectDrop(R"({"v":1,"id":1,"from":"a","method":"m","body":{}})", DropReason::kMissingField);
  ExpectDrop(R"({"v":1,"id":1,"type":7,"from":"a","method":"m","body":{}})", DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1,"type":"shutdown","from":"a","method":"m","body":{}})",
             DropReason::kUnknownType);
  ExpectDrop(R"({"v":1,"id":1,"type":"request","from":"a","method":"m","body":{},"x":1})",
             DropReason::kUnknownField);
  // A field that belongs to another type is unknown here.
  ExpectDrop(R"({"v":1,"id":1,"type":"reply","from":"a","method":"m","body":{}})",
             DropReason::kUnknownField);
  ExpectDrop(R"({"v":1,"id":1,"type":"notify","from":"a","method":"m","body":{},"error":{}})",
             DropReason::kUnknownField);

  ExpectDrop(R"({"v":1,"type":"request","from":"a","method":"m","body":{}})",
             DropReason::kMissingField);
  ExpectDrop(R"({"v":1,"id":0,"type":"request","from":"a","method":"m","body":{}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":-5,"type":"request","from":"a","method":"m","body":{}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1.5,"type":"request","from":"a","method":"m","body":{}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":"1","type":"request","from":"a","method":"m","body":{}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":18446744073709551616,"type":"request","from":"a","method":"m",
                "body":{}})",
             DropReason::kBadField);  // 2^64 parses as a float

  ExpectDrop(R"({"v":1,"id":1,"type":"request","method":"m","body":{}})",
             DropReason::kMissingField);
  ExpectDrop(R"({"v":1,"id":1,"type":"request","from":5,"method":"m","body":{}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1,"type":"request","from":"","method":"m","body":{}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1,"type":"request","from":"a/../b","method":"m","body":{}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1,"type":"request","from":"a","body":{}})", DropReason::kMissingField);
  ExpectDrop(R"({"v":1,"id":1,"type":"request","from":"a","method":["m"],"body":{}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1,"type":"request","from":"a","method":"M!","body":{}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1,"type":"request","from":"a","method":"m"})",
             DropReason::kMissingField);
  ExpectDrop(R"({"v":1,"id":1,"type":"request","from":"a","method":"m","body":[]})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1,"type":"reply","from":"a","body":null})", DropReason::kBadField);

  ExpectDrop(R"({"v":1,"id":1,"type":"error","from":"a"})", DropReason::kMissingField);
  ExpectDrop(R"({"v":1,"id":1,"type":"error","from":"a","error":"boom"})", DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1,"type":"error","from":"a","error":{"code":2}})",
             DropReason::kMissingField);
  ExpectDrop(R"({"v":1,"id":1,"type":"error","from":"a","error":{"code":0,"message":""}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1,"type":"error","from":"a","error":{"code":-2,"message":""}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1,"type":"error","from":"a","error":{"code":99999,"message":""}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1,"type":"error","from":"a","error":{"code":2,"message":3}})",
             DropReason::kBadField);
  ExpectDrop(R"({"v":1,"id":1,"type":"error","from":"a","error":{"code":2,"message":"",
                "trace":"x"}})",
             DropReason::kUnknownField);
}

TEST_CASE("bus message: a smaller size limit is honoured") {
  std::string text = R"({"v":1,"id":1,"type":"notify","from":"a","method":"m","body":{}})";
  DropReason reason{};
  CHECK(ParseMessage(text, &reason, text.size()).ok());
  auto r = ParseMessage(text, &reason, text.size() - 1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == EMSGSIZE);
  CHECK(reason == DropReason::kTooLarge);
}

TEST_CASE("bus message: every drop reason has a distinct name") {
  std::set<std::string> names;
  for (size_t i = 0; i < kDropReasonCount; i++) {
    std::string name = DropReasonName(static_cast<DropReason>(i));
    CHECK(name != "?");
    names.insert(name);
  }
  CHECK(names.size() == kDropReasonCount);
}

}  // namespace
}  // namespace keel::bus
