#include "manager/kvdb/sqlite_kvdb.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <set>

#include "manager/kvdb/key_range.h"

namespace keel {
namespace {

Status CheckKey(const std::string& key) {
  if (key.empty()) return Status::Error(EINVAL, "kvdb: empty key");
  if (key.size() > 1024) return Status::Error(EINVAL, "kvdb: key longer than 1024 bytes");
  return Status();
}

// Duplicate keys in one branch would make the outcome depend on the order
// of the ops; etcd refuses them too ("duplicate key given in txn request").
Status CheckOps(const std::vector<TxnOp>& ops) {
  std::set<std::string> seen;
  for (const TxnOp& op : ops) {
    Status s = CheckKey(op.key);
    if (!s.ok()) return s;
    if (!seen.insert(op.key).second) {
      return Status::Error(EINVAL, "kvdb: key '" + op.key + "' written twice in one transaction");
    }
  }
  return Status();
}

Status LeaseNotFound(LeaseId lease) {
  return Status::Error(ENOENT,
                       "kvdb: lease " + std::to_string(lease) + " not found (expired or revoked)");
}

}  // namespace

const std::vector<Migration>& SqliteKvdbMigrations() {
  static const std::vector<Migration> kMigrations = [] {
    // Version 1 is manager/state's; the numbers of the ones here are fixed
    // (a database records them), whatever that list grows to.
    std::vector<Migration> m = {KvdbMigrations().front()};
    // Revision 1 is the empty store (nothing happened at it), so a fresh
    // database keeps history from 1; one that already had writes has none
    // of them in the history, so watches start after its revision.
    m.push_back({2, "leases and watch history",
                 "ALTER TABLE kv ADD COLUMN lease INTEGER NOT NULL DEFAULT 0;"
                 "CREATE INDEX kv_lease ON kv (lease) WHERE lease != 0;"
                 "CREATE TABLE leases ("
                 " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                 " ttl INTEGER NOT NULL,"
                 " expires_at INTEGER NOT NULL);"
                 "CREATE TABLE history ("
                 " revision INTEGER NOT NULL,"
                 " sub INTEGER NOT NULL,"
                 " deleted INTEGER NOT NULL,"
                 " key TEXT NOT NULL,"
                 " value BLOB NOT NULL,"
                 " create_revision INTEGER NOT NULL,"
                 " version INTEGER NOT NULL,"
                 " lease INTEGER NOT NULL,"
                 " PRIMARY KEY (revision, sub));"
                 "CREATE TABLE history_start ("
                 " id INTEGER PRIMARY KEY CHECK (id = 1), first_kept INTEGER NOT NULL);"
                 "INSERT INTO history_start (id, first_kept)"
                 " SELECT 1, CASE WHEN value = 1 THEN 1 ELSE value + 1 END FROM revision;"});
    return m;
  }();
  return kMigrations;
}

// Polls the history table; woken by every commit of the kvdb.
class SqliteWatcher : public Watcher {
 public:
  SqliteWatcher(SqliteKvdb* kv, std::string prefix, int64_t next)
      : kv_(kv), prefix_(std::move(prefix)), next_(next) {}

  Result<std::vector<WatchEvent>> Poll(std::chrono::milliseconds timeout) override {
    std::lock_guard poll_lock(poll_mu_);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (canceled_) return Status::Error(ECANCELED, "kvdb: watch canceled");
      uint64_t seen;
      {
        std::lock_guard l(kv_->notify_mu_);
        seen = kv_->commits_;
      }
      auto events = Read();
      if (!events.ok() || !events->empty()) return events;
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return events;
      // Leases expire by the clock, not by a commit: look again at least
      // every 100 ms.
      auto until = std::min(deadline, now + std::chrono::milliseconds(100));
      std::unique_lock l(kv_->notify_mu_);
      kv_->notify_cv_.wait_until(l, until, [&] { return kv_->commits_ != seen || canceled_; });
    }
  }

  void Cancel() override {
    canceled_ = true;
    std::lock_guard l(kv_->notify_mu_);
    kv_->notify_cv_.notify_all();
  }

 private:
  Result<std::vector<WatchEvent>> Read() {
    std::vector<WatchEvent> events;
    {
      std::lock_guard l(kv_->mu_);
      Transaction tx(kv_->db_.get());
      Status s = tx.Begin();
      if (s.ok()) s = kv_->ExpireLeasesLocked();
      if (!s.ok()) return s;
      auto h = kv_->HistoryLocked(prefix_, next_);
      if (!h.ok()) return h;
      s = tx.Commit();
      if (!s.ok()) return s;
      events = std::move(h).value();
    }
    kv_->Notify();
    if (!events.empty()) next_ = events.back().kv.mod_revision + 1;
    return events;
  }

