// EtcdKvdb: the kvdb on etcd v3 through its JSON gateway (grpc-gateway:
// POST /v3/kv/range, /v3/kv/put, /v3/kv/deleterange, /v3/kv/txn,
// /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke, streaming
// /v3/watch; keys and values in base64, int64 fields as JSON strings).
// etcd 3.4 serves both /v3 and /v3beta; /v3 is the one that stays.
//
// Endpoints: a list of client URLs of the cluster's members.  A request goes
// to the endpoint that answered last; on failure it moves to the next:
//   - could not connect (nothing was sent): any request moves on;
//   - "etcdserver: no leader" (the member refused before proposing): any
//     request moves on;
//   - a timeout, a broken connection or another unavailable error: only
//     reads and keep-alives move on (retrying a write whose outcome is
//     unknown could apply it twice); writes return the error.
// Going round the list, 100 ms apart, stops when the request timeout since
// the call began has passed.  Errors name the endpoint and etcd's message.
//
// Thread-safe: each request is its own HTTP exchange.  See
// docs/cluster-state.md.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "manager/kvdb/http_client.h"
#include "manager/kvdb/kvdb.h"

namespace keel {

struct EtcdOptions {
  // Client URLs, e.g. "http://10.0.0.1:2379"; at least one.
  std::vector<std::string> endpoints;
  // The longest one call may take, failover included.
  std::chrono::milliseconds request_timeout{5000};
};

class EtcdKvdb : public Kvdb {
 public:
  // Checks the options; does not contact etcd.  `http` defaults to
  // CurlHttpClient.
  static Result<std::unique_ptr<EtcdKvdb>> Open(EtcdOptions options,
                                                std::unique_ptr<HttpClient> http = nullptr);

  Result<std::optional<KvEntry>> Get(const std::string& key) override;
  Result<int64_t> Put(const std::string& key, const std::string& value,
                      LeaseId lease = kNoLease) override;
  Result<bool> Delete(const std::string& key) override;
  Result<int64_t> CompareAndSwap(const std::string& key, int64_t expected_revision,
                                 const std::string& value) override;
  Status CompareAndDelete(const std::string& key, int64_t expected_revision) override;
  Result<std::vector<KvEntry>> List(const std::string& prefix) override;
  Result<int64_t> Revision() override;
  Result<TxnResult> Txn(const TxnRequest& txn) override;
  Result<LeaseId> Grant(int64_t ttl_seconds) override;
  Result<int64_t> KeepAlive(LeaseId lease) override;
  Status Revoke(LeaseId lease) override;
  // The watch runs on its own thread with a streaming request; if the
  // stream breaks it reconnects (to the next endpoint) from the revision
  // after the last event delivered, so no event is lost or repeated.
  Result<std::unique_ptr<Watcher>> Watch(const std::string& prefix,
                                         int64_t start_revision) override;

  const EtcdOptions& options() const { return options_; }

 private:
  friend class EtcdWatcher;
  EtcdKvdb(EtcdOptions options, std::unique_ptr<HttpClient> http)
      : options_(std::move(options)), http_(std::move(http)) {}

  // POSTs `request` to `path` with failover (see above); the decoded reply.
  Result<nlohmann::json> Call(const std::string& path, const nlohmann::json& request,
                              bool idempotent);
  Result<TxnResult> DoTxn(const TxnRequest& txn, nlohmann::json* reply);

  const EtcdOptions options_;
  const std::unique_ptr<HttpClient> http_;
  // The endpoint that answered last: where the next call starts.
  std::atomic<size_t> current_{0};
};

}  // namespace keel
