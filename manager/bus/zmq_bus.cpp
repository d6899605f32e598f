#include "manager/bus/zmq_bus.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <system_error>
#include <zmq_addon.hpp>

#include "manager/config/config.h"
#include "manager/log/log.h"

namespace keel::bus {
namespace {

// The ZAP endpoint is fixed by the ZAP RFC (27/ZAP); each bus has its own
// context, so each has its own handler.
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr const char* kZapDomain = "keel";
// Messages queued for one peer while it is unreachable.  Small: a peer
// that is down gets stale requests and heartbeats on return, and retries
// resend anyway.
constexpr int kPeerSendQueue = 100;
// ZeroMQ reconnects to a lost peer after 100 ms, backing off to 1 s.
constexpr int kReconnectMs = 100;
constexpr int kReconnectMaxMs = 1000;
// Messages taken from one socket before looking at the others (fairness).
constexpr int kReceiveBatch = 256;
constexpr size_t kMaxHandlerThreads = 64;

// The connection property that carries the client's Z85 public key.
constexpr const char* kKeyProperty = "X-Curve-Key";

std::string CurveKeyProperty(const zmq::message_t& key) {
  char z85[kZ85KeyLength + 1];
  zmq_z85_encode(z85, key.data<uint8_t>(), 32);
  std::string name = kKeyProperty;
  std::string out;
  out += static_cast<char>(name.size());
  out += name;
  uint32_t len = kZ85KeyLength;
  out += static_cast<char>((len >> 24) & 0xff);
  out += static_cast<char>((len >> 16) & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  out += static_cast<char>(len & 0xff);
  out.append(z85, kZ85KeyLength);
  return out;
}

bool IsPowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

Status ZmqError(const zmq::error_t& e, const std::string& what) {
  return Status::Error(e.num() != 0 ? e.num() : EIO, what + ": " + e.what());
}

}  // namespace

Result<std::unique_ptr<ZmqBus>> ZmqBus::Start(ZmqBusOptions options) {
  Status s = ValidateName("bus node name", options.node);
  if (!s.ok()) return s;
  if (!options.directory) return Status::Error(EINVAL, "bus needs a peer directory");
  auto pub = CurvePublicKey(options.keys.secret_key);
  if (!pub.ok()) return Status::Error(EINVAL, "bus secret key: " + pub.status().message());
  if (*pub != options.keys.public_key) {
    return Status::Error(EINVAL, "bus public key does not belong to the secret key");
  }
  if (auto self = options.directory->Lookup(options.node);
      self && self->public_key != options.keys.public_key) {
    // Peers would take everything we send as spoofed.
    return Status::Error(EINVAL, "the peer directory lists node " + options.node +
                                     " with another public key than this node's key");
  }
  if (options.handler_threads < 1 ||
      static_cast<size_t>(options.handler_threads) > kMaxHandlerThreads) {
    return Status::Error(EINVAL,
                         "bus handler_threads must be 1.." + std::to_string(kMaxHandlerThreads));
  }
  if (options.max_queued == 0) return Status::Error(EINVAL, "bus max_queued must not be 0");
  if (options.max_message_bytes == 0 || options.max_message_bytes > kMaxMessageBytes * 64) {
    return Status::Error(EINVAL, "bus max_message_bytes is out of range");
  }

  for (const auto& [method, handler] : options.handlers) {
    s = ValidateMethod(method);
    if (!s.ok()) return s;
    if (!handler) return Status::Error(EINVAL, "no handler given for method '" + method + "'");
  }

  std::unique_ptr<ZmqBus> bus;
  try {
    bus.reset(new ZmqBus(std::move(options)));
  } catch (const zmq::error_t& e) {
    return ZmqError(e, "cannot create the bus's sockets");
  }
  s = bus->Bind();
  if (!s.ok()) return s;
  try {
    bus->io_thread_ = std::thread(&ZmqBus::IoLoop, bus.get());
    for (int i = 0; i < bus->options_.handler_threads; i++) {
      bus->workers_.emplace_back(&ZmqBus::WorkerLoop, bus.get());
    }
  } catch (const std::system_error& e) {
    // The destructor stops whatever threads did start.
    return Status::Error(e.code().value() > 0 ? e.code().value() : EAGAIN,
                         std::string("cannot start the bus's threads: ") + e.what());
  }
  KLOG(kInfo, "bus listening", {{"node", bus->options_.node}, {"endpoint", bus->endpoint_}});
  return bus;
}

ZmqBus::ZmqBus(ZmqBusOptions options)
    : options_(std::move(options)),
      router_(ctx_, zmq::socket_type::router),
      zap_(ctx_, zmq::socket_type::rep),
      handlers_(options_.handlers) {}

ZmqBus::~ZmqBus() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  reply_cv_.notify_all();
  if (io_thread_.joinable()) {
    Wake();
    io_thread_.join();
  }
  {
    std::lock_guard lock(work_mu_);
    workers_stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

Status ZmqBus::Bind() {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Status::Error(errno, "cannot create the bus's eventfd");
  try {
    // The ZAP handler is bound before the ROUTER: libzmq admits every
    // CURVE client when no handler is bound, so this order fails closed.
    zap_.set(zmq::sockopt::linger, 0);
    zap_.bind(kZapEndpoint);
    router_.set(zmq::sockopt::linger, 0);
    router_.set(zmq::sockopt::curve_server, true);
    router_.set(zmq::sockopt::curve_publickey, options_.keys.public_key);
    router_.set(zmq::sockopt::curve_secretkey, options_.keys.secret_key);
    router_.set(zmq::sockopt::zap_domain, kZapDomain);
    router_.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options_.max_message_bytes * 16));
    router_.bind(options_.bind_endpoint);
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return ZmqError(e, "cannot bind the bus at '" + options_.bind_endpoint + "'");
  }
  return Status();
}

Status ZmqBus::Handle(const std::string& method, Handler handler) {
  Status s = ValidateMethod(method);
  if (!s.ok()) return s;
  if (!handler) return Status::Error(EINVAL, "no handler given for method '" + method + "'");
  std::lock_guard lock(handlers_mu_);
  if (!handlers_.emplace(method, std::move(handler)).second) {
    return Status::Error(EEXIST, "method '" + method + "' already has a handler");
  }
  return Status();
}

Result<Json> ZmqBus::Request(const std::string& node, const std::string& method, const Json& body,
                             std::chrono::milliseconds timeout, int retries) {
  Status s = ValidateMethod(method);
  if (!s.ok()) return s;
  if (timeout.count() <= 0) return Status::Error(EINVAL, "request timeout must be positive");
  if (retries < 0) return Status::Error(EINVAL, "request retries must not be negative");
  auto peer = options_.directory->Lookup(node);
  if (!peer) return Status::Error(ENOENT, "node '" + node + "' is not in the peer directory");
  Message m;
  m.id = next_id_++;
  m.type = MessageType::kRequest;
  m.from = options_.node;
  m.method = method;
  // `{}` in C++ makes a JSON null; take it as the empty object it means.
  m.body = body.is_null() ? Json::object() : body;
  auto bytes = SerializeMessage(m, options_.max_message_bytes);
  if (!bytes.ok()) return bytes.status();

  auto pending = std::make_shared<Pending>();
  pending->node = node;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status::Error(ESHUTDOWN, "the bus is shutting down");
    pending_[m.id] = pending;
  }
  for (int attempt = 0; attempt <= retries; attempt++) {
    Enqueue(Outgoing{*peer, "", *bytes});
    Count([&](BusStats& st) {
      st.requests_sent++;
      if (attempt > 0) st.retries++;
    });
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mu_);
    reply_cv_.wait_until(lock, deadline, [&] { return pending->result || stopping_; });
    if (pending->result) return std::move(*pending->result);
    if (stopping_) {
      pending_.erase(m.id);
      return Status::Error(ESHUTDOWN, "the bus is shutting down");
    }
  }
  {
    std::lock_guard lock(mu_);
    // A reply may have landed between the last wait and here.
    if (pending->result) return std::move(*pending->result);
    pending_.erase(m.id);
  }
  Count([](BusStats& st) { st.timeouts++; });
  return Status::Error(ETIMEDOUT, "no reply from node '" + node + "' to '" + method + "' after " +
                                      std::to_string(retries + 1) + " attempt(s) of " +
                                      std::to_string(timeout.count()) + " ms");
}

