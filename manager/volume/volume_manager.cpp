#include "manager/volume/volume_manager.h"

#include <cerrno>
#include <set>

#include "manager/common/size.h"
#include "manager/common/uuid.h"
#include "manager/config/config.h"
#include "manager/log/log.h"

namespace keel {
namespace {

std::string DevicePath(const VolumeStatus& k) {
  return k.device_name.empty() ? "" : "/dev/" + k.device_name;
}

bool Attached(const VolumeStatus& k) { return (k.state & KEEL_STATE_ATTACHED) != 0; }

std::string JStr(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

uint64_t JU64(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number_unsigned() ? j[key].get<uint64_t>()
                                                                         : 0;
}

}  // namespace

Status KernelError(const Status& s, const std::string& what) {
  std::string hint;
  switch (s.code()) {
    case EPERM:
    case EACCES:
      hint = " (keeld needs CAP_SYS_ADMIN: run it as root)";
      break;
    case ETIMEDOUT:
      hint = " (keel.ko did not answer in time; see the kernel log: dmesg)";
      break;
    default:
      break;
  }
  return Status::Error(s.code(), what + ": " + s.message() + hint);
}

VolumeManager::VolumeManager(Options opts, StateStore* state, Kvdb* kvdb, KernelClient* kernel,
                             Filesystem* fs, Clock* clock, CrashHook crash)
    : opts_(std::move(opts)),
      state_(state),
      kvdb_(kvdb),
      kernel_(kernel),
      fs_(fs),
      clock_(clock),
      crash_(std::move(crash)) {}

const std::vector<std::string>& VolumeManager::CrashPoints() {
  static const std::vector<std::string> kPoints = {
      "create:intent-written",
      "create:backing-created",
      "create:kernel-created",
      "create:kvdb-written",
      "create:done",
      "attach:intent-written",
      "attach:kernel-attached",
      "attach:kvdb-written",
      "detach:intent-written",
      "detach:kernel-detached",
      "detach:kvdb-written",
      "delete:intent-written",
      "delete:kernel-deleted",
      "delete:backing-removed",
      "delete:kvdb-removed",
  };
  return kPoints;
}

Status VolumeManager::Crash(std::string_view point) {
  if (crash_ && crash_(point)) {
    return Status::Error(EINTR, "crash injected at " + std::string(point));
  }
  return Status();
}

bool VolumeManager::InPool(const std::string& path) const {
  const std::string prefix = opts_.pool_dir + "/";
  return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
         path.find('/', prefix.size()) == std::string::npos;
}

Status VolumeManager::ValidateCreate(const CreateParams& p) {
  Status s = ValidateName("volume name", p.name);
  if (!s.ok()) return s;
  if (p.block_size != 512 && p.block_size != 4096) {
    return Status::Error(EINVAL, "block size " + std::to_string(p.block_size) +
                                     " is not supported: use 512 or 4096");
  }
  if (p.size == 0) return Status::Error(EINVAL, "size must not be 0");
  if (p.size % p.block_size != 0) {
    return Status::Error(EINVAL, "size " + std::to_string(p.size) +
                                     " bytes is not a multiple of the block size " +
                                     std::to_string(p.block_size));
  }
  if (p.size > KEEL_MAX_VOLUME_SIZE) {
    return Status::Error(EINVAL, "size " + FormatSize(p.size) + " is larger than the maximum " +
                                     FormatSize(KEEL_MAX_VOLUME_SIZE));
  }
  if (p.labels.size() > 64) return Status::Error(EINVAL, "at most 64 labels per volume");
  for (const auto& [k, v] : p.labels) {
    s = ValidateLabel(k, v);
    if (!s.ok()) return s;
  }
  return Status();
}

Result<std::optional<VolumeStatus>> VolumeManager::KernelByUuid(const std::string& uuid) {
  auto all = kernel_->ListVolumes();
  if (!all.ok()) return KernelError(all.status(), "cannot list keel.ko's volumes");
  // The uuid and this node's pool: in a cluster every replica of a volume
  // has the volume's uuid, and nodes sharing one keel.ko (namespaces in
  // the VM tests) see each other's objects.
  for (const auto& k : *all) {
    if (k.uuid.ToString() == uuid && InPool(k.backing_path)) return std::optional<VolumeStatus>(k);
  }
  return std::optional<VolumeStatus>();
}

Result<std::optional<std::pair<VolumeSpec, int64_t>>> VolumeManager::GetSpec(
    const std::string& name) {
  auto e = kvdb_->Get(VolumeKey(name));
  if (!e.ok()) return e.status();
  if (!*e) return std::optional<std::pair<VolumeSpec, int64_t>>();
  auto spec = VolumeSpecFromJson((*e)->value);
  if (!spec.ok()) return spec.status();
  return std::optional<std::pair<VolumeSpec, int64_t>>(
      {std::move(spec).value(), (*e)->mod_revision});
}

Status VolumeManager::SetAttachment(const std::string& name, const std::string& device) {
  for (int attempt = 0;; attempt++) {
    auto spec = GetSpec(name);
    if (!spec.ok()) return spec.status();
    if (!*spec) {
      return Status::Error(ENOENT, "volume '" + name + "' has no record in the kvdb");
    }
    VolumeSpec s = (*spec)->first;
    std::string node = device.empty() ? "" : opts_.node_name;
    if (s.attached_node == node && s.device == device) return Status();
    s.attached_node = node;
    s.device = device;
    auto rev = kvdb_->CompareAndSwap(VolumeKey(name), (*spec)->second, VolumeSpecToJson(s).dump());
    if (rev.ok()) return Status();
    if (rev.status().code() != ECANCELED || attempt >= 3) return rev.status();
  }
}

Status VolumeManager::RefuseIfPending(const std::string& name) {
  auto in = state_->IntentFor(name);
  if (!in.ok()) return in.status();
  if (*in) {
    return Status::Error(EAGAIN, "an earlier " + (*in)->op + " of volume '" + name +
                                     "' has not finished (step " + (*in)->step +
                                     "); keeld is retrying it: try again shortly");
  }
  return Status();
}

Result<VolumeStatus> VolumeManager::EnsureKernelObject(Replica* r) {
  auto k = KernelByUuid(r->uuid);
  if (!k.ok()) return k.status();
  if (*k) {
    if (r->kernel_id != (*k)->id) {
      Status s = state_->SetKernelId(r->volume, (*k)->id);
      if (!s.ok()) return s;
      r->kernel_id = (*k)->id;
    }
    return **k;
  }
  if (!fs_->Exists(r->backing_path)) {
    return Status::Error(ENOENT, "the backing file " + r->backing_path + " of volume '" +
                                     r->volume +
                                     "' is missing: its data is gone; delete the "
                                     "volume and create it again");
  }
  auto uuid = Uuid::Parse(r->uuid);
  if (!uuid.ok()) return uuid.status();
  CreateVolumeRequest req;
  req.uuid = *uuid;
  req.size = r->size;
  req.block_size = r->block_size;
  req.backing_path = r->backing_path;
  req.id = r->kernel_id;
  auto st = kernel_->CreateVolume(req);
  if (!st.ok() && st.status().code() == EEXIST && req.id) {
    req.id.reset();  // its old id is taken by now: let the kernel choose
    st = kernel_->CreateVolume(req);
  }
  if (!st.ok()) {
    return KernelError(st.status(), "cannot open volume '" + r->volume + "' in keel.ko");
  }
  KLOG(kWarning, "kernel object was missing: re-created",
       {{"volume", r->volume}, {"uuid", r->uuid}, {"id", std::to_string(st->id)}});
  Status s = state_->SetKernelId(r->volume, st->id);
  if (!s.ok()) return s;
  r->kernel_id = st->id;
  return st;
}

Result<VolumeView> VolumeManager::Create(const CreateParams& p) {
  Status s = ValidateCreate(p);
  if (!s.ok()) return s;
  auto existing = state_->GetReplica(p.name);
  if (!existing.ok()) return existing.status();
  auto spec = GetSpec(p.name);
  if (!spec.ok()) return spec.status();
  if (*existing || *spec) {
    return Status::Error(EEXIST, "volume '" + p.name + "' already exists");
  }
  s = RefuseIfPending(p.name);
  if (!s.ok()) return s;
  auto usage = Usage();
  if (!usage.ok()) return usage.status();
  uint64_t need = p.size + kMetadataReserve;
  uint64_t free_bytes = usage->capacity > usage->used ? usage->capacity - usage->used : 0;
  if (need > free_bytes) {
    return Status::Error(ENOSPC, "volume '" + p.name + "' needs " + FormatSize(need) +
                                     " (size plus " + FormatSize(kMetadataReserve) +
                                     " metadata) but the pool has " + FormatSize(free_bytes) +
                                     " free of " + FormatSize(usage->capacity));
  }
  auto uuid = p.uuid ? Uuid::Parse(*p.uuid) : Uuid::Random();
  if (!uuid.ok()) return uuid.status();
  Replica r;
  r.volume = p.name;
  r.uuid = uuid->ToString();
  r.size = p.size;
  r.block_size = p.block_size;
  r.backing_path = opts_.pool_dir + "/" + r.uuid + ".img";
  r.created_at = clock_->NowMs();
  nlohmann::json data = {{"uuid", r.uuid},
                         {"size", r.size},
                         {"block_size", r.block_size},
                         {"backing_path", r.backing_path}};
  auto id = state_->BeginIntent("create", p.name, "begun", data);
  if (!id.ok()) return id.status();
  Intent in{*id, "create", p.name, "begun", data, 0, 0};
  // On failure past this point: undo what was done, as recovery would.
  auto fail = [&](Status err) -> Status {
    if (err.code() == EINTR && err.message().rfind("crash injected", 0) == 0) return err;
    Status rb = RollBackCreate(in);
    if (!rb.ok()) {
      KLOG(kError, "create failed and could not be rolled back yet; keeld retries",
           {{"volume", p.name}, {"error", rb.ToString()}});
    }
    return err;
  };
  if (s = Crash("create:intent-written"); !s.ok()) return s;

  s = fs_->CreateExclusive(r.backing_path);
  if (!s.ok()) {
    state_->FinishIntent(*id);
    return s;
  }
  if (s = Crash("create:backing-created"); !s.ok()) return s;

  CreateVolumeRequest req;
  req.uuid = *uuid;
  req.size = r.size;
  req.block_size = r.block_size;
  req.backing_path = r.backing_path;
  auto k = kernel_->CreateVolume(req);
  if (!k.ok()) {
    return fail(KernelError(k.status(), "keel.ko refused to create volume '" + p.name + "'"));
  }
  r.kernel_id = k->id;
  if (s = Crash("create:kernel-created"); !s.ok()) return s;
  data["kernel_id"] = k->id;
  s = state_->UpdateIntent(*id, "kernel-created", data);
  if (!s.ok()) return fail(s);

  VolumeSpec vs;
  vs.name = p.name;
  vs.uuid = r.uuid;
  vs.size = p.size;
  vs.block_size = p.block_size;
  vs.labels = p.labels;
  vs.node = opts_.node_name;
  vs.created_at = r.created_at;
  auto rev = kvdb_->CompareAndSwap(VolumeKey(p.name), 0, VolumeSpecToJson(vs).dump());
  if (!rev.ok()) {
    if (rev.status().code() == ECANCELED) {
      return fail(Status::Error(EEXIST, "volume '" + p.name + "' already exists"));
    }
    return fail(rev.status());
  }
  if (s = Crash("create:kvdb-written"); !s.ok()) return s;

  s = state_->FinishIntentWith(*id, [&] { return state_->PutReplica(r); });
  if (!s.ok()) return fail(s);
  if (s = Crash("create:done"); !s.ok()) return s;
  KLOG(kInfo, "volume created",
       {{"volume", p.name},
        {"uuid", r.uuid},
        {"size", FormatSize(p.size)},
        {"block_size", std::to_string(p.block_size)},
        {"kernel_id", std::to_string(k->id)},
        {"backing", r.backing_path}});
  return ViewOf(r, vs, {*k}, false);
}

Result<VolumeView> VolumeManager::ViewOf(const Replica& r, const std::optional<VolumeSpec>& spec,
                                         const std::vector<VolumeStatus>& kernel, bool pending) {
  VolumeView v;
  if (spec) {
    v.spec = *spec;
  } else {
    v.spec.name = r.volume;
    v.spec.uuid = r.uuid;
    v.spec.size = r.size;
    v.spec.block_size = r.block_size;
    v.spec.node = opts_.node_name;
    v.spec.created_at = r.created_at;
  }
  v.backing_path = r.backing_path;
  for (const auto& k : kernel) {
    if (k.uuid.ToString() == r.uuid && InPool(k.backing_path)) v.kernel = k;
  }
  v.kernel_id = v.kernel ? std::optional<uint32_t>(v.kernel->id) : r.kernel_id;
  if (pending) {
    v.state = "pending";
  } else if (!v.kernel) {
    v.state = "missing";
  } else {
    v.state = Attached(*v.kernel) ? "attached" : "detached";
  }
  return v;
}

Result<std::vector<VolumeView>> VolumeManager::List() {
  auto replicas = state_->ListReplicas();
  if (!replicas.ok()) return replicas.status();
  auto kernel = kernel_->ListVolumes();
  if (!kernel.ok()) return KernelError(kernel.status(), "cannot list keel.ko's volumes");
  auto specs = kvdb_->List(kVolumePrefix);
  if (!specs.ok()) return specs.status();
  std::map<std::string, VolumeSpec> by_name;
  for (const auto& e : *specs) {
    auto s = VolumeSpecFromJson(e.value);
    if (s.ok()) by_name[s->name] = *s;
  }
  auto intents = state_->PendingIntents();
  if (!intents.ok()) return intents.status();
  std::set<std::string> pending;
  for (const auto& in : *intents) pending.insert(in.volume);
  std::vector<VolumeView> out;
  for (const auto& r : *replicas) {
    auto it = by_name.find(r.volume);
    auto v = ViewOf(r, it == by_name.end() ? std::nullopt : std::optional<VolumeSpec>(it->second),
                    *kernel, pending.count(r.volume) > 0);
    if (!v.ok()) return v.status();
    out.push_back(std::move(v).value());
  }
  return out;
}

Result<VolumeView> VolumeManager::Inspect(const std::string& name) {
  Status s = ValidateName("volume name", name);
  if (!s.ok()) return s;
  auto r = state_->GetReplica(name);
  if (!r.ok()) return r.status();
  if (!*r) return Status::Error(ENOENT, "volume '" + name + "' does not exist");
  auto spec = GetSpec(name);
  if (!spec.ok()) return spec.status();
  auto k = KernelByUuid((*r)->uuid);
  if (!k.ok()) return k.status();
  std::vector<VolumeStatus> kernel;
  if (*k) {
    // The single-volume GET carries fresh statistics.
    auto one = kernel_->GetVolume((*k)->id);
    kernel.push_back(one.ok() ? *one : **k);
  }
  auto in = state_->IntentFor(name);
  if (!in.ok()) return in.status();
  return ViewOf(**r, *spec ? std::optional<VolumeSpec>((*spec)->first) : std::nullopt, kernel,
                in->has_value());
}

Result<std::string> VolumeManager::Attach(const std::string& name) {
  Status s = ValidateName("volume name", name);
  if (!s.ok()) return s;
  s = RefuseIfPending(name);
  if (!s.ok()) return s;
  auto r = state_->GetReplica(name);
  if (!r.ok()) return r.status();
  if (!*r) return Status::Error(ENOENT, "volume '" + name + "' does not exist");
  Replica rep = **r;
  auto k = EnsureKernelObject(&rep);
  if (!k.ok()) return k.status();
  if (Attached(*k)) {
    std::string dev = DevicePath(*k);
    s = SetAttachment(name, dev);
    if (!s.ok()) return s;
    return dev;
  }
  nlohmann::json data = {{"uuid", rep.uuid}, {"kernel_id", k->id}};
  auto id = state_->BeginIntent("attach", name, "begun", data);
  if (!id.ok()) return id.status();
  if (s = Crash("attach:intent-written"); !s.ok()) return s;
  auto a = kernel_->AttachVolume(k->id);
  if (!a.ok() && a.status().code() == EALREADY) a = kernel_->GetVolume(k->id);
  if (!a.ok()) {
    state_->FinishIntent(*id);
    return KernelError(a.status(), "keel.ko refused to attach volume '" + name + "'");
  }
  if (s = Crash("attach:kernel-attached"); !s.ok()) return s;
  std::string dev = DevicePath(*a);
  s = SetAttachment(name, dev);
  if (!s.ok()) return s;  // the intent stays: Recover() settles it
  if (s = Crash("attach:kvdb-written"); !s.ok()) return s;
  s = state_->FinishIntent(*id);
  if (!s.ok()) return s;
  KLOG(kInfo, "volume attached", {{"volume", name}, {"device", dev}});
  return dev;
}

Status VolumeManager::Detach(const std::string& name, bool force) {
  Status s = ValidateName("volume name", name);
  if (!s.ok()) return s;
  s = RefuseIfPending(name);
  if (!s.ok()) return s;
  auto r = state_->GetReplica(name);
  if (!r.ok()) return r.status();
  if (!*r) return Status::Error(ENOENT, "volume '" + name + "' does not exist");
  auto k = KernelByUuid((*r)->uuid);
  if (!k.ok()) return k.status();
  if (!*k || !Attached(**k)) return SetAttachment(name, "");
  nlohmann::json data = {{"uuid", (*r)->uuid}, {"kernel_id", (*k)->id}, {"force", force}};
  auto id = state_->BeginIntent("detach", name, "begun", data);
  if (!id.ok()) return id.status();
  if (s = Crash("detach:intent-written"); !s.ok()) return s;
  s = kernel_->DetachVolume((*k)->id, force);
  if (!s.ok() && s.code() != ENODEV) {
    state_->FinishIntent(*id);
    if (s.code() == EBUSY) {
      return Status::Error(EBUSY, "volume '" + name + "' is in use: " + DevicePath(**k) +
                                      " is open (mounted or held by a process); unmount it "
                                      "first, or detach with force");
    }
    return KernelError(s, "keel.ko refused to detach volume '" + name + "'");
  }
  if (s = Crash("detach:kernel-detached"); !s.ok()) return s;
  s = SetAttachment(name, "");
  if (!s.ok()) return s;
  if (s = Crash("detach:kvdb-written"); !s.ok()) return s;
  s = state_->FinishIntent(*id);
  if (!s.ok()) return s;
  KLOG(kInfo, "volume detached", {{"volume", name}, {"force", force ? "true" : "false"}});
  return Status();
}

Status VolumeManager::Delete(const std::string& name, bool force) {
  Status s = ValidateName("volume name", name);
  if (!s.ok()) return s;
  s = RefuseIfPending(name);
  if (!s.ok()) return s;
  auto r = state_->GetReplica(name);
  if (!r.ok()) return r.status();
  auto spec = GetSpec(name);
  if (!spec.ok()) return spec.status();
  if (!*r && !*spec) return Status::Error(ENOENT, "volume '" + name + "' does not exist");
  std::string uuid = *r ? (*r)->uuid : (*spec)->first.uuid;
  if (*r) {
    auto k = KernelByUuid(uuid);
    if (!k.ok()) return k.status();
    if (*k && Attached(**k) && !force) {
      return Status::Error(EBUSY, "volume '" + name + "' is attached at " + DevicePath(**k) +
                                      ": detach it first, or delete with force");
    }
  }
  nlohmann::json data = {{"uuid", uuid}, {"backing_path", *r ? (*r)->backing_path : ""}};
  auto id = state_->BeginIntent("delete", name, "begun", data);
  if (!id.ok()) return id.status();
  if (s = Crash("delete:intent-written"); !s.ok()) return s;
  s = FinishDelete(Intent{*id, "delete", name, "begun", data, 0, 0});
  if (!s.ok()) return s;
  KLOG(kInfo, "volume deleted", {{"volume", name}, {"uuid", uuid}});
  return Status();
}

Status VolumeManager::FinishDelete(const Intent& in) {
  std::string uuid = JStr(in.data, "uuid");
  std::string backing = JStr(in.data, "backing_path");
  auto k = KernelByUuid(uuid);
  if (!k.ok()) return k.status();
  if (*k) {
    Status s = kernel_->DeleteVolume((*k)->id, /*force=*/true);
    if (!s.ok() && s.code() != ENOENT) {
      return KernelError(s, "keel.ko refused to delete volume '" + in.volume + "'");
    }
  }
  if (Status s = Crash("delete:kernel-deleted"); !s.ok()) return s;
  if (!backing.empty() && InPool(backing) && fs_->Exists(backing)) {
    Status s = fs_->Remove(backing);
    if (!s.ok() && s.code() != ENOENT) return s;
  }
  if (Status s = Crash("delete:backing-removed"); !s.ok()) return s;
  auto spec = GetSpec(in.volume);
  if (!spec.ok()) return spec.status();
  if (*spec && (*spec)->first.uuid == uuid) {
    Status s = kvdb_->CompareAndDelete(VolumeKey(in.volume), (*spec)->second);
    if (!s.ok()) return s;
  }
  if (Status s = Crash("delete:kvdb-removed"); !s.ok()) return s;
  return state_->FinishIntentWith(in.id, [&]() -> Status {
    auto r = state_->GetReplica(in.volume);
    if (!r.ok()) return r.status();
    if (*r && (*r)->uuid == uuid) return state_->RemoveReplica(in.volume);
    return Status();
  });
}

Status VolumeManager::RollBackCreate(const Intent& in) {
  std::string uuid = JStr(in.data, "uuid");
  std::string backing = JStr(in.data, "backing_path");
  if (uuid.empty()) return Status::Error(EUCLEAN, "create intent without a uuid");
  auto k = KernelByUuid(uuid);
  if (!k.ok()) return k.status();
  if (*k) {
    Status s = kernel_->DeleteVolume((*k)->id, /*force=*/true);
    if (!s.ok() && s.code() != ENOENT) {
      return KernelError(
          s, "cannot delete the half-created kernel volume " + std::to_string((*k)->id));
    }
  }
  if (!backing.empty() && InPool(backing) && fs_->Exists(backing)) {
    Status s = fs_->Remove(backing);
    if (!s.ok() && s.code() != ENOENT) return s;
  }
  auto spec = GetSpec(in.volume);
  if (!spec.ok()) return spec.status();
  if (*spec && (*spec)->first.uuid == uuid) {
    Status s = kvdb_->CompareAndDelete(VolumeKey(in.volume), (*spec)->second);
    if (!s.ok()) return s;
  }
  return state_->FinishIntent(in.id);
}

Status VolumeManager::SettleAttachment(const Intent& in) {
  auto k = KernelByUuid(JStr(in.data, "uuid"));
  if (!k.ok()) return k.status();
  auto r = state_->GetReplica(in.volume);
  if (!r.ok()) return r.status();
  if (*r) {
    std::string dev = *k && Attached(**k) ? DevicePath(**k) : "";
    Status s = SetAttachment(in.volume, dev);
    if (!s.ok() && s.code() != ENOENT) return s;
  }
  return state_->FinishIntent(in.id);
}

Result<int> VolumeManager::Recover() {
  auto intents = state_->PendingIntents();
  if (!intents.ok()) return intents.status();
  int left = 0;
  for (const auto& in : *intents) {
    Status s;
    const char* action = "";
    if (in.op == "create") {
      action = "rolled back";
      s = RollBackCreate(in);
    } else if (in.op == "delete") {
      action = "completed";
      s = FinishDelete(in);
    } else if (in.op == "attach" || in.op == "detach") {
      action = "settled on the kernel's state";
      s = SettleAttachment(in);
    } else {
      action = "dropped (unknown operation)";
      s = state_->FinishIntent(in.id);
    }
    LogFields f = {
        {"op", in.op}, {"volume", in.volume}, {"step", in.step}, {"intent", std::to_string(in.id)}};
    if (s.ok()) {
      f.push_back({"action", action});
      KLOG(kWarning, "unfinished operation recovered", f);
    } else {
      f.push_back({"error", s.ToString()});
      KLOG(kError, "unfinished operation could not be recovered yet; will retry", f);
      left++;
    }
  }
  return left;
}

Result<int> VolumeManager::Reconcile() {
  int repairs = 0;
  auto kernel = kernel_->ListVolumes();
  if (!kernel.ok()) return KernelError(kernel.status(), "cannot list keel.ko's volumes");
  auto replicas = state_->ListReplicas();
  if (!replicas.ok()) return replicas.status();
  auto entries = kvdb_->List(kVolumePrefix);
  if (!entries.ok()) return entries.status();
  auto intents = state_->PendingIntents();
  if (!intents.ok()) return intents.status();
  std::set<std::string> pending_names, pending_uuids;
  for (const auto& in : *intents) {
    pending_names.insert(in.volume);
    pending_uuids.insert(JStr(in.data, "uuid"));
  }
  std::map<std::string, std::pair<VolumeSpec, int64_t>> specs;
  for (const auto& e : *entries) {
    auto s = VolumeSpecFromJson(e.value);
    if (!s.ok()) {
      KLOG(kError, "invalid volume record in the kvdb",
           {{"key", e.key}, {"error", s.status().ToString()}});
      continue;
    }
    specs[s->name] = {*s, e.mod_revision};
  }
  std::set<std::string> known_uuids;
  for (auto r : *replicas) {
    known_uuids.insert(r.uuid);
    if (pending_names.count(r.volume)) continue;
    const VolumeStatus* k = nullptr;
    for (const auto& kv : *kernel) {
      if (kv.uuid.ToString() == r.uuid && InPool(kv.backing_path)) k = &kv;
    }
    VolumeStatus created;
    if (!k) {
      auto e = EnsureKernelObject(&r);
      if (!e.ok()) {
        KLOG(kError, "volume has no kernel object and cannot get one",
             {{"volume", r.volume}, {"error", e.status().ToString()}});
        continue;
      }
      created = *e;
      k = &created;
      repairs++;
    } else if (r.kernel_id != k->id) {
      KLOG(kWarning, "kernel id differs from the state store: adopting the kernel's",
           {{"volume", r.volume},
            {"recorded", r.kernel_id ? std::to_string(*r.kernel_id) : "none"},
            {"kernel", std::to_string(k->id)}});
      Status s = state_->SetKernelId(r.volume, k->id);
      if (!s.ok()) return s;
      repairs++;
    }
    if (k->size != r.size || k->block_size != r.block_size) {
      KLOG(kError, "kernel object's geometry differs from the state store",
           {{"volume", r.volume},
            {"kernel_size", std::to_string(k->size)},
            {"recorded_size", std::to_string(r.size)}});
    }
    auto it = specs.find(r.volume);
    if (it == specs.end()) {
      VolumeSpec vs;
      vs.name = r.volume;
      vs.uuid = r.uuid;
      vs.size = r.size;
      vs.block_size = r.block_size;
      vs.node = opts_.node_name;
      vs.created_at = r.created_at;
      if (Attached(*k)) {
        vs.attached_node = opts_.node_name;
        vs.device = DevicePath(*k);
      }
      auto rev = kvdb_->CompareAndSwap(VolumeKey(r.volume), 0, VolumeSpecToJson(vs).dump());
      if (!rev.ok()) return rev.status();
      KLOG(kWarning, "volume had no kvdb record: re-created it from local state (labels lost)",
           {{"volume", r.volume}});
      repairs++;
      continue;
    }
    const VolumeSpec& vs = it->second.first;
    if (vs.uuid != r.uuid) {
      KLOG(kError, "kvdb and state store disagree on the volume's uuid; leaving both alone",
           {{"volume", r.volume}, {"kvdb_uuid", vs.uuid}, {"local_uuid", r.uuid}});
      continue;
    }
    bool want_attached = vs.attached_node == opts_.node_name;
    if (Attached(*k)) {
      if (!want_attached || vs.device != DevicePath(*k)) {
        Status s = SetAttachment(r.volume, DevicePath(*k));
        if (!s.ok()) return s;
        KLOG(kWarning, "volume is attached in the kernel: recorded it in the kvdb",
             {{"volume", r.volume}, {"device", DevicePath(*k)}});
        repairs++;
      }
    } else if (want_attached) {
      auto a = kernel_->AttachVolume(k->id);
      Status s = a.ok() ? SetAttachment(r.volume, DevicePath(*a)) : SetAttachment(r.volume, "");
      if (!s.ok()) return s;
      if (a.ok()) {
        KLOG(kWarning, "volume should be attached but had no disk: re-attached",
             {{"volume", r.volume}, {"device", DevicePath(*a)}});
      } else {
        KLOG(kError, "volume should be attached but cannot be: recorded it detached",
             {{"volume", r.volume}, {"error", a.status().ToString()}});
      }
      repairs++;
    }
  }
  // Records of this node's volumes in the kvdb without a local replica.
  for (const auto& [name, spec_rev] : specs) {
    const VolumeSpec& vs = spec_rev.first;
    if (vs.node != opts_.node_name || pending_names.count(name)) continue;
    bool have = false;
    for (const auto& r : *replicas) have = have || r.volume == name;
    if (have) continue;
    std::string backing = opts_.pool_dir + "/" + vs.uuid + ".img";
    if (fs_->Exists(backing)) {
      Replica r{name, vs.uuid, vs.size, vs.block_size, backing, std::nullopt, vs.created_at};
      Status s = state_->PutReplica(r);
      if (!s.ok()) return s;
      known_uuids.insert(vs.uuid);
      KLOG(kWarning, "state store had lost a replica: re-adopted it from the kvdb and the pool",
           {{"volume", name}, {"backing", backing}});
      auto e = EnsureKernelObject(&r);
      if (!e.ok()) {
        KLOG(kError, "re-adopted volume has no kernel object",
             {{"volume", name}, {"error", e.status().ToString()}});
      }
    } else {
      Status s = kvdb_->CompareAndDelete(VolumeKey(name), spec_rev.second);
      if (!s.ok()) return s;
      KLOG(kError, "volume record had no replica and no backing file on this node: removed it",
           {{"volume", name}, {"uuid", vs.uuid}});
    }
    repairs++;
  }
  // Kernel objects over the pool that keeld has no record of: not ours to
  // remove (made by hand with keelsetup?), so only reported.
  for (const auto& k : *kernel) {
    std::string u = k.uuid.ToString();
    if (!InPool(k.backing_path) || known_uuids.count(u) || pending_uuids.count(u)) continue;
    if (!reported_unknown_.insert(u).second) continue;  // once per object
    KLOG(kWarning, "kernel volume over the pool is unknown to keeld; leaving it alone",
         {{"id", std::to_string(k.id)}, {"uuid", u}, {"backing", k.backing_path}});
  }
  if (repairs > 0) KLOG(kInfo, "reconciled", {{"repairs", std::to_string(repairs)}});
  return repairs;
}

Result<PoolUsage> VolumeManager::Usage() {
  PoolUsage u;
  u.capacity = opts_.pool_capacity;
  auto replicas = state_->ListReplicas();
  if (!replicas.ok()) return replicas.status();
  for (const auto& r : *replicas) {
    u.used += r.size + kMetadataReserve;
    u.volumes++;
  }
  auto intents = state_->PendingIntents();
  if (!intents.ok()) return intents.status();
  for (const auto& in : *intents) {
    if (in.op == "create") u.used += JU64(in.data, "size") + kMetadataReserve;
  }
  return u;
}

}  // namespace keel
