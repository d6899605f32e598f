// SqliteKvdb: the embedded single-node kvdb, one SQLite file
// (<data_dir>/kvdb.db), so a single host needs nothing else installed.
// Every operation is one SQLite transaction: the revision counter, the key
// changes and their history rows commit together.
//
// Leases expire by the injected Clock: every operation first deletes the
// keys of leases whose time has passed (one revision per lease, as etcd's
// revoke), so an expired key is never returned.  Watches read the history
// table, which keeps the last kHistoryRevisions revisions.
//
// Thread-safe: one mutex serializes the operations (they are short).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "manager/kvdb/kvdb.h"
#include "manager/state/clock.h"
#include "manager/state/migrations.h"
#include "manager/state/sqlite.h"

namespace keel {

// The kvdb.db schema: manager/state's KvdbMigrations() (version 1) plus the
// versions added for leases and the watch history.
const std::vector<Migration>& SqliteKvdbMigrations();

class SqliteKvdb : public Kvdb {
 public:
  // Revisions of history kept for watches; older ones are compacted.
  static constexpr int64_t kHistoryRevisions = 10000;

  static Result<std::unique_ptr<SqliteKvdb>> Open(const std::string& path, Clock* clock);

  Result<std::optional<KvEntry>> Get(const std::string& key) override;
  Result<int64_t> Put(const std::string& key, const std::string& value,
                      LeaseId lease = kNoLease) override;
  Result<bool> Delete(const std::string& key) override;
  Result<int64_t> CompareAndSwap(const std::string& key, int64_t expected_revision,
                                 const std::string& value) override;
  Status CompareAndDelete(const std::string& key, int64_t expected_revision) override;
  Result<std::vector<KvEntry>> List(const std::string& prefix) override;
  Result<int64_t> Revision() override;
  Result<TxnResult> Txn(const TxnRequest& txn) override;
  Result<LeaseId> Grant(int64_t ttl_seconds) override;
  Result<int64_t> KeepAlive(LeaseId lease) override;
  Status Revoke(LeaseId lease) override;
  Result<std::unique_ptr<Watcher>> Watch(const std::string& prefix,
                                         int64_t start_revision) override;

 private:
  friend class SqliteWatcher;
  SqliteKvdb(std::unique_ptr<Db> db, Clock* clock) : db_(std::move(db)), clock_(clock) {}

  template <typename T, typename F>
  Result<T> InTxn(F&& f);
  // The *Locked helpers run with mu_ held inside an open SQLite transaction.
  Result<std::optional<KvEntry>> GetLocked(const std::string& key);
  Result<int64_t> RevisionLocked();
  Result<int64_t> BumpRevisionLocked();
  Result<bool> CompareLocked(const Compare& c);
  Result<TxnResult> TxnLocked(const TxnRequest& txn);
  // Writes one key at revision `rev`; `sub` orders the changes of one
  // revision in the history.
  Status PutLocked(const std::string& key, const std::string& value, LeaseId lease, int64_t rev,
                   int64_t sub);
  Result<bool> DeleteLocked(const std::string& key, int64_t rev, int64_t sub);
  // Deletes `lease` and its keys (one revision if it had any).
  Status RevokeLocked(LeaseId lease);
  Status ExpireLeasesLocked();
  Result<bool> LeaseExistsLocked(LeaseId lease);
  // Events under `prefix` from revision `from`; ERANGE if compacted.
  Result<std::vector<WatchEvent>> HistoryLocked(const std::string& prefix, int64_t from);
  // Committed: wakes the watchers.
  void Notify();

  std::mutex mu_;
  std::unique_ptr<Db> db_;
  Clock* clock_;

  // Watchers wait here for the next commit.
  std::mutex notify_mu_;
  std::condition_variable notify_cv_;
  uint64_t commits_ = 0;
};

}  // namespace keel
