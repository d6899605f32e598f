#include "manager/kvdb/sqlite_kvdb.h"

#include <doctest/doctest.h>

#include <cerrno>

#include "manager/state/temp_dir.h"

namespace keel {

TEST_CASE("kvdb: put, get, revisions and versions as etcd has them") {
  TempDir dir;
  FakeClock clock;
  auto kv = SqliteKvdb::Open(dir.file("kvdb.db"), &clock);
  REQUIRE(kv.ok());
  Kvdb& db = **kv;
  int64_t r0 = *db.Revision();
  CHECK_FALSE((*db.Get("/a")).has_value());
  int64_t r1 = *db.Put("/a", "1");
  CHECK(r1 == r0 + 1);
  int64_t r2 = *db.Put("/a", "2");
  CHECK(r2 == r1 + 1);
  auto e = *db.Get("/a");
  REQUIRE(e.has_value());
  CHECK(e->value == "2");
  CHECK(e->create_revision == r1);
  CHECK(e->mod_revision == r2);
  CHECK(e->version == 2);
  CHECK(*db.Delete("/a"));
  CHECK_FALSE(*db.Delete("/a"));
  CHECK(*db.Revision() == r2 + 1);
  // Re-created: a new life, version 1.
  int64_t r3 = *db.Put("/a", "3");
  CHECK((*db.Get("/a"))->create_revision == r3);
  CHECK((*db.Get("/a"))->version == 1);
}

TEST_CASE("kvdb: compare-and-swap on the mod revision") {
  TempDir dir;
  FakeClock clock;
  auto kv = SqliteKvdb::Open(dir.file("kvdb.db"), &clock);
  Kvdb& db = **kv;
  // 0: create only if absent.
  auto r1 = db.CompareAndSwap("/v/db", 0, "a");
  REQUIRE(r1.ok());
  auto again = db.CompareAndSwap("/v/db", 0, "b");
  CHECK(again.status().code() == ECANCELED);
  CHECK((*db.Get("/v/db"))->value == "a");
  // Two writers read the same revision: one wins, the other is told.
  auto w1 = db.CompareAndSwap("/v/db", *r1, "w1");
  auto w2 = db.CompareAndSwap("/v/db", *r1, "w2");
  CHECK(w1.ok());
  CHECK(w2.status().code() == ECANCELED);
  CHECK((*db.Get("/v/db"))->value == "w1");
  CHECK(db.CompareAndDelete("/v/db", *r1).code() == ECANCELED);
  CHECK(db.CompareAndDelete("/v/db", *w1).ok());
  CHECK(db.CompareAndDelete("/v/db", *w1).code() == ECANCELED);
  CHECK_FALSE((*db.Get("/v/db")).has_value());
}

TEST_CASE("kvdb: list by prefix, in key order, wildcards are literal") {
  TempDir dir;
  FakeClock clock;
  auto kv = SqliteKvdb::Open(dir.file("kvdb.db"), &clock);
  Kvdb& db = **kv;
  for (const char* k : {"/keel/volumes/b", "/keel/volumes/a", "/keel/volumesX", "/keel/nodes/n1",
                        "/keel/volumes/%", "/keel/volumes/_"}) {
    REQUIRE(db.Put(k, k).ok());
  }
  auto l = *db.List("/keel/volumes/");
  REQUIRE(l.size() == 4);
  CHECK(l[0].key == "/keel/volumes/%");
  CHECK(l[1].key == "/keel/volumes/_");
  CHECK(l[2].key == "/keel/volumes/a");
  CHECK(l[3].key == "/keel/volumes/b");
  CHECK(db.List("/keel/")->size() == 6);
  CHECK(db.List("")->size() == 6);
  CHECK(db.List("/none/")->empty());
  CHECK(db.Get("").status().code() == EINVAL);
}

TEST_CASE("kvdb: state persists and the revision never goes back") {
  TempDir dir;
  FakeClock clock;
  int64_t rev;
  {
    auto kv = SqliteKvdb::Open(dir.file("kvdb.db"), &clock);
    (*kv)->Put("/x", "1");
    (*kv)->Delete("/x");
    rev = *(*kv)->Revision();
  }
  auto kv = SqliteKvdb::Open(dir.file("kvdb.db"), &clock);
  CHECK(*(*kv)->Revision() == rev);
  CHECK(*(*kv)->Put("/y", "2") == rev + 1);
}

}  // namespace keel
