// NetlinkKernelClient: KernelClient over the generic-netlink family "keel"
// with libnl-genl-3.  One socket per client; not thread-safe (use one client
// per thread).  Every request has a timeout; kernel errors come back as a
// Status carrying the errno and the kernel's extended-ack message.
//
// NetlinkEventListener: KernelEventSource on its own socket, a member of the
// family's "events" multicast group.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "manager/common/status.h"
#include "manager/kernel/kernel_client.h"

struct nl_sock;
struct nl_msg;
struct nlattr;
struct nlmsghdr;
struct nla_policy;

namespace keel {

class NetlinkKernelClient : public KernelClient {
 public:
  // Connects and resolves the family.  Fails with a message telling the
  // user what to do when the module is not loaded or they are not root.
  static Result<std::unique_ptr<NetlinkKernelClient>> Connect(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The same client for any generic-netlink family: requests carry
  // `version`, replies are parsed against `policy` (maxattr + 1 entries, or
  // null for none).  Connect() is this for "keel"; tests use it with the
  // controller family "nlctrl", which every kernel has.
  static Result<std::unique_ptr<NetlinkKernelClient>> ConnectFamily(
      const std::string& name, uint8_t version, int maxattr, const nla_policy* policy,
      std::chrono::milliseconds timeout);
  ~NetlinkKernelClient() override;

  Result<ModuleInfo> GetInfo() override;
  Result<VolumeStatus> CreateVolume(const CreateVolumeRequest& req) override;
  Status DeleteVolume(uint32_t id, bool force) override;
  Result<VolumeStatus> AttachVolume(uint32_t id) override;
  Status DetachVolume(uint32_t id, bool force) override;
  Result<VolumeStatus> GetVolume(uint32_t id) override;
  Result<std::vector<VolumeStatus>> ListVolumes() override;
  Result<VolumeStatus> SetVolume(uint32_t id, const SetVolumeRequest& req) override;
  Status ListenStart(uint32_t id, const std::string& addr, uint16_t port) override;
  Status ListenStop(uint32_t id) override;
  Status PeerAdd(uint32_t id, uint32_t slot, const std::string& addr, uint16_t port,
                 const std::string& name, PeerSync sync) override;
  Status PeerRemove(uint32_t id, uint32_t slot) override;
  Status PeerOutdate(uint32_t id, uint32_t slot, uint64_t epoch) override;

  // Parsed attributes of one reply message, indexed by attribute number.
  using Attrs = std::vector<nlattr*>;
  using BuildFn = std::function<Status(nl_msg*)>;
  using ReplyFn = std::function<Status(const Attrs&)>;
  // Sends command `cmd` with attributes added by `build` and calls `on_reply`
  // for every reply message (several for dumps: flags NLM_F_DUMP) until the
  // kernel's ack or, for dumps, NLMSG_DONE.
  Status Transact(uint8_t cmd, int flags, const BuildFn& build, const ReplyFn& on_reply);

 private:
  NetlinkKernelClient(nl_sock* sock, int family, uint8_t version, int maxattr,
                      const nla_policy* policy)
      : sock_(sock), family_(family), version_(version), maxattr_(maxattr), policy_(policy) {}
  // A request carrying VOLUME_ID and, if not 0, FLAGS.
  static BuildFn IdRequest(uint32_t id, uint32_t flags);
  // A request on one volume whose reply is the volume's status.
  Result<VolumeStatus> VolumeCommand(uint8_t cmd, uint32_t id, const std::string& what);

  nl_sock* sock_;
  int family_;
  uint8_t version_;
  int maxattr_;
  const nla_policy* policy_;
};

class NetlinkEventListener : public KernelEventSource {
 public:
  // Joins the "events" group of the family "keel".
  static Result<std::unique_ptr<NetlinkEventListener>> Connect();
  ~NetlinkEventListener() override;

  Result<std::optional<KernelEvent>> Next(std::chrono::milliseconds timeout) override;

 private:
  NetlinkEventListener(nl_sock* sock, int family) : sock_(sock), family_(family) {}
  // Reads what the socket holds now into pending_.
  Status ReadAvailable();

  nl_sock* sock_;
  int family_;
  std::deque<KernelEvent> pending_;
};

// The parsing of keel.ko's messages, shared by the classes above and
// exposed for tests.  ParseKeelMessage checks a generic-netlink message of
// the family against the reply policy and fills `attrs` (KEEL_ATTR_MAX + 1
// entries, null where absent).  The *FromAttrs functions refuse replies that
// lack required attributes, naming what is missing.
Status ParseKeelMessage(nlmsghdr* hdr, NetlinkKernelClient::Attrs* attrs);
Result<ModuleInfo> ModuleInfoFromAttrs(const NetlinkKernelClient::Attrs& a);
Result<VolumeStatus> VolumeStatusFromAttrs(const NetlinkKernelClient::Attrs& a);
Result<KernelEvent> KernelEventFromAttrs(const NetlinkKernelClient::Attrs& a);
// One nested KEEL_ATTR_PEER / KEEL_ATTR_TARGET (unknown attributes ignored).
Result<PeerStatus> PeerStatusFromAttr(nlattr* nested);
Result<TargetStatus> TargetStatusFromAttr(nlattr* nested);

// The attributes of requests, exposed for tests.  They check what the
// module would refuse anyway (slot range, secret length, address syntax) so
// that the error names the argument, and add nothing on error.
Status BuildCreateVolume(nl_msg* m, const CreateVolumeRequest& req);
Status BuildSetVolume(nl_msg* m, uint32_t id, const SetVolumeRequest& req);
Status BuildListenStart(nl_msg* m, uint32_t id, const std::string& addr, uint16_t port);
Status BuildPeerAdd(nl_msg* m, uint32_t id, uint32_t slot, const std::string& addr, uint16_t port,
                    const std::string& name, PeerSync sync);
// VOLUME_ID and PEER_SLOT, and EPOCH if set: PEER_REMOVE and PEER_OUTDATE.
Status BuildPeerSlot(nl_msg* m, uint32_t id, uint32_t slot, std::optional<uint64_t> epoch);

}  // namespace keel