Status ZmqBus::Notify(const std::string& node, const std::string& method, const Json& body) {
  auto peer = options_.directory->Lookup(node);
  if (!peer) return Status::Error(ENOENT, "node '" + node + "' is not in the peer directory");
  Message m;
  m.id = next_id_++;
  m.type = MessageType::kNotify;
  m.from = options_.node;
  m.method = method;
  // `{}` in C++ makes a JSON null; take it as the empty object it means.
  m.body = body.is_null() ? Json::object() : body;
  auto bytes = SerializeMessage(m, options_.max_message_bytes);
  if (!bytes.ok()) return bytes.status();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status::Error(ESHUTDOWN, "the bus is shutting down");
  }
  Enqueue(Outgoing{*peer, "", *bytes, /*notify=*/true});
  Count([](BusStats& st) { st.notifies_sent++; });
  return Status();
}

BusStats ZmqBus::Stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

void ZmqBus::Enqueue(Outgoing out) {
  {
    std::lock_guard lock(mu_);
    outbox_.push_back(std::move(out));
  }
  Wake();
}

void ZmqBus::Wake() {
  uint64_t one = 1;
  // Cannot fail short of the counter overflowing 2^64-2 wakes.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void ZmqBus::Drop(DropReason reason, const std::string& detail) {
  uint64_t n = 0;
  Count([&](BusStats& st) { n = ++st.dropped[static_cast<size_t>(reason)]; });
  // Every drop is counted; the log gets the 1st, 2nd, 4th, 8th... of each
  // reason, so a flood cannot flood the journal.
  LogLevel level = IsPowerOfTwo(n) ? LogLevel::kWarning : LogLevel::kDebug;
  Log(level, "bus message dropped",
      {{"node", options_.node},
       {"reason", DropReasonName(reason)},
       {"detail", detail},
       {"count", std::to_string(n)}});
}

