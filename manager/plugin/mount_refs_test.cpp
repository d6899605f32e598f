#include "manager/plugin/mount_refs.h"

#include <doctest/doctest.h>

#include "manager/state/temp_dir.h"

namespace keel::plugin {
namespace {

TEST_CASE("mount refs: kept in a real SQLite file across reopening") {
  TempDir dir;
  const std::string path = dir.file("docker.db");
  {
    auto refs = SqliteMountRefs::Open(path);
    REQUIRE(refs.ok());
    auto& r = *refs.value();
    CHECK(r.Add("db", "c1").ok());
    CHECK(r.Add("db", "c2").ok());
    CHECK(r.Add("db", "c2").ok());  // twice is once
    CHECK(r.Add("logs", "c3").ok());
    CHECK(*r.Get("db") == std::set<std::string>{"c1", "c2"});
    CHECK(r.Remove("db", "c1").ok());
    CHECK(r.Remove("db", "nope").ok());
  }
  auto refs = SqliteMountRefs::Open(path);
  REQUIRE(refs.ok());
  auto& r = *refs.value();
  CHECK(*r.Get("db") == std::set<std::string>{"c2"});
  CHECK(r.Get("none")->empty());
  auto all = r.All();
  REQUIRE(all.ok());
  CHECK(*all == std::map<std::string, std::set<std::string>>{{"db", {"c2"}}, {"logs", {"c3"}}});
  CHECK(r.Clear("db").ok());
  CHECK(r.All()->size() == 1);
}

TEST_CASE("mount refs: an unusable path is an error, not a crash") {
  auto refs = SqliteMountRefs::Open("/proc/keel-no-such-dir/docker.db");
  CHECK(!refs.ok());
}

}  // namespace
}  // namespace keel::plugin
