// Schema migrations of keeld's SQLite databases.  Each database has a
// `schema_version` table with one row per applied migration; on start-up
// every migration newer than the database's version runs, each in its own
// transaction together with its version row, so a crash mid-migration
// leaves the previous version intact.  A database from a newer keeld is
// refused, never downgraded.
#pragma once

#include <string>
#include <vector>

#include "manager/common/status.h"
#include "manager/state/sqlite.h"

namespace keel {

struct Migration {
  int version;              // 1, 2, ... in order, no gaps
  std::string description;  // for the log
  std::string sql;          // one or more statements
};

// Brings `db` to the last version of `migrations`; returns the version.
Result<int> Migrate(Db* db, const std::vector<Migration>& migrations, int64_t now_ms);
// The database's version: 0 for a fresh database.
Result<int> SchemaVersion(Db* db);

// keeld's node state (keel.db) and embedded kvdb (kvdb.db).
const std::vector<Migration>& StateMigrations();
const std::vector<Migration>& KvdbMigrations();

}  // namespace keel