void ZmqBus::IoLoop() {
  std::vector<zmq::pollitem_t> items;
  std::vector<Dealer*> polled;
  for (;;) {
    items.clear();
    polled.clear();
    items.push_back({nullptr, wake_fd_, ZMQ_POLLIN, 0});
    items.push_back({zap_.handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({router_.handle(), 0, ZMQ_POLLIN, 0});
    for (auto& [name, dealer] : dealers_) {
      items.push_back({dealer.socket.handle(), 0, ZMQ_POLLIN, 0});
      items.push_back({dealer.monitor.handle(), 0, ZMQ_POLLIN, 0});
      polled.push_back(&dealer);
    }
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(-1));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      KLOG(kError, "bus poll failed; the bus stops", {{"error", e.what()}});
      break;
    }
    try {
      if (items[1].revents & ZMQ_POLLIN) ServeZap();
      if (items[2].revents & ZMQ_POLLIN) ReceiveFromRouter();
      for (size_t i = 0; i < polled.size(); i++) {
        if (items[3 + 2 * i].revents & ZMQ_POLLIN) ReceiveFromDealer(*polled[i]);
        if (items[4 + 2 * i].revents & ZMQ_POLLIN) ReadMonitor(*polled[i]);
      }
      if (items[0].revents & ZMQ_POLLIN) {
        uint64_t count;
        [[maybe_unused]] ssize_t n = read(wake_fd_, &count, sizeof(count));
        {
          std::lock_guard lock(mu_);
          if (stopping_) break;
        }
        // Last: it may replace dealers that `polled` points to.
        SendQueued();
      }
    } catch (const zmq::error_t& e) {
      // Not expected (every call is non-blocking on sockets we own); log
      // and go on rather than take the node's bus down.
      KLOG(kError, "bus socket error", {{"error", e.what()}});
    }
  }
  dealers_.clear();
  router_.close();
  zap_.close();
}

void ZmqBus::SendQueued() {
  std::deque<Outgoing> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(outbox_);
  }
  for (const Outgoing& out : batch) {
    if (!out.routing_id.empty()) {
      std::array<zmq::const_buffer, 2> frames = {zmq::buffer(out.routing_id),
                                                 zmq::buffer(out.bytes)};
      // The requester may be gone (ROUTER drops silently); that is its
      // retry's business.
      if (!zmq::send_multipart(router_, frames, zmq::send_flags::dontwait)) {
        Count([](BusStats& st) { st.send_failures++; });
      }
    } else {
      SendToPeer(out);
    }
  }
}

