#include "manager/api/server.h"

#include <dirent.h>
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "manager/api/request.h"
#include "manager/state/temp_dir.h"

namespace keel {
namespace {

int OpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

int Connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path, path.data(), path.size());
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `req` (as is), reads the whole reply.
std::string Roundtrip(const std::string& path, const std::string& req, bool half_close = true) {
  int fd = Connect(path);
  if (fd < 0) return "connect failed";
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += n;
  }
  if (half_close) shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, n);
  close(fd);
  return out;
}

std::string CodeOf(const std::string& reply) {
  auto j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded()) return "unparseable: " + reply;
  return j["ok"] == true ? "ok" : j["error"]["code"].get<std::string>();
}

struct Served {
  TempDir dir;
  std::unique_ptr<ApiServer> server;
  std::thread thread;
  std::atomic<int> handled{0};
  explicit Served(ApiServer::Options o = {}) {
    o.path = dir.file("s.sock");
    if (o.request_timeout.count() == 5000) o.request_timeout = std::chrono::milliseconds(300);
    auto s = ApiServer::Listen(o, [this](std::string_view req) {
      handled++;
      return req == "slow" ? OkReply("slow") : OkReply(std::string(req));
    });
    REQUIRE(s.ok());
    server = std::move(s).value();
    thread = std::thread([this] { server->Run(nullptr, std::chrono::milliseconds(50)); });
  }
  ~Served() {
    server->Stop();
    thread.join();
  }
  std::string path() const { return dir.file("s.sock"); }
};

}  // namespace

TEST_CASE("server: one request per connection, newline or half-close ends it") {
  Served s;
  struct stat st;
  REQUIRE(stat(s.path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(Roundtrip(s.path(), "hello\n", false) == R"({"api":1,"ok":true,"result":"hello"})"
                                                 "\n");
  CHECK(Roundtrip(s.path(), "hello") == R"({"api":1,"ok":true,"result":"hello"})"
                                        "\n");
  // Only the first line is the request.
  CHECK(Roundtrip(s.path(), "one\ntwo\n") == R"({"api":1,"ok":true,"result":"one"})"
                                             "\n");
}

TEST_CASE("server: oversized requests, silent clients and empty connections") {
  ApiServer::Options o;
  o.max_request_bytes = 1024;
  Served s(o);
  CHECK(CodeOf(Roundtrip(s.path(), std::string(5000, 'x') + "\n")) == "request_too_large");
  CHECK(CodeOf(Roundtrip(s.path(), std::string(1025, 'x'))) == "request_too_large");
  // Connects and sends nothing: a timeout error after request_timeout.
  int fd = Connect(s.path());
  REQUIRE(fd >= 0);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, n);
  close(fd);
  CHECK(CodeOf(out) == "timeout");
  // Connects and closes at once: nothing handled.
  int before = s.handled;
  close(Connect(s.path()));
  CHECK(Roundtrip(s.path(), "x\n") != "");
  CHECK(s.handled == before + 1);
}

TEST_CASE("server: many concurrent clients all get service, no descriptor leaks") {
  Served s;
  int fds_before = OpenFds();
  constexpr int kClients = 300;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kClients; i++) {
    threads.emplace_back([&, i] {
      if (CodeOf(Roundtrip(s.path(), "req" + std::to_string(i) + "\n")) == "ok") ok++;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == kClients);
  for (int i = 0; i < 50 && s.server->connections() > 0; i++) usleep(10000);
  CHECK(s.server->connections() == 0);
  CHECK(OpenFds() == fds_before);
}

TEST_CASE("server: past max_clients, a clear busy error") {
  ApiServer::Options o;
  o.max_clients = 2;
  o.request_timeout = std::chrono::milliseconds(2000);
  Served s(o);
  int a = Connect(s.path()), b = Connect(s.path());
  usleep(100000);
  CHECK(CodeOf(Roundtrip(s.path(), "c\n")) == "server_busy");
  close(a);
  close(b);
  usleep(100000);
  CHECK(CodeOf(Roundtrip(s.path(), "d\n")) == "ok");
}

TEST_CASE("server: a second server on a live socket is refused, a stale one replaced") {
  Served s;
  ApiServer::Options o;
  o.path = s.path();
  auto second = ApiServer::Listen(o, [](std::string_view) { return std::string(); });
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == EADDRINUSE);
  TempDir dir;
  // A stale socket file: bound, never listening.
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::string p = dir.file("stale.sock");
  memcpy(a.sun_path, p.data(), p.size());
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  close(fd);
  o.path = p;
  auto fresh = ApiServer::Listen(o, [](std::string_view) { return std::string(); });
  CHECK(fresh.ok());
}

}  // namespace keel