  SqliteKvdb* kv_;
  const std::string prefix_;
  std::mutex poll_mu_;  // one Poll at a time: next_ is theirs
  int64_t next_;
  std::atomic<bool> canceled_{false};
};

Result<std::unique_ptr<SqliteKvdb>> SqliteKvdb::Open(const std::string& path, Clock* clock) {
  auto db = Db::Open(path);
  if (!db.ok()) return db.status();
  auto v = Migrate(db.value().get(), SqliteKvdbMigrations(), clock->NowMs());
  if (!v.ok()) return v.status();
  return std::unique_ptr<SqliteKvdb>(new SqliteKvdb(std::move(db).value(), clock));
}

void SqliteKvdb::Notify() {
  std::lock_guard l(notify_mu_);
  commits_++;
  notify_cv_.notify_all();
}

// Runs `f` under mu_ in one SQLite transaction, after expiring leases, and
// commits only if `f` succeeded.
template <typename T, typename F>
Result<T> SqliteKvdb::InTxn(F&& f) {
  Result<T> r = [&]() -> Result<T> {
    std::lock_guard l(mu_);
    Transaction tx(db_.get());
    Status s = tx.Begin();
    if (s.ok()) s = ExpireLeasesLocked();
    if (!s.ok()) return s;
    Result<T> v = f();
    if (!v.ok()) return v;
    s = tx.Commit();
    if (!s.ok()) return s;
    return v;
  }();
  if (r.ok()) Notify();
  return r;
}

Result<std::optional<KvEntry>> SqliteKvdb::GetLocked(const std::string& key) {
  auto st = db_->Prepare(
      "SELECT key, value, create_revision, mod_revision, version, lease FROM kv WHERE key = ?");
  if (!st.ok()) return st.status();
  auto row = st.value().Bind(1, key).Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<KvEntry>();
  const Stmt& r = st.value();
  return std::optional<KvEntry>(
      KvEntry{r.Text(0), r.Text(1), r.Int(2), r.Int(3), r.Int(4), r.Int(5)});
}

Result<std::optional<KvEntry>> SqliteKvdb::Get(const std::string& key) {
  Status s = CheckKey(key);
  if (!s.ok()) return s;
  return InTxn<std::optional<KvEntry>>(
      [&]() -> Result<std::optional<KvEntry>> { return GetLocked(key); });
}

Result<int64_t> SqliteKvdb::RevisionLocked() {
  auto st = db_->Prepare("SELECT value FROM revision WHERE id = 1");
  if (!st.ok()) return st.status();
  auto row = st.value().Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Error(EUCLEAN, "kvdb: revision row missing in " + db_->path());
  return st.value().Int(0);
}

Result<int64_t> SqliteKvdb::Revision() {
  return InTxn<int64_t>([&]() -> Result<int64_t> { return RevisionLocked(); });
}

Result<int64_t> SqliteKvdb::BumpRevisionLocked() {
  Status s = db_->Exec("UPDATE revision SET value = value + 1 WHERE id = 1");
  if (!s.ok()) return s;
  auto rev = RevisionLocked();
  if (!rev.ok()) return rev;
  // Compaction: drop history older than the window, and say so for
  // watches that would need it.
  int64_t first_kept = *rev - kHistoryRevisions + 1;
  if (first_kept > 1) {
    auto del = db_->Prepare("DELETE FROM history WHERE revision < ?");
    if (!del.ok()) return del.status();
    s = del.value().Bind(1, first_kept).Run();
    if (!s.ok()) return s;
    auto up = db_->Prepare("UPDATE history_start SET first_kept = MAX(first_kept, ?) WHERE id = 1");
    if (!up.ok()) return up.status();
    s = up.value().Bind(1, first_kept).Run();
    if (!s.ok()) return s;
  }
  return rev;
}

