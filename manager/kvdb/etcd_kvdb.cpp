#include "manager/kvdb/etcd_kvdb.h"

#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "manager/kvdb/base64.h"
#include "manager/kvdb/key_range.h"

namespace keel {
namespace {

using nlohmann::json;

// gRPC status codes (etcd's errors carry them) as errno values.
int ErrnoOfGrpc(int64_t code) {
  switch (code) {
    case 1:  // CANCELLED
      return ECANCELED;
    case 3:  // INVALID_ARGUMENT
    case 9:  // FAILED_PRECONDITION
      return EINVAL;
    case 4:  // DEADLINE_EXCEEDED
      return ETIMEDOUT;
    case 5:  // NOT_FOUND
      return ENOENT;
    case 6:  // ALREADY_EXISTS
      return EEXIST;
    case 7:   // PERMISSION_DENIED
    case 16:  // UNAUTHENTICATED
      return EACCES;
    case 8:  // RESOURCE_EXHAUSTED
      return ENOSPC;
    case 11:  // OUT_OF_RANGE (compacted revision)
      return ERANGE;
    case 14:  // UNAVAILABLE
      return EAGAIN;
    default:
      return EIO;
  }
}

// int64 fields: the gateway writes them as strings ("42"), other encoders
// as numbers; absent means 0 (proto3 omits zero values).
Result<int64_t> Int64Field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return int64_t{0};
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return v;
  }
  return Status::Error(EPROTO,
                       std::string("etcd: field '") + name + "' is not an int64: " + it->dump());
}

Result<bool> BoolField(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return false;
  if (it->is_boolean()) return it->get<bool>();
  return Status::Error(EPROTO, std::string("etcd: field '") + name + "' is not a bool");
}

Result<std::string> BytesField(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return Status::Error(EPROTO, std::string("etcd: field '") + name + "' is not a string");
  }
  auto d = Base64Decode(it->get_ref<const std::string&>());
  if (!d.ok()) {
    return Status::Error(EPROTO,
                         std::string("etcd: field '") + name + "': " + d.status().message());
  }
  return d;
}

const json& Member(const json& j, const char* name) {
  static const json kEmpty = json::object();
  auto it = j.find(name);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}

Result<int64_t> HeaderRevision(const json& reply) {
  return Int64Field(Member(reply, "header"), "revision");
}

Result<KvEntry> DecodeKv(const json& j) {
  KvEntry e;
  auto key = BytesField(j, "key");
  if (!key.ok()) return key.status();
  e.key = std::move(key).value();
  auto value = BytesField(j, "value");
  if (!value.ok()) return value.status();
  e.value = std::move(value).value();
  for (auto [name, field] : {std::pair{"create_revision", &e.create_revision},
                             std::pair{"mod_revision", &e.mod_revision},
                             std::pair{"version", &e.version}, std::pair{"lease", &e.lease}}) {
    auto v = Int64Field(j, name);
    if (!v.ok()) return v.status();
    *field = *v;
  }
  return e;
}

Result<std::vector<KvEntry>> DecodeKvs(const json& reply) {
  std::vector<KvEntry> out;
  auto it = reply.find("kvs");
  if (it == reply.end() || it->is_null()) return out;
  if (!it->is_array()) return Status::Error(EPROTO, "etcd: 'kvs' is not an array");
  for (const json& kv : *it) {
    auto e = DecodeKv(kv);
    if (!e.ok()) return e.status();
    out.push_back(std::move(e).value());
  }
  return out;
}

Status CheckKey(const std::string& key) {
  if (key.empty()) return Status::Error(EINVAL, "kvdb: empty key");
  if (key.size() > 1024) return Status::Error(EINVAL, "kvdb: key longer than 1024 bytes");
  return Status();
}

