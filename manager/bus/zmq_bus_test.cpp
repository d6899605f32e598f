// The bus over real ZeroMQ sockets on 127.0.0.1 with ephemeral ports.
#include "manager/bus/zmq_bus.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace keel::bus {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

CurveKeyPair NewKeys() {
  auto k = GenerateCurveKeyPair();
  REQUIRE(k.ok());
  return *k;
}

// Polls `done` every 5 ms for up to `limit`: the only way to wait for a
// counter that another thread bumps.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = 3000ms) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

long Millis(Clock::duration d) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// A set of nodes sharing one directory, as a cluster would.
struct Cluster {
  std::shared_ptr<InMemoryPeerDirectory> dir = std::make_shared<InMemoryPeerDirectory>();

  std::unique_ptr<ZmqBus> Start(const std::string& node, const CurveKeyPair& keys,
                                std::map<std::string, Handler> handlers = {},
                                const std::string& endpoint = "tcp://127.0.0.1:*") {
    ZmqBusOptions o;
    o.node = node;
    o.keys = keys;
    o.bind_endpoint = endpoint;
    o.directory = dir;
    o.handlers = std::move(handlers);
    auto bus = ZmqBus::Start(std::move(o));
    REQUIRE_MESSAGE(bus.ok(), bus.status().ToString());
    REQUIRE(dir->Put({node, bus->get()->endpoint(), keys.public_key}).ok());
    return std::move(bus).value();
  }
};

// An endpoint on which nothing listens (a bus was there a moment ago).
std::string FreeEndpoint() {
  Cluster c;
  return c.Start("tmp", NewKeys())->endpoint();
}

Result<Json> Echo(const std::string& from, const Json& body) {
  return Json{{"from", from}, {"body", body}};
}

// A hand-driven DEALER with CURVE keys, to send what a real bus never would.
struct RawClient {
  zmq::context_t ctx;
  zmq::socket_t sock{ctx, zmq::socket_type::dealer};

  RawClient(const CurveKeyPair& me, const std::string& server_key, const std::string& endpoint) {
    sock.set(zmq::sockopt::linger, 0);
    sock.set(zmq::sockopt::curve_serverkey, server_key);
    sock.set(zmq::sockopt::curve_publickey, me.public_key);
    sock.set(zmq::sockopt::curve_secretkey, me.secret_key);
    sock.connect(endpoint);
  }
  void Send(const std::string& payload) { sock.send(zmq::buffer(payload)); }
  void SendFrames(const std::vector<std::string>& frames) {
    std::vector<zmq::const_buffer> bufs;
    for (const auto& f : frames) bufs.push_back(zmq::buffer(f));
    REQUIRE(zmq::send_multipart(sock, bufs));
  }
  std::optional<std::string> Receive(std::chrono::milliseconds timeout) {
    sock.set(zmq::sockopt::rcvtimeo, static_cast<int>(timeout.count()));
    zmq::message_t m;
    if (!sock.recv(m)) return std::nullopt;
    return m.to_string();
  }
};

std::string RequestText(const std::string& from, uint64_t id, const std::string& method,
                        const Json& body = Json::object()) {
  return Json{{"v", 1},       {"id", id},         {"type", "request"},
              {"from", from}, {"method", method}, {"body", body}}
      .dump();
}

TEST_CASE("bus: request and reply between two nodes, both ways, and a notification") {
  Cluster c;
  std::atomic<int> beats{0};
  std::string beat_from;
  std::mutex mu;
  auto a = c.Start("node-a", NewKeys(), {{"echo", Echo}});
  auto b = c.Start("node-b", NewKeys(),
                   {{"echo", Echo}, {"heartbeat", [&](const std::string& from, const Json& body) {
                                       std::lock_guard lock(mu);
                                       beat_from = from;
                                       beats += body.value("n", 0);
                                       return Result<Json>(Json::object());
                                     }}});

  auto r = a->Request("node-b", "echo", {{"x", 1}}, 2000ms, 0);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(*r == Json{{"from", "node-a"}, {"body", {{"x", 1}}}});
  auto back = b->Request("node-a", "echo", {{"y", "z"}}, 2000ms, 0);
  REQUIRE(back.ok());
  CHECK(back->at("from") == "node-b");

  REQUIRE(a->Notify("node-b", "heartbeat", {{"n", 5}}).ok());
  CHECK(WaitFor([&] { return beats.load() == 5; }));
  {
    std::lock_guard lock(mu);
    CHECK(beat_from == "node-a");
  }
  BusStats sa = a->Stats(), sb = b->Stats();
  CHECK(sa.requests_sent == 1);
  CHECK(sa.replies_received == 1);
  CHECK(sa.notifies_sent == 1);
  CHECK(sb.requests_served == 1);
  CHECK(sb.notifies_received == 1);
  CHECK(sa.DroppedTotal() == 0);
  CHECK(sb.DroppedTotal() == 0);
  CHECK(sa.ToJson()["dropped"]["bad_json"] == 0);
}

