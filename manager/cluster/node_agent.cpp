#include "manager/cluster/node_agent.h"

#include <cerrno>
#include <set>

#include "manager/kvdb/etcd_kvdb.h"
#include "manager/log/log.h"

namespace keel::cluster {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string LabelOr(const std::map<std::string, std::string>& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? "" : it->second;
}

}  // namespace

NodeAgent::NodeAgent(NodeAgentOptions options, Kvdb* kvdb)
    : options_(std::move(options)),
      kvdb_(kvdb),
      registry_(std::make_shared<NodeRegistry>()),
      // Start() validated the config first.
      membership_(Membership::Create(options_.membership).value()) {}

Result<std::unique_ptr<NodeAgent>> NodeAgent::Start(NodeAgentOptions options, Kvdb* kvdb,
                                                    bus::CurveKeyPair keys) {
  Status s = ValidateMembershipConfig(options.membership);
  if (!s.ok()) return s;
  if (options.heartbeat_interval <= 0ms || options.lease_ttl_s < 1) {
    return Status::Error(EINVAL, "node agent: bad heartbeat interval or lease TTL");
  }
  if (!options.now_ms) options.now_ms = SystemNowMs;
  std::unique_ptr<NodeAgent> agent(new NodeAgent(std::move(options), kvdb));
  NodeAgent* a = agent.get();
  a->public_key_ = keys.public_key;
  a->capacity_bytes_ = a->options_.capacity_bytes;
  a->free_bytes_ = a->options_.free_bytes;

  bus::ZmqBusOptions bo;
  bo.node = a->options_.node;
  bo.keys = std::move(keys);
  bo.bind_endpoint = a->options_.bus_endpoint;
  bo.directory = a->registry_;
  bo.handlers["heartbeat"] = [a](const std::string& from, const bus::Json&) -> Result<bus::Json> {
    std::lock_guard lock(a->mu_);
    auto t = a->membership_.Heartbeat(from, a->Now());
    // ENOENT: a node whose record this node has not seen yet; its next
    // heartbeat counts once the watch delivers the record.
    if (!t.ok()) return t.status();
    for (const auto& tr : *t) {
      KLOG(kInfo, "node state",
           {{"node", tr.node}, {"to", NodeStateName(tr.to)}, {"reason", tr.reason}});
    }
    return bus::Json::object();
  };
  auto bus = bus::ZmqBus::Start(std::move(bo));
  if (!bus.ok()) return bus.status();
  a->bus_ = std::move(bus).value();

  s = a->Register();
  if (!s.ok()) return s;
  auto rev = a->registry_->Load(kvdb);
  if (!rev.ok()) return rev.status();
  {
    std::lock_guard lock(a->mu_);
    for (const auto& e : a->registry_->All()) {
      Status added = a->membership_.AddNode(e.record.name, e.record.state,
                                            e.record.state_changed_ms, a->Now());
      (void)added;  // a fresh Membership: never EEXIST
    }
  }
  auto coord = kvdb->Get(CoordinatorKey());
  if (!coord.ok()) return coord.status();
  if (*coord) a->coordinator_ = (*coord)->value;
  auto w = kvdb->Watch(kKeyRoot, *rev);
  if (!w.ok()) return w.status();
  a->watcher_ = std::move(w).value();

  a->loop_thread_ = std::thread([a] { a->Loop(); });
  a->watch_thread_ = std::thread([a] { a->WatchLoop(); });
  KLOG(kInfo, "joined the cluster",
       {{"node", a->node()},
        {"bus", a->bus_->endpoint()},
        {"data_address", a->options_.data_address},
        {"coordinator", a->Coordinator()}});
  return agent;
}

