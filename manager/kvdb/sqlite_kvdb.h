// SqliteKvdb: the embedded single-node kvdb, one SQLite file
// (<data_dir>/kvdb.db), so a single host needs nothing else installed.
// Every operation is one transaction: the revision counter and the key
// change commit together.
#pragma once

#include <memory>
#include <string>

#include "manager/kvdb/kvdb.h"
#include "manager/state/clock.h"
#include "manager/state/sqlite.h"

namespace keel {

class SqliteKvdb : public Kvdb {
 public:
  static Result<std::unique_ptr<SqliteKvdb>> Open(const std::string& path, Clock* clock);

  Result<std::optional<KvEntry>> Get(const std::string& key) override;
  Result<int64_t> Put(const std::string& key, const std::string& value) override;
  Result<bool> Delete(const std::string& key) override;
  Result<int64_t> CompareAndSwap(const std::string& key, int64_t expected_revision,
                                 const std::string& value) override;
  Status CompareAndDelete(const std::string& key, int64_t expected_revision) override;
  Result<std::vector<KvEntry>> List(const std::string& prefix) override;
  Result<int64_t> Revision() override;

 private:
  explicit SqliteKvdb(std::unique_ptr<Db> db) : db_(std::move(db)) {}
  // Inside a transaction: bumps the revision and writes the key.
  Result<int64_t> WriteLocked(const std::string& key, const std::string& value,
                              const std::optional<KvEntry>& old);
  Result<int64_t> BumpRevision();

  std::unique_ptr<Db> db_;
};

}  // namespace keel
