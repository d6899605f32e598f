// NetlinkKernelClient: KernelClient over the generic-netlink family "keel"
// with libnl-genl-3.  One socket per client; not thread-safe (use one client
// per thread).  Every request has a timeout; kernel errors come back as a
// Status carrying the errno and the kernel's extended-ack message.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "manager/common/status.h"
#include "manager/kernel/kernel_client.h"

struct nl_sock;
struct nl_msg;
struct nlattr;

namespace keel {

class NetlinkKernelClient : public KernelClient {
 public:
  // Connects and resolves the family.  Fails with a message telling the
  // user what to do when the module is not loaded or they are not root.
  static Result<std::unique_ptr<NetlinkKernelClient>> Connect(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~NetlinkKernelClient() override;

  Result<ModuleInfo> GetInfo() override;

  // Parsed attributes of one reply message, indexed by KEEL_ATTR_*.
  using Attrs = std::vector<nlattr*>;
  using BuildFn = std::function<Status(nl_msg*)>;
  using ReplyFn = std::function<Status(const Attrs&)>;
  // Sends command `cmd` with attributes added by `build` and calls `on_reply`
  // for every reply message (several for dumps) until the kernel's ack.
  Status Transact(uint8_t cmd, int flags, const BuildFn& build, const ReplyFn& on_reply);

 private:
  NetlinkKernelClient(nl_sock* sock, int family) : sock_(sock), family_(family) {}
  nl_sock* sock_;
  int family_;
};

}  // namespace keel
