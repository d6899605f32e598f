#include "manager/state/migrations.h"

#include <doctest/doctest.h>

#include <cerrno>

#include "manager/state/temp_dir.h"

namespace keel {

TEST_CASE("migrations: a fresh database reaches the newest version, once") {
  TempDir dir;
  auto db = Db::Open(dir.file("a.db"));
  REQUIRE(db.ok());
  CHECK(*SchemaVersion(db.value().get()) == 0);
  auto v = Migrate(db.value().get(), StateMigrations(), 1);
  REQUIRE(v.ok());
  CHECK(*v == static_cast<int>(StateMigrations().size()));
  CHECK(*db.value()->JournalMode() == "wal");
  // Again: nothing to do, same version.
  CHECK(*Migrate(db.value().get(), StateMigrations(), 2) == *v);
  auto st = db.value()->Prepare("SELECT COUNT(*) FROM schema_version");
  REQUIRE(st.ok());
  REQUIRE(*st.value().Step());
  CHECK(st.value().Int(0) == *v);
}

TEST_CASE("migrations: an old database is upgraded with its data kept") {
  TempDir dir;
  std::vector<Migration> v1 = {{1, "t", "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);"}};
  std::vector<Migration> v2 = v1;
  v2.push_back({2, "t.y", "ALTER TABLE t ADD COLUMN y TEXT DEFAULT 'new';"});
  {
    auto db = Db::Open(dir.file("a.db"));
    REQUIRE(*Migrate(db.value().get(), v1, 1) == 1);
  }
  auto db = Db::Open(dir.file("a.db"));
  REQUIRE(*Migrate(db.value().get(), v2, 2) == 2);
  auto st = db.value()->Prepare("SELECT x, y FROM t");
  REQUIRE(*st.value().Step());
  CHECK(st.value().Int(0) == 7);
  CHECK(st.value().Text(1) == "new");
}

TEST_CASE("migrations: a failing migration leaves the previous version intact") {
  TempDir dir;
  std::vector<Migration> ms = {{1, "t", "CREATE TABLE t (x INTEGER);"},
                               {2, "broken", "CREATE TABLE u (y INTEGER); SELECT * FROM nope;"}};
  auto db = Db::Open(dir.file("a.db"));
  auto v = Migrate(db.value().get(), ms, 1);
  REQUIRE_FALSE(v.ok());
  CHECK(v.status().message().find("migration 2") != std::string::npos);
  CHECK(*SchemaVersion(db.value().get()) == 1);
  // Table u of the failed migration was rolled back.
  CHECK_FALSE(db.value()->Exec("SELECT * FROM u").ok());
}

TEST_CASE("migrations: a database from a newer keeld is refused") {
  TempDir dir;
  std::vector<Migration> ms = {{1, "a", "CREATE TABLE a (x);"}, {2, "b", "CREATE TABLE b (x);"}};
  auto db = Db::Open(dir.file("a.db"));
  REQUIRE(*Migrate(db.value().get(), ms, 1) == 2);
  ms.pop_back();
  auto v = Migrate(db.value().get(), ms, 1);
  REQUIRE_FALSE(v.ok());
  CHECK(v.status().code() == EPROTO);
  CHECK(v.status().message().find("newer keeld") != std::string::npos);
}

TEST_CASE("sqlite: a directory that does not exist is a clear error") {
  auto db = Db::Open("/nonexistent-keel-dir/x.db");
  REQUIRE_FALSE(db.ok());
  CHECK(db.status().message().find("/nonexistent-keel-dir/x.db") != std::string::npos);
}

}  // namespace keel
