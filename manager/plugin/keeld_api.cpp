#include "manager/plugin/keeld_api.h"

#include <cerrno>

namespace keel::plugin {

int ErrnoForApiCode(const std::string& code) {
  if (code == "not_found") return ENOENT;
  if (code == "already_exists") return EEXIST;
  if (code == "busy") return EBUSY;
  if (code == "try_again" || code == "server_busy") return EAGAIN;
  if (code == "insufficient_capacity") return ENOSPC;
  if (code == "permission_denied") return EPERM;
  if (code == "timeout" || code == "kernel_timeout") return ETIMEDOUT;
  if (code == "invalid_argument" || code == "invalid_request" || code == "invalid_json" ||
      code == "unknown_field" || code == "missing_field" || code == "wrong_type" ||
      code == "unknown_command" || code == "unsupported_api" || code == "request_too_large") {
    return EINVAL;
  }
  return EIO;
}

Result<nlohmann::json> KeeldApi::Call(const std::string& command, const nlohmann::json& args) {
  auto reply = client_->Call(command, args);
  if (!reply.ok()) return reply.status();
  // ApiClient checked the shape: {"ok":true,"result":...} or
  // {"ok":false,"error":{"code","message"}}.
  const nlohmann::json& r = *reply;
  if (r.value("ok", false)) {
    return r.contains("result") ? r["result"] : nlohmann::json::object();
  }
  const nlohmann::json& e = r["error"];
  std::string code = e.value("code", "internal");
  std::string message = e.value("message", "");
  if (message.empty()) message = command + " failed (" + code + ")";
  return Status::Error(ErrnoForApiCode(code), message);
}

}  // namespace keel::plugin
