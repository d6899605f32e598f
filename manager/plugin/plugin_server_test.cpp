#include "manager/plugin/plugin_server.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "manager/state/temp_dir.h"

namespace keel::plugin {
namespace {

// Sends `req`, reads until the server closes.
std::string Roundtrip(const std::string& path, const std::string& req) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path, path.data(), path.size());
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return "connect failed";
  }
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

std::string Post(const std::string& target, const std::string& body) {
  return "POST " + target +
         " HTTP/1.1\r\nHost: plugin\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

struct Server {
  Server() {
    PluginServer::Options o;
    o.path = dir.file("plugins/keel.sock");
    o.request_timeout = std::chrono::milliseconds(300);
    o.limits.max_body_bytes = 1024;
    auto s = PluginServer::Listen(o, [this](std::string_view path, std::string_view body) {
      calls++;
      return PluginServer::Reply{200, "{\"path\":\"" + std::string(path) +
                                          "\",\"len\":" + std::to_string(body.size()) + "}"};
    });
    REQUIRE(s.ok());
    server = std::move(s).value();
    server->Start();
  }
  std::string path() const { return dir.file("plugins/keel.sock"); }
  TempDir dir;
  std::atomic<int> calls{0};
  std::unique_ptr<PluginServer> server;
};

TEST_CASE("plugin server: POST reaches the handler; the socket is 0600") {
  Server s;
  std::string out = Roundtrip(s.path(), Post("/VolumeDriver.List", "{}"));
  CHECK(out.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(out.find("Content-Type: application/vnd.docker.plugins.v1.2+json\r\n") !=
        std::string::npos);
  CHECK(out.ends_with("{\"path\":\"/VolumeDriver.List\",\"len\":2}"));
  out = Roundtrip(s.path(), Post("/Plugin.Activate?x=1", ""));
  CHECK(out.ends_with("{\"path\":\"/Plugin.Activate\",\"len\":0}"));
  struct stat st;
  REQUIRE(stat(s.path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(s.calls == 2);
}

TEST_CASE("plugin server: bad HTTP, other methods, slow and silent clients") {
  Server s;
  CHECK(Roundtrip(s.path(), "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
  CHECK(Roundtrip(s.path(), "\x01\x02 nonsense\r\n\r\n").starts_with("HTTP/1.1 400 "));
  CHECK(Roundtrip(s.path(), Post("/x", std::string(2000, 'a'))).starts_with("HTTP/1.1 413 "));
  // Half a request, then silence: 408 after the timeout.
  CHECK(Roundtrip(s.path(), "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
            .starts_with("HTTP/1.1 408 "));
  CHECK(s.calls == 0);
  // Still serving.
  CHECK(Roundtrip(s.path(), Post("/x", "")).starts_with("HTTP/1.1 200 "));
}

TEST_CASE("plugin server: concurrent clients, all answered; stop is clean") {
  Server s;
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 32; i++) {
    ts.emplace_back([&] {
      if (Roundtrip(s.path(), Post("/VolumeDriver.Get", "{}")).starts_with("HTTP/1.1 200 ")) ok++;
    });
  }
  for (auto& t : ts) t.join();
  CHECK(ok == 32);
  s.server.reset();
  CHECK(access(s.path().c_str(), F_OK) != 0);
}

TEST_CASE("plugin server: a live socket is not taken over, a stale one is") {
  Server s;
  PluginServer::Options o;
  o.path = s.path();
  auto second = PluginServer::Listen(
      o, [](std::string_view, std::string_view) { return PluginServer::Reply{}; });
  CHECK(second.status().code() == EADDRINUSE);
  TempDir d;
  o.path = d.file("stale.sock");
  {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, o.path.data(), o.path.size());
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    close(fd);  // the file stays, nobody listens
  }
  auto fresh = PluginServer::Listen(
      o, [](std::string_view, std::string_view) { return PluginServer::Reply{}; });
  CHECK(fresh.ok());
}

}  // namespace
}  // namespace keel::plugin
