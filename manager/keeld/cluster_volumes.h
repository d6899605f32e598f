// ClusterVolumes: the volume lifecycle across nodes in cluster mode
// (docs/design-cluster.md, "Volumes across nodes").  The volume record in
// etcd is the truth; every change to it is a CAS made before the kernels
// are told (rule 3: the epoch is bumped in etcd first).
//
//   create  placement over the node records, the record created by CAS
//           (creating), each chosen node creates its replica (bus
//           "replica.create", handled locally for this node) with the
//           volume's uuid, then the record says ready;
//   attach  AttachOn by CAS (epoch+1), each other replica node serves
//           ("replica.serve": VOLUME_SET epoch+secret, LISTEN_START on its
//           data address), then locally VOLUME_SET, attach, PEER_ADD per
//           peer (full or bitmap as ResyncFor says), device recorded;
//   detach  peers removed, the disk removed, the record detached by CAS,
//           replica targets stopped ("replica.stop");
//   delete  the record marked deleting, every replica deleted
//           ("replica.delete"), the record removed.
//
// Every step can be retried: replicas that exist with the volume's uuid are
// kept, a retried attach does not bump the epoch again.  Runs on keeld's
// main thread (the VolumeManager's); bus handlers reach it through `run`.
//
// Reconcile (every reconcile round, docs/design-cluster.md "Reconcile")
// makes each node converge on the records, with no bus calls:
//   - a replica node creates a replica the record lists for it, deletes one
//     the record no longer lists, and serves (listens, at the attachment's
//     epoch) while the volume is attached elsewhere, writing its port into
//     the record;
//   - a node whose disk the record no longer backs (it was attached here,
//     then attached elsewhere while this node was cut off) is fenced: the
//     disk goes (frozen writes fail, never acknowledged), its peers go;
//   - the attached node adds a kernel peer for every replica that serves
//     (full or bitmap resync as ResyncFor says), removes the peers of
//     replicas no longer listed, and catches up on peer events it missed;
//   - the sync source of a detached volume (the record's sync_source)
//     adds its out-of-sync replicas as full-resync peers, with no disk;
//   - a deleting volume's replica nodes delete their replica and leave the
//     record;
//   - the coordinator takes one repair step per volume (manager/cluster/
//     repair.h: roll back a create nobody finishes, forget a deleted
//     record, the sync source, re-replication after the grace period,
//     drain).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "manager/cluster/node_agent.h"
#include "manager/common/status.h"
#include "manager/kernel/kernel_client.h"
#include "manager/kvdb/kvdb.h"
#include "manager/log/log.h"
#include "manager/state/state_store.h"
#include "manager/volume/volume_manager.h"

namespace keel {

class ClusterVolumes {
 public:
  // Runs `fn` on keeld's main thread and returns its result (bus handlers
  // run on the bus's threads).
  using RunOnMain = std::function<Result<nlohmann::json>(std::function<Result<nlohmann::json>()>)>;

  struct Options {
    std::string node;
    std::string data_address;
    uint16_t port_base = 7800;  // a replica target listens on port_base + its kernel id
    std::chrono::milliseconds bus_timeout{10000};
    // A replica on a node down this long is replaced (rereplication_grace_s).
    int64_t rereplication_grace_ms = 600'000;
    // A create unfinished this long is rolled back (create_timeout_s).
    int64_t create_timeout_ms = 120'000;
  };

  // `pump` runs the main thread's queued work: called while this thread
  // waits for a bus reply, so a peer's request to this node (replica.serve
  // while we attach) is answered instead of timing out.
  // `state`: this node's keel.db, where diskless attachments (kernel
  // objects with no local replica) are recorded as node facts
  // "diskless:<uuid>" = kernel id: nothing else tells this node's objects
  // from another's (nodes may share a kernel in tests).
  ClusterVolumes(Options options, Kvdb* kvdb, cluster::NodeAgent* agent, VolumeManager* volumes,
                 KernelClient* kernel, StateStore* state, RunOnMain run,
                 std::function<void()> pump);

  // Registers the replica.* handlers on the agent's bus.
  Status RegisterHandlers();

  // The API commands (main thread).
  // zone_spread: every replica in a different zone, or refuse (placement).
  Result<nlohmann::json> Create(const CreateParams& params, uint32_t replicas, bool zone_spread);
  // `node` "" or this node: here; another node: forwarded over the bus.
  Result<nlohmann::json> Attach(const std::string& name, const std::string& node = "");
  Result<nlohmann::json> Detach(const std::string& name, bool force);
  Result<nlohmann::json> Delete(const std::string& name, bool force);
  // volume.status (docs/api.md): the record plus, from the attached node,
  // each peer's state and resync progress.
  Result<nlohmann::json> VolumeStatus(const std::string& name);
  // cluster.volumes: every volume record, by name ({"volumes": [...]});
  // a record that does not parse is listed with its name and "error".
  Result<nlohmann::json> List();
  // node.cordon / node.uncordon / node.drain / node.maintenance on `node`'s
  // record (CAS).
  enum class NodeFlags { kCordon, kUncordon, kDrain, kMaintenanceOn, kMaintenanceOff };
  Result<nlohmann::json> SetNodeFlags(const std::string& node, NodeFlags flags);
  // cluster.rebalance (manager/cluster/rebalance.h): the plan over the
  // records; unless `dry_run`, each move's replica marked moving by CAS
  // (the coordinator then moves it).
  Result<nlohmann::json> Rebalance(double threshold_pct, uint32_t max_moves, bool dry_run);

