#include "manager/config/config.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <fstream>

#include "manager/state/temp_dir.h"

namespace keel {
namespace {

Config Valid() {
  Config c;
  c.node_name = "node1";
  return c;
}

Status Apply(const std::string& text, Config* c) {
  return ApplyConfigJson(nlohmann::json::parse(text), c);
}

}  // namespace

TEST_CASE("config: every key parses and the result validates") {
  Config c = Valid();
  Status s = Apply(R"({"node_name":"n2","labels":{"zone":"a","rack":"r7"},
    "pool_dir":"/srv/pool","pool_capacity":"100G","data_dir":"/srv/data",
    "api_socket":"/run/k.sock","etcd_endpoints":["http://10.0.0.1:2379"],
    "bus_endpoint":"tcp://10.0.0.1:7480",
    "bus_public_key":"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
    "bus_secret_key_file":"/etc/keel/bus.key","log_level":"debug",
    "kernel_timeout_ms":2000,"request_timeout_ms":1000,"max_request_bytes":4096,
    "max_clients":10,"reconcile_interval_s":5})",
                   &c);
  REQUIRE(s.ok());
  CHECK(ValidateConfig(c).ok());
  CHECK(c.node_name == "n2");
  CHECK(c.labels.at("rack") == "r7");
  CHECK(*c.pool_capacity == 100ULL << 30);
  CHECK(c.etcd_endpoints.size() == 1);
  CHECK(c.kernel_timeout_ms == 2000);
  CHECK(c.max_clients == 10);
  // Round trip through ConfigToJson.
  Config d = Valid();
  REQUIRE(ApplyConfigJson(ConfigToJson(c), &d).ok());
  CHECK(ConfigToJson(d) == ConfigToJson(c));
}

TEST_CASE("config: unknown keys and wrong types name the key") {
  Config c = Valid();
  Status s = Apply(R"({"pool_dri":"/x"})", &c);
  CHECK(s.code() == EINVAL);
  CHECK(s.message().find("pool_dri") != std::string::npos);
  s = Apply(R"({"labels":{"zone":3}})", &c);
  CHECK(s.message().find("labels") != std::string::npos);
  s = Apply(R"({"max_clients":"many"})", &c);
  CHECK(s.message().find("max_clients") != std::string::npos);
  CHECK_FALSE(Apply(R"({"max_clients":0})", &c).ok());
  CHECK_FALSE(Apply(R"({"max_clients":-5})", &c).ok());
  CHECK_FALSE(Apply(R"({"pool_capacity":"lots"})", &c).ok());
  CHECK_FALSE(Apply(R"({"pool_capacity":-1})", &c).ok());
  CHECK_FALSE(Apply(R"([1,2])", &c).ok());
}

TEST_CASE("config: validation refuses bad values") {
  auto bad = [](auto mutate, const char* key) {
    Config c = Valid();
    mutate(c);
    Status s = ValidateConfig(c);
    INFO(key);
    CHECK_FALSE(s.ok());
    CHECK(s.message().find(key) != std::string::npos);
  };
  bad([](Config& c) { c.node_name = "a/b"; }, "node_name");
  bad([](Config& c) { c.node_name = ""; }, "node_name");
  bad([](Config& c) { c.node_name = std::string(64, 'a'); }, "node_name");
  bad([](Config& c) { c.labels["bad key"] = "x"; }, "labels");
  bad([](Config& c) { c.labels["k"] = "a\nb"; }, "labels");
  bad([](Config& c) { c.pool_dir = "relative"; }, "pool_dir");
  bad([](Config& c) { c.api_socket = "/" + std::string(120, 's'); }, "api_socket");
  bad([](Config& c) { c.pool_capacity = 0; }, "pool_capacity");
  bad([](Config& c) { c.etcd_endpoints = {"10.0.0.1:2379"}; }, "etcd_endpoints");
  bad([](Config& c) { c.etcd_endpoints = {"http://a:1", "http://a:1"}; }, "etcd_endpoints");
  bad([](Config& c) { c.bus_endpoint = "udp://x:1"; }, "bus_endpoint");
  bad([](Config& c) { c.bus_endpoint = "tcp://x:99999"; }, "bus_endpoint");
  bad([](Config& c) { c.bus_endpoint = "tcp://x:"; }, "bus_endpoint");
  bad(
      [](Config& c) {
        c.bus_public_key = "short";
        c.bus_secret_key_file = "/k";
      },
      "bus_public_key");
  bad([](Config& c) { c.bus_public_key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"; },
      "bus_secret_key_file");
  bad([](Config& c) { c.data_address = "node-a"; }, "data_address");
  bad([](Config& c) { c.suspect_after_ms = 900; }, "suspect_after_ms");
  bad([](Config& c) { c.down_after_ms = 1500; }, "down_after_ms");
  // Cluster mode needs a bus endpoint and an address for the data links.
  bad([](Config& c) { c.etcd_endpoints = {"http://10.0.0.1:2379"}; }, "bus_endpoint");
  bad(
      [](Config& c) {
        c.etcd_endpoints = {"http://10.0.0.1:2379"};
        c.bus_endpoint = "tcp://0.0.0.0:7480";
      },
      "data_address");
  bad([](Config& c) { c.log_level = "loud"; }, "log_level");
}

TEST_CASE("config: cluster mode keys and their defaults") {
  Config c = Valid();
  CHECK_FALSE(IsClusterMode(c));
  CHECK(BusSecretKeyFile(c) == c.data_dir + "/bus.key");
  REQUIRE(Apply(R"({"etcd_endpoints":["http://10.0.0.9:2379"],
    "bus_endpoint":"tcp://10.0.0.1:7480","heartbeat_interval_ms":200,
    "suspect_after_ms":600,"down_after_ms":1200,"lease_ttl_s":3})",
                &c)
              .ok());
  CHECK(ValidateConfig(c).ok());
  CHECK(IsClusterMode(c));
  CHECK(DataAddress(c) == "10.0.0.1");  // from bus_endpoint
  c.data_address = "10.1.0.1";
  CHECK(DataAddress(c) == "10.1.0.1");
  c.bus_secret_key_file = "/etc/keel/bus.key";
  CHECK(BusSecretKeyFile(c) == "/etc/keel/bus.key");
  CHECK(ValidateConfig(c).ok());  // the secret key file alone is enough
  CHECK_FALSE(Apply(R"({"heartbeat_interval_ms":10})", &c).ok());
  CHECK_FALSE(Apply(R"({"lease_ttl_s":1})", &c).ok());
  CHECK(c.replication_port_base == 7800);
  REQUIRE(Apply(R"({"replication_port_base":9000})", &c).ok());
  CHECK(c.replication_port_base == 9000);
  CHECK_FALSE(Apply(R"({"replication_port_base":80})", &c).ok());
  CHECK(c.rereplication_grace_s == 600);
  REQUIRE(Apply(R"({"rereplication_grace_s":5})", &c).ok());
  CHECK(c.rereplication_grace_s == 5);
  CHECK_FALSE(Apply(R"({"rereplication_grace_s":-1})", &c).ok());
  CHECK_FALSE(Apply(R"({"rereplication_grace_s":"10m"})", &c).ok());
  CHECK(c.create_timeout_s == 120);
  REQUIRE(Apply(R"({"create_timeout_s":10})", &c).ok());
  CHECK(c.create_timeout_s == 10);
  CHECK_FALSE(Apply(R"({"create_timeout_s":9})", &c).ok());  // below any live create
}