Status SqliteKvdb::PutLocked(const std::string& key, const std::string& value, LeaseId lease,
                             int64_t rev, int64_t sub) {
  auto old = GetLocked(key);
  if (!old.ok()) return old.status();
  int64_t create = *old ? (*old)->create_revision : rev;
  int64_t version = *old ? (*old)->version + 1 : 1;
  auto st = db_->Prepare(
      "INSERT OR REPLACE INTO kv (key, value, create_revision, mod_revision, version, lease)"
      " VALUES (?, ?, ?, ?, ?, ?)");
  if (!st.ok()) return st.status();
  Status s = st.value()
                 .Bind(1, key)
                 .Bind(2, value)
                 .Bind(3, create)
                 .Bind(4, rev)
                 .Bind(5, version)
                 .Bind(6, lease)
                 .Run();
  if (!s.ok()) return s;
  auto h = db_->Prepare(
      "INSERT INTO history (revision, sub, deleted, key, value, create_revision, version, lease)"
      " VALUES (?, ?, 0, ?, ?, ?, ?, ?)");
  if (!h.ok()) return h.status();
  return h.value()
      .Bind(1, rev)
      .Bind(2, sub)
      .Bind(3, key)
      .Bind(4, value)
      .Bind(5, create)
      .Bind(6, version)
      .Bind(7, lease)
      .Run();
}

Result<bool> SqliteKvdb::DeleteLocked(const std::string& key, int64_t rev, int64_t sub) {
  auto st = db_->Prepare("DELETE FROM kv WHERE key = ?");
  if (!st.ok()) return st.status();
  Status s = st.value().Bind(1, key).Run();
  if (!s.ok()) return s;
  if (db_->Changes() == 0) return false;
  auto h = db_->Prepare(
      "INSERT INTO history (revision, sub, deleted, key, value, create_revision, version, lease)"
      " VALUES (?, ?, 1, ?, '', 0, 0, 0)");
  if (!h.ok()) return h.status();
  s = h.value().Bind(1, rev).Bind(2, sub).Bind(3, key).Run();
  if (!s.ok()) return s;
  return true;
}

Result<bool> SqliteKvdb::CompareLocked(const Compare& c) {
  Status s = CheckKey(c.key);
  if (!s.ok()) return s;
  auto e = GetLocked(c.key);
  if (!e.ok()) return e.status();
  switch (c.target) {
    case Compare::Target::kModRevision:
      return (*e ? (*e)->mod_revision : 0) == c.revision;
    case Compare::Target::kCreateRevision:
      return (*e ? (*e)->create_revision : 0) == c.revision;
    case Compare::Target::kValue:
      return e->has_value() && (*e)->value == c.value;
  }
  return Status::Error(EINVAL, "kvdb: unknown compare target");
}

Result<TxnResult> SqliteKvdb::TxnLocked(const TxnRequest& txn) {
  Status s = CheckOps(txn.success);
  if (s.ok()) s = CheckOps(txn.failure);
  if (!s.ok()) return s;
  bool ok = true;
  for (const Compare& c : txn.compares) {
    auto r = CompareLocked(c);
    if (!r.ok()) return r.status();
    ok = ok && *r;
  }
  const std::vector<TxnOp>& ops = ok ? txn.success : txn.failure;
  for (const TxnOp& op : ops) {
    if (op.type != TxnOp::Type::kPut || op.lease == kNoLease) continue;
    auto exists = LeaseExistsLocked(op.lease);
    if (!exists.ok()) return exists.status();
    if (!*exists) return LeaseNotFound(op.lease);
  }
  // The revision moves only if something changes: a delete of an absent
  // key changes nothing (as in etcd).
  bool changes = false;
  for (const TxnOp& op : ops) {
    if (op.type == TxnOp::Type::kPut) {
      changes = true;
      break;
    }
    auto e = GetLocked(op.key);
    if (!e.ok()) return e.status();
    if (e->has_value()) {
      changes = true;
      break;
    }
  }
  if (!changes) {
    auto rev = RevisionLocked();
    if (!rev.ok()) return rev.status();
    return TxnResult{ok, *rev};
  }
  auto rev = BumpRevisionLocked();
  if (!rev.ok()) return rev.status();
  int64_t sub = 0;
  for (const TxnOp& op : ops) {
    if (op.type == TxnOp::Type::kPut) {
      s = PutLocked(op.key, op.value, op.lease, *rev, sub++);
      if (!s.ok()) return s;
    } else {
      auto d = DeleteLocked(op.key, *rev, sub++);
      if (!d.ok()) return d.status();
    }
  }
  return TxnResult{ok, *rev};
}

Result<TxnResult> SqliteKvdb::Txn(const TxnRequest& txn) {
  return InTxn<TxnResult>([&]() -> Result<TxnResult> { return TxnLocked(txn); });
}

Result<int64_t> SqliteKvdb::Put(const std::string& key, const std::string& value, LeaseId lease) {
  TxnRequest t{{}, {TxnOp::Put(key, value, lease)}, {}};
  return InTxn<int64_t>([&]() -> Result<int64_t> {
    auto r = TxnLocked(t);
    if (!r.ok()) return r.status();
    return r->revision;
  });
}

