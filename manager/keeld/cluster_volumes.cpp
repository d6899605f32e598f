#include "manager/keeld/cluster_volumes.h"

#include <sys/random.h>

#include <cerrno>
#include <future>

#include "manager/cluster/failover.h"
#include "manager/cluster/placement.h"
#include "manager/cluster/rebalance.h"
#include "manager/cluster/repair.h"
#include "manager/common/uuid.h"
#include "manager/log/log.h"

namespace keel {
namespace {

using nlohmann::json;
using namespace cluster;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::string> RandomHex(size_t bytes) {
  std::vector<uint8_t> buf(bytes);
  if (getrandom(buf.data(), buf.size(), 0) != static_cast<ssize_t>(buf.size())) {
    return Status::Error(errno ? errno : EIO, "getrandom failed");
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : buf) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

// A field of a bus request body, or EINVAL naming it (rule 7: a bad
// message gets a precise error).
template <typename T>
Result<T> Field(const json& body, const char* key) {
  if (!body.is_object() || !body.contains(key)) {
    return Status::Error(EINVAL, std::string("missing field '") + key + "'");
  }
  try {
    return body.at(key).get<T>();
  } catch (const json::exception&) {
    return Status::Error(EINVAL, std::string("field '") + key + "' has the wrong type");
  }
}

}  // namespace

Result<std::vector<uint8_t>> SecretFromHex(const std::string& hex) {
  if (hex.size() % 2) return Status::Error(EINVAL, "odd-length hex secret");
  std::vector<uint8_t> out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nib(hex[i]), lo = nib(hex[i + 1]);
    if (hi < 0 || lo < 0) return Status::Error(EINVAL, "bad hex secret");
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return out;
}

json ClusterVolumeToJson(const VolumeRecord& v) {
  json j = json::parse(VolumeRecordToJson(v));
  j.erase("secret");  // the kernel links' key never leaves etcd and the nodes
  j.erase("v");
  return j;
}

ClusterVolumes::ClusterVolumes(Options options, Kvdb* kvdb, NodeAgent* agent,
                               VolumeManager* volumes, KernelClient* kernel, StateStore* state,
                               RunOnMain run, std::function<void()> pump)
    : options_(std::move(options)),
      kvdb_(kvdb),
      agent_(agent),
      volumes_(volumes),
      kernel_(kernel),
      state_(state),
      run_(std::move(run)),
      pump_(std::move(pump)) {}

Status ClusterVolumes::RegisterHandlers() {
  using Method = Result<json> (ClusterVolumes::*)(const json&);
  for (auto [name, method] :
       {std::pair<const char*, Method>{"replica.create", &ClusterVolumes::ReplicaCreate},
        {"replica.serve", &ClusterVolumes::ReplicaServe},
        {"replica.stop", &ClusterVolumes::ReplicaStop},
        {"replica.delete", &ClusterVolumes::ReplicaDelete},
        {"volume.sync", &ClusterVolumes::LocalSync},
        {"volume.attach", &ClusterVolumes::AttachHandler}}) {
    Status s = agent_->bus()->Handle(name, [this, method](const std::string&, const json& body) {
      return run_([this, method, body] { return (this->*method)(body); });
    });
    if (!s.ok()) return s;
  }
  return Status();
}

Result<ClusterVolumes::Entry> ClusterVolumes::Get(const std::string& name) {
  auto kv = kvdb_->Get(cluster::VolumeKey(name));
  if (!kv.ok()) return kv.status();
  if (!*kv) return Status::Error(ENOENT, "volume '" + name + "' does not exist");
  auto rec = VolumeRecordFromKv((*kv)->key, (*kv)->value);
  if (!rec.ok()) return rec.status();
  return Entry{std::move(rec).value(), (*kv)->mod_revision};
}

Status ClusterVolumes::Put(const Entry& e, const VolumeRecord& next) {
  auto rev =
      kvdb_->CompareAndSwap(cluster::VolumeKey(next.name), e.revision, VolumeRecordToJson(next));
  if (!rev.ok()) {
    if (rev.status().code() == ECANCELED) {
      return Status::Error(EAGAIN, "volume '" + next.name + "' changed meanwhile: try again");
    }
    return rev.status();
  }
  return Status();
}

Result<ClusterVolumes::Entry> ClusterVolumes::Update(
    const std::string& name,
    const std::function<Result<VolumeRecord>(const VolumeRecord&)>& change) {
  for (int attempt = 0; attempt < 10; attempt++) {
    auto e = Get(name);
    if (!e.ok()) return e.status();
    auto next = change(e->record);
    if (!next.ok()) return next.status();
    if (*next == e->record) return e;
    Status s = Put(*e, *next);
    if (s.ok()) return Get(name);
    if (s.code() != EAGAIN) return s;
    // Another writer (a replica recording its port, the coordinator, the
    // attached node) won the race: read again, decide again.
  }
  return Status::Error(EAGAIN, "volume '" + name + "' keeps changing: try again");
}

Result<json> ClusterVolumes::Call(const std::string& node, const std::string& method,
                                  const json& body, std::chrono::milliseconds timeout) {
  if (node == options_.node) {
    if (method == "replica.create") return ReplicaCreate(body);
    if (method == "replica.serve") return ReplicaServe(body);
    if (method == "replica.stop") return ReplicaStop(body);
    if (method == "replica.delete") return ReplicaDelete(body);
    if (method == "volume.sync") return LocalSync(body);
    return Status::Error(ENOSYS, "no method " + method);
  }
  // The request waits on another thread while this one keeps answering
  // what the main loop is asked meanwhile (the node we call may call us).
  auto reply = std::async(std::launch::async, [bus = agent_->bus(), node, method, body, timeout] {
    return bus->Request(node, method, body, timeout, 1);
  });
  while (reply.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
    if (pump_) pump_();
  }
  auto r = reply.get();
  if (!r.ok()) return Status::Error(r.status().code(), node + ": " + r.status().message());
  return r;
}

Result<uint32_t> ClusterVolumes::LocalKernelId(const std::string& name, const std::string& uuid) {
  auto v = volumes_->Inspect(name);
  if (!v.ok()) return v.status();
  if (v->spec.uuid != uuid) {
    return Status::Error(EEXIST, "a different volume '" + name + "' (uuid " + v->spec.uuid +
                                     ") is on node " + options_.node);
  }
  if (!v->kernel_id) return Status::Error(EIO, "volume '" + name + "' has no kernel object");
  return *v->kernel_id;
}

Result<json> ClusterVolumes::ReplicaCreate(const json& body) {
  auto name = Field<std::string>(body, "name");
  auto uuid = Field<std::string>(body, "uuid");
  auto size = Field<uint64_t>(body, "size");
  auto bs = Field<uint32_t>(body, "block_size");
  for (const Status& s : {name.status(), uuid.status(), size.status(), bs.status()}) {
    if (!s.ok()) return s;
  }
  auto existing = volumes_->Inspect(*name);
  if (existing.ok()) {
    if (existing->spec.uuid == *uuid) return json::object();  // a retry
    return Status::Error(EEXIST, "another volume '" + *name + "' is on node " + options_.node);
  }
  if (existing.status().code() != ENOENT) return existing.status();
  CreateParams p{*name, *size, *bs, {}, *uuid};
  auto v = volumes_->Create(p);
  if (!v.ok()) return v.status();
  return json::object();
}

Result<json> ClusterVolumes::ReplicaServe(const json& body) {
  auto name = Field<std::string>(body, "name");
  auto uuid = Field<std::string>(body, "uuid");
  auto epoch = Field<uint64_t>(body, "epoch");
  auto secret = Field<std::string>(body, "secret");
  for (const Status& s : {name.status(), uuid.status(), epoch.status(), secret.status()}) {
    if (!s.ok()) return s;
  }
  auto key = SecretFromHex(*secret);
  if (!key.ok()) return key.status();
  auto id = LocalKernelId(*name, *uuid);
  if (!id.ok()) return id.status();
  auto view = volumes_->Inspect(*name);
  if (view.ok() && view->state == "attached") {
    // The old attached node, back before its reconcile fenced it.
    return Status::Error(EBUSY, "volume '" + *name + "' still has its disk on node " +
                                    options_.node + ": it is fenced at the next reconcile");
  }
  // This node was filling the detached volume's other replicas (its sync
  // source); the attach that asks it to serve ends that (a target has no
  // peers).
  Status dropped = DropPeers(*id, *name);
  if (!dropped.ok()) return dropped;
  SetVolumeRequest set;
  set.epoch = *epoch;
  set.secret = *key;
  auto st = kernel_->SetVolume(*id, set);
  if (!st.ok()) return KernelError(st.status(), "VOLUME_SET for '" + *name + "'");
  if (uint32_t{options_.port_base} + *id > 65535) {
    return Status::Error(ERANGE, "no port for kernel volume " + std::to_string(*id) +
                                     " above replication_port_base");
  }
  uint16_t port = static_cast<uint16_t>(options_.port_base + *id);
  Status s = kernel_->ListenStart(*id, options_.data_address, port);
  // Already listening (a retried serve): the target keeps its socket and
  // takes the new epoch from VOLUME_SET above.
  if (!s.ok() && s.code() != EALREADY && s.code() != EBUSY && s.code() != EEXIST) {
    return KernelError(s, "LISTEN_START for '" + *name + "'");
  }
  KLOG(kInfo, "serving replica",
       {{"volume", *name}, {"epoch", std::to_string(*epoch)}, {"port", std::to_string(port)}});
  return json{{"port", port}};
}

Status ClusterVolumes::DropPeers(uint32_t id, const std::string& name) {
  auto k = kernel_->GetVolume(id);
  if (!k.ok()) return KernelError(k.status(), "VOLUME_GET for '" + name + "'");
  if (k->state & KEEL_STATE_ATTACHED) return Status();  // not a sync source's peers
  for (const auto& p : k->peers) {
    Status s = kernel_->PeerRemove(id, p.slot);
    if (!s.ok() && s.code() != ENOENT) return KernelError(s, "PEER_REMOVE for '" + name + "'");
    KLOG(kInfo, "sync source: peer removed", {{"volume", name}, {"node", p.name}});
  }
  return Status();
}

Result<json> ClusterVolumes::ReplicaStop(const json& body) {
  auto name = Field<std::string>(body, "name");
  auto uuid = Field<std::string>(body, "uuid");
  if (!name.ok()) return name.status();
  if (!uuid.ok()) return uuid.status();
  auto id = LocalKernelId(*name, *uuid);
  if (!id.ok()) return id.status().code() == ENOENT ? Result<json>(json::object()) : id.status();
  Status s = kernel_->ListenStop(*id);
  if (!s.ok()) KLOG(kDebug, "LISTEN_STOP", {{"volume", *name}, {"error", s.ToString()}});
  return json::object();
}

Result<json> ClusterVolumes::ReplicaDelete(const json& body) {
  auto name = Field<std::string>(body, "name");
  auto uuid = Field<std::string>(body, "uuid");
  if (!name.ok()) return name.status();
  if (!uuid.ok()) return uuid.status();
  auto id = LocalKernelId(*name, *uuid);
  if (!id.ok()) {
    // Gone already (a retry), or another volume of that name: not ours.
    if (id.status().code() == ENOENT || id.status().code() == EEXIST) return json::object();
    return id.status();
  }
  Status s = kernel_->ListenStop(*id);
  (void)s;  // not listening is fine
  s = volumes_->Delete(*name, true);
  if (!s.ok() && s.code() != ENOENT) return s;
  return json::object();
}

Result<json> ClusterVolumes::Create(const CreateParams& p, uint32_t replicas, bool zone_spread) {
  auto cur = kvdb_->Get(cluster::VolumeKey(p.name));
  if (!cur.ok()) return cur.status();
  if (*cur) return Status::Error(EEXIST, "volume '" + p.name + "' already exists");
  VolumeRecord v;
  v.name = p.name;
  auto uuid = Uuid::Random();
  if (!uuid.ok()) return uuid.status();
  v.uuid = uuid->ToString();
  v.size = p.size;
  v.block_size = p.block_size;
  v.labels = p.labels;
  v.replicas = replicas;
  v.constraints.zone_spread = zone_spread;
  v.epoch = 1;
  auto secret = RandomHex(32);
  if (!secret.ok()) return secret.status();
  v.secret = VolumeSecret{VolumeSecret::Kind::kVolume, *secret};
  v.state = VolumeState::kCreating;
  v.created_ms = NowMs();
  std::vector<NodeRecord> nodes;
  for (const auto& e : agent_->registry().All()) nodes.push_back(e.record);
  auto placed = PlaceReplicas(PlacementRequestFor(v, options_.node), nodes);
  if (!placed.ok()) return placed.status();
  for (uint32_t i = 0; i < placed->size(); i++) {
    v.replica_set.push_back(ReplicaRef{(*placed)[i], i, std::nullopt, std::nullopt});
    v.in_sync.push_back((*placed)[i]);
  }
  Status s = ValidateVolumeRecord(v);
  if (!s.ok()) return s;
  auto rev = kvdb_->CompareAndSwap(cluster::VolumeKey(v.name), 0, VolumeRecordToJson(v));
  if (!rev.ok()) {
    if (rev.status().code() == ECANCELED) {
      return Status::Error(EEXIST, "volume '" + p.name + "' already exists");
    }
    return rev.status();
  }
  json body = {{"name", v.name}, {"uuid", v.uuid}, {"size", v.size}, {"block_size", v.block_size}};
  for (const auto& r : v.replica_set) {
    auto c = Call(r.node, "replica.create", body);
    if (c.ok()) continue;
    // Roll back: the client gets an error, so nothing may stay behind.
    KLOG(kWarning, "volume create failed: rolling back",
         {{"volume", v.name}, {"node", r.node}, {"error", c.status().ToString()}});
    for (const auto& o : v.replica_set) {
      auto d = Call(o.node, "replica.delete", {{"name", v.name}, {"uuid", v.uuid}});
      (void)d;
    }
    auto e = Get(v.name);
    if (e.ok()) {
      Status del = kvdb_->CompareAndDelete(cluster::VolumeKey(v.name), e->revision);
      (void)del;
    }
    return c.status();
  }
  auto done = Update(v.name, [&](VolumeRecord r) -> Result<VolumeRecord> {
    if (r.uuid != v.uuid || r.state != VolumeState::kCreating) {
      // Too slow: the coordinator rolled the create back (create_timeout_s).
      return Status::Error(ECANCELED,
                           "volume '" + v.name + "': the create took too long and was rolled back");
    }
    r.state = VolumeState::kReady;
    return r;
  });
  if (!done.ok()) return done.status();
  const VolumeRecord& ready = done->record;
  KLOG(kInfo, "cluster volume created",
       {{"volume", v.name}, {"replicas", std::to_string(v.replica_set.size())}});
  return ClusterVolumeToJson(ready);
}

Result<json> ClusterVolumes::AttachHandler(const json& body) {
  auto name = Field<std::string>(body, "name");
  if (!name.ok()) return name.status();
  return AttachHere(*name);
}

Result<json> ClusterVolumes::Attach(const std::string& name, const std::string& node) {
  if (node.empty() || node == options_.node) return AttachHere(name);
  if (!agent_->registry().Get(node)) {
    return Status::Error(ENOENT, "node '" + node + "' is not registered in the cluster");
  }
  // The attach runs on `node` (its kernel makes the disk); this keeld waits.
  return Call(node, "volume.attach", {{"name", name}}, std::chrono::seconds(90));
}

Result<json> ClusterVolumes::AttachHere(const std::string& name) {
  auto e = Get(name);
  if (!e.ok()) return e.status();
  std::vector<NodeRecord> nodes;
  for (const auto& n : agent_->registry().All()) nodes.push_back(n.record);
  NodeStates states = StatesOf(nodes);
  // No replica here: a diskless attach (every read and write goes to the
  // in-sync replicas over the network).  AttachOn decides whether allowed.
  const bool diskless = e->record.FindReplica(options_.node) == nullptr;
  // Rule 3: the epoch is bumped in etcd before any kernel hears of it.
  e = Update(name, [&](const VolumeRecord& r) { return AttachOn(r, options_.node, states); });
  if (!e.ok()) return e.status();
  auto key = SecretFromHex(e->record.secret.hex);
  if (!key.ok()) return key.status();

  // Every other replica serves.  One that cannot is recorded out of sync
  // (CAS) before this node goes on without it (rule 2).
  struct Peer {
    ReplicaRef ref;
    std::string addr;
    uint16_t port;
  };
  std::vector<Peer> peers;
  for (const auto& r : e->record.replica_set) {
    if (r.node == options_.node) continue;
    auto rec = agent_->registry().Get(r.node);
    auto st = states.find(r.node);
    Result<json> served = Status::Error(EHOSTDOWN, "node " + r.node + " is not up");
    if (rec && st != states.end() && st->second.state == NodeState::kUp) {
      served = Call(r.node, "replica.serve",
                    {{"name", name},
                     {"uuid", e->record.uuid},
                     {"epoch", e->record.epoch},
                     {"secret", e->record.secret.hex}});
    }
    if (served.ok()) {
      auto port = Field<uint16_t>(*served, "port");
      if (port.ok()) {
        peers.push_back({r, rec->record.data_address, *port});
        continue;
      }
      served = port.status();
    }
    KLOG(kWarning, "replica cannot serve: outdating it",
         {{"volume", name}, {"node", r.node}, {"error", served.status().ToString()}});
    e = Update(name, [&](const VolumeRecord& v) -> Result<VolumeRecord> {
      auto out = OutdateReplica(v, r.node);
      if (!out.ok() && out.status().code() == EALREADY) return v;
      return out;
    });
    if (!e.ok()) return e.status();
  }

  Result<uint32_t> id = 0u;
  Result<std::string> dev = std::string();
  if (diskless) {
    auto d = AttachDiskless(e->record, *key);
    if (!d.ok()) return d.status();
    id = d->first;
    dev = d->second;
  } else {
    id = LocalKernelId(name, e->record.uuid);
    if (!id.ok()) return id.status();
    // This replica may have served the old attached node (a failover): it
    // is the source now, not a target.
    Status ls = kernel_->ListenStop(*id);
    (void)ls;  // not listening
    // It may have been filling the detached volume's replicas: those peers
    // are added anew below, under this attachment.
    Status dropped = DropPeers(*id, name);
    if (!dropped.ok()) return dropped;
    SetVolumeRequest set;
    set.epoch = e->record.epoch;
    set.secret = *key;
    auto st = kernel_->SetVolume(*id, set);
    if (!st.ok()) return KernelError(st.status(), "VOLUME_SET for '" + name + "'");
    dev = volumes_->Attach(name);
    if (!dev.ok()) return dev.status();
  }
  for (const auto& p : peers) {
    if (diskless && !e->record.IsInSync(p.ref.node)) {
      // Nothing here to resync it from: it catches up once the volume is
      // attached on a node with a replica.
      KLOG(kInfo, "diskless attach: an out-of-sync replica is left out",
           {{"volume", name}, {"node", p.ref.node}});
      continue;
    }
    auto kind = ResyncFor(e->record, p.ref.node);
    if (!kind.ok()) return kind.status();
    PeerSync sync = *kind == ResyncKind::kFull ? PeerSync::kFull : PeerSync::kBitmap;
    Status s = kernel_->PeerAdd(*id, p.ref.slot, p.addr, p.port, p.ref.node, sync);
    if (!s.ok() && s.code() != EEXIST && s.code() != EALREADY && s.code() != EBUSY) {
      return KernelError(s, "PEER_ADD of " + p.ref.node + " for '" + name + "'");
    }
  }
  e = Update(name, [&](VolumeRecord v) -> Result<VolumeRecord> {
    if (v.attached_node != options_.node) {
      return Status::Error(
          EBUSY, "volume '" + name + "' was attached on node " + v.attached_node + " meanwhile");
    }
    v.device = *dev;
    return v;
  });
  if (!e.ok()) return e.status();
  KLOG(kInfo, "cluster volume attached",
       {{"volume", name},
        {"device", *dev},
        {"epoch", std::to_string(e->record.epoch)},
        {"diskless", diskless ? "true" : "false"}});
  return json{
      {"name", name}, {"node", options_.node}, {"device", *dev}, {"epoch", e->record.epoch}};
}

Result<std::optional<uint32_t>> ClusterVolumes::DisklessKernelId(const std::string& uuid) {
  auto fact = state_->GetNodeFact("diskless:" + uuid);
  if (!fact.ok()) return fact.status();
  if (!*fact) return std::optional<uint32_t>();
  uint32_t id = 0;
  try {
    id = static_cast<uint32_t>(std::stoul(**fact));
  } catch (const std::exception&) {
    return Status::Error(EUCLEAN, "keel.db: diskless:" + uuid + " is not a kernel id: " + **fact);
  }
  auto k = kernel_->GetVolume(id);
  if (!k.ok()) {
    if (k.status().code() == ENOENT) return std::optional<uint32_t>();  // gone (module reloaded)
    return KernelError(k.status(), "VOLUME_GET " + std::to_string(id));
  }
  if (!(k->state & KEEL_STATE_DISKLESS) || k->uuid.ToString() != uuid) {
    return std::optional<uint32_t>();  // the id went to another volume since
  }
  return std::optional<uint32_t>(id);
}

Result<std::pair<uint32_t, std::string>> ClusterVolumes::AttachDiskless(
    const VolumeRecord& rec, const std::vector<uint8_t>& key) {
  auto found = DisklessKernelId(rec.uuid);
  if (!found.ok()) return found.status();
  uint32_t id = 0;
  if (*found) {
    id = **found;  // a retried attach
  } else {
    auto uuid = Uuid::Parse(rec.uuid);
    if (!uuid.ok()) return uuid.status();
    CreateVolumeRequest req;
    req.uuid = *uuid;
    req.size = rec.size;
    req.block_size = rec.block_size;
    req.diskless = true;
    auto k = kernel_->CreateVolume(req);
    if (!k.ok()) return KernelError(k.status(), "VOLUME_CREATE (diskless) for '" + rec.name + "'");
    id = k->id;
    Status s = state_->PutNodeFact("diskless:" + rec.uuid, std::to_string(id));
    if (!s.ok()) {
      Status d = kernel_->DeleteVolume(id, true);
      (void)d;  // nothing may stay behind that keel.db does not know
      return s;
    }
  }
  SetVolumeRequest set;
  set.epoch = rec.epoch;
  set.secret = key;
  auto st = kernel_->SetVolume(id, set);
  if (!st.ok()) return KernelError(st.status(), "VOLUME_SET for '" + rec.name + "'");
  if (st->state & KEEL_STATE_ATTACHED) return std::pair{id, "/dev/" + st->device_name};
  auto a = kernel_->AttachVolume(id);
  if (!a.ok()) return KernelError(a.status(), "VOLUME_ATTACH for '" + rec.name + "'");
  return std::pair{id, "/dev/" + a->device_name};
}

Status ClusterVolumes::DetachDiskless(const VolumeRecord& rec, bool force) {
  auto found = DisklessKernelId(rec.uuid);
  if (!found.ok()) return found.status();
  if (!*found) return state_->DeleteNodeFact("diskless:" + rec.uuid);  // gone already
  const uint32_t id = **found;
  auto k = kernel_->GetVolume(id);
  if (!k.ok()) return KernelError(k.status(), "VOLUME_GET for '" + rec.name + "'");
  if (k->state & KEEL_STATE_ATTACHED) {
    Status s = kernel_->DetachVolume(id, force);
    if (!s.ok()) return KernelError(s, "VOLUME_DETACH of '" + rec.name + "'");
  }
  for (const auto& p : k->peers) {
    Status s = kernel_->PeerRemove(id, p.slot);
    (void)s;  // gone already
  }
  Status s = kernel_->DeleteVolume(id, true);
  if (!s.ok() && s.code() != ENOENT) return KernelError(s, "VOLUME_DELETE of '" + rec.name + "'");
  return state_->DeleteNodeFact("diskless:" + rec.uuid);
}

Result<json> ClusterVolumes::Detach(const std::string& name, bool force) {
  auto e = Get(name);
  if (!e.ok()) return e.status();
  if (e->record.attached_node.empty()) return json{{"name", name}, {"state", "detached"}};
  if (e->record.attached_node != options_.node) {
    return Status::Error(EBUSY, "volume '" + name + "' is attached on node " +
                                    e->record.attached_node + ": detach it there");
  }
  const bool diskless = e->record.FindReplica(options_.node) == nullptr;
  Status s;
  if (diskless) {
    s = DetachDiskless(e->record, force);
    if (!s.ok()) return s;
  } else {
    auto id = LocalKernelId(name, e->record.uuid);
    if (!id.ok()) return id.status();
    s = volumes_->Detach(name, force);
    if (!s.ok()) return s;
    for (const auto& r : e->record.replica_set) {
      if (r.node == options_.node) continue;
      Status pr = kernel_->PeerRemove(*id, r.slot);
      (void)pr;  // a peer that was never added or is gone already
    }
  }
  auto detached =
      Update(name, [&](const VolumeRecord& v) { return cluster::Detach(v, options_.node); });
  if (!detached.ok()) return detached.status();
  for (const auto& r : e->record.replica_set) {
    if (r.node == options_.node) continue;
    auto stop = Call(r.node, "replica.stop", {{"name", name}, {"uuid", e->record.uuid}});
    if (!stop.ok()) {
      KLOG(kWarning, "replica target not stopped",
           {{"volume", name}, {"node", r.node}, {"error", stop.status().ToString()}});
    }
  }
  return json{{"name", name}, {"state", "detached"}};
}

Result<json> ClusterVolumes::Delete(const std::string& name, bool force) {
  auto e = Get(name);
  if (!e.ok()) return e.status();
  if (!e->record.attached_node.empty()) {
    if (!force) {
      return Status::Error(EBUSY,
                           "volume '" + name + "' is attached on node " + e->record.attached_node);
    }
    if (e->record.attached_node == options_.node) {
      auto d = Detach(name, true);
      if (!d.ok()) return d.status();
      e = Get(name);
      if (!e.ok()) return e.status();
    }
  }
  e = Update(name, [](VolumeRecord v) -> Result<VolumeRecord> {
    v.state = VolumeState::kDeleting;
    return v;
  });
  if (!e.ok()) return e.status();
  // The record stays "deleting" until every replica is gone.  A node that
  // cannot be reached now deletes its replica when it is back (reconcile),
  // or the coordinator forgets it once the node has been down for
  // rereplication_grace_s: the delete finishes either way.
  const auto finishes = [&](const std::string& node, const std::string& why) {
    return "volume '" + name + "' is being deleted, but node " + node + why +
           "; the delete finishes when the node is back, or once it has been down for "
           "rereplication_grace_s";
  };
  std::vector<NodeRecord> nodes;
  for (const auto& n : agent_->registry().All()) nodes.push_back(n.record);
  const NodeStates states = StatesOf(nodes);
  std::vector<std::string> down;
  for (const auto& r : e->record.replica_set) {
    auto st = states.find(r.node);
    if (st == states.end()) continue;  // not registered: the coordinator forgets it
    if (st->second.state == NodeState::kDown) {
      down.push_back(r.node);  // no use waiting for its reply
      continue;
    }
    auto d = Call(r.node, "replica.delete", {{"name", name}, {"uuid", e->record.uuid}});
    if (!d.ok()) {
      return Status::Error(d.status().code(), finishes(r.node, " did not delete its replica (" +
                                                                   d.status().message() + ")"));
    }
  }
  if (!down.empty()) return Status::Error(EHOSTDOWN, finishes(down.front(), " is down"));
  // Each replica node drops itself from the record as it reconciles: the
  // revision moves, so read again until the delete holds.
  for (int attempt = 0; attempt < 10; attempt++) {
    Status s = kvdb_->CompareAndDelete(cluster::VolumeKey(name), e->revision);
    if (s.ok()) return json{{"name", name}, {"deleted", true}};
    if (s.code() != ECANCELED && s.code() != EAGAIN) return s;
    e = Get(name);
    if (!e.ok()) {
      if (e.status().code() == ENOENT) return json{{"name", name}, {"deleted", true}};
      return e.status();
    }
    if (e->record.state != VolumeState::kDeleting) {
      return Status::Error(EAGAIN, "volume '" + name + "' changed while being deleted");
    }
  }
  return Status::Error(EAGAIN, "volume '" + name + "' keeps changing: run the delete again");
}

static json PeerSyncToJson(const PeerStatus& p) {
  // remaining_bytes: what the resync still has to send (the peer's dirty
  // bitmap, in bytes).
  json j = {{"node", p.name},
            {"slot", p.slot},
            {"state", PeerStateName(p.state)},
            {"in_sync", p.in_sync},
            {"connected", p.connected},
            {"rate", p.resync_rate},
            {"remaining_bytes", p.dirty_bytes}};
  if (p.sync_percent) {
    j["percent"] = *p.sync_percent;
  } else if (p.in_sync) {
    j["percent"] = 100;
  } else {
    j["percent"] = nullptr;
  }
  return j;
}

Result<json> ClusterVolumes::LocalSync(const json& body) {
  auto name = Field<std::string>(body, "name");
  if (!name.ok()) return name.status();
  auto e = Get(*name);
  if (!e.ok()) return e.status();
  std::optional<keel::VolumeStatus> k;
  if (e->record.FindReplica(options_.node)) {
    auto v = volumes_->Inspect(*name);
    if (!v.ok()) return v.status();
    const bool filling = e->record.attached_node.empty() && e->record.sync_source == options_.node;
    if (v->state == "attached" || filling) k = v->kernel;
  } else if (auto id = DisklessKernelId(e->record.uuid); id.ok() && *id) {
    auto st = kernel_->GetVolume(**id);
    if (st.ok() && (st->state & KEEL_STATE_ATTACHED)) k = *st;
  }
  if (!k) {
    return Status::Error(ENODEV, "volume '" + *name + "' is not attached on node " + options_.node);
  }
  json peers = json::array();
  for (const auto& p : k->peers) peers.push_back(PeerSyncToJson(p));
  return json{{"sync", peers}, {"diskless", e->record.FindReplica(options_.node) == nullptr}};
}

Result<json> ClusterVolumes::VolumeStatus(const std::string& name) {
  auto e = Get(name);
  if (!e.ok()) return e.status();
  json j = ClusterVolumeToJson(e->record);
  // The node whose kernel drives the resyncs: the attached one, or the
  // sync source while detached.
  const std::string& at =
      e->record.attached_node.empty() ? e->record.sync_source : e->record.attached_node;
  if (!at.empty()) {
    auto sync = at == options_.node
                    ? LocalSync({{"name", name}})
                    : Call(at, "volume.sync", {{"name", name}}, std::chrono::seconds(3));
    if (sync.ok() && sync->contains("sync")) {
      j["sync"] = (*sync)["sync"];
    } else {
      j["sync_error"] =
          sync.ok() ? std::string("no sync in the reply of ") + at : sync.status().message();
    }
  }
  return j;
}

Result<json> ClusterVolumes::List() {
  auto all = kvdb_->List(cluster::kVolumesPrefix);
  if (!all.ok()) return all.status();
  json out = json::array();
  for (const auto& kv : *all) {
    auto v = VolumeRecordFromKv(kv.key, kv.value);
    if (v.ok()) {
      out.push_back(ClusterVolumeToJson(*v));
    } else {
      auto name = cluster::NameFromKey(cluster::kVolumesPrefix, kv.key);
      out.push_back({{"name", name.ok() ? *name : kv.key}, {"error", v.status().message()}});
    }
  }
  return json{{"volumes", out}};
}

Result<json> ClusterVolumes::SetNodeFlags(const std::string& node, NodeFlags flags) {
  for (int attempt = 0; attempt < 5; attempt++) {
    auto kv = kvdb_->Get(cluster::NodeKey(node));
    if (!kv.ok()) return kv.status();
    if (!*kv) return Status::Error(ENOENT, "node '" + node + "' is not registered in the cluster");
    auto rec = NodeRecordFromKv((*kv)->key, (*kv)->value);
    if (!rec.ok()) return rec.status();
    NodeRecord next = *rec;
    switch (flags) {
      case NodeFlags::kCordon:
        next.cordoned = true;
        break;
      case NodeFlags::kUncordon:
        next.cordoned = next.draining = false;
        break;
      case NodeFlags::kDrain:
        next.cordoned = next.draining = true;
        break;
      case NodeFlags::kMaintenanceOn:
        next.maintenance = true;
        break;
      case NodeFlags::kMaintenanceOff:
        next.maintenance = false;
        break;
    }
    if (!(next == *rec)) {
      auto cas = kvdb_->CompareAndSwap(cluster::NodeKey(node), (*kv)->mod_revision,
                                       NodeRecordToJson(next));
      if (!cas.ok()) {
        if (cas.status().code() == ECANCELED) continue;  // the node or the coordinator wrote it
        return cas.status();
      }
      KLOG(kInfo, "node flags changed",
           {{"node", node},
            {"cordoned", next.cordoned ? "true" : "false"},
            {"draining", next.draining ? "true" : "false"},
            {"maintenance", next.maintenance ? "true" : "false"}});
    }
    auto all = kvdb_->List(cluster::kVolumesPrefix);
    if (!all.ok()) return all.status();
    std::vector<VolumeRecord> volumes;
    for (const auto& kv2 : *all) {
      auto v = VolumeRecordFromKv(kv2.key, kv2.value);
      if (v.ok()) volumes.push_back(std::move(v).value());
    }
    return json{{"name", node},
                {"cordoned", next.cordoned},
                {"draining", next.draining},
                {"maintenance", next.maintenance},
                {"replicas", ReplicasOn(volumes, node)}};
  }
  return Status::Error(EAGAIN, "node record of '" + node + "' keeps changing: try again");
}

Result<json> ClusterVolumes::Rebalance(double threshold_pct, uint32_t max_moves, bool dry_run) {
  auto all = kvdb_->List(cluster::kVolumesPrefix);
  if (!all.ok()) return all.status();
  std::vector<VolumeRecord> volumes;
  for (const auto& kv : *all) {
    auto v = VolumeRecordFromKv(kv.key, kv.value);
    if (v.ok()) volumes.push_back(std::move(v).value());
  }
  std::vector<NodeRecord> nodes;
  for (const auto& n : agent_->registry().All()) nodes.push_back(n.record);
  RebalanceOptions opts;
  opts.threshold_pct = threshold_pct;
  opts.max_moves = max_moves;
  RebalancePlan plan = PlanRebalance(volumes, nodes, opts);
  json moves = json::array();
  for (const RebalanceMove& m : plan.moves) {
    json j = {{"volume", m.volume}, {"from", m.from}, {"to", m.to}, {"size", m.size}};
    if (!dry_run) {
      // The record may have changed since the plan was made: MarkMoving
      // decides again on the current one.
      auto e = Update(m.volume, [&](const VolumeRecord& v) -> Result<VolumeRecord> {
        auto next = MarkMoving(v, m.from, m.to);
        if (!next.ok() && next.status().code() == EALREADY) return v;
        return next;
      });
      if (e.ok()) {
        KLOG(kInfo, "rebalance: replica to move",
             {{"volume", m.volume}, {"from", m.from}, {"to", m.to}});
      } else {
        j["error"] = e.status().message();
      }
    }
    moves.push_back(std::move(j));
  }
  json in_progress = json::array();
  for (const RebalanceMove& m : plan.in_progress) {
    in_progress.push_back({{"volume", m.volume}, {"from", m.from}, {"size", m.size}});
  }
  return json{{"moves", moves},
              {"in_progress", in_progress},
              {"use_before", plan.use_before},
              {"use_after", plan.use_after},
              {"reason", plan.reason},
              {"threshold_pct", threshold_pct},
              {"dry_run", dry_run}};
}

void ClusterVolumes::OnKernelEvent(const KernelEvent& ev) {
  if (ev.type != KEEL_EVENT_PEER_LOST && ev.type != KEEL_EVENT_PEER_IN_SYNC) return;
  if (!ev.peer_slot) return;
  PeerEvent pe{ev.type, ev.volume_id, ev.uuid.ToString(), *ev.peer_slot};
  // A later event for the same peer supersedes an unrecorded earlier one.
  pending_.erase(PeerEvent{ev.type == KEEL_EVENT_PEER_LOST ? uint32_t{KEEL_EVENT_PEER_IN_SYNC}
                                                           : uint32_t{KEEL_EVENT_PEER_LOST},
                           pe.volume_id, pe.uuid, pe.slot});
  Status s = HandlePeerEvent(pe);
  if (!s.ok()) {
    KLOG(kError, "peer event not recorded in etcd yet: retrying (writes stay frozen)",
         {{"volume_id", std::to_string(pe.volume_id)},
          {"slot", std::to_string(pe.slot)},
          {"error", s.ToString()}});
    pending_.insert(pe);
  }
}

void ClusterVolumes::RetryPending() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (HandlePeerEvent(*it).ok()) {
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

Status ClusterVolumes::HandlePeerEvent(const PeerEvent& pe) {
  // The local replica the event is about: its name leads to the record.
  auto all = volumes_->List();
  if (!all.ok()) return all.status();
  std::string name;
  for (const auto& v : *all) {
    if (v.spec.uuid == pe.uuid && v.kernel_id == pe.volume_id) name = v.spec.name;
  }
  if (name.empty()) return Status();  // not a replica of this node's
  for (int attempt = 0; attempt < 3; attempt++) {
    auto e = Get(name);
    if (!e.ok()) return e.status().code() == ENOENT ? Status() : e.status();
    const VolumeRecord& v = e->record;
    const bool filling = v.attached_node.empty() && v.sync_source == options_.node;
    if (v.attached_node != options_.node && !filling) return Status();  // not our peer's event
    const ReplicaRef* ref = nullptr;
    for (const auto& r : v.replica_set) {
      if (r.slot == pe.slot) ref = &r;
    }
    if (!ref) return Status();
    // The sync source of a detached volume: a lost peer is out of sync
    // already, and no IO waits for it.
    if (filling && pe.type != KEEL_EVENT_PEER_IN_SYNC) return Status();
    if (pe.type == KEEL_EVENT_PEER_IN_SYNC) {
      // Filled while detached, the copy is current (nothing writes then);
      // resynced under the attachment, it is current if that attachment is.
      auto next = filling ? MarkFilled(v, ref->node, options_.node)
                          : MarkInSync(v, ref->node, v.attached_epoch);
      if (!next.ok()) {
        int c = next.status().code();
        return c == EALREADY || c == ESTALE || c == ENOENT ? Status() : next.status();
      }
      Status s = Put(*e, *next);
      if (s.ok()) {
        KLOG(kInfo,
             filling ? "replica filled while detached: in sync recorded"
                     : "replica in sync recorded",
             {{"volume", name}, {"node", ref->node}});
        return s;
      }
      if (s.code() != EAGAIN) return s;
      continue;  // the record changed meanwhile: decide again
    }
    // PEER_LOST.  Rule 2: recorded in etcd first, then the kernel.
    std::string node = ref->node;
    auto next = OutdateReplica(v, node);
    uint64_t epoch = v.epoch;
    if (next.ok()) {
      Status s = Put(*e, *next);
      if (!s.ok()) {
        if (s.code() == EAGAIN) continue;
        return s;
      }
      epoch = next->epoch;
    } else if (next.status().code() == EPERM) {
      // The last in-sync replica: nothing may go on without it.
      KLOG(kError, "lost peer is the last in-sync replica: writes stay frozen",
           {{"volume", name}, {"node", node}});
      return Status();
    } else if (next.status().code() != EALREADY) {
      return next.status();
    }
    // EALREADY: recorded by an earlier try; the kernel may not know yet.
    Status k = kernel_->PeerOutdate(pe.volume_id, pe.slot, epoch);
    if (!k.ok() && k.code() != EINVAL) {
      // EINVAL: the kernel's epoch is there already (told before a crash).
      return KernelError(k, "PEER_OUTDATE of " + node + " for '" + name + "'");
    }
    KLOG(kWarning, "replica outdated: writes go on without it",
         {{"volume", name}, {"node", node}, {"epoch", std::to_string(epoch)}});
    return Status();
  }
  return Status::Error(EAGAIN, "volume '" + name + "' keeps changing");
}

}  // namespace keel
