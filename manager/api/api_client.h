// A client of keeld's local API (docs/api.md): one request, one reply.
// Commands talk to an ApiClient so that their tests can script the replies;
// SocketApiClient is the real one, over the UNIX socket.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "manager/common/status.h"

namespace keel {

inline constexpr char kDefaultSocket[] = "/run/keel/keeld.sock";

class ApiClient {
 public:
  virtual ~ApiClient() = default;
  // Sends {"api":1,"command":command,"args":args} (no "args" when it is
  // null or empty) and returns keeld's whole reply, checked to be either
  // {"ok":true,"result":{...}} or {"ok":false,"error":{"code":"...",
  // "message":"..."}}.  A failed Result means there was no usable reply; its
  // errno says why: ENOENT/ECONNREFUSED (keeld is not running), EACCES/EPERM
  // (not allowed to connect), ETIMEDOUT (no reply in time), ECONNRESET
  // (closed without a reply), EPROTO (a reply that is not the API's),
  // ENAMETOOLONG (the socket path).  The message says what to do.
  virtual Result<nlohmann::json> Call(const std::string& command, const nlohmann::json& args) = 0;
};

// The request line (JSON and a newline) for `command` and `args`.
std::string RequestLine(const std::string& command, const nlohmann::json& args);

// Checks the text keeld sent (up to its first newline) and returns the
// reply object; EPROTO when it is not one.
Result<nlohmann::json> ParseReply(const std::string& text);

class SocketApiClient : public ApiClient {
 public:
  SocketApiClient(std::string path, std::chrono::milliseconds timeout)
      : path_(std::move(path)), timeout_(timeout) {}
  Result<nlohmann::json> Call(const std::string& command, const nlohmann::json& args) override;

 private:
  std::string path_;
  std::chrono::milliseconds timeout_;
};

}  // namespace keel
