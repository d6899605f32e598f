// VolumeManager: the volume lifecycle on one node, and keeping keel.ko, the
// node's SQLite state and the kvdb in agreement.
//
// Every multi-step operation journals an intent (StateStore) before it
// touches anything outside SQLite, and its last step deletes the intent in
// the same transaction that records the outcome.  After a crash, Recover()
// finishes each intent left behind (docs/design-keeld.md):
//
//   create  rolled back: the kernel object of its uuid deleted, its backing
//           file removed, its kvdb entry removed — the client never got "ok";
//   delete  rolled forward: the user asked for it and data may be gone;
//   attach, detach
//           settled on what the kernel shows: the kvdb records the volume
//           attached exactly when /dev/keelN exists.  A live disk is never
//           removed by recovery (IO must not fail across a keeld restart).
//
// Reconcile() then compares the three views and repairs differences,
// logging each one.  Not thread-safe: keeld calls it from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "manager/common/status.h"
#include "manager/kernel/kernel_client.h"
#include "manager/kvdb/kvdb.h"
#include "manager/state/clock.h"
#include "manager/state/state_store.h"
#include "manager/volume/filesystem.h"
#include "manager/volume/volume_spec.h"

namespace keel {

// Bytes the kernel keeps before a volume's data in its backing file
// (KEEL_META_ALIGN), counted against the pool's capacity.
inline constexpr uint64_t kMetadataReserve = 1ULL << 20;

struct CreateParams {
  std::string name;
  uint64_t size = 0;
  uint32_t block_size = 4096;
  std::map<std::string, std::string> labels;
  // A replica of a cluster volume carries the volume's uuid (the kernel's
  // replication handshake checks it); default: a new random one.
  std::optional<std::string> uuid;
};

// A volume as the API shows it.
struct VolumeView {
  VolumeSpec spec;
  std::string backing_path;
  std::optional<uint32_t> kernel_id;
  // "attached", "detached", "missing" (no kernel object: its backing file
  // is gone or the kernel refused it), "pending" (an operation not finished).
  std::string state;
  std::optional<VolumeStatus> kernel;  // the kernel's view, if it has the volume
};

struct PoolUsage {
  uint64_t capacity = 0;
  uint64_t used = 0;  // sizes of volumes plus their metadata reserve
  uint32_t volumes = 0;
};

class VolumeManager {
 public:
  // Named points where a test can make keeld stop dead (KEELD_CRASH_AT).
  // The hook returns true to "crash": the real one never returns (_exit),
  // the unit tests' one makes the operation stop there with EINTR.
  using CrashHook = std::function<bool(std::string_view point)>;

  struct Options {
    std::string node_name;
    std::string pool_dir;
    uint64_t pool_capacity = 0;
  };

  VolumeManager(Options opts, StateStore* state, Kvdb* kvdb, KernelClient* kernel, Filesystem* fs,
                Clock* clock, CrashHook crash = nullptr);

  Result<VolumeView> Create(const CreateParams& p);
  Result<std::vector<VolumeView>> List();
  Result<VolumeView> Inspect(const std::string& name);
  // Returns the device ("/dev/keel3"); the same one if already attached.
  Result<std::string> Attach(const std::string& name);
  // Ok if already detached.  force: remove the disk even if it is open.
  Status Detach(const std::string& name, bool force);
  // Removes the kernel object, the backing file and every record.  Refused
  // while attached unless force.
  Status Delete(const std::string& name, bool force);
  Result<PoolUsage> Usage();

  // Finishes every intent left by a previous run.  Intents that cannot be
  // finished now (e.g. a kernel error) stay and are retried by the next
  // call; the number left is returned.
  Result<int> Recover();
  // Compares the kernel, SQLite and the kvdb and repairs what differs;
  // returns the number of repairs made.
  Result<int> Reconcile();

  // Every crash point, in the order an operation meets them (for tests).
  static const std::vector<std::string>& CrashPoints();

  void set_pool_capacity(uint64_t bytes) { opts_.pool_capacity = bytes; }

 private:
  Status Crash(std::string_view point);
  bool InPool(const std::string& path) const;
  Status ValidateCreate(const CreateParams& p);
  Result<std::optional<VolumeStatus>> KernelByUuid(const std::string& uuid);
  Result<std::optional<std::pair<VolumeSpec, int64_t>>> GetSpec(const std::string& name);
  // Writes the spec's attachment with compare-and-swap.
  Status SetAttachment(const std::string& name, const std::string& device);
  Status RefuseIfPending(const std::string& name);
  // Gives a replica its kernel object back (after a reboot or module reload).
  Result<VolumeStatus> EnsureKernelObject(Replica* r);
  Result<VolumeView> ViewOf(const Replica& r, const std::optional<VolumeSpec>& spec,
                            const std::vector<VolumeStatus>& kernel, bool pending);

  Status RollBackCreate(const Intent& in);
  Status FinishDelete(const Intent& in);
  Status SettleAttachment(const Intent& in);

  Options opts_;
  StateStore* state_;
  Kvdb* kvdb_;
  KernelClient* kernel_;
  Filesystem* fs_;
  Clock* clock_;
  CrashHook crash_;
  std::set<std::string> reported_unknown_;  // uuids of unknown kernel objects logged
};

// The kernel's error for an operation on a volume as a message a person
// can act on, keeping the errno.
Status KernelError(const Status& s, const std::string& what);

}  // namespace keel