// The range request of every key starting with `prefix`.  etcd wants a
// non-empty key; "\0" with range_end "\0" is "every key".
json PrefixRange(const std::string& prefix) {
  std::string end = PrefixEnd(prefix);
  return {{"key", Base64Encode(prefix.empty() ? std::string(1, '\0') : prefix)},
          {"range_end", Base64Encode(end.empty() ? std::string(1, '\0') : end)}};
}

json EncodeOp(const TxnOp& op) {
  if (op.type == TxnOp::Type::kDelete) {
    return {{"request_delete_range", {{"key", Base64Encode(op.key)}}}};
  }
  json put = {{"key", Base64Encode(op.key)}, {"value", Base64Encode(op.value)}};
  if (op.lease != kNoLease) put["lease"] = std::to_string(op.lease);
  return {{"request_put", put}};
}

json EncodeCompare(const Compare& c) {
  json j = {{"key", Base64Encode(c.key)}, {"result", "EQUAL"}};
  switch (c.target) {
    case Compare::Target::kModRevision:
      j["target"] = "MOD";
      j["mod_revision"] = std::to_string(c.revision);
      break;
    case Compare::Target::kCreateRevision:
      j["target"] = "CREATE";
      j["create_revision"] = std::to_string(c.revision);
      break;
    case Compare::Target::kValue:
      j["target"] = "VALUE";
      j["value"] = Base64Encode(c.value);
      break;
  }
  return j;
}

// The gateway's error object, {"error": "...", "message": "...", "code": N}
// (streams wrap it as {"error": {...}}).
Status EtcdError(const std::string& where, const json& err) {
  auto nested = err.find("error");
  if (nested != err.end() && nested->is_object()) return EtcdError(where, *nested);
  // Unary replies say "code", stream errors "grpc_code".
  auto code = Int64Field(err, err.contains("grpc_code") ? "grpc_code" : "code");
  std::string msg;
  auto m = err.find("message");
  if (m != err.end() && m->is_string()) msg = m->get<std::string>();
  auto e = err.find("error");
  if (msg.empty() && e != err.end() && e->is_string()) msg = e->get<std::string>();
  if (msg.empty()) msg = err.dump();
  return Status::Error(code.ok() ? ErrnoOfGrpc(*code) : EIO, where + ": " + msg);
}

constexpr const char* kRequireLeader = "Grpc-Metadata-hasleader: true";

bool IsNoLeader(const Status& s) {
  return s.code() == EAGAIN && s.message().find("no leader") != std::string::npos;
}

bool IsConnectError(const Status& s) {
  return s.code() == ECONNREFUSED || s.code() == EHOSTUNREACH;
}

}  // namespace

Result<std::unique_ptr<EtcdKvdb>> EtcdKvdb::Open(EtcdOptions options,
                                                 std::unique_ptr<HttpClient> http) {
  if (options.endpoints.empty()) return Status::Error(EINVAL, "etcd: no endpoints given");
  for (std::string& ep : options.endpoints) {
    if (ep.rfind("http://", 0) != 0 && ep.rfind("https://", 0) != 0) {
      return Status::Error(EINVAL, "etcd: endpoint '" + ep + "' is not an http:// or https:// URL");
    }
    while (ep.size() > 8 && ep.back() == '/') ep.pop_back();
  }
  if (options.request_timeout <= std::chrono::milliseconds(0)) {
    return Status::Error(EINVAL, "etcd: request timeout must be positive");
  }
  // Require a leader (clientv3's WithRequireLeader; the gateway passes
  // Grpc-Metadata-* headers on as gRPC metadata): a member cut off from
  // its leader answers "no leader" at once, so the request moves to
  // another member, and a watch on it ends instead of going quiet.
  if (!http) http = std::make_unique<CurlHttpClient>(std::vector<std::string>{kRequireLeader});
  return std::unique_ptr<EtcdKvdb>(new EtcdKvdb(std::move(options), std::move(http)));
}

