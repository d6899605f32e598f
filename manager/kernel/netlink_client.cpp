#include "manager/kernel/netlink_client.h"

#include <linux/keel.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

namespace keel {
namespace {

// Policy used to parse replies: types must match what keel.ko sends.
nla_policy* ReplyPolicy() {
  static nla_policy policy[KEEL_ATTR_MAX + 1] = {};
  static bool init = [] {
    policy[KEEL_ATTR_VERSION].type = NLA_NUL_STRING;
    policy[KEEL_ATTR_API_VERSION].type = NLA_U32;
    policy[KEEL_ATTR_FEATURES].type = NLA_U64;
    policy[KEEL_ATTR_KERNEL_RELEASE].type = NLA_NUL_STRING;
    return true;
  }();
  (void)init;
  return policy;
}

struct TransactState {
  const NetlinkKernelClient::ReplyFn* on_reply;
  Status status;
  bool done = false;
  int kernel_error = 0;
  std::string extack;
};

int OnValid(nl_msg* msg, void* arg) {
  auto* st = static_cast<TransactState*>(arg);
  nlattr* tb[KEEL_ATTR_MAX + 1] = {};
  int err = genlmsg_parse(nlmsg_hdr(msg), 0, tb, KEEL_ATTR_MAX, ReplyPolicy());
  if (err < 0) {
    st->status =
        Status::Error(EPROTO, std::string("malformed reply from keel.ko: ") + nl_geterror(err));
    return NL_STOP;
  }
  if (st->status.ok() && *st->on_reply) {
    st->status = (*st->on_reply)(NetlinkKernelClient::Attrs(tb, tb + KEEL_ATTR_MAX + 1));
  }
  return NL_OK;
}

// Error and ack messages; extended-ack TLVs carry the kernel's message.
int OnError(sockaddr_nl*, nlmsgerr* e, void* arg) {
  auto* st = static_cast<TransactState*>(arg);
  st->kernel_error = -e->error;
  st->done = true;
  nlmsghdr* hdr = reinterpret_cast<nlmsghdr*>(e) - 1;
  if (hdr->nlmsg_flags & NLM_F_ACK_TLVS) {
    size_t off = sizeof(*e);
    if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - NLMSG_HDRLEN;
    int len = static_cast<int>(hdr->nlmsg_len) - NLMSG_HDRLEN - static_cast<int>(off);
    if (len > 0) {
      auto* attrs = reinterpret_cast<nlattr*>(reinterpret_cast<char*>(e) + off);
      nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
      if (nla_parse(tb, NLMSGERR_ATTR_MAX, attrs, len, nullptr) == 0 && tb[NLMSGERR_ATTR_MSG]) {
        st->extack = nla_get_string(tb[NLMSGERR_ATTR_MSG]);
      }
    }
  }
  return NL_STOP;
}

int OnAck(nl_msg*, void* arg) {
  static_cast<TransactState*>(arg)->done = true;
  return NL_STOP;
}

int OnFinish(nl_msg*, void* arg) {
  static_cast<TransactState*>(arg)->done = true;
  return NL_STOP;
}

}  // namespace

Result<std::unique_ptr<NetlinkKernelClient>> NetlinkKernelClient::Connect(
    std::chrono::milliseconds timeout) {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return Status::Error(ENOMEM, "cannot allocate a netlink socket");
  int err = genl_connect(sock);
  if (err < 0) {
    nl_socket_free(sock);
    return Status::Error(EIO,
                         std::string("cannot open a generic netlink socket: ") + nl_geterror(err));
  }
  int fd = nl_socket_get_fd(sock);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

  int family = genl_ctrl_resolve(sock, KEEL_GENL_NAME);
  if (family < 0) {
    nl_socket_free(sock);
    return Status::Error(ENOENT,
                         "the keel kernel module is not loaded (generic netlink family "
                         "'" KEEL_GENL_NAME "' not found); load it with: modprobe keel");
  }
  return std::unique_ptr<NetlinkKernelClient>(new NetlinkKernelClient(sock, family));
}

NetlinkKernelClient::~NetlinkKernelClient() { nl_socket_free(sock_); }

Status NetlinkKernelClient::Transact(uint8_t cmd, int flags, const BuildFn& build,
                                     const ReplyFn& on_reply) {
  nl_msg* msg = nlmsg_alloc();
  if (!msg) return Status::Error(ENOMEM, "cannot allocate a netlink message");
  if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family_, 0, flags | NLM_F_ACK, cmd,
                   KEEL_GENL_VERSION)) {
    nlmsg_free(msg);
    return Status::Error(ENOMEM, "cannot build a netlink message");
  }
  if (build) {
    Status s = build(msg);
    if (!s.ok()) {
      nlmsg_free(msg);
      return s;
    }
  }

  TransactState st;
  st.on_reply = &on_reply;
  nl_cb* cb = nl_cb_alloc(NL_CB_CUSTOM);
  nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, OnValid, &st);
  nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, OnAck, &st);
  nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, OnFinish, &st);
  nl_cb_err(cb, NL_CB_CUSTOM, OnError, &st);

  int err = nl_send_auto(sock_, msg);
  nlmsg_free(msg);
  if (err < 0) {
    nl_cb_put(cb);
    return Status::Error(EIO, std::string("cannot send to keel.ko: ") + nl_geterror(err));
  }
  while (!st.done) {
    err = nl_recvmsgs(sock_, cb);
    if (err < 0 && !st.done) {
      nl_cb_put(cb);
      if (err == -NLE_AGAIN) return Status::Error(ETIMEDOUT, "keel.ko did not answer in time");
      return Status::Error(EIO, std::string("netlink receive failed: ") + nl_geterror(err));
    }
  }
  nl_cb_put(cb);
  if (st.kernel_error) {
    std::string what = st.extack.empty() ? strerror(st.kernel_error) : st.extack;
    if (st.kernel_error == EPERM) what += " (keel commands need CAP_SYS_ADMIN: run as root)";
    return Status::Error(st.kernel_error, "keel.ko refused the request: " + what);
  }
  return st.status;
}

Result<ModuleInfo> NetlinkKernelClient::GetInfo() {
  ModuleInfo info;
  bool got = false;
  Status s = Transact(KEEL_CMD_GET_INFO, 0, nullptr, [&](const Attrs& a) {
    if (!a[KEEL_ATTR_VERSION] || !a[KEEL_ATTR_API_VERSION] || !a[KEEL_ATTR_FEATURES])
      return Status::Error(EPROTO, "keel.ko's GET_INFO reply lacks required attributes");
    info.version = nla_get_string(a[KEEL_ATTR_VERSION]);
    info.api_version = nla_get_u32(a[KEEL_ATTR_API_VERSION]);
    info.features = nla_get_u64(a[KEEL_ATTR_FEATURES]);
    if (a[KEEL_ATTR_KERNEL_RELEASE])
      info.kernel_release = nla_get_string(a[KEEL_ATTR_KERNEL_RELEASE]);
    got = true;
    return Status();
  });
  if (!s.ok()) return s;
  if (!got) return Status::Error(EPROTO, "keel.ko sent no GET_INFO reply");
  return info;
}

}  // namespace keel
