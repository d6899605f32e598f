#include "manager/kvdb/sqlite_kvdb.h"

#include <cerrno>

#include "manager/state/migrations.h"

namespace keel {
namespace {

Status CheckKey(const std::string& key) {
  if (key.empty()) return Status::Error(EINVAL, "kvdb: empty key");
  if (key.size() > 1024) return Status::Error(EINVAL, "kvdb: key longer than 1024 bytes");
  return Status();
}

}  // namespace

Result<std::unique_ptr<SqliteKvdb>> SqliteKvdb::Open(const std::string& path, Clock* clock) {
  auto db = Db::Open(path);
  if (!db.ok()) return db.status();
  auto v = Migrate(db.value().get(), KvdbMigrations(), clock->NowMs());
  if (!v.ok()) return v.status();
  return std::unique_ptr<SqliteKvdb>(new SqliteKvdb(std::move(db).value()));
}

Result<std::optional<KvEntry>> SqliteKvdb::Get(const std::string& key) {
  Status s = CheckKey(key);
  if (!s.ok()) return s;
  auto st = db_->Prepare(
      "SELECT key, value, create_revision, mod_revision, version FROM kv WHERE key = ?");
  if (!st.ok()) return st.status();
  auto row = st.value().Bind(1, key).Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<KvEntry>();
  const Stmt& r = st.value();
  return std::optional<KvEntry>(KvEntry{r.Text(0), r.Text(1), r.Int(2), r.Int(3), r.Int(4)});
}

Result<int64_t> SqliteKvdb::Revision() {
  auto st = db_->Prepare("SELECT value FROM revision WHERE id = 1");
  if (!st.ok()) return st.status();
  auto row = st.value().Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Error(EUCLEAN, "kvdb: revision row missing in " + db_->path());
  return st.value().Int(0);
}

Result<int64_t> SqliteKvdb::BumpRevision() {
  Status s = db_->Exec("UPDATE revision SET value = value + 1 WHERE id = 1");
  if (!s.ok()) return s;
  return Revision();
}

Result<int64_t> SqliteKvdb::WriteLocked(const std::string& key, const std::string& value,
                                        const std::optional<KvEntry>& old) {
  auto rev = BumpRevision();
  if (!rev.ok()) return rev;
  auto st = db_->Prepare(
      "INSERT OR REPLACE INTO kv (key, value, create_revision, mod_revision, version)"
      " VALUES (?, ?, ?, ?, ?)");
  if (!st.ok()) return st.status();
  Status s = st.value()
                 .Bind(1, key)
                 .Bind(2, value)
                 .Bind(3, old ? old->create_revision : *rev)
                 .Bind(4, *rev)
                 .Bind(5, old ? old->version + 1 : int64_t{1})
                 .Run();
  if (!s.ok()) return s;
  return rev;
}

Result<int64_t> SqliteKvdb::Put(const std::string& key, const std::string& value) {
  Transaction tx(db_.get());
  Status s = tx.Begin();
  if (!s.ok()) return s;
  auto old = Get(key);
  if (!old.ok()) return old.status();
  auto rev = WriteLocked(key, value, *old);
  if (!rev.ok()) return rev;
  s = tx.Commit();
  if (!s.ok()) return s;
  return rev;
}

Result<bool> SqliteKvdb::Delete(const std::string& key) {
  Transaction tx(db_.get());
  Status s = tx.Begin();
  if (!s.ok()) return s;
  auto old = Get(key);
  if (!old.ok()) return old.status();
  if (!*old) return false;
  auto rev = BumpRevision();
  if (!rev.ok()) return rev.status();
  auto st = db_->Prepare("DELETE FROM kv WHERE key = ?");
  if (!st.ok()) return st.status();
  s = st.value().Bind(1, key).Run();
  if (s.ok()) s = tx.Commit();
  if (!s.ok()) return s;
  return true;
}

Result<int64_t> SqliteKvdb::CompareAndSwap(const std::string& key, int64_t expected_revision,
                                           const std::string& value) {
  Transaction tx(db_.get());
  Status s = tx.Begin();
  if (!s.ok()) return s;
  auto old = Get(key);
  if (!old.ok()) return old.status();
  int64_t actual = *old ? (*old)->mod_revision : 0;
  if (actual != expected_revision) {
    return Status::Error(ECANCELED, "kvdb: '" + key + "' is at revision " + std::to_string(actual) +
                                        ", not " + std::to_string(expected_revision) +
                                        " (changed concurrently)");
  }
  auto rev = WriteLocked(key, value, *old);
  if (!rev.ok()) return rev;
  s = tx.Commit();
  if (!s.ok()) return s;
  return rev;
}

Status SqliteKvdb::CompareAndDelete(const std::string& key, int64_t expected_revision) {
  Transaction tx(db_.get());
  Status s = tx.Begin();
  if (!s.ok()) return s;
  auto old = Get(key);
  if (!old.ok()) return old.status();
  int64_t actual = *old ? (*old)->mod_revision : 0;
  if (!*old || actual != expected_revision) {
    return Status::Error(ECANCELED, "kvdb: '" + key + "' is at revision " + std::to_string(actual) +
                                        ", not " + std::to_string(expected_revision));
  }
  auto rev = BumpRevision();
  if (!rev.ok()) return rev.status();
  auto st = db_->Prepare("DELETE FROM kv WHERE key = ?");
  if (!st.ok()) return st.status();
  s = st.value().Bind(1, key).Run();
  if (s.ok()) s = tx.Commit();
  return s;
}

Result<std::vector<KvEntry>> SqliteKvdb::List(const std::string& prefix) {
  // Range [prefix, prefix-end) as etcd does, so LIKE wildcards in keys do
  // not matter.  An empty prefix lists everything.
  std::string sql =
      "SELECT key, value, create_revision, mod_revision, version FROM kv WHERE key >= ?";
  std::string end = prefix;
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) {
    end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
    sql += " AND key < ?";
  }
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
    out.push_back(KvEntry{r.Text(0), r.Text(1), r.Int(2), r.Int(3), r.Int(4)});
  }
  return out;
}

}  // namespace keel
