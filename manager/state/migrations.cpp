#include "manager/state/migrations.h"

#include <cerrno>

#include "manager/log/log.h"

namespace keel {

Result<int> SchemaVersion(Db* db) {
  Status s = db->Exec(
      "CREATE TABLE IF NOT EXISTS schema_version ("
      " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)");
  if (!s.ok()) return s;
  auto st = db->Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version");
  if (!st.ok()) return st.status();
  auto row = st.value().Step();
  if (!row.ok()) return row.status();
  return static_cast<int>(st.value().Int(0));
}

Result<int> Migrate(Db* db, const std::vector<Migration>& migrations, int64_t now_ms) {
  auto current = SchemaVersion(db);
  if (!current.ok()) return current.status();
  int newest = migrations.empty() ? 0 : migrations.back().version;
  if (*current > newest) {
    return Status::Error(EPROTO, "database " + db->path() + " has schema version " +
                                     std::to_string(*current) +
                                     " but this keeld knows only up to " + std::to_string(newest) +
                                     ": it was written by a newer keeld; run that version");
  }
  int version = *current;
  for (size_t i = 0; i < migrations.size(); i++) {
    const Migration& m = migrations[i];
    if (m.version != static_cast<int>(i) + 1) {
      return Status::Error(EINVAL,
                           "migration list out of order at version " + std::to_string(m.version));
    }
    if (m.version <= version) continue;
    Transaction tx(db);
    Status s = tx.Begin();
    if (s.ok()) s = db->Exec(m.sql);
    if (s.ok()) {
      auto st = db->Prepare(
          "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)");
      if (!st.ok()) return st.status();
      s = st.value().Bind(1, int64_t{m.version}).Bind(2, m.description).Bind(3, now_ms).Run();
    }
    if (s.ok()) s = tx.Commit();
    if (!s.ok()) {
      return Status::Error(s.code(), "migration " + std::to_string(m.version) + " (" +
                                         m.description + ") failed: " + s.message());
    }
    KLOG(kInfo, "database migrated",
         {{"db", db->path()}, {"version", std::to_string(m.version)}, {"what", m.description}});
    version = m.version;
  }
  return version;
}

const std::vector<Migration>& StateMigrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "replicas and intents",
       "CREATE TABLE replicas ("
       " uuid TEXT PRIMARY KEY,"
       " volume TEXT NOT NULL UNIQUE,"
       " size INTEGER NOT NULL,"
       " block_size INTEGER NOT NULL,"
       " backing_path TEXT NOT NULL UNIQUE,"
       " kernel_id INTEGER,"
       " created_at INTEGER NOT NULL);"
       "CREATE TABLE intents ("
       " id INTEGER PRIMARY KEY AUTOINCREMENT,"
       " op TEXT NOT NULL,"
       " volume TEXT NOT NULL,"
       " step TEXT NOT NULL,"
       " data TEXT NOT NULL,"
       " created_at INTEGER NOT NULL,"
       " updated_at INTEGER NOT NULL);"},
      {2, "node facts", "CREATE TABLE node (key TEXT PRIMARY KEY, value TEXT NOT NULL);"},
  };
  return kMigrations;
}

const std::vector<Migration>& KvdbMigrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "key-value store with revisions",
       "CREATE TABLE kv ("
       " key TEXT PRIMARY KEY,"
       " value BLOB NOT NULL,"
       " create_revision INTEGER NOT NULL,"
       " mod_revision INTEGER NOT NULL,"
       " version INTEGER NOT NULL);"
       "CREATE TABLE revision (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);"
       "INSERT INTO revision (id, value) VALUES (1, 1);"},
  };
  return kMigrations;
}

}  // namespace keel
