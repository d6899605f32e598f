// The real socket client against a real UNIX socket server (a thread in this
// process): the framing of docs/api.md, and every way of getting no usable
// reply, down to keelctl's message and exit status.
#include "manager/api/api_client.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <thread>

#include "cli/keelctl/app.h"
#include "cli/keelctl/commands.h"

namespace keel {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

std::string TempDir() {
  char tmpl[] = "/tmp/keelctl-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  return tmpl;
}

int BoundSocket(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.data(), path.size());
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  return fd;
}

// A one-connection server: reads the request (up to a newline or EOF), then
// writes `replies` (each a separate write) and closes; or, with `hold`,
// keeps the connection open without a reply until the test is done.
class TestServer {
 public:
  TestServer() : dir_(TempDir()), path_(dir_ + "/keeld.sock") {
    fd_ = BoundSocket(path_);
    REQUIRE(listen(fd_, 8) == 0);
  }
  ~TestServer() {
    release_ = true;
    if (thread_.joinable() && !accepted_) {  // the client never came: unblock accept()
      close(Connect());
    }
    if (thread_.joinable()) thread_.join();
    close(fd_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  void Serve(std::vector<std::string> replies, bool hold = false) {
    thread_ = std::thread([this, replies, hold] {
      int c = accept(fd_, nullptr, nullptr);
      accepted_ = true;
      if (c < 0) return;
      char buf[4096];
      for (;;) {
        ssize_t n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        request_.append(buf, static_cast<size_t>(n));
        if (request_.find('\n') != std::string::npos) break;
      }
      for (const std::string& r : replies) {
        if (send(c, r.data(), r.size(), MSG_NOSIGNAL) < 0) break;
        std::this_thread::sleep_for(milliseconds(20));
      }
      while (hold && !release_) std::this_thread::sleep_for(milliseconds(10));
      close(c);
    });
  }
  // The request as received; call after the client returned.
  std::string Request() {
    release_ = true;
    if (thread_.joinable()) thread_.join();
    return request_;
  }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, path_;
  int fd_ = -1;
  std::thread thread_;
  std::string request_;
  std::atomic<bool> release_{false};
  std::atomic<bool> accepted_{false};

  int Connect() {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path_.data(), path_.size());
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }
};

// keelctl with the real socket client; exit status, stdout and stderr.
struct Run {
  int exit = -1;
  std::string out, err;
};
Run Keelctl(std::vector<std::string> args) {
  std::ostringstream out, err;
  std::istringstream in;
  Env env{out, err, in};
  env.connect = [](const std::string& path, milliseconds timeout) {
    return std::unique_ptr<ApiClient>(new SocketApiClient(path, timeout));
  };
  Run r;
  r.exit = RunKeelctl(args, env);
  r.out = out.str();
  r.err = err.str();
  return r;
}

const char kListReply[] = R"({"api":1,"ok":true,"result":{"volumes":[]}})";

TEST_CASE("keelctl socket client: one JSON request line, keeld's reply returned") {
  TestServer s;
  s.Serve({std::string(kListReply) + "\n"});
  SocketApiClient c(s.path(), milliseconds(5000));
  auto r = c.Call("volume.detach", {{"name", "db"}, {"force", true}});
  REQUIRE(r.ok());
  CHECK((*r)["result"]["volumes"] == json::array());
  std::string req = s.Request();
  REQUIRE(!req.empty());
  CHECK(req.back() == '\n');
  CHECK(req.find('\n') == req.size() - 1);
  CHECK(json::parse(req) == json{{"api", 1},
                                 {"command", "volume.detach"},
                                 {"args", {{"name", "db"}, {"force", true}}}});
}

TEST_CASE("keelctl socket client: no args means no \"args\" field") {
  CHECK(RequestLine("volume.list", json::object()) == "{\"api\":1,\"command\":\"volume.list\"}\n");
  CHECK(RequestLine("node.info", nullptr) == "{\"api\":1,\"command\":\"node.info\"}\n");
}

TEST_CASE("keelctl socket client: a reply in pieces, and bytes after its newline ignored") {
  TestServer s;
  s.Serve({R"({"api":1,"ok":tr)", R"(ue,"result":{"volumes":[]}})", "\nnot json at all"});
  SocketApiClient c(s.path(), milliseconds(5000));
  auto r = c.Call("volume.list", json::object());
  REQUIRE(r.ok());
  CHECK((*r)["ok"] == true);
}

TEST_CASE("keelctl socket client: an error reply comes back as keeld sent it, and exits by code") {
  TestServer s;
  s.Serve(
      {R"({"api":1,"ok":false,"error":{"code":"not_found","message":"volume 'db' does not exist","errno":"ENOENT"}})"
       "\n"});
  Run r = Keelctl({"--socket", s.path(), "volume", "attach", "db", "-o", "json"});
  CHECK(r.exit == kExitNotFound);
  CHECK(r.err.find("keelctl: volume 'db' does not exist\n") == 0);
  CHECK(json::parse(r.out)["error"]["errno"] == "ENOENT");
}

TEST_CASE("keelctl socket client: keeld not running (no socket) exits 4 saying how to start it") {
  std::string dir = TempDir();
  std::string path = dir + "/keeld.sock";
  SocketApiClient c(path, milliseconds(1000));
  auto r = c.Call("node.info", json::object());
  REQUIRE(!r.ok());
  CHECK(r.status().code() == ENOENT);
  Run run = Keelctl({"--socket", path, "volume", "list"});
  CHECK(run.exit == kExitUnreachable);
  CHECK(run.err.find("keelctl: keeld is not running (cannot connect to " + path +
                     ": No such file or directory): start it with 'systemctl start keeld'") == 0);
  CHECK(run.out.empty());
  rmdir(dir.c_str());
}

TEST_CASE("keelctl socket client: a socket nobody listens on (keeld died) exits 4") {
  std::string dir = TempDir();
  std::string path = dir + "/keeld.sock";
  close(BoundSocket(path));  // the file stays, with no listener
  Run run = Keelctl({"--socket", path, "node", "inspect"});
  CHECK(run.exit == kExitUnreachable);
  CHECK(run.err.find("keeld is not running (cannot connect to " + path + ": Connection refused)") !=
        std::string::npos);
  unlink(path.c_str());
  rmdir(dir.c_str());
}

TEST_CASE("keelctl socket client: keeld down still prints keelctl's version, exit 4") {
  Run run = Keelctl({"--socket", "/nonexistent/keeld.sock", "version"});
  CHECK(run.exit == kExitUnreachable);
  CHECK(run.out == std::string("keelctl  ") + KEEL_VERSION + "\n");
  CHECK(run.err.find("keeld is not running") != std::string::npos);
}

TEST_CASE("keelctl socket client: a server that closes without a reply exits 4") {
  TestServer s;
  s.Serve({});
  SocketApiClient c(s.path(), milliseconds(5000));
  auto r = c.Call("volume.list", json::object());
  REQUIRE(!r.ok());
  CHECK(r.status().code() == ECONNRESET);
  CHECK(r.status().message().find("keeld closed the connection without a reply") == 0);
  CHECK(r.status().message().find("may or may not have been done") != std::string::npos);
  TestServer s2;
  s2.Serve({});
  Run run = Keelctl({"--socket", s2.path(), "volume", "attach", "db", "-o", "json"});
  CHECK(run.exit == kExitUnreachable);
  CHECK(json::parse(run.out)["error"]["code"] == "no_reply");
}

TEST_CASE("keelctl socket client: a reply that is not JSON exits 1 and says so") {
  TestServer s;
  s.Serve({"HTTP/1.1 400 Bad Request\n"});
  Run run = Keelctl({"--socket", s.path(), "volume", "list"});
  CHECK(run.exit == kExitError);
  CHECK(run.err.find("keelctl: keeld's reply is not an API reply (it is not JSON)") == 0);
}

TEST_CASE("keelctl socket client: JSON that is not an API reply is refused") {
  for (const char* text :
       {"[1,2]\n", "{}\n", "{\"ok\":\"yes\"}\n", "{\"ok\":true}\n", "{\"ok\":true,\"result\":3}\n",
        "{\"ok\":false}\n", "{\"ok\":false,\"error\":{\"message\":\"m\"}}\n",
        "{\"ok\":false,\"error\":{\"code\":\"x\",\"message\":7}}\n", "\n"}) {
    CAPTURE(text);
    auto r = ParseReply(text);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == EPROTO);
  }
  CHECK(ParseReply("{\"ok\":false,\"error\":{\"code\":\"busy\"}}").ok());
  CHECK(ParseReply(std::string(kListReply) + "\ntrailing").ok());
}