  // One reconcile round (main thread): see the top of this file.
  void Reconcile();

  // Kernel events (main thread).  On the attached node, PEER_LOST: the
  // peer is recorded out of sync by CAS (epoch+1) and only then told to the
  // kernel (PEER_OUTDATE), so frozen writes resume without it (rule 2);
  // PEER_IN_SYNC: the peer joins the in-sync set by CAS.  When etcd does
  // not answer nothing is told to the kernel (its IO stays frozen) and the
  // event is retried by RetryPending.
  void OnKernelEvent(const KernelEvent& event);
  // Retries the events etcd could not record yet (main loop tick).
  void RetryPending();

 private:
  struct PeerEvent {
    uint32_t type = 0;
    uint32_t volume_id = 0;
    std::string uuid;
    uint32_t slot = 0;
    bool operator<(const PeerEvent& o) const {
      return std::tie(type, volume_id, uuid, slot) < std::tie(o.type, o.volume_id, o.uuid, o.slot);
    }
  };
  // Ok when done or nothing is to be done; an error leaves it pending.
  Status HandlePeerEvent(const PeerEvent& pe);
  std::set<PeerEvent> pending_;

  struct Entry {
    cluster::VolumeRecord record;
    int64_t revision = 0;
  };
  Result<Entry> Get(const std::string& name);
  Status Put(const Entry& e, const cluster::VolumeRecord& next);
  // Reads the record, applies `change` and writes the result by CAS; a
  // lost race reads again and applies `change` again.  Nothing is written
  // when `change` returns the record unchanged.  Returns what is stored.
  Result<Entry> Update(
      const std::string& name,
      const std::function<Result<cluster::VolumeRecord>(const cluster::VolumeRecord&)>& change);
  // Sends `method` to `node`, or runs its handler here for this node.
  Result<nlohmann::json> Call(const std::string& node, const std::string& method,
                              const nlohmann::json& body, std::chrono::milliseconds timeout);
  Result<nlohmann::json> Call(const std::string& node, const std::string& method,
                              const nlohmann::json& body) {
    return Call(node, method, body, options_.bus_timeout);
  }
  Result<nlohmann::json> AttachHandler(const nlohmann::json& body);

  // Reconcile's parts (cluster_reconcile.cpp).
  void ReconcileLocal(const std::map<std::string, Entry>& records,
                      const std::vector<VolumeView>& local);
  // Wires the peers of a volume attached here, or (`local` not attached)
  // of a detached volume this node fills as its sync source.
  void ReconcileAttached(const Entry& e, const VolumeView& local);
  void FillFromHere(const Entry& e, const VolumeView& local);
  void DropDeleted(const cluster::VolumeRecord& rec);
  void Coordinate(const std::map<std::string, Entry>& records);
  Status Fence(const VolumeView& local, const cluster::VolumeRecord& record);
  Status EnsureServing(const VolumeView& local, const Entry& e);
  // Logs `what` for `key` only when it differs from the last one logged
  // (a reconcile round repeats every 2 s).
  void Note(const std::string& key, LogLevel level, const std::string& message,
            const LogFields& fields);
  std::map<std::string, std::string> noted_;
  std::chrono::steady_clock::time_point next_reconcile_{};
  // This node's peers' state for an attached volume (volume.sync).
  Result<nlohmann::json> LocalSync(const nlohmann::json& body);
  Result<nlohmann::json> AttachHere(const std::string& name);

  // Handlers (main thread): body carries the volume record's fields needed.
  Result<nlohmann::json> ReplicaCreate(const nlohmann::json& body);
  Result<nlohmann::json> ReplicaServe(const nlohmann::json& body);
  // Removes the peers of a replica with no disk here (a sync source's).
  Status DropPeers(uint32_t kernel_id, const std::string& name);
  Result<nlohmann::json> ReplicaStop(const nlohmann::json& body);
  Result<nlohmann::json> ReplicaDelete(const nlohmann::json& body);
  // Diskless attachments (no local replica): the kernel object recorded in
  // keel.db for the volume's uuid, if it still exists as that volume.
  Result<std::optional<uint32_t>> DisklessKernelId(const std::string& uuid);
  // Creates (or finds) the diskless kernel object, sets epoch and secret,
  // makes the disk: {kernel id, device}.
  Result<std::pair<uint32_t, std::string>> AttachDiskless(const cluster::VolumeRecord& rec,
                                                          const std::vector<uint8_t>& key);
  // Removes the disk, the peers and the kernel object.
  Status DetachDiskless(const cluster::VolumeRecord& rec, bool force);
  void ReconcileDiskless(const std::map<std::string, Entry>& records);
  // This node's kernel id of the replica of `name` with `uuid`.
  Result<uint32_t> LocalKernelId(const std::string& name, const std::string& uuid);

  const Options options_;
  Kvdb* const kvdb_;
  cluster::NodeAgent* const agent_;
  VolumeManager* const volumes_;
  KernelClient* const kernel_;
  StateStore* const state_;
  const RunOnMain run_;
  const std::function<void()> pump_;
};

// A volume secret's key from its hex text (VolumeSecret::hex).
Result<std::vector<uint8_t>> SecretFromHex(const std::string& hex);

// The record as the API shows a cluster volume.
nlohmann::json ClusterVolumeToJson(const cluster::VolumeRecord& v);

}  // namespace keel
