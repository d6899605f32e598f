#include "manager/bus/peer_directory.h"

#include <doctest/doctest.h>

#include <cerrno>

#include "manager/bus/curve_keys.h"

namespace keel::bus {
namespace {

std::string NewKey() {
  auto k = GenerateCurveKeyPair();
  REQUIRE(k.ok());
  return k->public_key;
}

TEST_CASE("peer directory: put, lookup by node and by key, remove") {
  InMemoryPeerDirectory dir;
  std::string ka = NewKey(), kb = NewKey();
  REQUIRE(dir.Put({"node-a", "tcp://10.0.0.1:7790", ka}).ok());
  REQUIRE(dir.Put({"node-b", "tcp://[::1]:7790", kb}).ok());
  auto a = dir.Lookup("node-a");
  REQUIRE(a);
  CHECK(a->endpoint == "tcp://10.0.0.1:7790");
  CHECK(a->public_key == ka);
  CHECK(dir.NodeForKey(kb) == "node-b");
  CHECK_FALSE(dir.NodeForKey(NewKey()));
  CHECK_FALSE(dir.Lookup("node-c"));
  // Replacing a node's record (new key after a reinstall) drops the old key.
  std::string ka2 = NewKey();
  REQUIRE(dir.Put({"node-a", "tcp://10.0.0.9:7790", ka2}).ok());
  CHECK_FALSE(dir.NodeForKey(ka));
  CHECK(dir.NodeForKey(ka2) == "node-a");
  dir.Remove("node-a");
  CHECK_FALSE(dir.Lookup("node-a"));
  CHECK_FALSE(dir.NodeForKey(ka2));
}

TEST_CASE("peer directory: a key names one node only") {
  InMemoryPeerDirectory dir;
  std::string k = NewKey();
  REQUIRE(dir.Put({"node-a", "tcp://h:1", k}).ok());
  CHECK(dir.Put({"node-b", "tcp://h:2", k}).code() == EEXIST);
  CHECK_FALSE(dir.Lookup("node-b"));
}

TEST_CASE("peer directory: invalid records are refused") {
  InMemoryPeerDirectory dir;
  std::string k = NewKey();
  CHECK(dir.Put({"", "tcp://h:1", k}).code() == EINVAL);
  CHECK(dir.Put({"a b", "tcp://h:1", k}).code() == EINVAL);
  CHECK(dir.Put({"a", "udp://h:1", k}).code() == EINVAL);
  CHECK(dir.Put({"a", "tcp://h", k}).code() == EINVAL);
  CHECK(dir.Put({"a", "tcp://:1", k}).code() == EINVAL);
  CHECK(dir.Put({"a", "tcp://h:0", k}).code() == EINVAL);
  CHECK(dir.Put({"a", "tcp://h:65536", k}).code() == EINVAL);
  CHECK(dir.Put({"a", "tcp://h:12x", k}).code() == EINVAL);
  CHECK(dir.Put({"a", "tcp://h:1", "short"}).code() == EINVAL);
  CHECK(dir.Put({"a", "tcp://h:65535", k}).ok());
}

}  // namespace
}  // namespace keel::bus
