// EtcdProcess: a real etcd (/usr/bin/etcd) for tests, on 127.0.0.1 with
// free ports and a fresh data dir.  Start() returns once the member (or the
// whole cluster) answers a linearizable read; the destructor kills it
// (SIGKILL), reaps it and removes the data dir.  Tests fail, not skip, when
// etcd is not installed: `make deps` installs it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "manager/common/status.h"

namespace keel {

// A loopback TCP port that was free a moment ago.
Result<int> FreeLoopbackPort();

class EtcdProcess {
 public:
  static constexpr const char* kBinary = "/usr/bin/etcd";

  // One member.
  static Result<std::unique_ptr<EtcdProcess>> Start();
  // `n` members forming one cluster.
  static Result<std::vector<std::unique_ptr<EtcdProcess>>> StartCluster(int n);

  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // "http://127.0.0.1:<port>"
  const std::string& client_url() const { return client_url_; }
  // SIGKILL and reap now (a crash); the data dir stays until destruction.
  void Kill();
  // Whether the process is still alive (reaps it if it exited).
  bool running();
  // The member's log (stdout and stderr), for failure messages.
  std::string Log() const;

 private:
  EtcdProcess() = default;
  std::string name_;
  std::string dir_;
  std::string client_url_;
  std::string peer_url_;
  pid_t pid_ = -1;
};

}  // namespace keel
