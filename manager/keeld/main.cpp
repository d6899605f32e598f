// keeld: the Keel node daemon.  See docs/configuration.md for the config
// file and flags, docs/api.md for the local API, docs/design-keeld.md for
// how it keeps keel.ko, SQLite and the kvdb consistent.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "manager/common/size.h"
#include "manager/config/config.h"
#include "manager/keeld/daemon.h"
#include "manager/log/log.h"

namespace {

struct Flags {
  std::string config = "/etc/keel/keeld.conf";
  bool config_given = false;
  std::string node_name, pool_dir, pool_capacity, data_dir, api_socket, bus_endpoint,
      bus_public_key, bus_secret_key_file, log_level;
  std::vector<std::string> labels, etcd_endpoints;
};

keel::Result<keel::Config> Load(const Flags& f) {
  keel::Config c;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) c.node_name = host;
  keel::Status s = keel::LoadConfigFile(f.config, f.config_given, &c);
  if (!s.ok()) return s;
  auto set = [](const std::string& v, std::string* out) {
    if (!v.empty()) *out = v;
  };
  set(f.node_name, &c.node_name);
  set(f.pool_dir, &c.pool_dir);
  set(f.data_dir, &c.data_dir);
  set(f.api_socket, &c.api_socket);
  set(f.bus_endpoint, &c.bus_endpoint);
  set(f.bus_public_key, &c.bus_public_key);
  set(f.bus_secret_key_file, &c.bus_secret_key_file);
  set(f.log_level, &c.log_level);
  if (!f.pool_capacity.empty()) {
    auto size = keel::ParseSize(f.pool_capacity);
    if (!size.ok())
      return keel::Status::Error(EINVAL, "--pool-capacity: " + size.status().message());
    c.pool_capacity = *size;
  }
  for (const auto& l : f.labels) {
    std::string k, v;
    s = keel::ParseLabelArg(l, &k, &v);
    if (!s.ok()) return keel::Status::Error(EINVAL, "--label: " + s.message());
    c.labels[k] = v;
  }
  if (!f.etcd_endpoints.empty()) c.etcd_endpoints = f.etcd_endpoints;
  s = keel::ValidateConfig(c);
  if (!s.ok()) return s;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"keeld: the Keel node daemon (docs/configuration.md, docs/api.md)"};
  Flags f;
  bool print_config = false, version = false;
  auto* config_opt = app.add_option("-c,--config", f.config, "config file (JSON)");
  app.add_option("--node-name", f.node_name, "this node's name (default: host name)");
  app.add_option("--label", f.labels, "a node label key=value (repeatable; adds to the file's)");
  app.add_option("--pool-dir", f.pool_dir, "directory of the backing files");
  app.add_option("--pool-capacity", f.pool_capacity, "pool capacity limit, e.g. 100G");
  app.add_option("--data-dir", f.data_dir, "directory of keel.db and kvdb.db");
  app.add_option("--api-socket", f.api_socket, "the local API's UNIX socket");
  app.add_option("--etcd-endpoint", f.etcd_endpoints, "etcd endpoint URL (repeatable)");
  app.add_option("--bus-endpoint", f.bus_endpoint, "ZeroMQ bus endpoint tcp://HOST:PORT");
  app.add_option("--bus-public-key", f.bus_public_key, "CURVE public key (40 Z85 characters)");
  app.add_option("--bus-secret-key-file", f.bus_secret_key_file, "file with the CURVE secret key");
  app.add_option("--log-level", f.log_level, "debug, info, warning or error");
  app.add_flag("--print-config", print_config, "print the effective configuration and exit");
  app.add_flag("--version", version, "print the version and exit");
  CLI11_PARSE(app, argc, argv);
  if (version) {
    std::cout << "keeld " << KEEL_VERSION << "\n";
    return 0;
  }
  f.config_given = config_opt->count() > 0;
  if (print_config) {
    auto c = Load(f);
    if (!c.ok()) {
      std::cerr << "keeld: " << c.status().message() << "\n";
      return 2;
    }
    std::cout << keel::ConfigToJson(*c).dump(2) << "\n";
    return 0;
  }
  return keel::RunDaemon([&f] { return Load(f); });
}
