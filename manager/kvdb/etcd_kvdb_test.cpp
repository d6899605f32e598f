// EtcdKvdb beyond the shared contract (kvdb_contract_test.cpp): endpoint
// failover against a real 3-member etcd, errors when nothing answers, and
// the gateway's encoding details through a scripted transport.
#include "manager/kvdb/etcd_kvdb.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <deque>
#include <thread>

#include "manager/kvdb/etcd_test_server.h"

namespace keel {
namespace {

// A transport that answers from a script and records what was asked: for
// the encoding/decoding details the real etcd would not show (numbers
// instead of strings, errors on particular members).
class ScriptedHttp : public HttpClient {
 public:
  struct Call {
    std::string url;
    nlohmann::json body;
  };
  std::deque<Result<HttpResponse>> replies;
  std::vector<Call> calls;

  Result<HttpResponse> Post(const std::string& url, const std::string& body,
                            std::chrono::milliseconds) override {
    calls.push_back({url, nlohmann::json::parse(body, nullptr, false)});
    if (replies.empty()) return Status::Error(EIO, "script ran out");
    auto r = replies.front();
    replies.pop_front();
    return r;
  }
  Status Stream(const std::string&, const std::string&, std::chrono::milliseconds,
                const std::function<bool(std::string_view)>&, const std::function<bool()>&,
                long*) override {
    return Status::Error(EIO, "not scripted");
  }
};

std::unique_ptr<EtcdKvdb> Scripted(ScriptedHttp** http, std::vector<std::string> endpoints) {
  auto h = std::make_unique<ScriptedHttp>();
  *http = h.get();
  auto kv = EtcdKvdb::Open({std::move(endpoints), std::chrono::milliseconds(1000)}, std::move(h));
  REQUIRE(kv.ok());
  return std::move(kv).value();
}

Result<HttpResponse> Ok(const std::string& body) { return HttpResponse{200, body}; }

// Which member leads (m.size() if none answers): the one whose own id is
// the leader id it reports.
size_t LeaderIndex(std::vector<std::unique_ptr<EtcdProcess>>& m) {
  CurlHttpClient http;
  for (size_t i = 0; i < m.size(); i++) {
    auto r =
        http.Post(m[i]->client_url() + "/v3/maintenance/status", "{}", std::chrono::seconds(2));
    if (!r.ok()) continue;
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.contains("header")) continue;
    if (j["header"].value("member_id", std::string()) == j.value("leader", std::string("-"))) {
      return i;
    }
  }
  return m.size();
}

}  // namespace

TEST_CASE("etcd kvdb: decodes int64 as strings or numbers, encodes keys in base64") {
  ScriptedHttp* http;
  auto kv = Scripted(&http, {"http://e1:2379/"});
  http->replies.push_back(
      Ok(R"({"header":{"revision":9},"kvs":[{"key":"L2tlZWwvYQ==","create_revision":"3",)"
         R"("mod_revision":9,"version":"2","value":"AP8=","lease":"7"}],"count":"1"})"));
  auto e = kv->Get("/keel/a");
  REQUIRE_MESSAGE(e.ok(), e.status().ToString());
  REQUIRE(e->has_value());
  CHECK(**e == KvEntry{"/keel/a", std::string("\0\xff", 2), 3, 9, 2, 7});
  REQUIRE(http->calls.size() == 1);
  CHECK(http->calls[0].url == "http://e1:2379/v3/kv/range");
  CHECK(http->calls[0].body == nlohmann::json{{"key", "L2tlZWwvYQ=="}});

  // Broken replies are EPROTO, naming the field.
  http->replies.push_back(Ok(R"({"kvs":[{"key":"L2E=","mod_revision":"x9"}]})"));
  auto bad = kv->Get("/a");
  CHECK(bad.status().code() == EPROTO);
  CHECK(bad.status().message().find("mod_revision") != std::string::npos);
  http->replies.push_back(Ok(R"({"kvs":[{"key":"not base64!"}]})"));
  CHECK(kv->Get("/a").status().code() == EPROTO);
  http->replies.push_back(Ok("<html>"));
  CHECK(kv->Get("/a").status().code() == EPROTO);
}