Result<bool> SqliteKvdb::Delete(const std::string& key) {
  Status s = CheckKey(key);
  if (!s.ok()) return s;
  return InTxn<bool>([&]() -> Result<bool> {
    auto old = GetLocked(key);
    if (!old.ok()) return old.status();
    if (!old->has_value()) return false;
    auto r = TxnLocked({{}, {TxnOp::Delete(key)}, {}});
    if (!r.ok()) return r.status();
    return true;
  });
}

Result<int64_t> SqliteKvdb::CompareAndSwap(const std::string& key, int64_t expected_revision,
                                           const std::string& value) {
  return InTxn<int64_t>([&]() -> Result<int64_t> {
    auto r =
        TxnLocked({{Compare::ModRevision(key, expected_revision)}, {TxnOp::Put(key, value)}, {}});
    if (!r.ok()) return r.status();
    if (!r->succeeded) {
      auto old = GetLocked(key);
      int64_t actual = old.ok() && old->has_value() ? (*old)->mod_revision : 0;
      return Status::Error(
          ECANCELED, "kvdb: '" + key + "' is at revision " + std::to_string(actual) + ", not " +
                         std::to_string(expected_revision) + " (changed concurrently)");
    }
    return r->revision;
  });
}

Status SqliteKvdb::CompareAndDelete(const std::string& key, int64_t expected_revision) {
  auto done = InTxn<bool>([&]() -> Result<bool> {
    auto old = GetLocked(key);
    if (!old.ok()) return old.status();
    int64_t actual = old->has_value() ? (*old)->mod_revision : 0;
    if (!old->has_value() || actual != expected_revision) {
      return Status::Error(ECANCELED, "kvdb: '" + key + "' is at revision " +
                                          std::to_string(actual) + ", not " +
                                          std::to_string(expected_revision));
    }
    auto r = TxnLocked({{}, {TxnOp::Delete(key)}, {}});
    if (!r.ok()) return r.status();
    return true;
  });
  return done.status();
}

Result<std::vector<KvEntry>> SqliteKvdb::List(const std::string& prefix) {
  return InTxn<std::vector<KvEntry>>([&]() -> Result<std::vector<KvEntry>> {
    // Range [prefix, prefix-end) as etcd does, so LIKE wildcards in keys
    // do not matter.  An empty prefix lists everything.
    std::string sql =
        "SELECT key, value, create_revision, mod_revision, version, lease FROM kv WHERE key >= ?";
    std::string end = PrefixEnd(prefix);
    if (!end.empty()) sql += " AND key < ?";
    auto st = db_->Prepare(sql + " ORDER BY key");
    if (!st.ok()) return st.status();
    st.value().Bind(1, prefix);
    if (!end.empty()) st.value().Bind(2, end);
    std::vector<KvEntry> out;
    for (;;) {
      auto row = st.value().Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      const Stmt& r = st.value();
      out.push_back(KvEntry{r.Text(0), r.Text(1), r.Int(2), r.Int(3), r.Int(4), r.Int(5)});
    }
    return out;
  });
}

Result<bool> SqliteKvdb::LeaseExistsLocked(LeaseId lease) {
  auto st = db_->Prepare("SELECT 1 FROM leases WHERE id = ?");
  if (!st.ok()) return st.status();
  return st.value().Bind(1, lease).Step();
}

Status SqliteKvdb::RevokeLocked(LeaseId lease) {
  std::vector<std::string> keys;
  {
    auto st = db_->Prepare("SELECT key FROM kv WHERE lease = ? ORDER BY key");
    if (!st.ok()) return st.status();
    st.value().Bind(1, lease);
    for (;;) {
      auto row = st.value().Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      keys.push_back(st.value().Text(0));
    }
  }
  if (!keys.empty()) {
    // All the lease's keys go in one revision, as etcd's revoke does.
    auto rev = BumpRevisionLocked();
    if (!rev.ok()) return rev.status();
    int64_t sub = 0;
    for (const std::string& k : keys) {
      auto d = DeleteLocked(k, *rev, sub++);
      if (!d.ok()) return d.status();
    }
  }
  auto st = db_->Prepare("DELETE FROM leases WHERE id = ?");
  if (!st.ok()) return st.status();
  return st.value().Bind(1, lease).Run();
}

