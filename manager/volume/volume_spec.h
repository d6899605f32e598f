// VolumeSpec: a volume as the cluster state (kvdb) records it, under
// "/keel/volumes/<name>" as JSON.  Attachment is part of the spec:
// `attached_node` is the node whose /dev/keelN serves it ("" when detached).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "manager/common/status.h"

namespace keel {

inline constexpr char kVolumePrefix[] = "/keel/volumes/";
inline constexpr char kNodePrefix[] = "/keel/nodes/";

struct VolumeSpec {
  std::string name;
  std::string uuid;
  uint64_t size = 0;
  uint32_t block_size = 0;
  std::map<std::string, std::string> labels;
  uint32_t replicas = 1;
  std::string node;  // the node holding the (single) replica
  std::string attached_node;
  std::string device;  // "/dev/keel3" on attached_node
  int64_t created_at = 0;
};

std::string VolumeKey(const std::string& name);
nlohmann::json VolumeSpecToJson(const VolumeSpec& spec);
// Refuses JSON that lacks a field or has one of the wrong type.
Result<VolumeSpec> VolumeSpecFromJson(const std::string& text);

}  // namespace keel