TEST_CASE(
    "etcd kvdb: etcd's errors keep its message and the endpoint, writes are not retried "
    "after a timeout, reads are") {
  ScriptedHttp* http;
  auto kv = Scripted(&http, {"http://e1:2379", "http://e2:2379"});
  http->replies.push_back(HttpResponse{
      404, R"({"error":"etcdserver: requested lease not found","message":"etcdserver: )"
           R"(requested lease not found","code":5})"});
  Status s = kv->Revoke(42);
  CHECK(s.code() == ENOENT);
  CHECK(s.message() ==
        "etcd http://e1:2379/v3/lease/revoke: etcdserver: requested lease not found");
  CHECK(http->calls.back().body == nlohmann::json{{"ID", "42"}});
  // Streamed replies (keep-alive) wrap the error and call the code grpc_code.
  http->replies.push_back(
      Ok(R"({"error":{"grpc_code":5,"http_code":404,"message":"etcdserver: requested lease )"
         R"(not found","http_status":"Not Found"}})"));
  auto ka = kv->KeepAlive(42);
  CHECK(ka.status().code() == ENOENT);
  CHECK(ka.status().message().find("requested lease not found") != std::string::npos);
  http->replies.push_back(Ok(R"({"result":{"header":{"revision":"3"},"ID":"42","TTL":7}})"));
  CHECK(*kv->KeepAlive(42) == 7);

  // A write that timed out may have been applied: no second endpoint.
  http->calls.clear();
  http->replies.push_back(Status::Error(ETIMEDOUT, "timeout"));
  auto put = kv->Put("/a", "1");
  CHECK(put.status().code() == ETIMEDOUT);
  CHECK(put.status().message().find("may or may not be applied") != std::string::npos);
  CHECK(http->calls.size() == 1);

  // A write that could not connect was not sent: the next endpoint takes it,
  // and stays the first choice.
  http->calls.clear();
  http->replies.push_back(Status::Error(ECONNREFUSED, "refused"));
  http->replies.push_back(Ok(R"({"header":{"revision":"5"}})"));
  http->replies.push_back(Ok(R"({"header":{"revision":"6"}})"));
  CHECK(*kv->Put("/a", "1") == 5);
  CHECK(*kv->Put("/a", "2") == 6);
  REQUIRE(http->calls.size() == 3);
  CHECK(http->calls[0].url == "http://e1:2379/v3/kv/put");
  CHECK(http->calls[1].url == "http://e2:2379/v3/kv/put");
  CHECK(http->calls[2].url == "http://e2:2379/v3/kv/put");

  // A read that timed out is simply asked again elsewhere.
  http->calls.clear();
  http->replies.push_back(Status::Error(ETIMEDOUT, "timeout"));
  http->replies.push_back(Ok(R"({"header":{"revision":"6"}})"));
  CHECK(*kv->Revision() == 6);
  CHECK(http->calls.size() == 2);

  // "no leader" was refused before anything was proposed: a write moves on.
  http->calls.clear();
  http->replies.push_back(
      HttpResponse{503, R"({"error":"etcdserver: no leader","message":"etcdserver: no leader",)"
                        R"("code":14})"});
  http->replies.push_back(Ok(R"({"header":{"revision":"7"},"succeeded":true})"));
  auto txn = kv->Txn({{Compare::Absent("/b")}, {TxnOp::Put("/b", "1", 99)}, {}});
  REQUIRE(txn.ok());
  CHECK(txn->succeeded);
  CHECK(txn->revision == 7);
  CHECK(http->calls[1].body["compare"][0] ==
        nlohmann::json{
            {"key", "L2I="}, {"result", "EQUAL"}, {"target", "CREATE"}, {"create_revision", "0"}});
  CHECK(http->calls[1].body["success"][0]["request_put"]["lease"] == "99");
}

