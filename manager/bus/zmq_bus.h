// The bus on ZeroMQ (cppzmq), CURVE-encrypted and authenticated.
//
// Each node binds one ROUTER socket as a CURVE server; a ZAP handler on the
// bus's context admits only public keys that the PeerDirectory knows, and
// names the connection after that key's node.  To reach node X the bus
// keeps one DEALER, a CURVE client pinned to X's server key, so a reply on
// it can only come from X.  One I/O thread owns every socket (ZeroMQ
// sockets are not thread-safe); handlers run on a small pool of handler
// threads so a slow handler never stalls the I/O, and may itself call
// Request.  Callers hand messages to the I/O thread through a queue and an
// eventfd; nothing polls on a timer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "manager/bus/bus.h"
#include "manager/bus/curve_keys.h"
#include "manager/bus/peer_directory.h"

namespace keel::bus {

struct ZmqBusOptions {
  std::string node;   // this node's name, as the directory lists it
  CurveKeyPair keys;  // this node's CURVE keypair
  // Where the ROUTER listens, e.g. "tcp://0.0.0.0:7790";
  // "tcp://127.0.0.1:*" takes a free port (see ZmqBus::endpoint()).
  std::string bind_endpoint;
  std::shared_ptr<const PeerDirectory> directory;
  // Handlers in place before the socket binds, so a request that arrives
  // the instant the bus is up never finds its method missing (ENOSYS).
  // More can be added later with Handle().
  std::map<std::string, Handler> handlers;
  int handler_threads = 2;
  // Requests and notifications waiting for a handler thread; beyond this
  // a request is answered EBUSY and a notification dropped (overloaded).
  size_t max_queued = 256;
  // Envelope size limit (message.h); bigger messages are dropped and
  // counted.  ZeroMQ itself disconnects a peer sending more than 16 times
  // this, so nobody can make the bus buffer unbounded frames.
  size_t max_message_bytes = kMaxMessageBytes;
};

class ZmqBus : public Bus {
 public:
  // Binds, starts the threads.  EINVAL for bad options, EADDRINUSE & co.
  // from the bind.
  static Result<std::unique_ptr<ZmqBus>> Start(ZmqBusOptions options);
  // Stops the threads and closes every socket (linger 0: unsent messages
  // are dropped).  Waits for running handlers to return.
  ~ZmqBus() override;

  ZmqBus(const ZmqBus&) = delete;
  ZmqBus& operator=(const ZmqBus&) = delete;

  // The endpoint actually bound ("tcp://127.0.0.1:41234").
  const std::string& endpoint() const { return endpoint_; }

  const std::string& node() const override { return options_.node; }
  Status Handle(const std::string& method, Handler handler) override;
  Result<Json> Request(const std::string& node, const std::string& method, const Json& body,
                       std::chrono::milliseconds timeout, int retries) override;
  Status Notify(const std::string& node, const std::string& method, const Json& body) override;
  BusStats Stats() const override;

 private:
  // A message for the I/O thread to send: to a peer's DEALER, or back
  // through the ROUTER to the connection a request came from.
  struct Outgoing {
    PeerInfo peer;           // set when sending to a peer
    std::string routing_id;  // set when replying through the ROUTER
    std::string bytes;
    bool notify = false;
  };
  // A request or notification waiting for a handler thread.
  struct Incoming {
    std::string routing_id;
    Message message;
  };
  // A Request call waiting for its reply.
  struct Pending {
    std::string node;
    std::optional<Result<Json>> result;
  };
  // The I/O thread's DEALER to one peer, and the PAIR socket that reads
  // its monitor events.
  struct Dealer {
    PeerInfo peer;
    zmq::socket_t socket;
    zmq::socket_t monitor;
    // The peer refused our handshake (our key not in its directory yet, or
    // a key mismatch).  libzmq never reconnects after that, so the next
    // send replaces this DEALER.
    bool failed = false;
  };

  explicit ZmqBus(ZmqBusOptions options);
  Status Bind();

  void IoLoop();
  void SendQueued();
  void SendToPeer(const Outgoing& out);
  void ServeZap();
  void ReceiveFromRouter();
  void ReceiveFromDealer(Dealer& dealer);
  void ReadMonitor(Dealer& dealer);
  void OnReply(const std::string& peer, Message message);
  void WorkerLoop();
  void Serve(Incoming incoming);

  void Enqueue(Outgoing out);
  void Wake();
  void Drop(DropReason reason, const std::string& detail);
  template <typename F>
  void Count(F&& f) {
    std::lock_guard lock(stats_mu_);
    f(stats_);
  }

  const ZmqBusOptions options_;
  std::string endpoint_;
  std::atomic<uint64_t> next_id_{1};
  uint64_t monitors_ = 0;  // I/O thread only: names the monitor endpoints

  // Declared before the sockets so it is destroyed after them.
  zmq::context_t ctx_;
  zmq::socket_t router_;
  zmq::socket_t zap_;
  int wake_fd_ = -1;
  std::map<std::string, Dealer> dealers_;  // I/O thread only

  std::mutex mu_;  // guards outbox_, pending_, stopping_
  std::condition_variable reply_cv_;
  std::deque<Outgoing> outbox_;
  std::map<uint64_t, std::shared_ptr<Pending>> pending_;
  bool stopping_ = false;

  std::mutex work_mu_;  // guards work_, workers_stop_
  std::condition_variable work_cv_;
  std::deque<Incoming> work_;
  bool workers_stop_ = false;

  std::mutex handlers_mu_;
  std::map<std::string, Handler> handlers_;

  mutable std::mutex stats_mu_;
  BusStats stats_;

  std::thread io_thread_;
  std::vector<std::thread> workers_;
};

}  // namespace keel::bus