TEST_CASE("bus: a handler's error travels back with its code and message") {
  Cluster c;
  auto a = c.Start("a", NewKeys());
  auto b = c.Start(
      "b", NewKeys(),
      {{"fail",
        [](const std::string&, const Json&) -> Result<Json> {
          return Status::Error(ENOENT, "no volume 'db'");
        }},
       {"throw",
        [](const std::string&, const Json&) -> Result<Json> { throw std::runtime_error("oops"); }},
       {"array", [](const std::string&, const Json&) -> Result<Json> { return Json::array(); }}});
  auto r = a->Request("b", "fail", {}, 2000ms, 0);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ENOENT);
  CHECK(r.status().message() == "node b: no volume 'db'");

  r = a->Request("b", "nosuch", {}, 2000ms, 0);
  CHECK(r.status().code() == ENOSYS);
  r = a->Request("b", "throw", {}, 2000ms, 0);
  CHECK(r.status().code() == EIO);
  CHECK(r.status().message().find("oops") != std::string::npos);
  r = a->Request("b", "array", {}, 2000ms, 0);
  CHECK(r.status().code() == EPROTO);

  // Handlers registered while running are served too.
  REQUIRE(b->Handle("late", Echo).ok());
  CHECK(b->Handle("late", Echo).code() == EEXIST);
  CHECK(a->Request("b", "late", {}, 2000ms, 0).ok());
  CHECK(b->Stats().Dropped(DropReason::kUnknownMethod) == 1);
}

TEST_CASE("bus: a request to a node that is down times out after its retries") {
  Cluster c;
  auto a = c.Start("a", NewKeys());
  REQUIRE(c.dir->Put({"b", FreeEndpoint(), NewKeys().public_key}).ok());
  auto start = Clock::now();
  auto r = a->Request("b", "echo", {}, 100ms, 2);
  long ms = Millis(Clock::now() - start);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == ETIMEDOUT);
  CHECK(r.status().message().find("3 attempt(s) of 100 ms") != std::string::npos);
  CHECK(ms >= 300);
  CHECK(ms < 1500);
  BusStats st = a->Stats();
  CHECK(st.requests_sent == 3);
  CHECK(st.retries == 2);
  CHECK(st.timeouts == 1);
}

TEST_CASE("bus: a retry succeeds when the peer comes up late") {
  Cluster c;
  auto a = c.Start("a", NewKeys());
  CurveKeyPair kb = NewKeys();
  std::string endpoint = FreeEndpoint();
  REQUIRE(c.dir->Put({"b", endpoint, kb.public_key}).ok());
  std::unique_ptr<ZmqBus> b;
  std::thread later([&] {
    std::this_thread::sleep_for(400ms);
    b = c.Start("b", kb, {{"echo", Echo}}, endpoint);
  });
  auto start = Clock::now();
  auto r = a->Request("b", "echo", {{"k", "v"}}, 250ms, 12);
  long ms = Millis(Clock::now() - start);
  later.join();
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->at("body") == Json{{"k", "v"}});
  CHECK(ms >= 400);
  CHECK(a->Stats().retries >= 1);
}