NodeAgent::~NodeAgent() {
  {
    std::lock_guard lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (watcher_) watcher_->Cancel();
  if (loop_thread_.joinable()) loop_thread_.join();
  if (watch_thread_.joinable()) watch_thread_.join();
  bus_.reset();  // waits for running handlers, which use this object
  LeaseId lease = lease_.load();
  if (lease != kNoLease) {
    Status s = kvdb_->Revoke(lease);
    if (!s.ok()) {
      KLOG(kWarning, "could not revoke the lease: it expires by itself", {{"error", s.ToString()}});
    }
  }
}

bool NodeAgent::IsCoordinator() const {
  std::lock_guard lock(mu_);
  return is_coordinator_;
}

std::string NodeAgent::Coordinator() const {
  std::lock_guard lock(mu_);
  return coordinator_;
}

Status NodeAgent::Register() {
  auto lease = kvdb_->Grant(options_.lease_ttl_s);
  if (!lease.ok()) return lease.status();
  lease_ = *lease;
  Status s = WriteOwnRecord();
  if (!s.ok()) return s;
  auto put = kvdb_->Put(AliveKey(options_.node), KEEL_VERSION, *lease);
  if (!put.ok()) return put.status();
  return Status();
}

Status NodeAgent::WriteOwnRecord() {
  // Read-modify-CAS: the state is the coordinator's to write, and the
  // cordon the operator's; a restart keeps both.
  for (int attempt = 0; attempt < 5; attempt++) {
    auto cur = kvdb_->Get(NodeKey(options_.node));
    if (!cur.ok()) return cur.status();
    NodeRecord r;
    int64_t expected = 0;
    if (*cur) {
      auto old = NodeRecordFromKv((*cur)->key, (*cur)->value);
      if (old.ok()) {
        r.state = old->state;
        r.state_changed_ms = old->state_changed_ms;
        r.cordoned = old->cordoned;
        r.draining = old->draining;
        r.maintenance = old->maintenance;
      } else {
        KLOG(kWarning, "replacing this node's unreadable record",
             {{"error", old.status().ToString()}});
      }
      expected = (*cur)->mod_revision;
    }
    if (!*cur || r.state_changed_ms == 0) r.state_changed_ms = Now();
    r.name = options_.node;
    r.bus_endpoint = bus_->endpoint();
    r.data_address = options_.data_address;
    r.zone = LabelOr(options_.labels, "zone");
    r.rack = LabelOr(options_.labels, "rack");
    r.labels = options_.labels;
    {
      std::lock_guard lock(mu_);
      r.capacity_bytes = capacity_bytes_;
      r.free_bytes = std::min(free_bytes_, capacity_bytes_);
      record_stale_ = false;
    }
    r.version = KEEL_VERSION;
    r.bus_public_key = public_key_;
    Status v = ValidateNodeRecord(r);
    if (!v.ok()) return v;
    auto cas = kvdb_->CompareAndSwap(NodeKey(options_.node), expected, NodeRecordToJson(r));
    if (cas.ok()) return Status();
    {
      std::lock_guard lock(mu_);
      record_stale_ = true;  // the next round tries again
    }
    if (cas.status().code() != ECANCELED) return cas.status();
  }
  return Status::Error(EBUSY, "node record " + NodeKey(options_.node) + " keeps changing");
}

void NodeAgent::SetCapacity(uint64_t capacity_bytes, uint64_t free_bytes) {
  std::lock_guard lock(mu_);
  if (capacity_bytes == capacity_bytes_ && free_bytes == free_bytes_) return;
  capacity_bytes_ = capacity_bytes;
  free_bytes_ = free_bytes;
  record_stale_ = true;
}

void NodeAgent::Loop() {
  const int64_t keepalive_every = std::max<int64_t>(options_.lease_ttl_s * 1000 / 3, 200);
  const auto tick = std::min<std::chrono::milliseconds>(options_.heartbeat_interval, 250ms);
  int64_t next_heartbeat = 0, next_keepalive = Now() + keepalive_every;
  for (;;) {
    {
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, tick, [this] { return stop_; })) return;
    }
    int64_t now = Now();
    if (now >= next_heartbeat) {
      next_heartbeat = now + options_.heartbeat_interval.count();
      for (const auto& e : registry_->All()) {
        if (e.record.name == options_.node) continue;
        Status s = bus_->Notify(e.record.name, "heartbeat", bus::Json::object());
        if (!s.ok()) {
          KLOG(kDebug, "heartbeat not sent", {{"to", e.record.name}, {"error", s.ToString()}});
        }
      }
      std::lock_guard lock(mu_);
      auto self = membership_.Heartbeat(options_.node, now);
      (void)self;  // ENOENT until this node's own record is in the registry
    }
    if (now >= next_keepalive) {
      next_keepalive = now + keepalive_every;
      auto ka = kvdb_->KeepAlive(lease_.load());
      std::string error = ka.ok() ? "" : ka.status().ToString();
      bool stepped_down = false;
      {
        std::lock_guard lock(mu_);
        // A coordinator that cannot renew its lease stops deciding at
        // once, before the lease can expire and another node take over.
        if (!ka.ok() && is_coordinator_) {
          is_coordinator_ = false;
          stepped_down = true;
        }
        if (error != etcd_error_) {
          if (error.empty()) {
            KLOG(kInfo, "etcd reachable again");
          } else {
            KLOG(kError, "cannot renew the etcd lease", {{"error", error}});
          }
        }
        etcd_error_ = error;
      }
      if (stepped_down) KLOG(kWarning, "no longer coordinator: the lease could not be renewed");
      if (!ka.ok() && ka.status().code() == ENOENT) {
        // The lease expired (etcd unreachable longer than the TTL): the
        // alive key went with it.  Register again under a new lease.
        Status s = Register();
        if (!s.ok()) KLOG(kError, "cannot register again", {{"error", s.ToString()}});
      }
    }
    std::vector<Transition> transitions;
    bool coordinator, elect, stale;
    {
      std::lock_guard lock(mu_);
      stale = record_stale_ && etcd_error_.empty();
    }
    if (stale) {
      Status s = WriteOwnRecord();
      if (!s.ok()) KLOG(kWarning, "cannot update this node's record", {{"error", s.ToString()}});
    }
    {
      std::lock_guard lock(mu_);
      transitions = membership_.Tick(now);
      coordinator = is_coordinator_;
      elect = !is_coordinator_ && coordinator_.empty() && etcd_error_.empty();
    }
    for (const auto& t : transitions) {
      KLOG(kInfo, "node state",
           {{"node", t.node}, {"to", NodeStateName(t.to)}, {"reason", t.reason}});
    }
    if (elect) TryElect();
    if (coordinator) WriteStates();
  }
}