Result<json> EtcdKvdb::Call(const std::string& path, const json& request, bool idempotent) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + options_.request_timeout;
  const std::string body = request.dump();
  const size_t n = options_.endpoints.size();
  // What each endpoint said last, for the final error.
  std::vector<std::string> said(n);
  Status last;
  for (;;) {
    size_t start = current_.load();
    for (size_t i = 0; i < n; i++) {
      size_t idx = (start + i) % n;
      auto remaining =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (remaining <= std::chrono::milliseconds(0)) break;
      const std::string where = "etcd " + options_.endpoints[idx] + path;
      auto resp = http_->Post(options_.endpoints[idx] + path, body, remaining);
      Status err;
      if (!resp.ok()) {
        err = Status::Error(resp.status().code(), where + ": " + resp.status().message());
        if (!IsConnectError(err) && !idempotent) {
          return Status::Error(err.code(),
                               err.message() + " (the write may or may not be applied)");
        }
      } else {
        json reply = json::parse(resp->body, nullptr, false);
        if (reply.is_discarded() || !reply.is_object()) {
          return Status::Error(EPROTO,
                               where + ": HTTP " + std::to_string(resp->status) +
                                   ", reply is not a JSON object: " + resp->body.substr(0, 200));
        }
        if (resp->status == 200 && !reply.contains("error")) {
          current_ = idx;
          return reply;
        }
        err = EtcdError(where, reply);
        // A member without a leader refuses before proposing anything, so
        // another member may take even a write.
        if (!IsNoLeader(err) && !(idempotent && err.code() == EAGAIN)) return err;
      }
      last = err;
      said[idx] = err.message();
    }
    if (Clock::now() + std::chrono::milliseconds(100) >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string tried;
  for (const std::string& m : said) {
    if (!m.empty()) tried += (tried.empty() ? "" : "; ") + m;
  }
  return Status::Error(last.ok() ? ETIMEDOUT : last.code(),
                       "etcd: no endpoint answered " + path + " within " +
                           std::to_string(options_.request_timeout.count()) +
                           " ms: " + (tried.empty() ? "no time to try" : tried));
}

Result<std::optional<KvEntry>> EtcdKvdb::Get(const std::string& key) {
  Status s = CheckKey(key);
  if (!s.ok()) return s;
  auto reply = Call("/v3/kv/range", {{"key", Base64Encode(key)}}, true);
  if (!reply.ok()) return reply.status();
  auto kvs = DecodeKvs(*reply);
  if (!kvs.ok()) return kvs.status();
  if (kvs->empty()) return std::optional<KvEntry>();
  return std::optional<KvEntry>(kvs->front());
}

Result<int64_t> EtcdKvdb::Put(const std::string& key, const std::string& value, LeaseId lease) {
  Status s = CheckKey(key);
  if (!s.ok()) return s;
  json req = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != kNoLease) req["lease"] = std::to_string(lease);
  auto reply = Call("/v3/kv/put", req, false);
  if (!reply.ok()) return reply.status();
  return HeaderRevision(*reply);
}

Result<bool> EtcdKvdb::Delete(const std::string& key) {
  Status s = CheckKey(key);
  if (!s.ok()) return s;
  auto reply = Call("/v3/kv/deleterange", {{"key", Base64Encode(key)}}, false);
  if (!reply.ok()) return reply.status();
  auto deleted = Int64Field(*reply, "deleted");
  if (!deleted.ok()) return deleted.status();
  return *deleted > 0;
}