TEST_CASE("bus: a node whose key is not in the directory is refused and counted") {
  Cluster c;
  std::atomic<int> served{0};
  auto a = c.Start("a", NewKeys(), {{"echo", [&](const std::string& f, const Json& b) {
                                       served++;
                                       return Echo(f, b);
                                     }}});
  // c knows a, but a's directory does not know c.
  CurveKeyPair kc = NewKeys();
  auto cdir = std::make_shared<InMemoryPeerDirectory>();
  REQUIRE(cdir->Put(*c.dir->Lookup("a")).ok());
  ZmqBusOptions o;
  o.node = "c";
  o.keys = kc;
  o.bind_endpoint = "tcp://127.0.0.1:*";
  o.directory = cdir;
  auto cbus = ZmqBus::Start(std::move(o));
  REQUIRE(cbus.ok());
  auto r = (*cbus)->Request("a", "echo", {}, 200ms, 1);
  CHECK(r.status().code() == ETIMEDOUT);
  CHECK(served.load() == 0);
  CHECK(a->Stats().Dropped(DropReason::kUnauthenticated) >= 1);

  // Once registered (the cluster admits the node), the same key gets in.
  REQUIRE(c.dir->Put({"c", (*cbus)->endpoint(), kc.public_key}).ok());
  auto ok = (*cbus)->Request("a", "echo", {}, 300ms, 10);
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  CHECK(ok->at("from") == "c");
}

TEST_CASE("bus: a spoofed from is dropped and handlers see the authenticated node") {
  Cluster c;
  CurveKeyPair ka = NewKeys();
  auto a = c.Start("a", ka, {{"echo", Echo}});
  CurveKeyPair km = NewKeys();
  REQUIRE(c.dir->Put({"mallory", "tcp://127.0.0.1:9", km.public_key}).ok());
  REQUIRE(c.dir->Put({"b", "tcp://127.0.0.1:9", NewKeys().public_key}).ok());
  RawClient raw(km, ka.public_key, a->endpoint());

  raw.Send(RequestText("b", 1, "echo"));
  CHECK_FALSE(raw.Receive(300ms));
  CHECK(a->Stats().Dropped(DropReason::kFromMismatch) == 1);
  CHECK(a->Stats().requests_served == 0);

  raw.Send(RequestText("mallory", 2, "echo"));
  auto reply = raw.Receive(2000ms);
  REQUIRE(reply);
  auto m = ParseMessage(*reply);
  REQUIRE(m.ok());
  CHECK(m->type == MessageType::kReply);
  CHECK(m->id == 2);
  CHECK(m->from == "a");
  CHECK(m->body.at("from") == "mallory");

  // Removed from the directory: cut off at once, on the open connection.
  c.dir->Remove("mallory");
  raw.Send(RequestText("mallory", 3, "echo"));
  CHECK_FALSE(raw.Receive(300ms));
  CHECK(a->Stats().Dropped(DropReason::kUnauthenticated) == 1);
  CHECK(a->Stats().requests_served == 1);
}

TEST_CASE(
    "bus: malformed, oversized and unknown messages are dropped and counted as serving goes on") {
  Cluster c;
  CurveKeyPair ka = NewKeys();
  auto a = c.Start("a", ka, {{"echo", Echo}});
  CurveKeyPair km = NewKeys();
  REQUIRE(c.dir->Put({"m", "tcp://127.0.0.1:9", km.public_key}).ok());
  RawClient raw(km, ka.public_key, a->endpoint());

  raw.SendFrames({RequestText("m", 1, "echo"), "second frame"});
  raw.Send("this is not json");
  raw.Send(std::string(kMaxMessageBytes + 1, ' '));
  raw.Send(Json{{"v", 2}, {"id", 2}, {"type", "request"}, {"from", "m"}}.dump());
  raw.Send(std::string(1000, '[') + std::string(1000, ']'));
  raw.Send(R"({"v":1,"id":3,"type":"request","from":"m","body":{}})");
  raw.Send(R"({"v":1,"id":4,"type":"request","from":"m","method":"echo","body":{},"x":0})");
  raw.Send(R"({"v":1,"id":5,"type":"gossip","from":"m"})");
  raw.Send(R"({"v":1,"id":6,"type":"reply","from":"m","body":{}})");
  raw.Send(R"({"v":1,"id":7,"type":"notify","from":"m","method":"nosuch","body":{}})");
  raw.Send("");
  raw.Send(RequestText("m", 8, "echo", {{"still", "here"}}));

  auto reply = raw.Receive(3000ms);
  REQUIRE(reply);
  auto m = ParseMessage(*reply);
  REQUIRE(m.ok());
  CHECK(m->id == 8);
  CHECK(m->body.at("body") == Json{{"still", "here"}});
  CHECK(WaitFor([&] { return a->Stats().Dropped(DropReason::kUnknownMethod) == 1; }));
  BusStats st = a->Stats();
  CHECK(st.Dropped(DropReason::kBadFrames) == 1);
  CHECK(st.Dropped(DropReason::kBadJson) == 2);
  CHECK(st.Dropped(DropReason::kTooLarge) == 1);
  CHECK(st.Dropped(DropReason::kBadVersion) == 1);
  CHECK(st.Dropped(DropReason::kTooDeep) == 1);
  CHECK(st.Dropped(DropReason::kMissingField) == 1);
  CHECK(st.Dropped(DropReason::kUnknownField) == 1);
  CHECK(st.Dropped(DropReason::kUnknownType) == 1);
  CHECK(st.Dropped(DropReason::kUnexpectedType) == 1);
  CHECK(st.DroppedTotal() == 11);
  CHECK(st.requests_served == 1);
  // Nothing else came back: drops are silent.
  CHECK_FALSE(raw.Receive(100ms));
}