void ZmqBus::SendToPeer(const Outgoing& out) {
  auto it = dealers_.find(out.peer.node);
  if (it != dealers_.end() && (it->second.failed || it->second.peer.endpoint != out.peer.endpoint ||
                               it->second.peer.public_key != out.peer.public_key)) {
    // Refused, moved or a new key: start over with what the directory says.
    dealers_.erase(it);
    it = dealers_.end();
  }
  if (it == dealers_.end()) {
    try {
      zmq::socket_t s(ctx_, zmq::socket_type::dealer);
      s.set(zmq::sockopt::linger, 0);
      s.set(zmq::sockopt::curve_serverkey, out.peer.public_key);
      s.set(zmq::sockopt::curve_publickey, options_.keys.public_key);
      s.set(zmq::sockopt::curve_secretkey, options_.keys.secret_key);
      s.set(zmq::sockopt::sndhwm, kPeerSendQueue);
      s.set(zmq::sockopt::reconnect_ivl, kReconnectMs);
      s.set(zmq::sockopt::reconnect_ivl_max, kReconnectMaxMs);
      s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options_.max_message_bytes * 16));
      // The monitor tells us when the peer refuses the handshake.
      std::string monitor_endpoint = "inproc://keel-bus-monitor-" + std::to_string(++monitors_);
      if (zmq_socket_monitor(s.handle(), monitor_endpoint.c_str(),
                             ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0) {
        throw zmq::error_t();
      }
      zmq::socket_t monitor(ctx_, zmq::socket_type::pair);
      monitor.set(zmq::sockopt::linger, 0);
      monitor.connect(monitor_endpoint);
      s.connect(out.peer.endpoint);
      it =
          dealers_.emplace(out.peer.node, Dealer{out.peer, std::move(s), std::move(monitor)}).first;
    } catch (const zmq::error_t& e) {
      Count([](BusStats& st) { st.send_failures++; });
      KLOG(kWarning, "bus cannot connect to node",
           {{"node", out.peer.node}, {"endpoint", out.peer.endpoint}, {"error", e.what()}});
      return;
    }
  }
  if (!it->second.socket.send(zmq::buffer(out.bytes), zmq::send_flags::dontwait)) {
    Count([](BusStats& st) { st.send_failures++; });
  }
}

void ZmqBus::ServeZap() {
  for (int i = 0; i < kReceiveBatch; i++) {
    std::vector<zmq::message_t> req;
    if (!zmq::recv_multipart(zap_, std::back_inserter(req), zmq::recv_flags::dontwait)) return;
    // 27/ZAP request: version, request id, domain, address, routing id,
    // mechanism, credentials (CURVE: the client's 32-byte public key).
    std::string status = "400", text = "key not in the peer directory", user;
    if (req.size() == 7 && req[0].to_string_view() == "1.0" &&
        req[2].to_string_view() == kZapDomain && req[5].to_string_view() == "CURVE" &&
        req[6].size() == 32) {
      char z85[kZ85KeyLength + 1];
      zmq_z85_encode(z85, req[6].data<uint8_t>(), 32);
      if (auto node = options_.directory->NodeForKey(z85)) {
        status = "200";
        text = "OK";
        user = *node;
      } else {
        Drop(DropReason::kUnauthenticated,
             "CURVE key " + std::string(z85) + " from " + req[3].to_string());
      }
    } else {
      status = "500";
      text = "malformed ZAP request";
      Drop(DropReason::kUnauthenticated, "malformed ZAP request");
    }
    std::string request_id = req.size() > 1 ? req[1].to_string() : "";
    // The key goes back as connection metadata (ZMTP property encoding:
    // name length, name, 32-bit big-endian value length, value), so each
    // message can be checked against the directory as it is now.
    std::string metadata;
    if (status == "200") metadata = CurveKeyProperty(req[6]);
    std::array<zmq::const_buffer, 6> reply = {zmq::str_buffer("1.0"), zmq::buffer(request_id),
                                              zmq::buffer(status),    zmq::buffer(text),
                                              zmq::buffer(user),      zmq::buffer(metadata)};
    zmq::send_multipart(zap_, reply);
  }
}

