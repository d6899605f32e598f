// NodeAgent: this keeld's presence in the cluster (docs/design-cluster.md,
// "The coordinator").  Started by keeld in cluster mode (etcd_endpoints
// set); it:
//   - grants an etcd lease and keeps it alive; writes this node's record
//     (/keel/nodes/<name>) and its alive key (/keel/alive/<name>, under the
//     lease);
//   - keeps a NodeRegistry of every node record, current through a Watch,
//     which is the bus's peer directory;
//   - runs the ZeroMQ bus and sends a heartbeat to every other node each
//     heartbeat interval;
//   - feeds a Membership with the heartbeats it receives and ticks it, on
//     every node, so a new coordinator starts with a warm view;
//   - takes part in the coordinator election (CAS-create of
//     /keel/coordinator under its lease); the coordinator writes each node's
//     state (up/suspect/down, since when) into its record.
// Every etcd write is a CAS on the record's revision or bound to the lease,
// so a deposed coordinator's late write can never overwrite a newer one.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "manager/bus/curve_keys.h"
#include "manager/bus/zmq_bus.h"
#include "manager/cluster/membership.h"
#include "manager/cluster/node_registry.h"
#include "manager/common/status.h"
#include "manager/kvdb/kvdb.h"

namespace keel::cluster {

struct NodeAgentOptions {
  std::string node;
  // Where the bus binds; the endpoint actually bound is what the node
  // record advertises ("tcp://127.0.0.1:*" takes a free port: tests).
  std::string bus_endpoint;
  std::string data_address;                   // IP literal for kernel replication links
  std::map<std::string, std::string> labels;  // "zone" and "rack" also go to their fields
  // The pool's size and what is not promised to a replica, at start
  // (later values come through SetCapacity).
  uint64_t capacity_bytes = 0;
  uint64_t free_bytes = 0;
  std::chrono::milliseconds heartbeat_interval{500};
  MembershipConfig membership;
  int64_t lease_ttl_s = 5;
  // For cluster.status: each is asked on its own, so one that is down shows.
  std::vector<std::string> etcd_endpoints;
  // Unix ms; default: the system clock.
  std::function<int64_t()> now_ms;
};

class NodeAgent {
 public:
  // Binds the bus, registers the node, loads the registry and starts the
  // threads.  Errors: the bus's bind errors, the kvdb's (etcd unreachable),
  // EINVAL for a node record that would not validate.
  static Result<std::unique_ptr<NodeAgent>> Start(NodeAgentOptions options, Kvdb* kvdb,
                                                  bus::CurveKeyPair keys);
  // Stops the threads and the bus, then revokes the lease: the alive key
  // (and the coordinator key, if held) go at once, so another node takes
  // over without waiting for the TTL.
  ~NodeAgent();
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  const std::string& node() const { return options_.node; }
  // The pool's capacity and free space now; the node record is rewritten
  // (by the agent's thread, CAS) when they changed.  Thread-safe: keeld
  // calls it from its main loop, the only thread that may read the
  // VolumeManager.
  void SetCapacity(uint64_t capacity_bytes, uint64_t free_bytes);
  bus::ZmqBus* bus() { return bus_.get(); }
  const NodeRegistry& registry() const { return *registry_; }
  bool IsCoordinator() const;
  // The coordinator's name as this node last saw it ("" = none known).
  std::string Coordinator() const;

  // node.list's reply body: {"nodes":[...]} (docs/api.md).
  Result<nlohmann::json> NodeList();
  // cluster.status's reply body (docs/api.md).
  Result<nlohmann::json> ClusterStatus();

 private:
  NodeAgent(NodeAgentOptions options, Kvdb* kvdb);

  // Grants a lease, writes the node record (keeping the state the
  // coordinator recorded) and the alive key under the lease.
  Status Register();
  Status WriteOwnRecord();
  void Loop();
  void WatchLoop();
  void OnNodeChanged(const std::string& name);
  void TryElect();
  // Coordinator only: writes every member whose state differs from its
  // record.  Compared each round rather than written once per transition,
  // so a transition lost to a failed write or made before this node became
  // coordinator is still recorded.
  void WriteStates();
  int64_t Now() const { return options_.now_ms(); }

  const NodeAgentOptions options_;
  Kvdb* const kvdb_;
  std::string public_key_;  // this node's CURVE public key, for its record
  std::shared_ptr<NodeRegistry> registry_;
  std::unique_ptr<bus::ZmqBus> bus_;
  std::unique_ptr<Watcher> watcher_;
  std::atomic<LeaseId> lease_{kNoLease};

  mutable std::mutex mu_;  // guards the members below
  Membership membership_;
  std::string coordinator_;
  bool is_coordinator_ = false;
  std::string etcd_error_;  // the last keep-alive's error; "" when it worked
  uint64_t capacity_bytes_ = 0;
  uint64_t free_bytes_ = 0;
  bool record_stale_ = false;  // capacity changed since the record was written

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread loop_thread_;
  std::thread watch_thread_;
};

}  // namespace keel::cluster
