// Failover decisions on a volume record: pure functions that take the
// record (as read from etcd) and return the record to write back with a
// compare-and-swap, or a refusal that says what to do instead.  They are
// where ARCHITECTURE.md rules 2 and 3 are decided (docs/design-cluster.md,
// "Failover"):
//  - rule 2, never promote a stale replica: a replica leaves the in-sync set
//    only under a new epoch (OutdateReplica), and only an in-sync replica's
//    node may take over the attachment (CanAttachOn);
//  - rule 3, fencing by epoch: every attach to a new node bumps the epoch
//    first (AttachOn), so an old attached node that returns has a lower
//    epoch than every replica target and cannot write (RejoinAsReplica).
// Nothing here performs IO: the caller writes the returned record with a
// compare-and-swap on the revision it read, and only then acts (PEER_OUTDATE,
// VOLUME_ATTACH, ...).  A lost race means: read again, decide again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "manager/cluster/records.h"
#include "manager/common/status.h"

namespace keel::cluster {

// (a) Rule 2.  `node`'s replica leaves the in-sync set under epoch+1; its
// synced_epoch becomes the old epoch.  ENOENT: no replica there.  EALREADY:
// already out of sync (a retried request: the caller may go on).  EPERM: it
// is the last in-sync replica (the volume would have no current copy, so the
// attached node's IO stays frozen instead).
Result<VolumeRecord> OutdateReplica(const VolumeRecord& volume, const std::string& node);

// (b) Rule 2 and 3.  Whether the volume may be attached on `node`, given
// every node's state:
//  - `node` is up; the volume is ready;
//  - already attached on `node`: yes (a retry);
//  - attached on another node: only if that node is down or no longer
//    registered (failover), and only on a node whose replica is in sync;
//  - detached cleanly: on a node with an in-sync replica, or on a node with
//    no replica (diskless) if an in-sync replica is on an up node;
//  - never on a node whose replica is out of sync.
// Refusals: EHOSTDOWN (node not up, no in-sync replica reachable), EBUSY
// (attached elsewhere and that node is not down; not ready), ESTALE (the
// replica there is outdated, or no replica there during a failover); the
// message names the nodes where an attach would be allowed.
Status CanAttachOn(const VolumeRecord& volume, const std::string& node, const NodeStates& states);

// CanAttachOn, then: epoch+1, attached_node = node, attached_epoch = the new
// epoch, device cleared (recorded once the kernel made the disk).  In a
// failover, the old attached node's replica leaves the in-sync set in the
// same write: it may hold writes that were never acknowledged, so it is
// never current again without a resync.  Attached on `node` already: the
// record unchanged (no epoch bump for a retry).
Result<VolumeRecord> AttachOn(const VolumeRecord& volume, const std::string& node,
                              const NodeStates& states);

// A clean detach from `node`: attachment cleared, epoch unchanged (every
// in-sync replica is current).  Not attached: unchanged.  EBUSY if attached
// on another node.
Result<VolumeRecord> Detach(const VolumeRecord& volume, const std::string& node);

// How an out-of-sync replica is brought back.  The attached node keeps one
// dirty bitmap per peer slot, covering the writes that peer missed while it
// was attached; a replica that went stale under another attachment (or
// never was in sync) is missing writes no bitmap on the current attached
// node knows of, so it needs a full copy.
enum class ResyncKind { kNone, kBitmap, kFull };
const char* ResyncKindName(ResyncKind kind);
// ENOENT if `node` holds no replica.  kFull while detached: the next attach
// starts a new attachment, under which the bitmaps know nothing.
Result<ResyncKind> ResyncFor(const VolumeRecord& volume, const std::string& node);

// (c) A node comes back (keeld restarted, node rebooted or reconnected) and
// reports what its local replica says.
struct LocalReplica {
  uint64_t epoch = 0;          // from the replica's metadata
  bool attached_here = false;  // the kernel still has /dev/keelN for it
};
struct RejoinPlan {
  enum class Action {
    kResume,   // the record says the volume is attached here: carry on
    kReplica,  // run a replica target at `epoch`; resync as `resync` says
    kForget,   // no longer in the replica set: delete the local replica
  };
  Action action = Action::kReplica;
  bool drop_local_disk = false;  // fenced: the disk here must go (its IO fails)
  ResyncKind resync = ResyncKind::kNone;
  uint64_t epoch = 0;   // the epoch to set on the local replica
  VolumeRecord volume;  // the record to write if `changed`
  bool changed = false;
};
// A returning old attached node is fenced: it loses its disk and becomes an
// out-of-sync replica with a full resync (it may hold unacknowledged
// writes).  EUCLEAN if the local epoch is above the cluster's (the record
// or the replica is not what it claims; nothing is guessed).
Result<RejoinPlan> RejoinAsReplica(const VolumeRecord& volume, const std::string& node,
                                   const LocalReplica& local);

// (d) Re-replication: replicas whose node has been down for at least
// `grace_ms` at `now_ms`, or is no longer registered (absent from
// `states`), sorted by node name.  Not the attached node's replica: it is
// the resync source, so nothing can be copied until the volume is attached
// elsewhere (failover first).  Maintenance is never "down": the operator
// said the node is coming back.
std::vector<std::string> ReplicasToReplace(const VolumeRecord& volume, const NodeStates& states,
                                           int64_t now_ms, int64_t grace_ms);

// Re-replication and drain steps on the record.
// A new, empty replica on `node` in the lowest free slot, out of sync
// (synced_epoch 0: full copy).  EEXIST if `node` has one; ENOSPC if all
// slots are taken.
Result<VolumeRecord> AddReplica(const VolumeRecord& volume, const std::string& node);
// The resync of `node` finished under the attachment that began at
// `attached_epoch`: it joins the in-sync set.  ESTALE if the volume has
// been attached anew since (that resync's source is not the current one);
// EALREADY if in sync; ENOENT if no replica there.
Result<VolumeRecord> MarkInSync(const VolumeRecord& volume, const std::string& node,
                                uint64_t attached_epoch);
// The fill of `node` from `source` finished while the volume was detached
// (docs/design-cluster.md, "Filling a detached volume"): it joins the
// in-sync set.  The copy is current only if nothing was attached meanwhile
// and `source` is still the volume's sync source and in sync: ESTALE
// otherwise.  EALREADY if in sync; ENOENT if no replica there.
Result<VolumeRecord> MarkFilled(const VolumeRecord& volume, const std::string& node,
                                const std::string& source);
// A deleting volume's replica on `node` is gone (its node deleted it, or
// the node is gone for good): it leaves the record.  EINVAL unless the
// volume is deleting; ENOENT if no replica there.
Result<VolumeRecord> DropDeletedReplica(const VolumeRecord& volume, const std::string& node);
// Forgets `node`'s replica.  An in-sync one leaves under epoch+1 (rule 2: the
// in-sync set never shrinks without a new epoch).  EPERM if it is the last
// in-sync replica; EBUSY if it backs the attached disk; ENOENT if none.
Result<VolumeRecord> RemoveReplica(const VolumeRecord& volume, const std::string& node);

}  // namespace keel::cluster