Result<TxnResult> EtcdKvdb::DoTxn(const TxnRequest& txn, json* reply_out) {
  json compares = json::array(), success = json::array(), failure = json::array();
  for (const Compare& c : txn.compares) {
    Status s = CheckKey(c.key);
    if (!s.ok()) return s;
    compares.push_back(EncodeCompare(c));
  }
  for (const TxnOp& op : txn.success) {
    Status s = CheckKey(op.key);
    if (!s.ok()) return s;
    success.push_back(EncodeOp(op));
  }
  for (const TxnOp& op : txn.failure) {
    Status s = CheckKey(op.key);
    if (!s.ok()) return s;
    failure.push_back(EncodeOp(op));
  }
  // A compare-and-swap that fails reads the key back in the same
  // transaction, for an error message that says what the key is at.
  if (txn.failure.empty() && txn.compares.size() == 1) {
    failure.push_back({{"request_range", {{"key", Base64Encode(txn.compares[0].key)}}}});
  }
  auto reply = Call("/v3/kv/txn",
                    {{"compare", compares}, {"success", success}, {"failure", failure}}, false);
  if (!reply.ok()) return reply.status();
  auto ok = BoolField(*reply, "succeeded");
  if (!ok.ok()) return ok.status();
  auto rev = HeaderRevision(*reply);
  if (!rev.ok()) return rev.status();
  if (reply_out) *reply_out = std::move(reply).value();
  return TxnResult{*ok, *rev};
}

Result<TxnResult> EtcdKvdb::Txn(const TxnRequest& txn) { return DoTxn(txn, nullptr); }

namespace {

// The mod_revision the failure branch's range read (see DoTxn), 0 if the
// key is absent.
int64_t ActualRevision(const json& reply) {
  auto responses = reply.find("responses");
  if (responses == reply.end() || !responses->is_array() || responses->empty()) return 0;
  auto kvs = DecodeKvs(Member(responses->front(), "response_range"));
  if (!kvs.ok() || kvs->empty()) return 0;
  return kvs->front().mod_revision;
}

Status Conflict(const std::string& key, int64_t actual, int64_t expected) {
  return Status::Error(ECANCELED, "kvdb: '" + key + "' is at revision " + std::to_string(actual) +
                                      ", not " + std::to_string(expected) +
                                      " (changed concurrently)");
}

}  // namespace

Result<int64_t> EtcdKvdb::CompareAndSwap(const std::string& key, int64_t expected_revision,
                                         const std::string& value) {
  json reply;
  auto r =
      DoTxn({{Compare::ModRevision(key, expected_revision)}, {TxnOp::Put(key, value)}, {}}, &reply);
  if (!r.ok()) return r.status();
  if (!r->succeeded) return Conflict(key, ActualRevision(reply), expected_revision);
  return r->revision;
}

Status EtcdKvdb::CompareAndDelete(const std::string& key, int64_t expected_revision) {
  // Revision 0 is "absent", and an absent key cannot be deleted.
  if (expected_revision == 0) {
    auto e = Get(key);
    if (!e.ok()) return e.status();
    return Conflict(key, e->has_value() ? (*e)->mod_revision : 0, 0);
  }
  json reply;
  auto r =
      DoTxn({{Compare::ModRevision(key, expected_revision)}, {TxnOp::Delete(key)}, {}}, &reply);
  if (!r.ok()) return r.status();
  if (!r->succeeded) return Conflict(key, ActualRevision(reply), expected_revision);
  return Status();
}

Result<std::vector<KvEntry>> EtcdKvdb::List(const std::string& prefix) {
  auto reply = Call("/v3/kv/range", PrefixRange(prefix), true);
  if (!reply.ok()) return reply.status();
  return DecodeKvs(*reply);
}

Result<int64_t> EtcdKvdb::Revision() {
  // Any range answers with the store revision in its header.
  json req = {{"key", Base64Encode("/")}, {"count_only", true}};
  auto reply = Call("/v3/kv/range", req, true);
  if (!reply.ok()) return reply.status();
  return HeaderRevision(*reply);
}

Result<LeaseId> EtcdKvdb::Grant(int64_t ttl_seconds) {
  if (ttl_seconds <= 0) {
    return Status::Error(EINVAL, "kvdb: lease TTL must be a positive number of seconds, not " +
                                     std::to_string(ttl_seconds));
  }
  auto reply = Call("/v3/lease/grant", {{"TTL", std::to_string(ttl_seconds)}}, false);
  if (!reply.ok()) return reply.status();
  auto id = Int64Field(*reply, "ID");
  if (!id.ok()) return id.status();
  if (*id == kNoLease) return Status::Error(EPROTO, "etcd: lease grant returned no ID");
  return *id;
}