TEST_CASE("keelctl socket client: no reply within --timeout exits 4") {
  TestServer s;
  s.Serve({}, /*hold=*/true);
  auto start = std::chrono::steady_clock::now();
  Run run = Keelctl({"--socket", s.path(), "--timeout", "0.3", "volume", "list"});
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(run.exit == kExitUnreachable);
  CHECK(run.err.find("keelctl: keeld did not reply within 300 ms") == 0);
  CHECK(took >= milliseconds(250));
  CHECK(took < milliseconds(5000));
}

TEST_CASE("keelctl socket client: a socket path that is too long is a usage error") {
  Run run = Keelctl({"--socket", "/" + std::string(200, 'x'), "volume", "list"});
  CHECK(run.exit == kExitUsage);
  CHECK(run.err.find("socket path") != std::string::npos);
}

TEST_CASE("keelctl socket client: permission denied exits 5 and says to run as root") {
  TestServer s;
  s.Serve({std::string(kListReply) + "\n"});
  REQUIRE(chmod(s.path().c_str(), 0600) == 0);
  REQUIRE(chmod(s.dir().c_str(), 0755) == 0);
  // Not root: the child takes an unprivileged uid (as root) or keeps ours
  // with the socket made unwritable to us (otherwise).
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (geteuid() == 0) {
      if (setgid(65534) != 0 || setuid(65534) != 0) _exit(100);
    } else if (chmod(s.path().c_str(), 0) != 0) {
      _exit(101);
    }
    Run run = Keelctl({"--socket", s.path(), "volume", "list"});
    bool said = run.err.find("permission denied connecting to keeld at " + s.path() +
                             ": run keelctl as root") != std::string::npos;
    _exit(run.exit == kExitPermission && said ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace keel