TEST_CASE("bus: replies are checked: wrong sender, duplicates and garbage are dropped") {
  Cluster c;
  auto a = c.Start("a", NewKeys());
  // A hand-driven server holding b's keys, standing in for node b.
  CurveKeyPair kb = NewKeys();
  zmq::context_t ctx;
  zmq::socket_t server(ctx, zmq::socket_type::router);
  server.set(zmq::sockopt::linger, 0);
  server.set(zmq::sockopt::curve_server, true);
  server.set(zmq::sockopt::curve_secretkey, kb.secret_key);
  server.bind("tcp://127.0.0.1:*");
  REQUIRE(c.dir->Put({"b", server.get(zmq::sockopt::last_endpoint), kb.public_key}).ok());

  std::optional<Result<Json>> result;
  std::thread caller([&] { result = a->Request("b", "m", {}, 3000ms, 0); });
  std::vector<zmq::message_t> req;
  server.set(zmq::sockopt::rcvtimeo, 3000);
  REQUIRE(zmq::recv_multipart(server, std::back_inserter(req)));
  REQUIRE(req.size() == 2);
  auto m = ParseMessage(req[1].to_string_view());
  REQUIRE(m.ok());
  auto send = [&](const std::string& payload) {
    std::array<zmq::const_buffer, 2> frames = {zmq::buffer(req[0].to_string_view()),
                                               zmq::buffer(payload)};
    REQUIRE(zmq::send_multipart(server, frames));
  };
  auto reply = [&](const std::string& from, uint64_t id) {
    return Json{{"v", 1}, {"id", id}, {"type", "reply"}, {"from", from}, {"body", {{"n", 1}}}}
        .dump();
  };
  send(reply("c", m->id));         // claims to be another node
  send(reply("b", m->id + 1000));  // nobody asked
  send("{garbage");
  send(RequestText("b", 77, "m"));  // a request on the client side
  send(reply("b", m->id));          // the real one
  send(reply("b", m->id));          // a duplicate
  caller.join();
  REQUIRE(result);
  REQUIRE(result->ok());
  CHECK(result->value() == Json{{"n", 1}});
  CHECK(WaitFor([&] { return a->Stats().Dropped(DropReason::kUnexpectedReply) == 2; }));
  BusStats st = a->Stats();
  CHECK(st.Dropped(DropReason::kFromMismatch) == 1);
  CHECK(st.Dropped(DropReason::kBadJson) == 1);
  CHECK(st.Dropped(DropReason::kUnexpectedType) == 1);
  CHECK(st.replies_received == 1);
}

TEST_CASE(
    "bus: a late reply is dropped and a reply to an earlier attempt completes a retried call") {
  Cluster c;
  auto a = c.Start("a", NewKeys());
  auto b = c.Start("b", NewKeys(), {{"slow", [](const std::string& f, const Json& body) {
                                       std::this_thread::sleep_for(
                                           std::chrono::milliseconds(body.at("ms").get<int>()));
                                       return Echo(f, body);
                                     }}});
  auto r = a->Request("b", "slow", {{"ms", 300}}, 100ms, 0);
  CHECK(r.status().code() == ETIMEDOUT);
  CHECK(WaitFor([&] { return a->Stats().Dropped(DropReason::kUnexpectedReply) == 1; }));

  // Attempt 1 is answered at ~200 ms, during attempt 2: same id, so it
  // completes the call.
  r = a->Request("b", "slow", {{"ms", 200}}, 150ms, 2);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(a->Stats().retries >= 1);
  CHECK(a->Stats().replies_received == 1);
  // Attempt 2's answer comes later and is the duplicate.
  CHECK(WaitFor([&] { return a->Stats().Dropped(DropReason::kUnexpectedReply) >= 2; }));
}

