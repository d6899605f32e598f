// A test ApiClient: replies from a script, requests recorded.  A call
// beyond the script fails the test (and gets an internal error).
#pragma once

#include <doctest/doctest.h>

#include <cerrno>
#include <deque>
#include <string>
#include <vector>

#include "manager/api/api_client.h"

namespace keel {

class ScriptedApiClient : public ApiClient {
 public:
  struct Call {
    std::string command;
    nlohmann::json args;
  };
  std::vector<Call> calls;
  std::deque<Result<nlohmann::json>> replies;

  // Queues {"ok":true,"result":result}.
  void ReplyOk(const nlohmann::json& result) {
    replies.push_back(nlohmann::json{{"api", 1}, {"ok", true}, {"result", result}});
  }
  // Queues {"ok":false,"error":{"code","message"}}.
  void ReplyError(const std::string& code, const std::string& message) {
    replies.push_back(nlohmann::json{
        {"api", 1}, {"ok", false}, {"error", {{"code", code}, {"message", message}}}});
  }
  // Queues a transport failure.
  void Fail(int code, const std::string& message) {
    replies.push_back(Status::Error(code, message));
  }

  Result<nlohmann::json> Call(const std::string& command, const nlohmann::json& args) override {
    calls.push_back({command, args});
    if (replies.empty()) {
      FAIL_CHECK("unexpected call " << command << " " << args.dump());
      return Status::Error(EPROTO, "unscripted call");
    }
    Result<nlohmann::json> r = replies.front();
    replies.pop_front();
    return r;
  }
};

}  // namespace keel