TEST_CASE("etcd kvdb: bad options are refused before any request") {
  CHECK(EtcdKvdb::Open({{}, std::chrono::milliseconds(1000)}).status().code() == EINVAL);
  CHECK(EtcdKvdb::Open({{"127.0.0.1:2379"}, std::chrono::milliseconds(1000)}).status().code() ==
        EINVAL);
  CHECK(EtcdKvdb::Open({{"http://127.0.0.1:2379"}, std::chrono::milliseconds(0)}).status().code() ==
        EINVAL);
}

TEST_CASE("etcd kvdb: nothing listening: a clear error naming every endpoint, within the timeout") {
  // Ports nothing listens on.
  int p1 = *FreeLoopbackPort(), p2 = *FreeLoopbackPort();
  std::string e1 = "http://127.0.0.1:" + std::to_string(p1);
  std::string e2 = "http://127.0.0.1:" + std::to_string(p2);
  auto kv = EtcdKvdb::Open({{e1, e2}, std::chrono::milliseconds(400)});
  REQUIRE(kv.ok());
  auto t0 = std::chrono::steady_clock::now();
  auto r = (*kv)->Put("/keel/a", "1");
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(r.status().code() == ECONNREFUSED);
  CHECK(r.status().message().find(e1 + "/v3/kv/put") != std::string::npos);
  CHECK(r.status().message().find(e2 + "/v3/kv/put") != std::string::npos);
  CHECK(took < std::chrono::milliseconds(1500));
}

TEST_CASE(
    "etcd kvdb: a 3-member cluster loses the member the client uses, the client and its "
    "watch go on through the others") {
  auto cluster = EtcdProcess::StartCluster(3);
  REQUIRE_MESSAGE(cluster.ok(), cluster.status().ToString());
  auto& m = cluster.value();
  // The hard case: the leader is the endpoint every request goes to, so
  // killing it also leaves the others without a leader for a moment.
  size_t leader = LeaderIndex(m);
  REQUIRE(leader < m.size());
  std::vector<std::string> endpoints = {m[leader]->client_url()};
  for (size_t i = 0; i < m.size(); i++) {
    if (i != leader) endpoints.push_back(m[i]->client_url());
  }
  auto kv = EtcdKvdb::Open({endpoints, std::chrono::seconds(5)});
  REQUIRE(kv.ok());
  Kvdb& db = **kv;
  auto r1 = db.CompareAndSwap("/keel/volumes/v", 0, "epoch 1");
  REQUIRE_MESSAGE(r1.ok(), r1.status().ToString());
  auto lease = db.Grant(30);
  REQUIRE(lease.ok());
  auto w = db.Watch("/keel/volumes/", *r1 + 1);
  REQUIRE(w.ok());

  // The leader, where every request went, dies.
  m[leader]->Kill();
  // Members keep a dead leader for up to an election timeout, and a request
  // they take meanwhile waits for it (a write then times out with its
  // outcome unknown: the caller re-reads).  Once they have noticed, they
  // answer "no leader" at once and the client goes round them until the
  // election is over; this test starts there.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (LeaderIndex(m) == m.size() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(LeaderIndex(m) != m.size());

  auto r2 = db.CompareAndSwap("/keel/volumes/v", *r1, "epoch 2");
  REQUIRE_MESSAGE(r2.ok(), r2.status().ToString());
  auto e = db.Get("/keel/volumes/v");
  REQUIRE(e.ok());
  CHECK((*e)->value == "epoch 2");
  CHECK(db.CompareAndSwap("/keel/volumes/v", *r1, "stale").status().code() == ECANCELED);
  CHECK(db.KeepAlive(*lease).ok());
  REQUIRE(db.Put("/keel/volumes/w", "1", *lease).ok());
  CHECK(db.List("/keel/volumes/")->size() == 2);

  // The watch reconnected to another member from where it was.
  std::vector<WatchEvent> ev;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (ev.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    auto b = (*w)->Poll(std::chrono::milliseconds(200));
    if (!b.ok()) {
      REQUIRE(b.status().code() != ECANCELED);
      REQUIRE(b.status().code() != ERANGE);
      continue;
    }
    for (auto& x : *b) ev.push_back(x);
  }
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kv.value == "epoch 2");
  CHECK(ev[0].kv.mod_revision == *r2);
  CHECK(ev[1].kv.key == "/keel/volumes/w");
}