Status SqliteKvdb::ExpireLeasesLocked() {
  std::vector<LeaseId> expired;
  {
    auto st = db_->Prepare("SELECT id FROM leases WHERE expires_at <= ? ORDER BY expires_at, id");
    if (!st.ok()) return st.status();
    st.value().Bind(1, clock_->NowMs());
    for (;;) {
      auto row = st.value().Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      expired.push_back(st.value().Int(0));
    }
  }
  for (LeaseId id : expired) {
    Status s = RevokeLocked(id);
    if (!s.ok()) return s;
  }
  return Status();
}

Result<LeaseId> SqliteKvdb::Grant(int64_t ttl_seconds) {
  if (ttl_seconds <= 0 || ttl_seconds > 9000000000) {
    return Status::Error(EINVAL, "kvdb: lease TTL must be a positive number of seconds, not " +
                                     std::to_string(ttl_seconds));
  }
  return InTxn<LeaseId>([&]() -> Result<LeaseId> {
    auto st = db_->Prepare("INSERT INTO leases (ttl, expires_at) VALUES (?, ?)");
    if (!st.ok()) return st.status();
    Status s = st.value().Bind(1, ttl_seconds).Bind(2, clock_->NowMs() + ttl_seconds * 1000).Run();
    if (!s.ok()) return s;
    return db_->LastInsertRowid();
  });
}

Result<int64_t> SqliteKvdb::KeepAlive(LeaseId lease) {
  return InTxn<int64_t>([&]() -> Result<int64_t> {
    // Expired leases are gone already (KVDB_IN_TXN expired them).
    auto st = db_->Prepare("SELECT ttl FROM leases WHERE id = ?");
    if (!st.ok()) return st.status();
    auto row = st.value().Bind(1, lease).Step();
    if (!row.ok()) return row.status();
    if (!*row) return LeaseNotFound(lease);
    int64_t ttl = st.value().Int(0);
    auto up = db_->Prepare("UPDATE leases SET expires_at = ? WHERE id = ?");
    if (!up.ok()) return up.status();
    Status s = up.value().Bind(1, clock_->NowMs() + ttl * 1000).Bind(2, lease).Run();
    if (!s.ok()) return s;
    return ttl;
  });
}

Status SqliteKvdb::Revoke(LeaseId lease) {
  auto done = InTxn<bool>([&]() -> Result<bool> {
    auto exists = LeaseExistsLocked(lease);
    if (!exists.ok()) return exists.status();
    if (!*exists) return LeaseNotFound(lease);
    Status s = RevokeLocked(lease);
    if (!s.ok()) return s;
    return true;
  });
  return done.status();
}

Result<std::vector<WatchEvent>> SqliteKvdb::HistoryLocked(const std::string& prefix, int64_t from) {
  auto fk = db_->Prepare("SELECT first_kept FROM history_start WHERE id = 1");
  if (!fk.ok()) return fk.status();
  auto row = fk.value().Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Error(EUCLEAN, "kvdb: history_start row missing in " + db_->path());
  int64_t first_kept = fk.value().Int(0);
  if (from < first_kept) {
    return Status::Error(ERANGE, "kvdb: watch from revision " + std::to_string(from) +
                                     ": history before revision " + std::to_string(first_kept) +
                                     " is compacted");
  }
  std::string sql =
      "SELECT deleted, key, value, create_revision, revision, version, lease FROM history"
      " WHERE revision >= ? AND key >= ?";
  std::string end = PrefixEnd(prefix);
  if (!end.empty()) sql += " AND key < ?";
  auto st = db_->Prepare(sql + " ORDER BY revision, sub");
  if (!st.ok()) return st.status();
  st.value().Bind(1, from).Bind(2, prefix);
  if (!end.empty()) st.value().Bind(3, end);
  std::vector<WatchEvent> out;
  for (;;) {
    auto r = st.value().Step();
    if (!r.ok()) return r.status();
    if (!*r) break;
    const Stmt& s = st.value();
    WatchEvent e;
    e.type = s.Int(0) ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
    e.kv = KvEntry{s.Text(1), s.Text(2), s.Int(3), s.Int(4), s.Int(5), s.Int(6)};
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::unique_ptr<Watcher>> SqliteKvdb::Watch(const std::string& prefix,
                                                   int64_t start_revision) {
  if (start_revision < 0) {
    return Status::Error(EINVAL, "kvdb: negative watch start revision");
  }
  int64_t next = start_revision;
  if (next == 0) {
    auto rev = Revision();
    if (!rev.ok()) return rev.status();
    next = *rev + 1;
  }
  return std::unique_ptr<Watcher>(new SqliteWatcher(this, prefix, next));
}

}  // namespace keel
