#include "manager/plugin/keeld_api.h"

#include <doctest/doctest.h>

namespace keel::plugin {
namespace {

// Answers every call with `reply` and remembers what was asked.
class OneReply : public ApiClient {
 public:
  Result<nlohmann::json> Call(const std::string& command, const nlohmann::json& args) override {
    asked = command + " " + args.dump();
    return reply;
  }
  Result<nlohmann::json> reply = nlohmann::json::object();
  std::string asked;
};

TEST_CASE("keeld api: the result, keeld's errors as errno values with its message") {
  OneReply client;
  KeeldApi api(&client);
  client.reply = nlohmann::json::parse(R"({"api":1,"ok":true,"result":{"device":"/dev/keel0"}})");
  auto r = api.Call("volume.attach", {{"name", "db"}});
  REQUIRE(r.ok());
  CHECK((*r)["device"] == "/dev/keel0");
  CHECK(client.asked == R"(volume.attach {"name":"db"})");

  client.reply = nlohmann::json::parse(
      R"({"api":1,"ok":false,"error":{"code":"not_found","message":"volume 'db' does not exist"}})");
  r = api.Call("volume.inspect", {{"name", "db"}});
  CHECK(r.status().code() == ENOENT);
  CHECK(r.status().message() == "volume 'db' does not exist");
  client.reply = nlohmann::json::parse(R"({"api":1,"ok":false,"error":{"code":"already_exists"}})");
  CHECK(api.Call("volume.create", {}).status().code() == EEXIST);
  CHECK(api.Call("volume.create", {}).status().message() ==
        "volume.create failed (already_exists)");
  // No reply at all: the client's error as it is.
  client.reply = Status::Error(ECONNREFUSED, "keeld is not running");
  CHECK(api.Call("volume.list", {}).status().code() == ECONNREFUSED);
}

TEST_CASE("keeld api: error codes map to errno values") {
  CHECK(ErrnoForApiCode("busy") == EBUSY);
  CHECK(ErrnoForApiCode("try_again") == EAGAIN);
  CHECK(ErrnoForApiCode("insufficient_capacity") == ENOSPC);
  CHECK(ErrnoForApiCode("invalid_argument") == EINVAL);
  CHECK(ErrnoForApiCode("permission_denied") == EPERM);
  CHECK(ErrnoForApiCode("internal") == EIO);
  CHECK(ErrnoForApiCode("something new") == EIO);
}

}  // namespace
}  // namespace keel::plugin
