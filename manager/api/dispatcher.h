// ApiDispatcher: turns one request line into one reply line — parses and
// validates it (request.h), runs it on the VolumeManager and renders the
// result as JSON (docs/api.md).  No I/O of its own: the server calls it.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "manager/volume/volume_manager.h"

namespace keel {

// The cluster commands (node.list, cluster.status), served by keeld's
// node agent in cluster mode; each returns the reply body.
struct ClusterApi {
  std::function<Result<nlohmann::json>()> node_list;
  std::function<Result<nlohmann::json>()> cluster_status;
  // Cluster volumes: when set, volume.create/attach/detach/delete go here
  // (the record in etcd, replicas on other nodes) instead of the
  // node-local VolumeManager.
  std::function<Result<nlohmann::json>(const CreateParams&, uint32_t replicas, bool zone_spread)>
      volume_create;
  // `node` "" = this node; another node: keeld forwards the attach there.
  std::function<Result<nlohmann::json>(const std::string& name, const std::string& node)>
      volume_attach;
  std::function<Result<nlohmann::json>(const std::string& name, bool force)> volume_detach;
  std::function<Result<nlohmann::json>(const std::string& name, bool force)> volume_delete;
  // volume.status: the record and, from the attached node, its peers' sync.
  std::function<Result<nlohmann::json>(const std::string& name)> volume_status;
  // cluster.volumes: every volume record in etcd, {"volumes": [...]}.
  std::function<Result<nlohmann::json>()> volume_list;
  // node.cordon / node.uncordon / node.drain / node.maintenance.
  enum class NodeFlags { kCordon, kUncordon, kDrain, kMaintenanceOn, kMaintenanceOff };
  std::function<Result<nlohmann::json>(const std::string& node, NodeFlags)> node_flags;
  // cluster.rebalance: the plan, and unless dry_run its replicas marked moving.
  std::function<Result<nlohmann::json>(double threshold_pct, uint32_t max_moves, bool dry_run)>
      rebalance;
};

class ApiDispatcher {
 public:
  // node_info: the body of node.info's reply (node name, labels, module).
  ApiDispatcher(VolumeManager* volumes, std::function<nlohmann::json()> node_info)
      : volumes_(volumes), node_info_(std::move(node_info)) {}

  // Cluster mode: serve the cluster commands.  Without it they answer
  // invalid_request ("not in cluster mode").
  void set_cluster(ClusterApi cluster) { cluster_ = std::move(cluster); }

  std::string Handle(std::string_view request);

 private:
  ClusterApi cluster_;
  VolumeManager* volumes_;
  std::function<nlohmann::json()> node_info_;
};

// A volume as the API shows it.
nlohmann::json VolumeViewToJson(const VolumeView& v, bool with_kernel_details);

}  // namespace keel
