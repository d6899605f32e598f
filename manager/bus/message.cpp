#include "manager/bus/message.h"

#include <cerrno>
#include <initializer_list>

#include "manager/common/json_depth.h"
#include "manager/config/config.h"

namespace keel::bus {
namespace {

// Longest error message carried in an error reply; longer ones are cut by
// the sender (they are for people, and a huge one is a bug).
constexpr size_t kMaxErrorMessage = 4096;

bool HasMethod(MessageType t) { return t == MessageType::kRequest || t == MessageType::kNotify; }
bool HasBody(MessageType t) { return t != MessageType::kError; }

// Field values, shared by the sender (SerializeMessage) and the receiver.
Status CheckValues(const Message& m) {
  if (m.id == 0) return Status::Error(EINVAL, "field 'id' must not be 0");
  Status s = ValidateName("field 'from'", m.from);
  if (!s.ok()) return s;
  if (HasMethod(m.type)) {
    s = ValidateMethod(m.method);
    if (!s.ok()) return s;
  }
  if (HasBody(m.type) && !m.body.is_object()) {
    return Status::Error(EINVAL, "field 'body' must be an object");
  }
  if (m.type == MessageType::kError) {
    if (m.error_code <= 0 || m.error_code > 4095) {
      return Status::Error(EINVAL, "error code " + std::to_string(m.error_code) +
                                       " is not an errno value (1..4095)");
    }
    if (m.error_message.size() > kMaxErrorMessage) {
      return Status::Error(
          EINVAL, "error message longer than " + std::to_string(kMaxErrorMessage) + " bytes");
    }
  }
  return Status();
}

Result<Message> Fail(DropReason reason, std::string detail, DropReason* out) {
  if (out) *out = reason;
  int code = reason == DropReason::kTooLarge ? EMSGSIZE : EPROTO;
  return Status::Error(code, std::string(DropReasonName(reason)) + ": " + detail);
}

bool IsInteger(const Json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

bool ParseType(const std::string& name, MessageType* type) {
  for (MessageType t :
       {MessageType::kRequest, MessageType::kReply, MessageType::kError, MessageType::kNotify}) {
    if (name == MessageTypeName(t)) {
      *type = t;
      return true;
    }
  }
  return false;
}

}  // namespace

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kRequest:
      return "request";
    case MessageType::kReply:
      return "reply";
    case MessageType::kError:
      return "error";
    case MessageType::kNotify:
      return "notify";
  }
  return "?";
}

const char* DropReasonName(DropReason reason) {
  switch (reason) {
    case DropReason::kTooLarge:
      return "too_large";
    case DropReason::kTooDeep:
      return "too_deep";
    case DropReason::kBadJson:
      return "bad_json";
    case DropReason::kNotObject:
      return "not_object";
    case DropReason::kBadVersion:
      return "bad_version";
    case DropReason::kMissingField:
      return "missing_field";
    case DropReason::kBadField:
      return "bad_field";
    case DropReason::kUnknownField:
      return "unknown_field";
    case DropReason::kUnknownType:
      return "unknown_type";
    case DropReason::kBadFrames:
      return "bad_frames";
    case DropReason::kFromMismatch:
      return "from_mismatch";
    case DropReason::kUnexpectedType:
      return "unexpected_type";
    case DropReason::kUnexpectedReply:
      return "unexpected_reply";
    case DropReason::kUnknownMethod:
      return "unknown_method";
    case DropReason::kOverloaded:
      return "overloaded";
    case DropReason::kUnauthenticated:
      return "unauthenticated";
  }
  return "?";
}

Status ValidateMethod(std::string_view method) {
  if (method.empty()) return Status::Error(EINVAL, "method name must not be empty");
  if (method.size() > kMaxMethodLength) {
    return Status::Error(
        EINVAL, "method name longer than " + std::to_string(kMaxMethodLength) + " characters");
  }
  if (!(method[0] >= 'a' && method[0] <= 'z')) {
    return Status::Error(EINVAL, "method name must start with a lower-case letter");
  }
  for (char c : method) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) {
      return Status::Error(EINVAL, "method name may only use a-z, 0-9, '_', '.' and '-'");
    }
  }
  return Status();
}

Result<std::string> SerializeMessage(const Message& m, size_t max_bytes) {
  Status s = CheckValues(m);
  if (!s.ok()) return s;
  Json j = {{"v", kBusVersion}, {"id", m.id}, {"type", MessageTypeName(m.type)}, {"from", m.from}};
  if (HasMethod(m.type)) j["method"] = m.method;
  if (HasBody(m.type)) j["body"] = m.body;
  if (m.type == MessageType::kError) {
    j["error"] = {{"code", m.error_code}, {"message", m.error_message}};
  }
  std::string text;
  try {
    text = j.dump();
  } catch (const Json::exception& e) {
    // Strings that are not UTF-8: the receiver's parser would refuse them.
    return Status::Error(EINVAL, std::string("message cannot be encoded: ") + e.what());
  }
  if (text.size() > max_bytes) {
    return Status::Error(EMSGSIZE, "message is " + std::to_string(text.size()) +
                                       " bytes; the bus carries at most " +
                                       std::to_string(max_bytes));
  }
  return text;
}

