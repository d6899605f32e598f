// The bus envelope: one JSON object per ZeroMQ message, versioned, checked
// strictly on receipt (docs/bus.md).  Pure code: no sockets, no clocks, so
// the parser can be tested (and later fuzzed) with hostile bytes directly.
//
//   {"v":1,"id":7,"type":"request","from":"node-a","method":"volume.create","body":{...}}
//   {"v":1,"id":7,"type":"reply","from":"node-b","body":{...}}
//   {"v":1,"id":7,"type":"error","from":"node-b","error":{"code":2,"message":"..."}}
//   {"v":1,"id":9,"type":"notify","from":"node-a","method":"heartbeat","body":{...}}
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "manager/common/status.h"

namespace keel::bus {

using Json = nlohmann::json;

// The only envelope version this code speaks.  A change of fields or
// meaning bumps it; a receiver drops versions it does not know.
inline constexpr int kBusVersion = 1;
// A whole envelope, as bytes on the wire.  Bus messages are commands and
// reports, never data; anything bigger is a bug or an attack.
inline constexpr size_t kMaxMessageBytes = 1 << 20;
// Nesting limit, checked before the JSON parser runs (its recursion is
// bounded by this, not by the input).
inline constexpr int kMaxJsonDepth = 32;
// Method names: a short dotted identifier ("heartbeat", "volume.create").
inline constexpr size_t kMaxMethodLength = 64;

enum class MessageType { kRequest, kReply, kError, kNotify };
const char* MessageTypeName(MessageType type);

// Why a received message was dropped; the bus counts each reason.
enum class DropReason {
  kTooLarge,         // over kMaxMessageBytes
  kTooDeep,          // JSON nests deeper than kMaxJsonDepth
  kBadJson,          // not JSON (or not UTF-8)
  kNotObject,        // JSON, but not an object
  kBadVersion,       // "v" is not a version we speak
  kMissingField,     // a required field is absent
  kBadField,         // a field has the wrong type or an invalid value
  kUnknownField,     // a field this version does not define
  kUnknownType,      // "type" is not one of request/reply/error/notify
  kBadFrames,        // not exactly one payload frame
  kFromMismatch,     // "from" is not the node the CURVE key belongs to
  kUnexpectedType,   // e.g. a reply sent to the server socket
  kUnexpectedReply,  // a reply nobody waits for (late, duplicate, unknown id)
  kUnknownMethod,    // a notify for a method without a handler
  kOverloaded,       // the handler queue was full
  kUnauthenticated,  // ZAP refused a CURVE key not in the peer directory
};
inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kUnauthenticated) + 1;
// "too_large", "bad_json", ...: the names used in logs and counters.
const char* DropReasonName(DropReason reason);

struct Message {
  uint64_t id = 0;  // chosen by the requester, echoed in the reply; never 0
  MessageType type = MessageType::kRequest;
  std::string from;            // sender's node name (checked against its CURVE key)
  std::string method;          // request and notify only
  Json body = Json::object();  // request, notify and reply: always an object
  int error_code = 0;          // error only: a positive errno value
  std::string error_message;   // error only
};

// Checks a method name: 1..64 characters, [a-z0-9_.-], starting with a
// letter.  EINVAL with the reason otherwise.
Status ValidateMethod(std::string_view method);

// The wire bytes of `message`, after checking it as the receiver would
// (so a sender finds its own mistakes).  EINVAL for an invalid field or a
// string that is not UTF-8, EMSGSIZE when longer than max_bytes.
Result<std::string> SerializeMessage(const Message& message, size_t max_bytes = kMaxMessageBytes);

// Parses and validates received bytes.  On failure, *reason (if given) says
// why, and the status carries a one-line description for the log (EMSGSIZE
// for too large, EPROTO otherwise).  Never throws.
Result<Message> ParseMessage(std::string_view bytes, DropReason* reason = nullptr,
                             size_t max_bytes = kMaxMessageBytes);

}  // namespace keel::bus