TEST_CASE(
    "etcd kvdb: a member without quorum answers 'no leader' (EAGAIN) within the timeout, "
    "applies nothing, and its watch reports the outage") {
  auto cluster = EtcdProcess::StartCluster(3);
  REQUIRE_MESSAGE(cluster.ok(), cluster.status().ToString());
  auto& m = cluster.value();
  auto kv = EtcdKvdb::Open({{m[0]->client_url()}, std::chrono::milliseconds(1000)});
  REQUIRE(kv.ok());
  int64_t rev = *(*kv)->Put("/keel/volumes/v", "epoch 1");
  auto w = (*kv)->Watch("/keel/", rev + 1);
  REQUIRE(w.ok());
  m[1]->Kill();
  m[2]->Kill();
  // The survivor notices within an election timeout or two; until then a
  // write waits on the dead leader and times out (outcome unknown).
  Result<int64_t> r = int64_t{0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    auto t0 = std::chrono::steady_clock::now();
    r = (*kv)->CompareAndSwap("/keel/volumes/v", rev, "epoch 2");
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(1500));
    REQUIRE_FALSE(r.ok());
  } while (r.status().code() != EAGAIN && std::chrono::steady_clock::now() < deadline);
  CHECK(r.status().code() == EAGAIN);
  CHECK(r.status().message().find(m[0]->client_url() + "/v3/kv/txn: etcdserver: no leader") !=
        std::string::npos);
  CHECK((*kv)->Get("/keel/volumes/v").status().code() == EAGAIN);
  Result<std::vector<WatchEvent>> p = std::vector<WatchEvent>();
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (p.ok() && std::chrono::steady_clock::now() < deadline) {
    p = (*w)->Poll(std::chrono::milliseconds(200));
    CHECK((p.ok() ? p->empty() : true));
  }
  CHECK(p.status().code() == EAGAIN);
  CHECK(p.status().message().find("no leader") != std::string::npos);
}

TEST_CASE("etcd kvdb: a watch from a compacted revision fails with ERANGE") {
  auto etcd = EtcdProcess::Start();
  REQUIRE_MESSAGE(etcd.ok(), etcd.status().ToString());
  auto kv = EtcdKvdb::Open({{(*etcd)->client_url()}, std::chrono::seconds(5)});
  REQUIRE(kv.ok());
  REQUIRE((*kv)->Put("/keel/a", "1").ok());
  int64_t rev = *(*kv)->Put("/keel/a", "2");
  CurlHttpClient http;
  auto c = http.Post((*etcd)->client_url() + "/v3/kv/compaction",
                     R"({"revision":")" + std::to_string(rev) + R"("})", std::chrono::seconds(5));
  REQUIRE(c.ok());
  REQUIRE(c->status == 200);
  auto w = (*kv)->Watch("/keel/", 2);
  REQUIRE(w.ok());
  Result<std::vector<WatchEvent>> r = std::vector<WatchEvent>();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (r.ok() && std::chrono::steady_clock::now() < deadline) {
    r = (*w)->Poll(std::chrono::milliseconds(200));
  }
  CHECK(r.status().code() == ERANGE);
  CHECK(r.status().message().find("compacted") != std::string::npos);
}

}  // namespace keel