void ZmqBus::ReceiveFromRouter() {
  for (int i = 0; i < kReceiveBatch; i++) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(router_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
      return;
    }
    // ROUTER prepends the connection's routing id; a DEALER sends one frame.
    if (frames.size() != 2) {
      Drop(DropReason::kBadFrames, std::to_string(frames.size() - 1) + " payload frames");
      continue;
    }
    // The node name ZAP gave this connection from its CURVE key: the only
    // sender identity we trust.
    std::string user, key;
    try {
      user = frames[1].gets("User-Id");
      key = frames[1].gets(kKeyProperty);
    } catch (const zmq::error_t&) {
    }
    if (user.empty() || key.empty()) {
      Drop(DropReason::kUnauthenticated, "message without an authenticated node");
      continue;
    }
    // Admission was checked at the handshake; a node removed from the
    // directory (or given a new key) since then is cut off here, at its
    // next message, not when its connection happens to drop.
    if (options_.directory->NodeForKey(key) != user) {
      Drop(DropReason::kUnauthenticated, "node " + user + " is no longer a member with key " + key);
      continue;
    }
    DropReason reason{};
    auto m = ParseMessage(frames[1].to_string_view(), &reason, options_.max_message_bytes);
    if (!m.ok()) {
      Drop(reason, "from node " + user + ": " + m.status().message());
      continue;
    }
    if (m->type != MessageType::kRequest && m->type != MessageType::kNotify) {
      Drop(DropReason::kUnexpectedType,
           "a " + std::string(MessageTypeName(m->type)) + " from node " + user);
      continue;
    }
    if (m->from != user) {
      Drop(DropReason::kFromMismatch, "node " + user + " sent a message from '" + m->from + "'");
      continue;
    }
    Incoming in{frames[0].to_string(), std::move(*m)};
    bool queued = false;
    {
      std::lock_guard lock(work_mu_);
      if (work_.size() < options_.max_queued) {
        work_.push_back(std::move(in));
        queued = true;
      }
    }
    if (queued) {
      work_cv_.notify_one();
      continue;
    }
    Drop(DropReason::kOverloaded, "handler queue full; from node " + user);
    if (in.message.type == MessageType::kRequest) {
      Message busy;
      busy.id = in.message.id;
      busy.type = MessageType::kError;
      busy.from = options_.node;
      busy.error_code = EBUSY;
      busy.error_message = "node " + options_.node + " is overloaded; try again";
      auto bytes = SerializeMessage(busy);
      if (bytes.ok()) {
        std::array<zmq::const_buffer, 2> reply = {zmq::buffer(in.routing_id), zmq::buffer(*bytes)};
        zmq::send_multipart(router_, reply, zmq::send_flags::dontwait);
      }
    }
  }
}

void ZmqBus::ReceiveFromDealer(Dealer& dealer) {
  for (int i = 0; i < kReceiveBatch; i++) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(dealer.socket, std::back_inserter(frames),
                             zmq::recv_flags::dontwait)) {
      return;
    }
    const std::string& peer = dealer.peer.node;
    if (frames.size() != 1) {
      Drop(DropReason::kBadFrames, std::to_string(frames.size()) + " frames from node " + peer);
      continue;
    }
    DropReason reason{};
    auto m = ParseMessage(frames[0].to_string_view(), &reason, options_.max_message_bytes);
    if (!m.ok()) {
      Drop(reason, "from node " + peer + ": " + m.status().message());
      continue;
    }
    if (m->type != MessageType::kReply && m->type != MessageType::kError) {
      Drop(DropReason::kUnexpectedType,
           "a " + std::string(MessageTypeName(m->type)) + " from node " + peer);
      continue;
    }
    // This DEALER only accepts peer's CURVE server key, so whatever comes
    // on it is from peer, whatever it says.
    if (m->from != peer) {
      Drop(DropReason::kFromMismatch, "node " + peer + " sent a reply from '" + m->from + "'");
      continue;
    }
    OnReply(peer, std::move(*m));
  }
}

void ZmqBus::ReadMonitor(Dealer& dealer) {
  for (int i = 0; i < kReceiveBatch; i++) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(dealer.monitor, std::back_inserter(frames),
                             zmq::recv_flags::dontwait)) {
      return;
    }
    // Monitor event: frame 1 is a 16-bit event and a 32-bit value.
    if (frames.empty() || frames[0].size() < 6) continue;
    uint16_t event;
    uint32_t value;
    std::memcpy(&event, frames[0].data(), sizeof(event));
    std::memcpy(&value, frames[0].data<char>() + 2, sizeof(value));
    if (event & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)) {
      dealer.failed = true;
      uint64_t n = 0;
      Count([&](BusStats& st) { n = ++st.handshake_failures; });
      Log(IsPowerOfTwo(n) ? LogLevel::kWarning : LogLevel::kDebug,
          "bus handshake refused by node; reconnecting on the next message",
          {{"node", dealer.peer.node},
           {"endpoint", dealer.peer.endpoint},
           {"status", std::to_string(value)},
           {"count", std::to_string(n)}});
    }
  }
}

