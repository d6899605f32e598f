#include "manager/volume/volume_spec.h"

#include <cerrno>

namespace keel {

std::string VolumeKey(const std::string& name) { return kVolumePrefix + name; }

nlohmann::json VolumeSpecToJson(const VolumeSpec& s) {
  return {{"name", s.name},     {"uuid", s.uuid},
          {"size", s.size},     {"block_size", s.block_size},
          {"labels", s.labels}, {"replicas", s.replicas},
          {"node", s.node},     {"attached_node", s.attached_node},
          {"device", s.device}, {"created_at", s.created_at}};
}

Result<VolumeSpec> VolumeSpecFromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  auto bad = [&](const std::string& why) {
    return Status::Error(EUCLEAN, "volume spec in kvdb is invalid: " + why);
  };
  if (!j.is_object()) return bad("not a JSON object");
  VolumeSpec s;
  auto str = [&](const char* k, std::string* out) {
    if (!j.contains(k) || !j[k].is_string()) return false;
    *out = j[k].get<std::string>();
    return true;
  };
  auto num = [&](const char* k, auto* out) {
    if (!j.contains(k) || !j[k].is_number_integer()) return false;
    *out = j[k].get<std::remove_pointer_t<decltype(out)>>();
    return true;
  };
  if (!str("name", &s.name) || !str("uuid", &s.uuid) || !str("node", &s.node) ||
      !str("attached_node", &s.attached_node) || !str("device", &s.device)) {
    return bad("a string field is missing");
  }
  if (!num("size", &s.size) || !num("block_size", &s.block_size) || !num("replicas", &s.replicas) ||
      !num("created_at", &s.created_at)) {
    return bad("a number field is missing");
  }
  if (!j.contains("labels") || !j["labels"].is_object()) return bad("labels missing");
  for (const auto& [k, v] : j["labels"].items()) {
    if (!v.is_string()) return bad("label " + k + " is not a string");
    s.labels[k] = v.get<std::string>();
  }
  return s;
}

}  // namespace keel
