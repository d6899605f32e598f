// ClusterVolumes::Reconcile: every node converging on the volume records
// (cluster_volumes.h has the list; docs/design-cluster.md, "Reconcile").
// Nothing here calls the bus: each node acts on its own kernel and writes
// what it did into the records (CAS), so a round can never wait on another
// node, and whatever one round could not do the next one does.
#include <cerrno>
#include <chrono>

#include "manager/cluster/failover.h"
#include "manager/cluster/repair.h"
#include "manager/keeld/cluster_volumes.h"
#include "manager/log/log.h"

namespace keel {
namespace {

using nlohmann::json;
using namespace cluster;

constexpr auto kReconcileEvery = std::chrono::seconds(2);

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void ClusterVolumes::Note(const std::string& key, LogLevel level, const std::string& message,
                          const LogFields& fields) {
  std::string what = message;
  for (const auto& [k, v] : fields) what += " " + k + "=" + v;
  auto& last = noted_[key];
  if (last == what) return;
  last = what;
  Log(level, message, fields);
}

void ClusterVolumes::Reconcile() {
  auto now = std::chrono::steady_clock::now();
  if (now < next_reconcile_) return;
  next_reconcile_ = now + kReconcileEvery;

  auto list = kvdb_->List(kVolumesPrefix);
  if (!list.ok()) {
    Note("etcd", LogLevel::kWarning, "reconcile: cannot read the volume records",
         {{"error", list.status().ToString()}});
    return;
  }
  noted_.erase("etcd");
  std::map<std::string, Entry> records;
  for (const auto& kv : *list) {
    auto rec = VolumeRecordFromKv(kv.key, kv.value);
    if (!rec.ok()) {
      Note("record:" + kv.key, LogLevel::kError, "unreadable volume record: left alone",
           {{"key", kv.key}, {"error", rec.status().ToString()}});
      continue;
    }
    std::string name = rec->name;
    records.emplace(name, Entry{std::move(rec).value(), kv.mod_revision});
  }

  auto local = volumes_->List();
  if (!local.ok()) return;
  ReconcileLocal(records, *local);

  local = volumes_->List();  // after the fences, creates and deletes
  if (!local.ok()) return;
  for (const auto& v : *local) {
    auto it = records.find(v.spec.name);
    if (it == records.end() || it->second.record.uuid != v.spec.uuid) continue;
    if (!v.kernel_id || !v.kernel) continue;
    const VolumeRecord& rec = it->second.record;
    if (rec.attached_node == options_.node && v.state == "attached") {
      ReconcileAttached(it->second, v);
    } else if (rec.attached_node.empty() && rec.sync_source == options_.node &&
               rec.state == VolumeState::kReady && v.state != "attached") {
      FillFromHere(it->second, v);
    }
  }

  ReconcileDiskless(records);
  if (agent_->IsCoordinator()) Coordinate(records);
}

// Diskless attachments recorded in keel.db: the attachment of a volume
// with no replica here.  Wired like any attached volume while the record
// says attached here; otherwise (detached, or attached elsewhere while
// this node was cut off: rule 3) the disk and the kernel object go.
void ClusterVolumes::ReconcileDiskless(const std::map<std::string, Entry>& records) {
  auto facts = state_->ListNodeFacts("diskless:");
  if (!facts.ok()) return;
  for (const auto& [key, value] : *facts) {
    const std::string uuid = key.substr(std::string("diskless:").size());
    const Entry* e = nullptr;
    for (const auto& [name, entry] : records) {
      if (entry.record.uuid == uuid) e = &entry;
    }
    auto id = DisklessKernelId(uuid);
    if (!id.ok()) continue;
    if (!*id || !e) {
      // The kernel object is gone (module reloaded), or the volume is: the
      // fact goes; the object, if any, with it.
      if (*id && !e) {
        Status d = kernel_->DeleteVolume(**id, true);
        (void)d;
      }
      Status s = state_->DeleteNodeFact(key);
      (void)s;
      continue;
    }
    auto k = kernel_->GetVolume(**id);
    if (!k.ok()) continue;
    if (e->record.attached_node == options_.node) {
      if (!(k->state & KEEL_STATE_ATTACHED)) continue;
      VolumeView view;
      view.spec.name = e->record.name;
      view.spec.uuid = e->record.uuid;
      view.kernel_id = k->id;
      view.kernel = *k;
      view.state = "attached";
      ReconcileAttached(*e, view);
      continue;
    }
    Status s = DetachDiskless(e->record, /*force=*/true);
    if (s.ok()) {
      KLOG(kWarning, "diskless attachment removed: the record does not attach the volume here",
           {{"volume", e->record.name},
            {"attached_node", e->record.attached_node.empty() ? "-" : e->record.attached_node}});
    } else {
      Note("diskless:" + e->record.name, LogLevel::kError, "cannot remove a stale diskless disk",
           {{"volume", e->record.name}, {"error", s.ToString()}});
    }
  }
}

void ClusterVolumes::ReconcileLocal(const std::map<std::string, Entry>& records,
                                    const std::vector<VolumeView>& local) {
  const std::string& me = options_.node;
  std::set<std::string> have;
  for (const auto& v : local) {
    const std::string& name = v.spec.name;
    have.insert(name);
    auto it = records.find(name);
    if (it == records.end()) {
      Note("local:" + name, LogLevel::kWarning,
           "local replica has no volume record in etcd: kept, nothing done with it",
           {{"volume", name}, {"uuid", v.spec.uuid}});
      continue;
    }
    const VolumeRecord& rec = it->second.record;
    if (rec.uuid != v.spec.uuid) {
      Note("local:" + name, LogLevel::kWarning,
           "local replica belongs to an older volume of the same name: kept",
           {{"volume", name}, {"uuid", v.spec.uuid}, {"record_uuid", rec.uuid}});
      continue;
    }
    noted_.erase("local:" + name);
    const bool listed = rec.FindReplica(me) != nullptr;
    if (rec.attached_node != me) {
      const bool has_disk = v.state == "attached";
      // The sync source of a detached volume keeps the peers it fills.
      const bool filling =
          rec.attached_node.empty() && rec.sync_source == me && rec.state == VolumeState::kReady;
      const bool has_peers = v.kernel && !v.kernel->peers.empty() && !filling;
      if (has_disk || has_peers) {
        Status s = Fence(v, rec);
        if (!s.ok()) {
          Note("fence:" + name, LogLevel::kError, "cannot fence the old disk: retrying",
               {{"volume", name}, {"error", s.ToString()}});
          continue;
        }
        noted_.erase("fence:" + name);
      }
    }
    if (rec.state == VolumeState::kDeleting || (rec.state == VolumeState::kReady && !listed)) {
      auto d = ReplicaDelete({{"name", name}, {"uuid", v.spec.uuid}});
      if (d.ok()) {
        KLOG(kInfo, "local replica deleted: the volume record no longer lists it",
             {{"volume", name}, {"record_state", VolumeStateName(rec.state)}});
        if (rec.state == VolumeState::kDeleting) DropDeleted(rec);
      } else {
        Note("delete:" + name, LogLevel::kWarning, "cannot delete a forgotten replica",
             {{"volume", name}, {"error", d.status().ToString()}});
      }
      continue;
    }
    // A replica target while the volume is attached elsewhere, or while the
    // sync source fills this replica.
    const bool to_fill = rec.attached_node.empty() && !rec.sync_source.empty() &&
                         rec.sync_source != me && !rec.IsInSync(me);
    if (listed && rec.state == VolumeState::kReady && rec.attached_node.empty() && !to_fill &&
        v.kernel && v.kernel->target) {
      auto stop = ReplicaStop({{"name", name}, {"uuid", v.spec.uuid}});
      if (stop.ok()) KLOG(kInfo, "replica target stopped: nothing to serve", {{"volume", name}});
    }
    if (listed && rec.state == VolumeState::kReady &&
        ((!rec.attached_node.empty() && rec.attached_node != me) || to_fill)) {
      Status s = EnsureServing(v, it->second);
      if (!s.ok()) {
        Note("serve:" + name, LogLevel::kWarning, "cannot serve the replica: retrying",
             {{"volume", name}, {"error", s.ToString()}});
      } else {
        noted_.erase("serve:" + name);
      }
    }
  }
  // Replicas the records give this node that it does not have yet: added by
  // the coordinator (re-replication, drain).
  for (const auto& [name, e] : records) {
    const VolumeRecord& rec = e.record;
    if (rec.state == VolumeState::kDeleting && rec.FindReplica(me) && !have.contains(name)) {
      DropDeleted(rec);  // deleted here already (or never made)
      continue;
    }
    if (rec.state != VolumeState::kReady || !rec.FindReplica(me) || have.contains(name)) continue;
    auto c = ReplicaCreate(
        {{"name", name}, {"uuid", rec.uuid}, {"size", rec.size}, {"block_size", rec.block_size}});
    if (c.ok()) {
      KLOG(kInfo, "local replica created for the volume record",
           {{"volume", name}, {"uuid", rec.uuid}});
      noted_.erase("create:" + name);
    } else {
      Note("create:" + name, LogLevel::kWarning, "cannot create the replica the record lists",
           {{"volume", name}, {"error", c.status().ToString()}});
    }
  }
}

// A deleting volume's replica is gone from this node: this node leaves the
// record, and the coordinator removes the record once no replica is left.
void ClusterVolumes::DropDeleted(const VolumeRecord& rec) {
  auto done = Update(rec.name, [&](const VolumeRecord& cur) -> Result<VolumeRecord> {
    if (cur.uuid != rec.uuid || cur.state != VolumeState::kDeleting ||
        !cur.FindReplica(options_.node)) {
      return cur;
    }
    return DropDeletedReplica(cur, options_.node);
  });
  if (done.ok() || done.status().code() == ENOENT) {
    noted_.erase("drop:" + rec.name);
    return;
  }
  Note("drop:" + rec.name, LogLevel::kWarning, "cannot drop the deleted replica from the record",
       {{"volume", rec.name}, {"error", done.status().ToString()}});
}

// Rule 3 on the returning old attached node: the record says the volume is
// attached elsewhere (under a higher epoch), so this disk must not take
// another write.  The forced detach fails what is frozen (never
// acknowledged), then the peers go: this node is a replica now.
Status ClusterVolumes::Fence(const VolumeView& v, const VolumeRecord& rec) {
  const std::string& name = v.spec.name;
  if (v.state == "attached") {
    Status s = volumes_->Detach(name, /*force=*/true);
    if (!s.ok()) return s;
    KLOG(kWarning, "fenced: the volume is attached on another node; this node's disk is gone",
         {{"volume", name},
          {"attached_node", rec.attached_node.empty() ? "-" : rec.attached_node},
          {"epoch", std::to_string(rec.epoch)},
          {"local_epoch", std::to_string(v.kernel ? v.kernel->epoch : 0)}});
  }
  if (!v.kernel_id) return Status();
  auto k = kernel_->GetVolume(*v.kernel_id);
  if (!k.ok()) return KernelError(k.status(), "VOLUME_GET for '" + name + "'");
  for (const auto& p : k->peers) {
    Status s = kernel_->PeerRemove(*v.kernel_id, p.slot);
    if (!s.ok() && s.code() != ENOENT) return KernelError(s, "PEER_REMOVE for '" + name + "'");
  }
  return Status();
}

Status ClusterVolumes::EnsureServing(const VolumeView& v, const Entry& e) {
  const VolumeRecord& rec = e.record;
  if (!v.kernel_id || !v.kernel) return Status::Error(EIO, "no kernel object");
  // The attachment's epoch: never above the attached node's own, which
  // only PEER_OUTDATE raises (a target refuses a lower epoch than its own).
  const uint64_t want = rec.attached_epoch ? rec.attached_epoch : rec.epoch;
  uint16_t port = 0;
  if (!v.kernel->target || v.kernel->epoch < want) {
    auto r = ReplicaServe(
        {{"name", rec.name}, {"uuid", rec.uuid}, {"epoch", want}, {"secret", rec.secret.hex}});
    if (!r.ok()) return r.status();
    port = (*r)["port"].get<uint16_t>();
  } else {
    port = v.kernel->target->port;
  }
  const ReplicaRef* ref = rec.FindReplica(options_.node);
  if (!ref || ref->port == port) return Status();
  auto done = Update(rec.name, [&](VolumeRecord cur) -> Result<VolumeRecord> {
    if (cur.uuid != rec.uuid) return Status::Error(ESTALE, "the volume was replaced meanwhile");
    for (auto& r : cur.replica_set) {
      if (r.node == options_.node) r.port = port;
    }
    return cur;
  });
  if (!done.ok()) return done.status();
  KLOG(kInfo, "replica serving: port recorded",
       {{"volume", rec.name}, {"port", std::to_string(port)}, {"epoch", std::to_string(want)}});
  return Status();
}

// The sync source of a detached volume (docs/design-cluster.md, "Filling a
// detached volume"): the kernel object, with no disk, at the record's epoch
// and with the volume's secret, adds every out-of-sync replica that serves
// as a full-resync peer, exactly as an attached node would.  Its IN_SYNC
// events record the replicas in sync (MarkFilled); the coordinator then
// clears the source and the peers go (ReconcileLocal).
void ClusterVolumes::FillFromHere(const Entry& e, const VolumeView& local) {
  const VolumeRecord& rec = e.record;
  const uint32_t id = *local.kernel_id;
  VolumeView v = local;
  if (v.kernel->target || v.kernel->epoch != rec.epoch || v.kernel->peers.empty()) {
    Status stop = kernel_->ListenStop(id);
    (void)stop;  // a target left from an earlier attachment elsewhere, or none
    auto key = SecretFromHex(rec.secret.hex);
    if (!key.ok()) return;
    SetVolumeRequest set;
    set.epoch = rec.epoch;
    set.secret = *key;
    auto st = kernel_->SetVolume(id, set);
    if (!st.ok()) {
      Note("fill:" + rec.name, LogLevel::kWarning, "sync source: cannot set epoch and secret",
           {{"volume", rec.name}, {"error", st.status().ToString()}});
      return;
    }
    v.kernel = *st;
    noted_.erase("fill:" + rec.name);
  }
  ReconcileAttached(e, v);
}

void ClusterVolumes::ReconcileAttached(const Entry& e, const VolumeView& v) {
  const VolumeRecord& rec = e.record;
  // Filling from here while detached: only out-of-sync replicas are peers.
  const bool filling = v.state != "attached";
  const uint32_t id = *v.kernel_id;
  const std::string& name = rec.name;
  std::set<uint32_t> present;
  for (const auto& p : v.kernel->peers) {
    const ReplicaRef* ref = nullptr;
    for (const auto& r : rec.replica_set) {
      if (r.slot == p.slot) ref = &r;
    }
    // Gone from the replica set (the record left it under a new epoch
    // first), or its slot now belongs to a replacement.
    bool stale = !ref || ref->node == options_.node || ref->node != p.name ||
                 (filling && rec.IsInSync(ref->node));  // filled
    // Out of sync and its target moved (its node restarted): add it anew.
    bool moved = ref && !stale && !p.in_sync && !p.connected && ref->port && *ref->port != p.port;
    if (stale || moved) {
      Status s = kernel_->PeerRemove(id, p.slot);
      if (s.ok()) {
        KLOG(kInfo, stale ? "peer removed: no longer in the replica set" : "peer moved: re-adding",
             {{"volume", name}, {"node", p.name}, {"slot", std::to_string(p.slot)}});
      } else {
        Note("peer:" + name + ":" + std::to_string(p.slot), LogLevel::kWarning,
             "cannot remove a peer", {{"volume", name}, {"error", s.ToString()}});
        present.insert(p.slot);
      }
      continue;
    }
    present.insert(p.slot);
    // Events missed (keeld restarted or was busy): the kernel's state now.
    if (p.state == KEEL_PEER_STATE_LOST ||
        (p.state == KEEL_PEER_STATE_IN_SYNC && !rec.IsInSync(ref->node))) {
      PeerEvent pe{p.state == KEEL_PEER_STATE_LOST ? uint32_t{KEEL_EVENT_PEER_LOST}
                                                   : uint32_t{KEEL_EVENT_PEER_IN_SYNC},
                   id, v.spec.uuid, p.slot};
      if (!pending_.contains(pe) && !HandlePeerEvent(pe).ok()) pending_.insert(pe);
    }
  }
  const NodeStates states = StatesOf([&] {
    std::vector<NodeRecord> nodes;
    for (const auto& n : agent_->registry().All()) nodes.push_back(n.record);
    return nodes;
  }());
  for (const auto& r : rec.replica_set) {
    if (r.node == options_.node || present.contains(r.slot) || !r.port) continue;
    // A diskless volume has nothing to resync from (the kernel takes only
    // bitmap peers there): out-of-sync replicas wait for an attach with disk.
    if ((v.kernel->state & KEEL_STATE_DISKLESS) && !rec.IsInSync(r.node)) continue;
    if (filling && rec.IsInSync(r.node)) continue;  // current already: not listening
    auto st = states.find(r.node);
    auto node = agent_->registry().Get(r.node);
    if (st == states.end() || st->second.state != NodeState::kUp || !node) continue;
    auto kind = ResyncFor(rec, r.node);
    if (!kind.ok()) continue;
    PeerSync sync = *kind == ResyncKind::kFull ? PeerSync::kFull : PeerSync::kBitmap;
    Status s = kernel_->PeerAdd(id, r.slot, node->record.data_address, *r.port, r.node, sync);
    std::string key = "add:" + name + ":" + r.node;
    if (s.ok()) {
      KLOG(kInfo, "peer added: resync starts",
           {{"volume", name},
            {"node", r.node},
            {"slot", std::to_string(r.slot)},
            {"resync", ResyncKindName(*kind)}});
      noted_.erase(key);
    } else {
      Note(key, LogLevel::kWarning, "cannot add a peer: retrying",
           {{"volume", name}, {"node", r.node}, {"error", s.ToString()}});
    }
  }
}

void ClusterVolumes::Coordinate(const std::map<std::string, Entry>& records) {
  std::vector<NodeRecord> nodes;
  for (const auto& n : agent_->registry().All()) nodes.push_back(n.record);
  const int64_t now = NowMs();
  for (const auto& [name, e] : records) {
    RepairStep step = NextRepair(e.record, nodes, now, options_.rereplication_grace_ms,
                                 options_.create_timeout_ms);
    const std::string key = "repair:" + name;
    switch (step.kind) {
      case RepairStep::Kind::kNone:
        noted_.erase(key);
        break;
      case RepairStep::Kind::kWait:
        Note(key, LogLevel::kInfo, "repair waits", {{"volume", name}, {"reason", step.reason}});
        break;
      case RepairStep::Kind::kForget: {
        Status s = kvdb_->CompareAndDelete(VolumeKey(name), e.revision);
        if (s.ok()) {
          KLOG(kInfo, "volume record removed: deleted on every node",
               {{"volume", name}, {"uuid", e.record.uuid}});
          noted_.erase(key);
        } else if (s.code() != ECANCELED) {
          Note(key, LogLevel::kWarning, "repair step not recorded",
               {{"volume", name}, {"step", RepairKindName(step.kind)}, {"error", s.ToString()}});
        }
        break;
      }
      case RepairStep::Kind::kAdd:
      case RepairStep::Kind::kRemove:
      case RepairStep::Kind::kSync:
      case RepairStep::Kind::kRollback: {
        Status s = Put(e, step.next);
        if (s.ok()) {
          const char* what = "replica removed from the replica set";
          if (step.kind == RepairStep::Kind::kAdd) what = "replica added to the replica set";
          if (step.kind == RepairStep::Kind::kSync) {
            what = step.node.empty() ? "sync source cleared" : "sync source set";
          }
          if (step.kind == RepairStep::Kind::kRollback) {
            what = "unfinished create rolled back: the volume is deleted";
          }
          Log(step.kind == RepairStep::Kind::kRollback ? LogLevel::kWarning : LogLevel::kInfo, what,
              {{"volume", name},
               {"node", step.node.empty() ? "-" : step.node},
               {"reason", step.reason},
               {"epoch", std::to_string(step.next.epoch)}});
          noted_.erase(key);
        } else if (s.code() != EAGAIN) {  // EAGAIN: changed meanwhile, the next round
          Note(key, LogLevel::kWarning, "repair step not recorded",
               {{"volume", name}, {"step", RepairKindName(step.kind)}, {"error", s.ToString()}});
        }
        break;
      }
    }
  }
}

}  // namespace keel
