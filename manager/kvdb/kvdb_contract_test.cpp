// The Kvdb contract: one suite, run against both implementations (the
// embedded SQLite store and a real etcd), so code written against the
// interface behaves the same on a laptop and in a cluster.
#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <thread>

#include "manager/kvdb/etcd_kvdb.h"
#include "manager/kvdb/etcd_test_server.h"
#include "manager/kvdb/sqlite_kvdb.h"
#include "manager/state/clock.h"
#include "manager/state/temp_dir.h"

namespace keel {
namespace {

struct Backend {
  std::unique_ptr<Kvdb> kv;
  // Lets `ms` of lease time pass: the fake clock's for SQLite, a real sleep
  // for etcd.
  std::function<void(int64_t)> elapse;
  // What the store needs to stay alive (temp dir and clock, etcd process).
  std::shared_ptr<void> keep;
};

Backend MakeSqlite() {
  struct Env {
    TempDir dir;
    FakeClock clock;
  };
  auto env = std::make_shared<Env>();
  auto kv = SqliteKvdb::Open(env->dir.file("kvdb.db"), &env->clock);
  REQUIRE_MESSAGE(kv.ok(), kv.status().ToString());
  FakeClock* clock = &env->clock;
  return {std::move(kv).value(), [clock](int64_t ms) { clock->Advance(ms); }, env};
}

Backend MakeEtcd() {
  auto etcd = EtcdProcess::Start();
  REQUIRE_MESSAGE(etcd.ok(), etcd.status().ToString());
  std::shared_ptr<EtcdProcess> proc = std::move(etcd).value();
  auto kv = EtcdKvdb::Open({{proc->client_url()}, std::chrono::milliseconds(5000)});
  REQUIRE_MESSAGE(kv.ok(), kv.status().ToString());
  return {std::move(kv).value(),
          [](int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }, proc};
}

// Polls until `n` events came or `limit` passed.
std::vector<WatchEvent> Collect(Watcher& w, size_t n, std::chrono::milliseconds limit) {
  std::vector<WatchEvent> out;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    auto batch = w.Poll(std::chrono::milliseconds(200));
    if (!batch.ok()) {
      // A transient error is allowed to show; the watch goes on.
      REQUIRE_MESSAGE(batch.status().code() != ECANCELED, batch.status().ToString());
      REQUIRE_MESSAGE(batch.status().code() != ERANGE, batch.status().ToString());
      continue;
    }
    for (auto& e : *batch) out.push_back(e);
  }
  return out;
}

void PutGetRevisionsVersions(Backend& b) {
  Kvdb& db = *b.kv;
  int64_t r0 = *db.Revision();
  CHECK_FALSE((*db.Get("/keel/a")).has_value());
  int64_t r1 = *db.Put("/keel/a", "1");
  CHECK(r1 == r0 + 1);
  int64_t r2 = *db.Put("/keel/a", "2");
  CHECK(r2 == r1 + 1);
  auto e = *db.Get("/keel/a");
  REQUIRE(e.has_value());
  CHECK(e->key == "/keel/a");
  CHECK(e->value == "2");
  CHECK(e->create_revision == r1);
  CHECK(e->mod_revision == r2);
  CHECK(e->version == 2);
  CHECK(e->lease == kNoLease);
  CHECK(*db.Delete("/keel/a"));
  // Deleting what is not there changes nothing, not even the revision.
  CHECK_FALSE(*db.Delete("/keel/a"));
  CHECK(*db.Revision() == r2 + 1);
  // Re-created: a new life, version 1.
  int64_t r3 = *db.Put("/keel/a", "3");
  CHECK((*db.Get("/keel/a"))->create_revision == r3);
  CHECK((*db.Get("/keel/a"))->version == 1);
  // Values are bytes: NUL, 0xff and UTF-8 survive; so do UTF-8 keys.
  std::string bytes("\0\xff\x01z\xc3\xa9", 6);
  REQUIRE(db.Put("/keel/bytes/\xc3\xa9t\xc3\xa9", bytes).ok());
  CHECK((*db.Get("/keel/bytes/\xc3\xa9t\xc3\xa9"))->value == bytes);
  CHECK(db.Put("/keel/empty", "").ok());
  CHECK((*db.Get("/keel/empty"))->value.empty());
  CHECK(db.Get("").status().code() == EINVAL);
  CHECK(db.Put("", "x").status().code() == EINVAL);
}

void CompareAndSwapOnModRevision(Backend& b) {
  Kvdb& db = *b.kv;
  // 0: create only if absent.
  auto r1 = db.CompareAndSwap("/keel/v/db", 0, "a");
  REQUIRE(r1.ok());
  auto again = db.CompareAndSwap("/keel/v/db", 0, "b");
  CHECK(again.status().code() == ECANCELED);
  CHECK(again.status().message().find("is at revision " + std::to_string(*r1)) !=
        std::string::npos);
  CHECK((*db.Get("/keel/v/db"))->value == "a");
  // Two writers read the same revision: one wins, the other is told.
  auto w1 = db.CompareAndSwap("/keel/v/db", *r1, "w1");
  auto w2 = db.CompareAndSwap("/keel/v/db", *r1, "w2");
  REQUIRE(w1.ok());
  CHECK(*w1 == *r1 + 1);
  CHECK(w2.status().code() == ECANCELED);
  CHECK((*db.Get("/keel/v/db"))->value == "w1");
  CHECK(db.CompareAndDelete("/keel/v/db", *r1).code() == ECANCELED);
  CHECK(db.CompareAndDelete("/keel/v/db", 0).code() == ECANCELED);
  CHECK(db.CompareAndDelete("/keel/v/db", *w1).ok());
  CHECK(db.CompareAndDelete("/keel/v/db", *w1).code() == ECANCELED);
  CHECK_FALSE((*db.Get("/keel/v/db")).has_value());
}

void ListByPrefixInKeyOrder(Backend& b) {
  Kvdb& db = *b.kv;
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
  CHECK(l[2].value == "/keel/volumes/a");
  CHECK(l[2].version == 1);
  CHECK(db.List("/keel/")->size() == 6);
  CHECK(db.List("")->size() == 6);
  CHECK(db.List("/none/")->empty());
}

void TxnIsAtomicOverKeys(Backend& b) {
  Kvdb& db = *b.kv;
  int64_t ra = *db.Put("/keel/t/a", "1");
  REQUIRE(db.Put("/keel/t/b", "1").ok());
  REQUIRE(db.Put("/keel/t/x", "x").ok());
  int64_t before = *db.Revision();
  // Every compare holds: all the success ops, in one revision.
  auto ok = db.Txn({{Compare::ModRevision("/keel/t/a", ra), Compare::Value("/keel/t/b", "1"),
                     Compare::Absent("/keel/t/c")},
                    {TxnOp::Put("/keel/t/a", "2"), TxnOp::Put("/keel/t/b", "2"),
                     TxnOp::Put("/keel/t/c", "2"), TxnOp::Delete("/keel/t/x")},
                    {TxnOp::Put("/keel/t/failed", "1")}});
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  CHECK(ok->succeeded);
  CHECK(ok->revision == before + 1);
  CHECK(*db.Revision() == before + 1);
  for (const char* k : {"/keel/t/a", "/keel/t/b", "/keel/t/c"}) {
    auto e = *db.Get(k);
    REQUIRE(e.has_value());
    CHECK(e->value == "2");
    CHECK(e->mod_revision == ok->revision);
  }
  CHECK((*db.Get("/keel/t/a"))->version == 2);
  CHECK((*db.Get("/keel/t/c"))->create_revision == ok->revision);
  CHECK_FALSE((*db.Get("/keel/t/x")).has_value());
  CHECK_FALSE((*db.Get("/keel/t/failed")).has_value());

  // One stale compare: none of the success ops, the failure ops instead.
  auto stale = db.Txn({{Compare::ModRevision("/keel/t/a", ra), Compare::Value("/keel/t/b", "2")},
                       {TxnOp::Put("/keel/t/a", "3"), TxnOp::Put("/keel/t/b", "3")},
                       {TxnOp::Put("/keel/t/failed", "1")}});
  REQUIRE(stale.ok());
  CHECK_FALSE(stale->succeeded);
  CHECK(stale->revision == before + 2);
  CHECK((*db.Get("/keel/t/a"))->value == "2");
  CHECK((*db.Get("/keel/t/b"))->value == "2");
  CHECK((*db.Get("/keel/t/failed"))->value == "1");

  // A failed compare with nothing to do on failure writes nothing.
  auto noop = db.Txn({{Compare::Absent("/keel/t/a")}, {TxnOp::Put("/keel/t/a", "4")}, {}});
  REQUIRE(noop.ok());
  CHECK_FALSE(noop->succeeded);
  CHECK(noop->revision == before + 2);
  CHECK(*db.Revision() == before + 2);
  // A value compare never holds for an absent key.
  auto absent = db.Txn({{Compare::Value("/keel/t/none", "")}, {TxnOp::Put("/keel/t/z", "1")}, {}});
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->succeeded);
  // The same key twice in one branch is refused, and nothing is written.
  auto dup = db.Txn({{}, {TxnOp::Put("/keel/t/d", "1"), TxnOp::Delete("/keel/t/d")}, {}});
  CHECK(dup.status().code() == EINVAL);
  CHECK_FALSE((*db.Get("/keel/t/d")).has_value());
  CHECK(*db.Revision() == before + 2);
}

