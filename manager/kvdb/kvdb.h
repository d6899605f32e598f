// Kvdb: the cluster state store behind one interface, shaped like etcd v3
// so an etcd implementation (over its JSON gateway) drops in later:
//
//   - one store-wide revision, incremented by every change (Put, Delete);
//   - every key carries create_revision, mod_revision and version (number of
//     changes since creation), as etcd's KeyValue does;
//   - compare-and-swap on a key's mod_revision (etcd: a Txn comparing
//     MOD revision), where expected revision 0 means "the key must not
//     exist" (etcd: CREATE revision == 0);
//   - List returns keys with a prefix in key order (etcd: range with
//     prefix end).
//
// Keys are UTF-8 paths like "/keel/volumes/db"; values are bytes (keeld
// stores JSON).  The single-node implementation is sqlite_kvdb.h.
#pragma once

#include <cstdint>
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
};

class Kvdb {
 public:
  virtual ~Kvdb() = default;

  // The entry, or nullopt if the key does not exist.
  virtual Result<std::optional<KvEntry>> Get(const std::string& key) = 0;
  // Creates or overwrites; returns the new store revision.
  virtual Result<int64_t> Put(const std::string& key, const std::string& value) = 0;
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
};

}  // namespace keel