Result<int64_t> EtcdKvdb::KeepAlive(LeaseId lease) {
  auto reply = Call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}}, true);
  if (!reply.ok()) return reply.status();
  // The gateway serves the keep-alive stream: one message, in "result".
  const json& result = reply->contains("result") ? Member(*reply, "result") : *reply;
  auto ttl = Int64Field(result, "TTL");
  if (!ttl.ok()) return ttl.status();
  // etcd answers an unknown or expired lease with TTL 0 (omitted).
  if (*ttl <= 0) {
    return Status::Error(
        ENOENT, "etcd: lease " + std::to_string(lease) + " not found (expired or revoked)");
  }
  return *ttl;
}

Status EtcdKvdb::Revoke(LeaseId lease) {
  auto reply = Call("/v3/lease/revoke", {{"ID", std::to_string(lease)}}, false);
  return reply.status();
}

// The watch: a thread holds a /v3/watch stream open and queues the event
// batches for Poll.
class EtcdWatcher : public Watcher {
 public:
  EtcdWatcher(EtcdKvdb* kv, std::string prefix, int64_t next)
      : kv_(kv), prefix_(std::move(prefix)), next_(next) {
    thread_ = std::thread([this] { Run(); });
  }
  ~EtcdWatcher() override {
    Cancel();
    thread_.join();
  }

  Result<std::vector<WatchEvent>> Poll(std::chrono::milliseconds timeout) override {
    std::unique_lock l(mu_);
    cv_.wait_for(l, timeout,
                 [&] { return canceled_ || !queue_.empty() || !final_.ok() || !transient_.ok(); });
    if (canceled_) return Status::Error(ECANCELED, "kvdb: watch canceled");
    if (!queue_.empty()) {
      std::vector<WatchEvent> out;
      for (auto& batch : queue_) {
        for (auto& e : batch) out.push_back(std::move(e));
      }
      queue_.clear();
      return out;
    }
    if (!final_.ok()) return final_;
    if (!transient_.ok()) {
      Status s = transient_;
      transient_ = Status();  // said once per outage
      return s;
    }
    return std::vector<WatchEvent>();
  }

  void Cancel() override {
    std::lock_guard l(mu_);
    canceled_ = true;
    cv_.notify_all();
  }

 private:
  bool Stopping() {
    std::lock_guard l(mu_);
    return canceled_ || !final_.ok();
  }

