#include "manager/kvdb/etcd_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "manager/kvdb/http_client.h"

namespace keel {
namespace {}  // namespace

// A port the kernel just gave out, free as we close it.  etcd binds it a
// moment later; a clash is possible but rare, and Start() retries.
Result<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Error(errno, std::string("socket: ") + strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int e = errno;
    close(fd);
    return Status::Error(e, std::string("bind: ") + strerror(e));
  }
  close(fd);
  return static_cast<int>(ntohs(a.sin_port));
}

namespace {

Result<std::string> MakeDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/keel-etcd-XXXXXX";
  if (!mkdtemp(tmpl.data()))
    return Status::Error(errno, "mkdtemp: " + std::string(strerror(errno)));
  return tmpl;
}

// Waits until a linearizable read succeeds on `url`: the member is up and
// its cluster has a leader.
Status WaitReady(const std::string& url, EtcdProcess* p, std::chrono::seconds limit) {
  CurlHttpClient http;
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::string last = "no answer";
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = http.Post(url + "/v3/kv/range", R"({"key":"Lw=="})", std::chrono::milliseconds(500));
    if (r.ok() && r->status == 200) return Status();
    last = r.ok() ? "HTTP " + std::to_string(r->status) + ": " + r->body : r.status().message();
    if (!p->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Error(ETIMEDOUT, "etcd at " + url + " not ready within " +
                                      std::to_string(limit.count()) + " s (" + last +
                                      "); its log:\n" + p->Log());
}

}  // namespace

std::string EtcdProcess::Log() const {
  std::ifstream f(dir_ + "/etcd.log");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > 4000 ? "..." + s.substr(s.size() - 4000) : s;
}

bool EtcdProcess::running() {
  if (pid_ <= 0) return false;
  int st;
  if (waitpid(pid_, &st, WNOHANG) == pid_) pid_ = -1;
  return pid_ > 0;
}

void EtcdProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int st;
  while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

EtcdProcess::~EtcdProcess() {
  Kill();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

Result<std::vector<std::unique_ptr<EtcdProcess>>> EtcdProcess::StartCluster(int n) {
  if (access(kBinary, X_OK) != 0) {
    return Status::Error(
        ENOENT, std::string(kBinary) + " is not installed (Debian etcd-server): run `make deps`");
  }
  // A port clash makes a member fail to start: try again with new ports.
  Status last;
  for (int attempt = 0; attempt < 3; attempt++) {
    std::vector<std::unique_ptr<EtcdProcess>> members;
    std::string initial_cluster;
    for (int i = 0; i < n; i++) {
      auto cp = FreeLoopbackPort();
      auto pp = FreeLoopbackPort();
      if (!cp.ok()) return cp.status();
      if (!pp.ok()) return pp.status();
      auto dir = MakeDir();
      if (!dir.ok()) return dir.status();
      std::unique_ptr<EtcdProcess> p(new EtcdProcess());
      p->name_ = "m" + std::to_string(i);
      p->dir_ = *dir;
      p->client_url_ = "http://127.0.0.1:" + std::to_string(*cp);
      p->peer_url_ = "http://127.0.0.1:" + std::to_string(*pp);
      initial_cluster += (i ? "," : "") + p->name_ + "=" + p->peer_url_;
      members.push_back(std::move(p));
    }
    for (auto& p : members) {
      std::vector<std::string> args = {
          kBinary,
          "--name=" + p->name_,
          "--data-dir=" + p->dir_ + "/data",
          "--listen-client-urls=" + p->client_url_,
          "--advertise-client-urls=" + p->client_url_,
          "--listen-peer-urls=" + p->peer_url_,
          "--initial-advertise-peer-urls=" + p->peer_url_,
          "--initial-cluster=" + initial_cluster,
          "--initial-cluster-state=new",
          "--initial-cluster-token=keel-test",
          // Fast elections: a killed leader is replaced in about a second.
          "--heartbeat-interval=50",
          "--election-timeout=500",
          "--logger=zap",
          "--log-outputs=stderr",
      };
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      std::string log = p->dir_ + "/etcd.log";
      pid_t parent = getpid();
      pid_t pid = fork();
      if (pid < 0) return Status::Error(errno, "fork: " + std::string(strerror(errno)));
      if (pid == 0) {
        // Dies with the test process, even if the test crashes.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
          dup2(fd, 1);
          dup2(fd, 2);
        }
        execv(argv[0], argv.data());
        _exit(127);
      }
      p->pid_ = pid;
    }
    Status s;
    for (auto& p : members) {
      s = WaitReady(p->client_url_, p.get(), std::chrono::seconds(15));
      if (!s.ok()) break;
    }
    if (s.ok()) return members;
    last = s;
  }
  return last;
}

Result<std::unique_ptr<EtcdProcess>> EtcdProcess::Start() {
  auto c = StartCluster(1);
  if (!c.ok()) return c.status();
  std::vector<std::unique_ptr<EtcdProcess>> members = std::move(c).value();
  return std::move(members.front());
}

}  // namespace keel