void ZmqBus::OnReply(const std::string& peer, Message m) {
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(m.id);
    if (it != pending_.end() && it->second->node == peer) {
      if (m.type == MessageType::kReply) {
        it->second->result = Result<Json>(std::move(m.body));
      } else {
        it->second->result =
            Result<Json>(Status::Error(m.error_code, "node " + peer + ": " + m.error_message));
      }
      // Removed now, so a second copy (an answered retry) counts as
      // unexpected below.
      pending_.erase(it);
      reply_cv_.notify_all();
      Count([](BusStats& st) { st.replies_received++; });
      return;
    }
  }
  Drop(DropReason::kUnexpectedReply,
       "reply " + std::to_string(m.id) + " from node " + peer + " that nobody waits for");
}

void ZmqBus::WorkerLoop() {
  for (;;) {
    Incoming in;
    {
      std::unique_lock lock(work_mu_);
      work_cv_.wait(lock, [&] { return workers_stop_ || !work_.empty(); });
      if (workers_stop_) return;
      in = std::move(work_.front());
      work_.pop_front();
    }
    Serve(std::move(in));
  }
}

void ZmqBus::Serve(Incoming in) {
  const Message& m = in.message;
  const bool is_request = m.type == MessageType::kRequest;
  if (!is_request) Count([](BusStats& st) { st.notifies_received++; });
  Handler handler;
  {
    std::lock_guard lock(handlers_mu_);
    auto it = handlers_.find(m.method);
    if (it != handlers_.end()) handler = it->second;
  }
  std::optional<Result<Json>> result;
  if (!handler) {
    Drop(DropReason::kUnknownMethod, "'" + m.method + "' from node " + m.from);
    if (!is_request) return;
    result = Status::Error(ENOSYS, "no method '" + m.method + "' on node " + options_.node);
  } else {
    // A throwing handler is a bug, but must not take the node down.
    try {
      result = handler(m.from, m.body);
    } catch (const std::exception& e) {
      result = Status::Error(EIO, "handler of '" + m.method + "' failed: " + e.what());
    } catch (...) {
      result = Status::Error(EIO, "handler of '" + m.method + "' failed");
    }
    if (!is_request) {
      if (!result->ok()) {
        KLOG(kDebug, "bus notification handler failed",
             {{"method", m.method}, {"from", m.from}, {"error", result->status().ToString()}});
      }
      return;
    }
    if (result->ok() && !result->value().is_object()) {
      result = Status::Error(EPROTO, "handler of '" + m.method + "' returned no JSON object");
    }
  }

  Message reply;
  reply.id = m.id;
  reply.from = options_.node;
  Result<std::string> bytes = Status::Error(EINVAL, "unset");
  if (result->ok()) {
    reply.type = MessageType::kReply;
    reply.body = std::move(*result).value();
    bytes = SerializeMessage(reply, options_.max_message_bytes);
    // A reply that cannot travel becomes an error that can.
    if (!bytes.ok()) result = Status::Error(bytes.status().code(), bytes.status().message());
  }
  if (!result->ok()) {
    reply.type = MessageType::kError;
    reply.body = Json::object();
    int code = result->status().code();
    reply.error_code = code > 0 && code <= 4095 ? code : EIO;
    reply.error_message = result->status().message().substr(0, 1024);
    bytes = SerializeMessage(reply, options_.max_message_bytes);
    if (!bytes.ok()) {
      reply.error_message = "handler error message cannot be encoded (not UTF-8?)";
      bytes = SerializeMessage(reply, options_.max_message_bytes);
    }
  }
  if (!bytes.ok()) return;  // cannot happen: the error reply above always encodes
  // Counted before the reply leaves, so a caller that has its reply sees it.
  Count([](BusStats& st) { st.requests_served++; });
  Enqueue(Outgoing{PeerInfo{}, std::move(in.routing_id), std::move(*bytes)});
}

}  // namespace keel::bus