  void Run() {
    const auto& eps = kv_->options_.endpoints;
    size_t idx = kv_->current_.load();
    while (!Stopping()) {
      const std::string url = eps[idx % eps.size()] + "/v3/watch";
      json create = PrefixRange(prefix_);
      create["start_revision"] = std::to_string(next_);
      buffer_.clear();
      long http_status = 0;
      Status s = kv_->http_->Stream(
          url, json{{"create_request", create}}.dump(), kv_->options_.request_timeout,
          [&](std::string_view data) { return OnData(url, data); }, [&] { return Stopping(); },
          &http_status);
      // An error reply may end without a newline.
      if (!Stopping() && buffer_.find_first_not_of(" \r\t\n") != std::string::npos) {
        OnMessage(url, buffer_);
      }
      if (Stopping()) return;
      {
        std::lock_guard l(mu_);
        // Keep etcd's own words if the stream said why it ended.
        if (transient_.ok())
          transient_ = Status::Error(
              s.ok() ? EPIPE : s.code(),
              "etcd " + url + ": watch stream ended" +
                  (s.ok() ? " (HTTP " + std::to_string(http_status) + ")" : ": " + s.message()) +
                  "; reconnecting");
        cv_.notify_all();
      }
      idx++;
      std::unique_lock l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(100), [&] { return canceled_; });
    }
  }

  // Splits the stream into its newline-separated JSON messages.
  bool OnData(const std::string& url, std::string_view data) {
    buffer_.append(data);
    size_t nl;
    while ((nl = buffer_.find('\n')) != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      if (!OnMessage(url, line)) return false;
    }
    return !Stopping();
  }

  // One message; false ends this stream.
  bool OnMessage(const std::string& url, const std::string& line) {
    const std::string where = "etcd " + url;
    json msg = json::parse(line, nullptr, false);
    if (msg.is_discarded() || !msg.is_object()) {
      return Fail(
          Status::Error(EPROTO, where + ": watch message is not JSON: " + line.substr(0, 200)),
          false);
    }
    if (msg.contains("error")) {
      // The gateway reports stream errors this way; a transient outage.
      std::lock_guard l(mu_);
      transient_ = EtcdError(where + " (watch)", msg);
      cv_.notify_all();
      return false;
    }
    const json& r = Member(msg, "result");
    auto compact = Int64Field(r, "compact_revision");
    auto canceled = BoolField(r, "canceled");
    if (!compact.ok()) return Fail(compact.status(), true);
    if (!canceled.ok()) return Fail(canceled.status(), true);
    if (*compact > 0) {
      return Fail(Status::Error(ERANGE, where + ": watch from revision " + std::to_string(next_) +
                                            ": history before revision " +
                                            std::to_string(*compact) + " is compacted"),
                  true);
    }
    if (*canceled) {
      std::string reason = r.value("cancel_reason", std::string("no reason given"));
      return Fail(Status::Error(EIO, where + ": etcd canceled the watch: " + reason), true);
    }
    auto created = BoolField(r, "created");
    if (created.ok() && *created) {
      std::lock_guard l(mu_);
      transient_ = Status();  // connected again
      return true;
    }
    auto events = r.find("events");
    if (events == r.end() || !events->is_array() || events->empty()) return true;
    std::vector<WatchEvent> batch;
    for (const json& ev : *events) {
      WatchEvent e;
      e.type = ev.value("type", std::string("PUT")) == "DELETE" ? WatchEvent::Type::kDelete
                                                                : WatchEvent::Type::kPut;
      auto kv = DecodeKv(Member(ev, "kv"));
      if (!kv.ok()) return Fail(kv.status(), true);
      e.kv = std::move(kv).value();
      batch.push_back(std::move(e));
    }
    // Resume after the last event if the stream has to be opened again.
    next_ = batch.back().kv.mod_revision + 1;
    std::lock_guard l(mu_);
    queue_.push_back(std::move(batch));
    cv_.notify_all();
    return true;
  }

  bool Fail(Status s, bool final) {
    std::lock_guard l(mu_);
    if (final) {
      final_ = std::move(s);
    } else {
      transient_ = std::move(s);
    }
    cv_.notify_all();
    return false;
  }

  EtcdKvdb* kv_;
  const std::string prefix_;
  int64_t next_;        // the watch thread's
  std::string buffer_;  // the watch thread's: a partial message
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool canceled_ = false;
  Status final_;      // ERANGE, or etcd canceled the watch
  Status transient_;  // the stream is down; cleared when it is back
  std::deque<std::vector<WatchEvent>> queue_;
};

Result<std::unique_ptr<Watcher>> EtcdKvdb::Watch(const std::string& prefix,
                                                 int64_t start_revision) {
  if (start_revision < 0) return Status::Error(EINVAL, "kvdb: negative watch start revision");
  int64_t next = start_revision;
  if (next == 0) {
    // A concrete start, so a reconnect resumes exactly where this began.
    auto rev = Revision();
    if (!rev.ok()) return rev.status();
    next = *rev + 1;
  }
  return std::unique_ptr<Watcher>(new EtcdWatcher(this, prefix, next));
}

}  // namespace keel
