// SqliteKvdb beyond the shared contract (kvdb_contract_test.cpp): what
// survives a restart, and databases written by an older keeld.
#include "manager/kvdb/sqlite_kvdb.h"

#include <doctest/doctest.h>

#include <cerrno>

#include "manager/state/temp_dir.h"

namespace keel {

TEST_CASE("sqlite kvdb: state, leases and history persist, the revision never goes back") {
  TempDir dir;
  FakeClock clock;
  int64_t rev;
  LeaseId lease;
  {
    auto kv = SqliteKvdb::Open(dir.file("kvdb.db"), &clock);
    REQUIRE(kv.ok());
    REQUIRE((*kv)->Put("/x", "1").ok());
    REQUIRE((*kv)->Delete("/x").ok());
    lease = *(*kv)->Grant(10);
    REQUIRE((*kv)->Put("/leased", "1", lease).ok());
    rev = *(*kv)->Revision();
  }
  auto kv = SqliteKvdb::Open(dir.file("kvdb.db"), &clock);
  REQUIRE(kv.ok());
  CHECK(*(*kv)->Revision() == rev);
  CHECK((*(*kv)->Get("/leased"))->lease == lease);
  // The history is still there for a watch from the start.
  auto w = (*kv)->Watch("/x", 1);
  REQUIRE(w.ok());
  auto ev = (*w)->Poll(std::chrono::milliseconds(0));
  REQUIRE(ev.ok());
  REQUIRE(ev->size() == 2);
  CHECK((*ev)[1].type == WatchEvent::Type::kDelete);
  // The lease kept its deadline across the restart.
  clock.Advance(10000);
  CHECK_FALSE((*(*kv)->Get("/leased")).has_value());
  CHECK(*(*kv)->Put("/y", "2") == rev + 2);
}

TEST_CASE("sqlite kvdb: a version-1 database is migrated, its keys kept, old history refused") {
  TempDir dir;
  FakeClock clock;
  {
    // What keeld wrote before leases and watches existed.
    auto db = Db::Open(dir.file("kvdb.db"));
    REQUIRE(db.ok());
    std::vector<Migration> v1(KvdbMigrations().begin(), KvdbMigrations().begin() + 1);
    REQUIRE(Migrate(db.value().get(), v1, clock.NowMs()).ok());
    REQUIRE((*db)
                ->Exec("UPDATE revision SET value = 7 WHERE id = 1;"
                       "INSERT INTO kv VALUES ('/keel/volumes/db', '{}', 5, 7, 3);")
                .ok());
  }
  auto kv = SqliteKvdb::Open(dir.file("kvdb.db"), &clock);
  REQUIRE_MESSAGE(kv.ok(), kv.status().ToString());
  auto db = Db::Open(dir.file("kvdb.db"));
  CHECK(*SchemaVersion(db.value().get()) == static_cast<int>(SqliteKvdbMigrations().size()));
  auto e = *(*kv)->Get("/keel/volumes/db");
  REQUIRE(e.has_value());
  CHECK(*e == KvEntry{"/keel/volumes/db", "{}", 5, 7, 3, kNoLease});
  // Changes before the migration are not in the history.
  auto old = (*kv)->Watch("/keel/", 7);
  REQUIRE(old.ok());
  CHECK((*old)->Poll(std::chrono::milliseconds(0)).status().code() == ERANGE);
  auto w = (*kv)->Watch("/keel/", 8);
  REQUIRE(w.ok());
  CHECK(*(*kv)->CompareAndSwap("/keel/volumes/db", 7, "{\"x\":1}") == 8);
  auto ev = (*w)->Poll(std::chrono::milliseconds(0));
  REQUIRE(ev.ok());
  REQUIRE(ev->size() == 1);
  CHECK((*ev)[0].kv.version == 4);
  CHECK((*ev)[0].kv.create_revision == 5);
}

TEST_CASE("sqlite kvdb: history older than the window is compacted (ERANGE)") {
  TempDir dir;
  FakeClock clock;
  auto kv = SqliteKvdb::Open(dir.file("kvdb.db"), &clock);
  REQUIRE(kv.ok());
  auto db = Db::Open(dir.file("kvdb.db"));
  // Jump the revision near the window instead of writing 10,000 times.
  REQUIRE((*db)->Exec("UPDATE revision SET value = 10000 WHERE id = 1").ok());
  REQUIRE((*kv)->Put("/a", "1").ok());  // revision 10001
  REQUIRE((*kv)->Put("/a", "2").ok());  // 10002: keeps 3.. onwards
  auto gone = (*kv)->Watch("/", 2);
  REQUIRE(gone.ok());
  auto r = (*gone)->Poll(std::chrono::milliseconds(0));
  CHECK(r.status().code() == ERANGE);
  CHECK(r.status().message().find("compacted") != std::string::npos);
  auto kept = (*kv)->Watch("/", 10001);
  REQUIRE(kept.ok());
  auto ev = (*kept)->Poll(std::chrono::milliseconds(0));
  REQUIRE(ev.ok());
  CHECK(ev->size() == 2);
}

}  // namespace keel
