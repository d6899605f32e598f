// The bus between keelds: requests with replies, and one-way notifications,
// addressed by node name, carried in the envelope of message.h
// (docs/bus.md).  ZmqBus (zmq_bus.h) is the implementation.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "manager/bus/message.h"
#include "manager/common/status.h"

namespace keel::bus {

// Serves one method.  `from` is the sender's node name as authenticated by
// its CURVE key (never the envelope's claim).  The body returned becomes
// the reply (it must be a JSON object); an error travels back to the
// caller as its code and message.  For a notification the result is
// dropped.  Handlers run on the bus's handler threads, concurrently with
// each other; a request can arrive more than once (retries), so a handler
// must be idempotent.  A handler may call Request on the same bus.
using Handler = std::function<Result<Json>(const std::string& from, const Json& body)>;

// Counters since the bus started.
struct BusStats {
  std::array<uint64_t, kDropReasonCount> dropped{};  // indexed by DropReason
  uint64_t requests_sent = 0;                        // attempts put on the wire, retries included
  uint64_t retries = 0;                              // attempts after the first
  uint64_t timeouts = 0;                             // Request calls that ended in ETIMEDOUT
  uint64_t replies_received = 0;                     // replies and error replies matched to a call
  uint64_t requests_served = 0;                      // requests answered (reply or error)
  uint64_t notifies_sent = 0;
  uint64_t notifies_received = 0;
  uint64_t send_failures = 0;       // could not queue a message (peer's queue full)
  uint64_t handshake_failures = 0;  // a peer refused our CURVE handshake

  uint64_t Dropped(DropReason reason) const { return dropped[static_cast<size_t>(reason)]; }
  uint64_t DroppedTotal() const;
  // {"requests_sent":..., ..., "dropped":{"bad_json":0, ...}}
  Json ToJson() const;
};

class Bus {
 public:
  virtual ~Bus() = default;

  // This node's name: the "from" of everything it sends.
  virtual const std::string& node() const = 0;

  // Registers the handler of `method` (EINVAL for a bad name, EEXIST if
  // one is registered).  May be called while the bus runs.
  virtual Status Handle(const std::string& method, Handler handler) = 0;

  // Sends a request to `node` and waits for its reply body.  Each attempt
  // waits `timeout`; after that the same request (same id, so whichever
  // copy is answered first completes the call) is sent again, up to
  // `retries` more times.  Errors: ETIMEDOUT if no attempt was answered,
  // ENOENT for a node not in the peer directory, EINVAL/EMSGSIZE for a
  // request that cannot be sent, ESHUTDOWN if the bus stops meanwhile, or
  // the error the remote handler returned (ENOSYS: no such method there).
  // `body` must be an object; null (what `{}` makes in C++) is taken as
  // the empty object.  Thread-safe; may be called from any number of
  // threads.
  virtual Result<Json> Request(const std::string& node, const std::string& method, const Json& body,
                               std::chrono::milliseconds timeout, int retries) = 0;

  // Queues a one-way message (heartbeats, reports); no reply, no retry.
  // Ok means queued, not delivered.
  virtual Status Notify(const std::string& node, const std::string& method, const Json& body) = 0;

  virtual BusStats Stats() const = 0;
};

}  // namespace keel::bus