TEST_CASE("config: the Docker plugin's keys") {
  Config c;
  c.node_name = "n1";
  CHECK(c.docker_plugin_socket == "/run/docker/plugins/keel.sock");
  CHECK(DockerMountRoot(c) == "/var/lib/keel/mounts");
  CHECK(c.docker_default_size == 10ull << 30);
  REQUIRE(Apply(R"({"docker_plugin_socket":"","docker_mount_root":"/mnt/keel",
                    "docker_default_size":"1G","docker_default_fs":"xfs"})",
                &c)
              .ok());
  CHECK(ValidateConfig(c).ok());
  CHECK(c.docker_plugin_socket.empty());
  CHECK(DockerMountRoot(c) == "/mnt/keel");
  CHECK(c.docker_default_size == 1ull << 30);
  CHECK_FALSE(Apply(R"({"docker_default_size":"lots"})", &c).ok());
  for (const char* bad :
       {R"({"docker_plugin_socket":"keel.sock"})", R"({"docker_mount_root":"mnt"})",
        R"({"docker_default_fs":"btrfs"})", R"({"docker_default_size":1024})"}) {
    CAPTURE(bad);
    Config b = c;
    REQUIRE(Apply(bad, &b).ok());
    CHECK_FALSE(ValidateConfig(b).ok());
  }
}

TEST_CASE("config: files") {
  TempDir dir;
  Config c = Valid();
  CHECK(LoadConfigFile(dir.file("missing.conf"), false, &c).ok());
  CHECK(LoadConfigFile(dir.file("missing.conf"), true, &c).code() == ENOENT);
  std::ofstream(dir.file("bad.conf")) << "{ not json";
  Status s = LoadConfigFile(dir.file("bad.conf"), true, &c);
  CHECK(s.code() == EINVAL);
  CHECK(s.message().find("bad.conf") != std::string::npos);
  std::ofstream(dir.file("ok.conf")) << R"({"node_name": "from-file", "labels": {"zone": "z"}})";
  REQUIRE(LoadConfigFile(dir.file("ok.conf"), true, &c).ok());
  CHECK(c.node_name == "from-file");
  CHECK(c.labels.at("zone") == "z");
}

TEST_CASE("config: names and labels") {
  CHECK(ValidateName("n", "db-1.a_b").ok());
  CHECK(ValidateName("n", std::string(63, 'x')).ok());
  CHECK_FALSE(ValidateName("n", std::string(300, 'x')).ok());
  CHECK_FALSE(ValidateName("n", "-lead").ok());
  CHECK_FALSE(ValidateName("n", "a/b").ok());
  CHECK_FALSE(ValidateName("n", "..").ok());
  CHECK_FALSE(ValidateName("n", std::string("a\0b", 3)).ok());
  std::string k, v;
  CHECK(ParseLabelArg("zone=eu-1", &k, &v).ok());
  CHECK(k == "zone");
  CHECK(v == "eu-1");
  CHECK(ParseLabelArg("empty=", &k, &v).ok());
  CHECK_FALSE(ParseLabelArg("novalue", &k, &v).ok());
  CHECK_FALSE(ParseLabelArg("=x", &k, &v).ok());
}

}  // namespace keel