void NodeAgent::TryElect() {
  LeaseId lease = lease_.load();
  TxnRequest txn;
  txn.compares = {Compare::Absent(CoordinatorKey())};
  txn.success = {TxnOp::Put(CoordinatorKey(), options_.node, lease)};
  auto r = kvdb_->Txn(txn);
  if (!r.ok()) {
    KLOG(kWarning, "coordinator election failed", {{"error", r.status().ToString()}});
    return;
  }
  std::string holder = options_.node;
  bool won = r->succeeded;
  if (!won) {
    auto cur = kvdb_->Get(CoordinatorKey());
    if (!cur.ok() || !*cur) return;  // gone again: the next round tries
    holder = (*cur)->value;
    // This node's own key under its current lease: it is still
    // coordinator (it stepped down on a failed renewal that did not
    // outlast the lease).
    won = holder == options_.node && (*cur)->lease == lease;
  }
  std::lock_guard lock(mu_);
  coordinator_ = holder;
  if (won && !is_coordinator_) {
    is_coordinator_ = true;
    KLOG(kInfo, "this node is the coordinator", {{"node", options_.node}});
  }
}

void NodeAgent::WriteStates() {
  std::vector<std::pair<std::string, Member>> members;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, m] : membership_.members()) members.emplace_back(name, m);
  }
  for (const auto& [name, m] : members) {
    auto e = registry_->Get(name);
    if (!e) continue;
    if (e->record.state == m.state) continue;
    NodeRecord r = e->record;
    NodeState from = r.state;
    r.state = m.state;
    r.state_changed_ms = m.state_changed_ms;
    {
      // Checked again just before the write: a coordinator that lost its
      // lease meanwhile must not write (the CAS guards the record itself).
      std::lock_guard lock(mu_);
      if (!is_coordinator_) return;
    }
    auto cas = kvdb_->CompareAndSwap(NodeKey(name), e->mod_revision, NodeRecordToJson(r));
    if (cas.ok()) {
      KLOG(kInfo, "node state recorded",
           {{"node", name}, {"from", NodeStateName(from)}, {"to", NodeStateName(m.state)}});
    } else if (cas.status().code() != ECANCELED) {
      // ECANCELED: the registry lags the record; the next round retries
      // with the revision the watch brings.
      KLOG(kWarning, "cannot record a node state",
           {{"node", name}, {"error", cas.status().ToString()}});
    }
  }
}

void NodeAgent::WatchLoop() {
  for (;;) {
    auto batch = watcher_->Poll(1000ms);
    if (!batch.ok()) {
      int code = batch.status().code();
      if (code == ECANCELED) return;
      if (code == ERANGE) {
        // History compacted past our position: start over from a listing.
        auto rev = registry_->Load(kvdb_);
        if (rev.ok()) {
          auto w = kvdb_->Watch(kKeyRoot, *rev);
          if (w.ok()) {
            std::lock_guard lock(stop_mu_);
            if (stop_) return;
            watcher_ = std::move(w).value();
          }
        }
        for (const auto& e : registry_->All()) OnNodeChanged(e.record.name);
      }
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, 500ms, [this] { return stop_; })) return;
      continue;
    }
    for (const auto& ev : *batch) {
      if (ev.kv.key == CoordinatorKey()) {
        std::lock_guard lock(mu_);
        if (ev.type == WatchEvent::Type::kDelete) {
          if (is_coordinator_) KLOG(kWarning, "no longer coordinator: the key was deleted");
          coordinator_.clear();
          is_coordinator_ = false;
        } else {
          coordinator_ = ev.kv.value;
        }
        continue;
      }
      if (auto name = registry_->Apply(ev)) OnNodeChanged(*name);
    }
  }
}

