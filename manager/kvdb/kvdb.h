// Kvdb: the cluster state store behind one interface, shaped like etcd v3.
// Two implementations: etcd_kvdb.h (etcd over its JSON gateway, for a
// cluster) and sqlite_kvdb.h (embedded, one node).  Both pass the same
// contract tests (kvdb_contract.h).
//
//   - one store-wide revision, incremented by every change (Put, Delete)
//     and by every transaction that changes anything (all its writes share
//     the one new revision, as in etcd);
//   - every key carries create_revision, mod_revision and version (number of
//     changes since creation), as etcd's KeyValue does;
//   - compare-and-swap on a key's mod_revision (etcd: a Txn comparing
//     MOD revision), where expected revision 0 means "the key must not
//     exist" (etcd: CREATE revision == 0);
//   - List returns keys with a prefix in key order (etcd: range with
//     prefix end);
//   - leases: a key put with a lease is deleted when the lease expires or is
//     revoked;
//   - watches: the changes under a prefix, in revision order, from a start
//     revision.
//
// Keys are UTF-8 paths like "/keel/volumes/db"; every key keeld writes lives
// under "/keel/" (docs/cluster-state.md).  Values are bytes (keeld stores
// JSON).
//
// Errors: ECANCELED for a failed compare (someone else won the race),
// ENOENT for an unknown or expired lease, EINVAL for bad arguments; the
// etcd implementation adds transport errors (ECONNREFUSED, ETIMEDOUT, ...).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "manager/common/status.h"

namespace keel {

struct KvEntry {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;  // 0: none

  bool operator==(const KvEntry&) const = default;
};

// A lease id as etcd hands them out; 0 means "no lease".
using LeaseId = int64_t;
inline constexpr LeaseId kNoLease = 0;

// One condition of a transaction.
struct Compare {
  enum class Target { kModRevision, kCreateRevision, kValue };
  std::string key;
  Target target = Target::kModRevision;
  int64_t revision = 0;  // kModRevision, kCreateRevision
  std::string value;     // kValue

  // mod_revision == rev; 0 holds only for an absent key.
  static Compare ModRevision(std::string key, int64_t rev) {
    return {std::move(key), Target::kModRevision, rev, {}};
  }
  // The key does not exist (etcd: CREATE revision == 0).
  static Compare Absent(std::string key) {
    return {std::move(key), Target::kCreateRevision, 0, {}};
  }
  // The key exists and holds exactly `value`.
  static Compare Value(std::string key, std::string value) {
    return {std::move(key), Target::kValue, 0, std::move(value)};
  }
};

// One write of a transaction.
struct TxnOp {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  std::string key;
  std::string value;
  LeaseId lease = kNoLease;

  static TxnOp Put(std::string key, std::string value, LeaseId lease = kNoLease) {
    return {Type::kPut, std::move(key), std::move(value), lease};
  }
  static TxnOp Delete(std::string key) { return {Type::kDelete, std::move(key), {}, kNoLease}; }
};

// If every compare holds, apply `success`, else apply `failure`; atomically.
struct TxnRequest {
  std::vector<Compare> compares;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};

struct TxnResult {
  bool succeeded = false;
  // The store revision after the transaction (unchanged if it wrote
  // nothing).
  int64_t revision = 0;
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  // For kPut the key as written; for kDelete only key and mod_revision (the
  // revision of the delete) are set.
  KvEntry kv;
};

// A watch on a prefix.  Thread-safe: one thread may Poll while another
// Cancels.  Must not outlive the Kvdb that made it.
class Watcher {
 public:
  virtual ~Watcher() = default;
  // Waits up to `timeout` for changes; returns the next batch in revision
  // order (empty when the timeout passed without any).  All the events of
  // one revision come in the same batch.  Errors:
  //   ECANCELED: Cancel() was called (final);
  //   ERANGE:    the start revision is older than the history kept (final);
  //   others:    the store is unreachable just now (etcd); the watch keeps
  //              retrying and resumes after the last event delivered.
  virtual Result<std::vector<WatchEvent>> Poll(std::chrono::milliseconds timeout) = 0;
  // Stops the watch; a Poll waiting now or later returns ECANCELED.
  virtual void Cancel() = 0;
};

class Kvdb {
 public:
  virtual ~Kvdb() = default;

  // The entry, or nullopt if the key does not exist.
  virtual Result<std::optional<KvEntry>> Get(const std::string& key) = 0;
  // Creates or overwrites; returns the new store revision.  With a lease,
  // the key is deleted when the lease expires or is revoked (ENOENT if the
  // lease does not exist).
  virtual Result<int64_t> Put(const std::string& key, const std::string& value,
                              LeaseId lease = kNoLease) = 0;
  // Removes the key; returns whether it existed.
  virtual Result<bool> Delete(const std::string& key) = 0;
  // Writes `value` only if the key's mod_revision is `expected_revision`
  // (0: only if the key does not exist).  Returns the new store revision;
  // fails with ECANCELED if the key changed (someone else won the race).
  virtual Result<int64_t> CompareAndSwap(const std::string& key, int64_t expected_revision,
                                         const std::string& value) = 0;
  // Removes the key only if its mod_revision is `expected_revision`;
  // ECANCELED otherwise (including when it does not exist).
  virtual Status CompareAndDelete(const std::string& key, int64_t expected_revision) = 0;
  // Every key starting with `prefix`, in key order.
  virtual Result<std::vector<KvEntry>> List(const std::string& prefix) = 0;
  // The store's current revision.
  virtual Result<int64_t> Revision() = 0;

  // A transaction (see TxnRequest).  A failed compare is not an error:
  // the result says succeeded = false.
  virtual Result<TxnResult> Txn(const TxnRequest& txn) = 0;

  // A new lease of `ttl_seconds` (> 0; etcd may round a small TTL up to its
  // minimum).  Returns its id.
  virtual Result<LeaseId> Grant(int64_t ttl_seconds) = 0;
  // One refresh: the lease lives its full TTL again from now.  Returns the
  // TTL in seconds; ENOENT if the lease expired or never existed.
  virtual Result<int64_t> KeepAlive(LeaseId lease) = 0;
  // Ends the lease now and deletes its keys; ENOENT if it does not exist.
  virtual Status Revoke(LeaseId lease) = 0;

  // Watches every key starting with `prefix` ("" = all keys), from
  // `start_revision` (0: changes after now).
  virtual Result<std::unique_ptr<Watcher>> Watch(const std::string& prefix,
                                                 int64_t start_revision) = 0;
};

}  // namespace keel