TEST_CASE("bus: concurrent requests from several threads each get their own reply") {
  Cluster c;
  auto a = c.Start("a", NewKeys());
  auto b = c.Start("b", NewKeys(), {{"echo", Echo}});
  constexpr int kThreads = 8, kEach = 50;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; i++) {
        Json body = {{"t", t}, {"i", i}};
        auto r = a->Request("b", "echo", body, 3000ms, 0);
        if (r.ok() && r->at("body") == body) good++;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(good.load() == kThreads * kEach);
  CHECK(a->Stats().replies_received == kThreads * kEach);
  CHECK(a->Stats().DroppedTotal() == 0);
}

TEST_CASE("bus: requests with bad arguments fail before anything is sent") {
  Cluster c;
  auto a = c.Start("a", NewKeys());
  CHECK(a->Request("nobody", "echo", {}, 100ms, 0).status().code() == ENOENT);
  CHECK(a->Request("a", "Bad Method", {}, 100ms, 0).status().code() == EINVAL);
  CHECK(a->Request("a", "echo", Json::array(), 100ms, 0).status().code() == EINVAL);
  CHECK(a->Request("a", "echo", {}, 0ms, 0).status().code() == EINVAL);
  CHECK(a->Request("a", "echo", {}, 100ms, -1).status().code() == EINVAL);
  Json big = {{"blob", std::string(kMaxMessageBytes, 'x')}};
  CHECK(a->Request("a", "echo", big, 100ms, 0).status().code() == EMSGSIZE);
  CHECK(a->Notify("a", "echo", big).code() == EMSGSIZE);
  CHECK(a->Notify("nobody", "echo", {}).code() == ENOENT);
  CHECK(a->Stats().requests_sent == 0);
  // A node may talk to itself (the coordinator is also a node).
  REQUIRE(a->Handle("echo", Echo).ok());
  CHECK(a->Request("a", "echo", {}, 2000ms, 0).ok());
}

TEST_CASE("bus: start refuses bad options") {
  auto dir = std::make_shared<InMemoryPeerDirectory>();
  CurveKeyPair k = NewKeys();
  auto opts = [&] {
    ZmqBusOptions o;
    o.node = "a";
    o.keys = k;
    o.bind_endpoint = "tcp://127.0.0.1:*";
    o.directory = dir;
    return o;
  };
  auto o = opts();
  o.node = "not a name";
  CHECK(ZmqBus::Start(o).status().code() == EINVAL);
  o = opts();
  o.directory = nullptr;
  CHECK(ZmqBus::Start(o).status().code() == EINVAL);
  o = opts();
  o.keys.public_key = NewKeys().public_key;
  CHECK(ZmqBus::Start(o).status().code() == EINVAL);
  o = opts();
  o.handler_threads = 0;
  CHECK(ZmqBus::Start(o).status().code() == EINVAL);
  o = opts();
  o.handlers["Bad"] = Echo;
  CHECK(ZmqBus::Start(o).status().code() == EINVAL);
  o = opts();
  o.bind_endpoint = "bogus://x";
  CHECK_FALSE(ZmqBus::Start(o).ok());
  REQUIRE(dir->Put({"a", "tcp://127.0.0.1:9", NewKeys().public_key}).ok());
  CHECK(ZmqBus::Start(opts()).status().code() == EINVAL);  // directory has another key
  dir->Remove("a");
  auto first = ZmqBus::Start(opts());
  REQUIRE(first.ok());
  o = opts();
  o.bind_endpoint = (*first)->endpoint();
  CHECK(ZmqBus::Start(o).status().code() == EADDRINUSE);
}

TEST_CASE("bus: destruction is prompt with messages queued for a dead peer") {
  Cluster c;
  auto a = c.Start("a", NewKeys());
  REQUIRE(c.dir->Put({"b", FreeEndpoint(), NewKeys().public_key}).ok());
  for (int i = 0; i < 500; i++) REQUIRE(a->Notify("b", "heartbeat", {{"i", i}}).ok());
  CHECK(WaitFor([&] { return a->Stats().send_failures > 0; }));  // queue bound hit
  auto start = Clock::now();
  a.reset();
  CHECK(Millis(Clock::now() - start) < 500);
}

}  // namespace
}  // namespace keel::bus