void NodeAgent::OnNodeChanged(const std::string& name) {
  auto e = registry_->Get(name);
  std::lock_guard lock(mu_);
  bool tracked = membership_.members().count(name) > 0;
  if (e && !tracked) {
    Status s = membership_.AddNode(name, e->record.state, e->record.state_changed_ms, Now());
    if (s.ok()) KLOG(kInfo, "node registered", {{"node", name}});
  } else if (!e && tracked) {
    Status s = membership_.RemoveNode(name);
    if (s.ok()) KLOG(kInfo, "node deregistered", {{"node", name}});
  }
  // The operator's maintenance request (the record's flag) drives the
  // state machine on every node; the coordinator then records the state.
  if (e && membership_.members().count(name) &&
      e->record.maintenance != (membership_.members().at(name).state == NodeState::kMaintenance)) {
    auto t = membership_.SetMaintenance(name, e->record.maintenance, Now());
    if (t.ok()) {
      for (const auto& tr : *t) {
        KLOG(kInfo, "node state",
             {{"node", tr.node}, {"to", NodeStateName(tr.to)}, {"reason", tr.reason}});
      }
    }
  }
}

Result<json> NodeAgent::NodeList() {
  auto alive = kvdb_->List(kAlivePrefix);
  if (!alive.ok()) return alive.status();
  std::set<std::string> alive_nodes;
  for (const auto& kv : *alive) {
    auto n = NameFromKey(kAlivePrefix, kv.key);
    if (n.ok()) alive_nodes.insert(*n);
  }
  std::map<std::string, Member> members;
  std::string coordinator;
  {
    std::lock_guard lock(mu_);
    members = membership_.members();
    coordinator = coordinator_;
  }
  int64_t now = Now();
  json nodes = json::array();
  for (const auto& e : registry_->All()) {
    const NodeRecord& r = e.record;
    json j = json::parse(NodeRecordToJson(r));
    j.erase("v");
    j["alive"] = alive_nodes.count(r.name) > 0;
    j["coordinator"] = r.name == coordinator;
    auto m = members.find(r.name);
    j["heard_ms_ago"] = m == members.end()
                            ? json(nullptr)
                            : json(std::max<int64_t>(0, now - m->second.last_heartbeat_ms));
    nodes.push_back(j);
  }
  return json{{"nodes", nodes}};
}

Result<json> NodeAgent::ClusterStatus() {
  auto list = NodeList();
  if (!list.ok()) return list.status();
  json counts = {{"total", 0}, {"up", 0}, {"suspect", 0}, {"down", 0}, {"maintenance", 0}};
  for (const auto& n : (*list)["nodes"]) {
    counts["total"] = counts["total"].get<int>() + 1;
    std::string st = n["state"].get<std::string>();
    counts[st] = counts[st].get<int>() + 1;
  }
  json endpoints = json::array();
  for (const auto& ep : options_.etcd_endpoints) {
    json j = {{"endpoint", ep}};
    auto one = EtcdKvdb::Open(EtcdOptions{{ep}, 1000ms});
    Result<int64_t> rev = one.ok() ? (*one)->Revision() : Result<int64_t>(one.status());
    j["healthy"] = rev.ok();
    if (rev.ok()) {
      j["revision"] = *rev;
    } else {
      j["error"] = rev.status().ToString();
    }
    endpoints.push_back(j);
  }
  auto vols = kvdb_->List(kVolumesPrefix);
  if (!vols.ok()) return vols.status();
  json volumes = {{"total", 0}, {"attached", 0}, {"degraded", 0}, {"unreadable", 0}};
  for (const auto& kv : *vols) {
    volumes["total"] = volumes["total"].get<int>() + 1;
    auto v = VolumeRecordFromKv(kv.key, kv.value);
    if (!v.ok()) {
      volumes["unreadable"] = volumes["unreadable"].get<int>() + 1;
      continue;
    }
    if (!v->attached_node.empty()) volumes["attached"] = volumes["attached"].get<int>() + 1;
    if (v->in_sync.size() < v->replicas) volumes["degraded"] = volumes["degraded"].get<int>() + 1;
  }
  std::string etcd_error;
  bool coordinator;
  {
    std::lock_guard lock(mu_);
    etcd_error = etcd_error_;
    coordinator = is_coordinator_;
  }
  json j = {{"node", options_.node},
            {"coordinator", Coordinator().empty() ? json(nullptr) : json(Coordinator())},
            {"is_coordinator", coordinator},
            {"lease_ok", etcd_error.empty()},
            {"etcd", {{"endpoints", endpoints}}},
            {"nodes", counts},
            {"node_list", (*list)["nodes"]},
            {"volumes", volumes}};
  if (!etcd_error.empty()) j["lease_error"] = etcd_error;
  return j;
}

}  // namespace keel::cluster