void LeaseExpiresUnlessKeptAlive(Backend& b) {
  Kvdb& db = *b.kv;
  auto lease = db.Grant(2);
  REQUIRE_MESSAGE(lease.ok(), lease.status().ToString());
  REQUIRE(db.Put("/keel/l/k", "v", *lease).ok());
  CHECK((*db.Get("/keel/l/k"))->lease == *lease);
  REQUIRE(db.Put("/keel/l/plain", "v").ok());
  b.elapse(1000);
  auto ttl = db.KeepAlive(*lease);
  REQUIRE_MESSAGE(ttl.ok(), ttl.status().ToString());
  CHECK(*ttl == 2);
  // Past the first expiry: the keep-alive moved it.
  b.elapse(1300);
  CHECK((*db.Get("/keel/l/k")).has_value());
  // No more keep-alives: gone within a few hundred ms of the TTL (etcd
  // checks expiry every 500 ms).
  bool gone = false;
  for (int i = 0; i < 20 && !gone; i++) {
    b.elapse(200);
    gone = !(*db.Get("/keel/l/k")).has_value();
  }
  CHECK(gone);
  CHECK((*db.Get("/keel/l/plain")).has_value());
  CHECK(db.KeepAlive(*lease).status().code() == ENOENT);
  CHECK(db.Put("/keel/l/k", "v", *lease).status().code() == ENOENT);
  CHECK(db.Revoke(*lease).code() == ENOENT);
}

