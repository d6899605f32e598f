#include "manager/api/dispatcher.h"

#include "manager/api/request.h"
#include "manager/common/size.h"
#include "manager/log/log.h"

namespace keel {
namespace {

using nlohmann::json;

json StateFlags(uint32_t state) {
  json flags = json::array();
  if (state & KEEL_STATE_ATTACHED) flags.push_back("attached");
  if (state & KEEL_STATE_DIRECT_IO) flags.push_back("direct-io");
  if (state & KEEL_STATE_FORMATTED) flags.push_back("formatted");
  if (state & KEEL_STATE_IO_ERROR) flags.push_back("io-error");
  return flags;
}

}  // namespace

json VolumeViewToJson(const VolumeView& v, bool with_kernel_details) {
  json j = {
      {"name", v.spec.name},
      {"uuid", v.spec.uuid},
      {"size", v.spec.size},
      {"size_human", FormatSize(v.spec.size)},
      {"block_size", v.spec.block_size},
      {"labels", v.spec.labels},
      {"replicas", v.spec.replicas},
      {"node", v.spec.node},
      {"state", v.state},
      {"device", v.kernel && !v.kernel->device_name.empty() ? json("/dev/" + v.kernel->device_name)
                                                            : json(nullptr)},
      {"kernel_id", v.kernel_id ? json(*v.kernel_id) : json(nullptr)},
      {"backing_path", v.backing_path},
      {"created_at_ms", v.spec.created_at}};
  if (with_kernel_details && v.kernel) {
    const VolumeStats& st = v.kernel->stats;
    j["kernel"] = {{"state", StateFlags(v.kernel->state)},
                   {"epoch", v.kernel->epoch},
                   {"data_offset", v.kernel->data_offset},
                   {"stats",
                    {{"reads", st.reads},
                     {"writes", st.writes},
                     {"read_bytes", st.read_bytes},
                     {"write_bytes", st.write_bytes},
                     {"flushes", st.flushes},
                     {"discards", st.discards},
                     {"errors", st.errors},
                     {"in_flight", st.in_flight}}}};
  }
  return j;
}

std::string ApiDispatcher::Handle(std::string_view text) {
  auto parsed = ParseRequest(text);
  if (auto* e = std::get_if<ApiError>(&parsed)) {
    KLOG(kDebug, "bad API request", {{"code", e->code}, {"error", e->message}});
    return ErrorReply(*e);
  }
  const Request& r = std::get<Request>(parsed);
  auto fail = [](const Status& s) { return ErrorReply(ErrorFromStatus(s)); };
  auto NotClustered = [] {
    return ErrorReply({api_error::kInvalidRequest,
                       "keeld is not in cluster mode (etcd_endpoints is not set)", 0});
  };
  switch (r.command) {
    case Command::kNodeInfo: {
      json info = node_info_ ? node_info_() : json::object();
      auto usage = volumes_->Usage();
      if (!usage.ok()) return fail(usage.status());
      info["pool"]["capacity"] = usage->capacity;
      info["pool"]["used"] = usage->used;
      info["pool"]["free"] = usage->capacity > usage->used ? usage->capacity - usage->used : 0;
      info["pool"]["volumes"] = usage->volumes;
      return OkReply(info);
    }
    case Command::kVolumeCreate: {
      CreateParams p;
      p.name = r.name;
      p.size = r.size;
      p.block_size = r.block_size;
      p.labels = r.labels;
      if (cluster_.volume_create) {
        auto v = cluster_.volume_create(p, r.replicas, r.zone_spread);
        if (!v.ok()) return fail(v.status());
        return OkReply(*v);
      }
      if (r.replicas > 1 || r.zone_spread) {
        return ErrorReply({api_error::kInvalidArgument,
                           std::string(r.zone_spread ? "zone_spread" : "replicas > 1") +
                               " needs cluster mode (etcd_endpoints is not set)",
                           EINVAL});
      }
      auto v = volumes_->Create(p);
      if (!v.ok()) return fail(v.status());
      return OkReply(VolumeViewToJson(*v, false));
    }
    case Command::kVolumeList: {
      auto vs = volumes_->List();
      if (!vs.ok()) return fail(vs.status());
      json arr = json::array();
      for (const auto& v : *vs) arr.push_back(VolumeViewToJson(v, false));
      return OkReply({{"volumes", arr}});
    }
    case Command::kVolumeInspect: {
      auto v = volumes_->Inspect(r.name);
      if (!v.ok()) return fail(v.status());
      return OkReply(VolumeViewToJson(*v, true));
    }
    case Command::kVolumeAttach: {
      if (cluster_.volume_attach) {
        auto v = cluster_.volume_attach(r.name, r.node);
        if (!v.ok()) return fail(v.status());
        return OkReply(*v);
      }
      if (!r.node.empty()) {
        return ErrorReply({api_error::kInvalidRequest,
                           "attaching on another node needs cluster mode (etcd_endpoints is not "
                           "set)",
                           0});
      }
      auto dev = volumes_->Attach(r.name);
      if (!dev.ok()) return fail(dev.status());
      return OkReply({{"name", r.name}, {"device", *dev}});
    }
    case Command::kVolumeDetach: {
      if (cluster_.volume_detach) {
        auto v = cluster_.volume_detach(r.name, r.force);
        if (!v.ok()) return fail(v.status());
        return OkReply(*v);
      }
      Status s = volumes_->Detach(r.name, r.force);
      if (!s.ok()) return fail(s);
      return OkReply({{"name", r.name}, {"state", "detached"}});
    }
    case Command::kVolumeDelete: {
      if (cluster_.volume_delete) {
        auto v = cluster_.volume_delete(r.name, r.force);
        if (!v.ok()) return fail(v.status());
        return OkReply(*v);
      }
      Status s = volumes_->Delete(r.name, r.force);
      if (!s.ok()) return fail(s);
      return OkReply({{"name", r.name}, {"deleted", true}});
    }
    case Command::kVolumeStatus: {
      if (!cluster_.volume_status) return NotClustered();
      auto v = cluster_.volume_status(r.name);
      if (!v.ok()) return fail(v.status());
      return OkReply(*v);
    }
    case Command::kNodeCordon:
    case Command::kNodeUncordon:
    case Command::kNodeDrain:
    case Command::kNodeMaintenance: {
      if (!cluster_.node_flags) return NotClustered();
      auto flags = r.command == Command::kNodeCordon     ? ClusterApi::NodeFlags::kCordon
                   : r.command == Command::kNodeUncordon ? ClusterApi::NodeFlags::kUncordon
                   : r.command == Command::kNodeDrain    ? ClusterApi::NodeFlags::kDrain
                   : r.on                                ? ClusterApi::NodeFlags::kMaintenanceOn
                                                         : ClusterApi::NodeFlags::kMaintenanceOff;
      auto v = cluster_.node_flags(r.name, flags);
      if (!v.ok()) return fail(v.status());
      return OkReply(*v);
    }
    case Command::kClusterRebalance: {
      if (!cluster_.rebalance) return NotClustered();
      auto v = cluster_.rebalance(r.threshold_pct, r.max_moves, r.dry_run);
      if (!v.ok()) return fail(v.status());
      return OkReply(*v);
    }
    case Command::kClusterVolumes: {
      if (!cluster_.volume_list) return NotClustered();
      auto v = cluster_.volume_list();
      if (!v.ok()) return fail(v.status());
      return OkReply(*v);
    }
    case Command::kNodeList:
    case Command::kClusterStatus: {
      const auto& call =
          r.command == Command::kNodeList ? cluster_.node_list : cluster_.cluster_status;
      if (!call) return NotClustered();
      auto body = call();
      if (!body.ok()) return fail(body.status());
      return OkReply(*body);
    }
  }
  return ErrorReply({api_error::kInternal, "unhandled command", 0});
}

}  // namespace keel