Result<Message> ParseMessage(std::string_view bytes, DropReason* reason, size_t max_bytes) {
  if (bytes.size() > max_bytes) {
    return Fail(DropReason::kTooLarge, std::to_string(bytes.size()) + " bytes", reason);
  }
  if (JsonDepth(bytes, kMaxJsonDepth) > kMaxJsonDepth) {
    return Fail(DropReason::kTooDeep, "nests deeper than " + std::to_string(kMaxJsonDepth), reason);
  }
  Json j = Json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(DropReason::kBadJson, "not valid JSON", reason);
  if (!j.is_object()) return Fail(DropReason::kNotObject, "not a JSON object", reason);

  // The version first: another version may have other fields entirely.
  auto v = j.find("v");
  if (v == j.end()) return Fail(DropReason::kMissingField, "no 'v'", reason);
  if (!IsInteger(*v)) return Fail(DropReason::kBadField, "'v' is not an integer", reason);
  if (!(v->is_number_unsigned() && v->get<uint64_t>() == kBusVersion)) {
    return Fail(DropReason::kBadVersion, "version " + v->dump(), reason);
  }

  Message m;
  auto type = j.find("type");
  if (type == j.end()) return Fail(DropReason::kMissingField, "no 'type'", reason);
  if (!type->is_string()) return Fail(DropReason::kBadField, "'type' is not a string", reason);
  if (!ParseType(type->get<std::string>(), &m.type)) {
    return Fail(DropReason::kUnknownType, "type " + type->dump(), reason);
  }

  for (const auto& [key, value] : j.items()) {
    (void)value;
    bool known = key == "v" || key == "id" || key == "type" || key == "from" ||
                 (key == "method" && HasMethod(m.type)) || (key == "body" && HasBody(m.type)) ||
                 (key == "error" && m.type == MessageType::kError);
    if (!known) {
      return Fail(DropReason::kUnknownField,
                  "field '" + key.substr(0, 64) + "' in a " + MessageTypeName(m.type), reason);
    }
  }

  auto id = j.find("id");
  if (id == j.end()) return Fail(DropReason::kMissingField, "no 'id'", reason);
  // nlohmann stores every non-negative integer as unsigned.
  if (!id->is_number_unsigned()) {
    return Fail(DropReason::kBadField, "'id' is not an unsigned integer", reason);
  }
  m.id = id->get<uint64_t>();

  auto from = j.find("from");
  if (from == j.end()) return Fail(DropReason::kMissingField, "no 'from'", reason);
  if (!from->is_string()) return Fail(DropReason::kBadField, "'from' is not a string", reason);
  m.from = from->get<std::string>();

  if (HasMethod(m.type)) {
    auto method = j.find("method");
    if (method == j.end()) return Fail(DropReason::kMissingField, "no 'method'", reason);
    if (!method->is_string()) {
      return Fail(DropReason::kBadField, "'method' is not a string", reason);
    }
    m.method = method->get<std::string>();
  }
  if (HasBody(m.type)) {
    auto body = j.find("body");
    if (body == j.end()) return Fail(DropReason::kMissingField, "no 'body'", reason);
    m.body = std::move(*body);
  }
  if (m.type == MessageType::kError) {
    auto error = j.find("error");
    if (error == j.end()) return Fail(DropReason::kMissingField, "no 'error'", reason);
    if (!error->is_object()) {
      return Fail(DropReason::kBadField, "'error' is not an object", reason);
    }
    for (const auto& [key, value] : error->items()) {
      (void)value;
      if (key != "code" && key != "message") {
        return Fail(DropReason::kUnknownField, "field 'error." + key.substr(0, 64) + "'", reason);
      }
    }
    auto code = error->find("code");
    auto message = error->find("message");
    if (code == error->end() || message == error->end()) {
      return Fail(DropReason::kMissingField, "'error' needs 'code' and 'message'", reason);
    }
    if (!code->is_number_unsigned() || code->get<uint64_t>() > 4095) {
      return Fail(DropReason::kBadField, "'error.code' is not an errno value", reason);
    }
    if (!message->is_string()) {
      return Fail(DropReason::kBadField, "'error.message' is not a string", reason);
    }
    m.error_code = static_cast<int>(code->get<uint64_t>());
    m.error_message = message->get<std::string>();
  }

  Status s = CheckValues(m);
  if (!s.ok()) return Fail(DropReason::kBadField, s.message(), reason);
  return m;
}

}  // namespace keel::bus