void RevokeDeletesTheLeasesKeys(Backend& b) {
  Kvdb& db = *b.kv;
  auto lease = db.Grant(60);
  REQUIRE(lease.ok());
  auto other = db.Grant(60);
  REQUIRE(other.ok());
  CHECK(*other != *lease);
  REQUIRE(db.Put("/keel/r/a", "1", *lease).ok());
  auto t = db.Txn({{}, {TxnOp::Put("/keel/r/b", "1", *lease), TxnOp::Put("/keel/r/c", "1")}, {}});
  REQUIRE(t.ok());
  REQUIRE(db.Put("/keel/r/d", "1", *other).ok());
  // Overwritten without the lease: no longer the lease's.
  REQUIRE(db.Put("/keel/r/e", "1", *lease).ok());
  REQUIRE(db.Put("/keel/r/e", "2").ok());
  int64_t before = *db.Revision();
  REQUIRE(db.Revoke(*lease).ok());
  // All the lease's keys go in one revision.
  CHECK(*db.Revision() == before + 1);
  auto l = *db.List("/keel/r/");
  REQUIRE(l.size() == 3);
  CHECK(l[0].key == "/keel/r/c");
  CHECK(l[1].key == "/keel/r/d");
  CHECK(l[2].key == "/keel/r/e");
  CHECK(db.Revoke(*lease).code() == ENOENT);
  CHECK(db.KeepAlive(*lease).status().code() == ENOENT);
  CHECK(*db.KeepAlive(*other) == 60);
  CHECK(db.Grant(0).status().code() == EINVAL);
  CHECK(db.KeepAlive(123456789).status().code() == ENOENT);
  CHECK(db.Put("/keel/r/x", "1", 123456789).status().code() == ENOENT);
  auto bad = db.Txn({{}, {TxnOp::Put("/keel/r/y", "1", 123456789)}, {}});
  CHECK(bad.status().code() == ENOENT);
  CHECK_FALSE((*db.Get("/keel/r/y")).has_value());
}

