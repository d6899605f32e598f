// keeld's configuration: /etc/keel/keeld.conf (a JSON object; every key is
// documented in docs/configuration.md), then command-line flags on top.
// Parsing is strict: unknown keys, wrong types and bad values are refused
// with a message that names the key.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "manager/common/status.h"

namespace keel {

struct Config {
  std::string node_name;                      // default: the host name
  std::map<std::string, std::string> labels;  // zone, rack, any key=value
  std::string pool_dir = "/var/lib/keel/pool";
  std::optional<uint64_t> pool_capacity;  // bytes; default: the pool's file system size
  std::string data_dir = "/var/lib/keel";
  std::string api_socket = "/run/keel/keeld.sock";
  std::vector<std::string> etcd_endpoints;  // empty: the embedded single-node kvdb
  std::string bus_endpoint;                 // ZeroMQ endpoint, "tcp://10.0.0.1:7480"
  std::string bus_public_key;               // CURVE public key, 40 Z85 characters
  std::string bus_secret_key_file;          // CURVE secret key file; "": <data_dir>/bus.key
  // Cluster mode only (etcd_endpoints set); docs/configuration.md.
  std::string data_address;  // IP literal for kernel replication links; "": bus_endpoint's host
  uint32_t heartbeat_interval_ms = 500;   // bus heartbeats to every other node
  uint32_t suspect_after_ms = 1500;       // silence after which a node is suspect
  uint32_t down_after_ms = 3000;          // silence after which a node is down
  uint32_t lease_ttl_s = 5;               // etcd lease of the alive key and the coordinator key
  uint32_t replication_port_base = 7800;  // a replica target listens on this + its kernel id
  uint32_t rereplication_grace_s = 600;   // a replica on a node down this long is replaced
  uint32_t create_timeout_s = 120;        // a create unfinished this long is rolled back
  std::string log_level = "info";
  uint32_t kernel_timeout_ms = 10000;  // every netlink command
  uint32_t request_timeout_ms = 5000;  // a client must send its request within this
  uint32_t max_request_bytes = 65536;  // larger requests are refused
  uint32_t max_clients = 1024;         // connections served at once
  uint32_t reconcile_interval_s = 30;  // periodic reconcile with the kernel
  // The Docker volume plugin (docs/docker-plugin.md); "" = not served.
  std::string docker_plugin_socket = "/run/docker/plugins/keel.sock";
  std::string docker_mount_root;               // "": <data_dir>/mounts
  uint64_t docker_default_size = 10ull << 30;  // a volume created without -o size
  std::string docker_default_fs = "ext4";      // ext4 or xfs, without -o fs
};

// Applies the keys of `j` (a JSON object) over `*config`.
Status ApplyConfigJson(const nlohmann::json& j, Config* config);
// Reads and applies a config file.  A missing file is an error only if
// `must_exist`.
Status LoadConfigFile(const std::string& path, bool must_exist, Config* config);
// Checks the whole configuration (after flags): names, labels, absolute
// paths, endpoints, keys, limits.
Status ValidateConfig(const Config& config);

// Validation shared with the API: names of nodes, volumes and label keys are
// 1-63 characters of [A-Za-z0-9_.-], starting with a letter or digit.
Status ValidateName(const std::string& what, const std::string& name);
Status ValidateLabel(const std::string& key, const std::string& value);
// "key=value" from the command line.
Status ParseLabelArg(const std::string& arg, std::string* key, std::string* value);

nlohmann::json ConfigToJson(const Config& config);

// Cluster mode: etcd_endpoints is set.
inline bool IsClusterMode(const Config& config) { return !config.etcd_endpoints.empty(); }
// The CURVE secret key file in effect: bus_secret_key_file or
// <data_dir>/bus.key.
std::string BusSecretKeyFile(const Config& config);
// The data address in effect: data_address, or the host of bus_endpoint
// ("" if neither gives an IP literal).
std::string DataAddress(const Config& config);
// Where the Docker plugin mounts volumes: docker_mount_root or
// <data_dir>/mounts.
std::string DockerMountRoot(const Config& config);

}  // namespace keel
