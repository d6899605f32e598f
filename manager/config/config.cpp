#include "manager/config/config.h"

#include <arpa/inet.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>

#include "manager/common/size.h"
#include "manager/log/log.h"

namespace keel {
namespace {

using nlohmann::json;

Status Bad(const std::string& key, const std::string& why) {
  return Status::Error(EINVAL, "config key '" + key + "': " + why);
}

Status GetString(const json& v, const std::string& key, std::string* out) {
  if (!v.is_string()) return Bad(key, "must be a string");
  *out = v.get<std::string>();
  return Status();
}

// A size: "100G" (binary units) or a number of bytes.
Status GetSize(const json& v, const std::string& key, uint64_t* out) {
  if (v.is_string()) {
    auto size = ParseSize(v.get<std::string>());
    if (!size.ok()) return Bad(key, size.status().message());
    *out = *size;
    return Status();
  }
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return Status();
  }
  return Bad(key, "must be a size (\"100G\") or a number of bytes");
}

Status GetU32(const json& v, const std::string& key, uint32_t min, uint32_t max, uint32_t* out) {
  if (!v.is_number_integer()) return Bad(key, "must be an integer");
  if (v.is_number_unsigned() ? v.get<uint64_t>() > max : v.get<int64_t>() < int64_t{min}) {
    return Bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  int64_t x = v.get<int64_t>();
  if (x < int64_t{min} || x > int64_t{max}) {
    return Bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  *out = static_cast<uint32_t>(x);
  return Status();
}

bool IsIpLiteral(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool IsZ85(const std::string& s) {
  static const std::string kAlphabet =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  for (char c : s) {
    if (kAlphabet.find(c) == std::string::npos) return false;
  }
  return true;
}

}  // namespace

Status ValidateName(const std::string& what, const std::string& name) {
  if (name.empty()) return Status::Error(EINVAL, what + " must not be empty");
  if (name.size() > 63) {
    return Status::Error(EINVAL, what + " is " + std::to_string(name.size()) +
                                     " characters long; at most 63 are allowed");
  }
  auto ok = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (!first && (c == '_' || c == '.' || c == '-'));
  };
  for (size_t i = 0; i < name.size(); i++) {
    if (!ok(name[i], i == 0)) {
      std::string shown = static_cast<unsigned char>(name[i]) >= ' ' && name[i] != 0x7f
                              ? std::string(1, name[i])
                              : "\\x" + std::to_string(static_cast<unsigned char>(name[i]));
      return Status::Error(EINVAL, what + " '" + (name.size() <= 63 ? name : "") +
                                       "' has a character that is not allowed ('" + shown +
                                       "' at position " + std::to_string(i) +
                                       "): use letters, digits, '_', '.' and '-', starting "
                                       "with a letter or digit");
    }
  }
  return Status();
}

Status ValidateLabel(const std::string& key, const std::string& value) {
  Status s = ValidateName("label key", key);
  if (!s.ok()) return s;
  if (value.size() > 255) {
    return Status::Error(EINVAL, "label '" + key + "': value longer than 255 characters");
  }
  for (char c : value) {
    if (static_cast<unsigned char>(c) < ' ' || c == 0x7f) {
      return Status::Error(EINVAL, "label '" + key + "': value has a control character");
    }
  }
  return Status();
}

Status ParseLabelArg(const std::string& arg, std::string* key, std::string* value) {
  auto eq = arg.find('=');
  if (eq == std::string::npos) {
    return Status::Error(EINVAL, "label '" + arg + "' must be key=value");
  }
  *key = arg.substr(0, eq);
  *value = arg.substr(eq + 1);
  return ValidateLabel(*key, *value);
}

Status ApplyConfigJson(const json& j, Config* c) {
  if (!j.is_object()) return Status::Error(EINVAL, "config must be a JSON object");
  for (const auto& [key, v] : j.items()) {
    Status s;
    if (key == "node_name") {
      s = GetString(v, key, &c->node_name);
    } else if (key == "labels") {
      if (!v.is_object()) return Bad(key, "must be an object of strings");
      std::map<std::string, std::string> labels;
      for (const auto& [lk, lv] : v.items()) {
        if (!lv.is_string()) return Bad(key, "label '" + lk + "' must be a string");
        labels[lk] = lv.get<std::string>();
      }
      c->labels = std::move(labels);
    } else if (key == "pool_dir") {
      s = GetString(v, key, &c->pool_dir);
    } else if (key == "pool_capacity") {
      uint64_t bytes = 0;
      s = GetSize(v, key, &bytes);
      if (s.ok()) c->pool_capacity = bytes;
    } else if (key == "data_dir") {
      s = GetString(v, key, &c->data_dir);
    } else if (key == "api_socket") {
      s = GetString(v, key, &c->api_socket);
    } else if (key == "etcd_endpoints") {
      if (!v.is_array()) return Bad(key, "must be an array of URLs");
      std::vector<std::string> eps;
      for (const auto& e : v) {
        if (!e.is_string()) return Bad(key, "every endpoint must be a string");
        eps.push_back(e.get<std::string>());
      }
      c->etcd_endpoints = std::move(eps);
    } else if (key == "bus_endpoint") {
      s = GetString(v, key, &c->bus_endpoint);
    } else if (key == "bus_public_key") {
      s = GetString(v, key, &c->bus_public_key);
    } else if (key == "bus_secret_key_file") {
      s = GetString(v, key, &c->bus_secret_key_file);
    } else if (key == "log_level") {
      s = GetString(v, key, &c->log_level);
    } else if (key == "kernel_timeout_ms") {
      s = GetU32(v, key, 100, 600000, &c->kernel_timeout_ms);
    } else if (key == "request_timeout_ms") {
      s = GetU32(v, key, 100, 600000, &c->request_timeout_ms);
    } else if (key == "max_request_bytes") {
      s = GetU32(v, key, 1024, 16 << 20, &c->max_request_bytes);
    } else if (key == "max_clients") {
      s = GetU32(v, key, 1, 65536, &c->max_clients);
    } else if (key == "reconcile_interval_s") {
      s = GetU32(v, key, 1, 86400, &c->reconcile_interval_s);
    } else if (key == "data_address") {
      s = GetString(v, key, &c->data_address);
    } else if (key == "heartbeat_interval_ms") {
      s = GetU32(v, key, 50, 60000, &c->heartbeat_interval_ms);
    } else if (key == "suspect_after_ms") {
      s = GetU32(v, key, 100, 600000, &c->suspect_after_ms);
    } else if (key == "down_after_ms") {
      s = GetU32(v, key, 100, 600000, &c->down_after_ms);
    } else if (key == "lease_ttl_s") {
      s = GetU32(v, key, 2, 300, &c->lease_ttl_s);
    } else if (key == "rereplication_grace_s") {
      s = GetU32(v, key, 0, 7 * 24 * 3600, &c->rereplication_grace_s);
    } else if (key == "create_timeout_s") {
      s = GetU32(v, key, 10, 24 * 3600, &c->create_timeout_s);
    } else if (key == "docker_plugin_socket") {
      s = GetString(v, key, &c->docker_plugin_socket);
    } else if (key == "docker_mount_root") {
      s = GetString(v, key, &c->docker_mount_root);
    } else if (key == "docker_default_size") {
      s = GetSize(v, key, &c->docker_default_size);
    } else if (key == "docker_default_fs") {
      s = GetString(v, key, &c->docker_default_fs);
    } else if (key == "replication_port_base") {
      // Kernel ids go up to 65535 - base at most; ids are small in practice.
      s = GetU32(v, key, 1024, 60000, &c->replication_port_base);
    } else {
      return Status::Error(
          EINVAL, "unknown config key '" + key + "' (see docs/configuration.md for the keys)");
    }
    if (!s.ok()) return s;
  }
  return Status();
}

Status LoadConfigFile(const std::string& path, bool must_exist, Config* config) {
  std::ifstream in(path);
  if (!in) {
    if (!must_exist && errno == ENOENT) return Status();
    int e = errno ? errno : EIO;
    return Status::Error(e, "cannot read config file " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Status::Error(EINVAL, "config file " + path + " is not valid JSON");
  }
  Status s = ApplyConfigJson(j, config);
  if (!s.ok()) return Status::Error(s.code(), path + ": " + s.message());
  return Status();
}

Status ValidateConfig(const Config& c) {
  Status s = ValidateName("node_name", c.node_name);
  if (!s.ok()) return Status::Error(EINVAL, "config key 'node_name': " + s.message());
  if (c.labels.size() > 64) return Bad("labels", "at most 64 labels");
  for (const auto& [k, v] : c.labels) {
    s = ValidateLabel(k, v);
    if (!s.ok()) return Bad("labels", s.message());
  }
  for (const auto& [key, path] : {std::pair<std::string, std::string>{"pool_dir", c.pool_dir},
                                  {"data_dir", c.data_dir},
                                  {"api_socket", c.api_socket}}) {
    if (path.empty() || path[0] != '/') return Bad(key, "must be an absolute path");
    if (path.size() > 4000) return Bad(key, "path too long");
  }
  // sockaddr_un.sun_path is 108 bytes with the terminating NUL.
  if (c.api_socket.size() > 107) return Bad("api_socket", "longer than 107 bytes");
  if (c.pool_capacity && *c.pool_capacity == 0) return Bad("pool_capacity", "must not be 0");
  if (!c.docker_plugin_socket.empty() &&
      (c.docker_plugin_socket[0] != '/' || c.docker_plugin_socket.size() > 107)) {
    return Bad("docker_plugin_socket", "must be \"\" or an absolute path of at most 107 bytes");
  }
  if (!c.docker_mount_root.empty() && c.docker_mount_root[0] != '/') {
    return Bad("docker_mount_root", "must be an absolute path");
  }
  if (c.docker_default_size < (1 << 20)) return Bad("docker_default_size", "must be at least 1M");
  if (c.docker_default_fs != "ext4" && c.docker_default_fs != "xfs") {
    return Bad("docker_default_fs", "'" + c.docker_default_fs + "' is not ext4 or xfs");
  }
  for (const auto& e : c.etcd_endpoints) {
    bool scheme = e.rfind("http://", 0) == 0 || e.rfind("https://", 0) == 0;
    auto hostport = e.substr(e.find("://") == std::string::npos ? 0 : e.find("://") + 3);
    if (!scheme || hostport.empty() || hostport.find(':') == std::string::npos) {
      return Bad("etcd_endpoints",
                 "'" + e + "' is not an endpoint like http://10.0.0.1:2379 (scheme, host, port)");
    }
  }
  if (!c.etcd_endpoints.empty()) {
    std::set<std::string> seen(c.etcd_endpoints.begin(), c.etcd_endpoints.end());
    if (seen.size() != c.etcd_endpoints.size()) return Bad("etcd_endpoints", "duplicates");
  }
  if (!c.bus_endpoint.empty()) {
    auto p = c.bus_endpoint.rfind("tcp://", 0) == 0 ? c.bus_endpoint.substr(6) : "";
    auto colon = p.rfind(':');
    bool port_ok = colon != std::string::npos && colon > 0 && colon + 1 < p.size() &&
                   p.find_first_not_of("0123456789", colon + 1) == std::string::npos &&
                   p.size() - colon - 1 <= 5 && std::stoul(p.substr(colon + 1)) <= 65535;
    if (!port_ok) {
      return Bad("bus_endpoint", "'" + c.bus_endpoint + "' is not like tcp://10.0.0.1:7480");
    }
  }
  if (!c.bus_public_key.empty() && (c.bus_public_key.size() != 40 || !IsZ85(c.bus_public_key))) {
    return Bad("bus_public_key", "must be a CURVE key: 40 Z85 characters");
  }
  if (!c.bus_secret_key_file.empty() && c.bus_secret_key_file[0] != '/') {
    return Bad("bus_secret_key_file", "must be an absolute path");
  }
  // The secret key file alone is enough (the public key is derived from
  // it); a public key alone names a key keeld cannot use.
  if (!c.bus_public_key.empty() && c.bus_secret_key_file.empty()) {
    return Bad("bus_secret_key_file", "bus_public_key needs the bus_secret_key_file it belongs to");
  }
  if (!c.data_address.empty() && !IsIpLiteral(c.data_address)) {
    return Bad("data_address", "'" + c.data_address + "' is not an IPv4 or IPv6 address");
  }
  // Heartbeats must come several times within the suspect limit, or a
  // healthy node would flap.
  if (c.suspect_after_ms < 2 * c.heartbeat_interval_ms) {
    return Bad("suspect_after_ms", "must be at least twice heartbeat_interval_ms");
  }
  if (c.down_after_ms <= c.suspect_after_ms) {
    return Bad("down_after_ms", "must be greater than suspect_after_ms");
  }
  if (IsClusterMode(c)) {
    if (c.bus_endpoint.empty()) {
      return Bad("bus_endpoint", "is required when etcd_endpoints is set (cluster mode)");
    }
    if (DataAddress(c).empty()) {
      return Bad("data_address",
                 "is required when bus_endpoint's host is not an IP address (cluster mode)");
    }
  }
  LogLevel level;
  if (!ParseLogLevel(c.log_level, &level)) {
    return Bad("log_level", "'" + c.log_level + "' is not one of debug, info, warning, error");
  }
  return Status();
}

std::string BusSecretKeyFile(const Config& c) {
  return c.bus_secret_key_file.empty() ? c.data_dir + "/bus.key" : c.bus_secret_key_file;
}

std::string DataAddress(const Config& c) {
  if (!c.data_address.empty()) return c.data_address;
  if (c.bus_endpoint.rfind("tcp://", 0) != 0) return "";
  std::string host = c.bus_endpoint.substr(6, c.bus_endpoint.rfind(':') - 6);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  // 0.0.0.0 binds every address but is no address to connect to.
  if (host == "0.0.0.0" || host == "::" || !IsIpLiteral(host)) return "";
  return host;
}

std::string DockerMountRoot(const Config& c) {
  return c.docker_mount_root.empty() ? c.data_dir + "/mounts" : c.docker_mount_root;
}

nlohmann::json ConfigToJson(const Config& c) {
  json j = {{"node_name", c.node_name},
            {"labels", c.labels},
            {"pool_dir", c.pool_dir},
            {"data_dir", c.data_dir},
            {"api_socket", c.api_socket},
            {"etcd_endpoints", c.etcd_endpoints},
            {"bus_endpoint", c.bus_endpoint},
            {"bus_public_key", c.bus_public_key},
            {"bus_secret_key_file", c.bus_secret_key_file},
            {"log_level", c.log_level},
            {"kernel_timeout_ms", c.kernel_timeout_ms},
            {"request_timeout_ms", c.request_timeout_ms},
            {"max_request_bytes", c.max_request_bytes},
            {"max_clients", c.max_clients},
            {"reconcile_interval_s", c.reconcile_interval_s},
            {"data_address", c.data_address},
            {"heartbeat_interval_ms", c.heartbeat_interval_ms},
            {"suspect_after_ms", c.suspect_after_ms},
            {"down_after_ms", c.down_after_ms},
            {"lease_ttl_s", c.lease_ttl_s},
            {"replication_port_base", c.replication_port_base},
            {"rereplication_grace_s", c.rereplication_grace_s},
            {"create_timeout_s", c.create_timeout_s},
            {"docker_plugin_socket", c.docker_plugin_socket},
            {"docker_mount_root", c.docker_mount_root},
            {"docker_default_size", c.docker_default_size},
            {"docker_default_fs", c.docker_default_fs}};
  if (c.pool_capacity) j["pool_capacity"] = *c.pool_capacity;
  return j;
}

}  // namespace keel