void WatchSeesChangesInOrder(Backend& b) {
  Kvdb& db = *b.kv;
  int64_t r0 = *db.Revision();
  int64_t ra = *db.Put("/keel/w/a", "1");
  REQUIRE(db.Put("/keel/other", "1").ok());
  int64_t rb = *db.Put("/keel/w/b", "2");
  REQUIRE(db.Delete("/keel/w/a").ok());
  auto t = db.Txn({{}, {TxnOp::Put("/keel/w/c", "3"), TxnOp::Put("/keel/w/d", "4")}, {}});
  REQUIRE(t.ok());

  // From a past revision: the history, in order, only under the prefix.
  auto w = db.Watch("/keel/w/", r0 + 1);
  REQUIRE_MESSAGE(w.ok(), w.status().ToString());
  auto ev = Collect(**w, 5, std::chrono::milliseconds(3000));
  REQUIRE(ev.size() == 5);
  CHECK(ev[0].type == WatchEvent::Type::kPut);
  CHECK(ev[0].kv.key == "/keel/w/a");
  CHECK(ev[0].kv.value == "1");
  CHECK(ev[0].kv.mod_revision == ra);
  CHECK(ev[0].kv.create_revision == ra);
  CHECK(ev[0].kv.version == 1);
  CHECK(ev[1].kv.key == "/keel/w/b");
  CHECK(ev[1].kv.mod_revision == rb);
  CHECK(ev[2].type == WatchEvent::Type::kDelete);
  CHECK(ev[2].kv.key == "/keel/w/a");
  CHECK(ev[2].kv.mod_revision == rb + 1);
  CHECK(ev[3].kv.key == "/keel/w/c");
  CHECK(ev[4].kv.key == "/keel/w/d");
  CHECK(ev[3].kv.mod_revision == t->revision);
  CHECK(ev[4].kv.mod_revision == t->revision);

  // From now (0): only what comes after.
  auto now = db.Watch("/keel/w/", 0);
  REQUIRE(now.ok());
  // Live: a change after the watch began.
  int64_t re = *db.Put("/keel/w/e", "5");
  REQUIRE(db.Put("/keel/outside", "x").ok());
  auto live = Collect(**w, 1, std::chrono::milliseconds(3000));
  REQUIRE(live.size() == 1);
  CHECK(live[0].kv.key == "/keel/w/e");
  CHECK(live[0].kv.mod_revision == re);
  auto fresh = Collect(**now, 1, std::chrono::milliseconds(3000));
  REQUIRE(fresh.size() == 1);
  CHECK(fresh[0].kv.key == "/keel/w/e");

  // Nothing more: Poll waits its timeout and returns an empty batch.
  auto t0 = std::chrono::steady_clock::now();
  auto idle = (*w)->Poll(std::chrono::milliseconds(300));
  REQUIRE(idle.ok());
  CHECK(idle->empty());
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(290));

  // Cancel wakes a waiting Poll at once, and every later one.
  std::thread canceler([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (*w)->Cancel();
  });
  t0 = std::chrono::steady_clock::now();
  auto canceled = (*w)->Poll(std::chrono::milliseconds(5000));
  canceler.join();
  CHECK(canceled.status().code() == ECANCELED);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(2000));
  CHECK((*w)->Poll(std::chrono::milliseconds(10)).status().code() == ECANCELED);
}

