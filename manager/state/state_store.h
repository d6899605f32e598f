// StateStore: keeld's node-local state in SQLite (<data_dir>/keel.db).
//
//   replicas  the local replicas this node owns: volume name, uuid, size,
//             block size, backing file, and the kernel handle (volume id in
//             keel.ko) when a kernel object exists;
//   intents   journaled multi-step operations.  An operation writes its
//             intent (op, volume, data) before touching anything outside
//             SQLite, advances its `step` as it goes, and deletes the intent
//             in the same transaction that records the outcome.  An intent
//             found at start-up is an operation cut short: keeld completes or
//             rolls it back (manager/volume/volume_manager.h);
//   node      facts about this node (its name at first start).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "manager/common/status.h"
#include "manager/state/clock.h"
#include "manager/state/sqlite.h"

namespace keel {

struct Replica {
  std::string volume;
  std::string uuid;  // canonical text form
  uint64_t size = 0;
  uint32_t block_size = 0;
  std::string backing_path;
  std::optional<uint32_t> kernel_id;  // keel.ko volume id; none: no kernel object
  int64_t created_at = 0;             // ms since the epoch
};

struct Intent {
  int64_t id = 0;
  std::string op;      // "create", "attach", "detach", "delete"
  std::string volume;  // the volume it is about
  std::string step;    // how far it got
  nlohmann::json data;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

class StateStore {
 public:
  // Opens <path>, creating it, and runs migrations.
  static Result<std::unique_ptr<StateStore>> Open(const std::string& path, Clock* clock);

  Result<std::optional<Replica>> GetReplica(const std::string& volume);
  Result<std::optional<Replica>> GetReplicaByUuid(const std::string& uuid);
  Result<std::vector<Replica>> ListReplicas();
  // Inserts, or replaces the row of the same volume.
  Status PutReplica(const Replica& r);
  Status RemoveReplica(const std::string& volume);
  Status SetKernelId(const std::string& volume, std::optional<uint32_t> id);

  // Journals an operation; returns the intent's id.
  Result<int64_t> BeginIntent(const std::string& op, const std::string& volume,
                              const std::string& step, const nlohmann::json& data);
  Status UpdateIntent(int64_t id, const std::string& step, const nlohmann::json& data);
  Status FinishIntent(int64_t id);
  // Runs `body` (calls on this store) and deletes intent `id` in one
  // transaction: both happen or neither.
  Status FinishIntentWith(int64_t id, const std::function<Status()>& body);
  Result<std::vector<Intent>> PendingIntents();
  Result<std::optional<Intent>> IntentFor(const std::string& volume);

  Result<std::optional<std::string>> GetNodeFact(const std::string& key);
  Status PutNodeFact(const std::string& key, const std::string& value);
  // Deleting a fact that is not there is not an error.
  Status DeleteNodeFact(const std::string& key);
  // Every fact whose key starts with `prefix`, ordered by key.
  Result<std::vector<std::pair<std::string, std::string>>> ListNodeFacts(const std::string& prefix);

  Db* db() { return db_.get(); }

 private:
  StateStore(std::unique_ptr<Db> db, Clock* clock) : db_(std::move(db)), clock_(clock) {}
  Result<std::vector<Replica>> QueryReplicas(const std::string& where, const std::string& arg);
  Result<std::vector<Intent>> QueryIntents(const std::string& where, const std::string& arg);

  std::unique_ptr<Db> db_;
  Clock* clock_;
};

}  // namespace keel
