// The local API's requests: parsing and validation of one JSON request
// (docs/api.md).  Strict: unknown commands and fields, wrong types and bad
// values are refused with an ApiError naming the field.  Pure: no I/O, so
// it is unit-tested and fuzzed (tests/fuzz/api_request_fuzz.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "manager/common/status.h"

namespace keel {

inline constexpr int kApiVersion = 1;
// JSON nested deeper than this is refused before it is parsed.
inline constexpr int kMaxJsonDepth = 16;

// Stable error codes (docs/api.md lists them); never renamed.
namespace api_error {
inline constexpr char kInvalidJson[] = "invalid_json";
inline constexpr char kInvalidRequest[] = "invalid_request";
inline constexpr char kUnsupportedApi[] = "unsupported_api";
inline constexpr char kUnknownCommand[] = "unknown_command";
inline constexpr char kUnknownField[] = "unknown_field";
inline constexpr char kMissingField[] = "missing_field";
inline constexpr char kWrongType[] = "wrong_type";
inline constexpr char kInvalidArgument[] = "invalid_argument";
inline constexpr char kRequestTooLarge[] = "request_too_large";
inline constexpr char kTimeout[] = "timeout";
inline constexpr char kServerBusy[] = "server_busy";
inline constexpr char kPermissionDenied[] = "permission_denied";
inline constexpr char kNotFound[] = "not_found";
inline constexpr char kAlreadyExists[] = "already_exists";
inline constexpr char kInsufficientCapacity[] = "insufficient_capacity";
inline constexpr char kBusy[] = "busy";
inline constexpr char kTryAgain[] = "try_again";
inline constexpr char kKernelTimeout[] = "kernel_timeout";
inline constexpr char kInternal[] = "internal";
}  // namespace api_error

struct ApiError {
  std::string code;  // one of api_error::*
  std::string message;
  int err = 0;  // errno behind it, if any (reported as its name)
};

enum class Command {
  kNodeInfo,
  kVolumeCreate,
  kVolumeList,
  kVolumeInspect,
  kVolumeAttach,
  kVolumeDetach,
  kVolumeDelete,
  kNodeList,
  kClusterStatus,
  kVolumeStatus,  // cluster mode: the record and the resync progress
  kNodeCordon,
  kNodeUncordon,
  kNodeDrain,
  kClusterRebalance,
  kNodeMaintenance,
  kClusterVolumes,  // cluster mode: every volume record
};

struct Request {
  Command command = Command::kNodeInfo;
  std::string name;
  uint64_t size = 0;
  uint32_t block_size = 4096;
  std::map<std::string, std::string> labels;
  bool force = false;
  uint32_t replicas = 1;     // volume.create: 1..3 (more than 1 needs cluster mode)
  std::string node;          // volume.attach: the node to attach on ("" = this one)
  bool zone_spread = false;  // volume.create: every replica in another zone, or refuse
  bool on = true;            // node.maintenance: enter (true) or leave (false)
  // cluster.rebalance: the plan's limits, and whether to only show it.
  double threshold_pct = 10;
  uint32_t max_moves = 8;
  bool dry_run = false;
};

// Parses one request (without its terminating newline).
std::variant<Request, ApiError> ParseRequest(std::string_view text);

// The error for a failed operation: errno -> stable code.
ApiError ErrorFromStatus(const Status& s);

// Reply lines (no trailing newline).
std::string OkReply(const nlohmann::json& result);
std::string ErrorReply(const ApiError& e);

}  // namespace keel