void WatchSeesLeaseExpiry(Backend& b) {
  Kvdb& db = *b.kv;
  // 1 s: the test etcd's minimum (1.5 election timeouts of 500 ms).
  auto lease = db.Grant(1);
  REQUIRE(lease.ok());
  REQUIRE(db.Put("/keel/nodes/n1", "up", *lease).ok());
  auto w = db.Watch("/keel/nodes/", 0);
  REQUIRE(w.ok());
  std::vector<WatchEvent> ev;
  for (int i = 0; i < 20 && ev.empty(); i++) {
    b.elapse(200);
    ev = Collect(**w, 1, std::chrono::milliseconds(200));
  }
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].type == WatchEvent::Type::kDelete);
  CHECK(ev[0].kv.key == "/keel/nodes/n1");
}

void ConcurrentCompareAndSwapLosesNoUpdate(Backend& b) {
  Kvdb& db = *b.kv;
  // Two threads increment one counter by read + compare-and-swap, retrying
  // on ECANCELED: every increment lands exactly once.
  REQUIRE(db.Put("/keel/counter", "0").ok());
  constexpr int kPerThread = 15;
  std::atomic<int> conflicts{0};
  std::atomic<int> errors{0};
  auto work = [&] {
    for (int done = 0; done < kPerThread;) {
      auto e = db.Get("/keel/counter");
      if (!e.ok() || !e->has_value()) {
        errors++;
        return;
      }
      int v = std::stoi((*e)->value);
      auto r = db.CompareAndSwap("/keel/counter", (*e)->mod_revision, std::to_string(v + 1));
      if (r.ok()) {
        done++;
      } else if (r.status().code() == ECANCELED) {
        conflicts++;
      } else {
        errors++;
        return;
      }
    }
  };
  std::thread t1(work), t2(work);
  t1.join();
  t2.join();
  CHECK(errors == 0);
  auto e = *db.Get("/keel/counter");
  REQUIRE(e.has_value());
  CHECK(e->value == std::to_string(2 * kPerThread));
  CHECK(e->version == 2 * kPerThread + 1);
  MESSAGE("conflicts: " << conflicts.load());
}

}  // namespace

// Each behaviour is a test case per implementation, so a failure names both.
#define KVDB_CONTRACT(what, fn)               \
  TEST_CASE("kvdb contract, sqlite: " what) { \
    Backend b = MakeSqlite();                 \
    fn(b);                                    \
  }                                           \
  TEST_CASE("kvdb contract, etcd: " what) {   \
    Backend b = MakeEtcd();                   \
    fn(b);                                    \
  }

KVDB_CONTRACT("put, get, delete, revisions and versions as etcd has them", PutGetRevisionsVersions)
KVDB_CONTRACT("compare-and-swap on the mod revision, ECANCELED for the loser",
              CompareAndSwapOnModRevision)
KVDB_CONTRACT("list by prefix in key order, wildcards literal", ListByPrefixInKeyOrder)
KVDB_CONTRACT("transaction over several keys is all or nothing, one revision", TxnIsAtomicOverKeys)
KVDB_CONTRACT("lease expires at its TTL unless kept alive", LeaseExpiresUnlessKeptAlive)
KVDB_CONTRACT("revoking a lease deletes its keys in one revision", RevokeDeletesTheLeasesKeys)
KVDB_CONTRACT("watch replays from a start revision, then live, in order, and cancel",
              WatchSeesChangesInOrder)
KVDB_CONTRACT("watch sees a lease's key deleted when it expires", WatchSeesLeaseExpiry)
KVDB_CONTRACT("two threads doing compare-and-swap lose no update",
              ConcurrentCompareAndSwapLosesNoUpdate)

}  // namespace keel
