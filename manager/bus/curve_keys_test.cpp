#include "manager/bus/curve_keys.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "manager/state/temp_dir.h"

namespace keel::bus {
namespace {

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  REQUIRE(chmod(path.c_str(), mode) == 0);
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

TEST_CASE("curve keys: a generated pair is Z85 and the public half derives from the secret") {
  auto a = GenerateCurveKeyPair();
  auto b = GenerateCurveKeyPair();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(IsZ85Key(a->public_key));
  CHECK(IsZ85Key(a->secret_key));
  CHECK(a->public_key != b->public_key);
  auto pub = CurvePublicKey(a->secret_key);
  REQUIRE(pub.ok());
  CHECK(*pub == a->public_key);
  CHECK_FALSE(IsZ85Key(""));
  CHECK_FALSE(IsZ85Key(a->public_key.substr(1)));
  CHECK_FALSE(IsZ85Key(std::string(39, '0') + "~"));  // not in the alphabet
  CHECK_FALSE(IsZ85Key(std::string(40, '#')));        // overflows 32 bits per group
  CHECK(CurvePublicKey("short").status().code() == EINVAL);
}

TEST_CASE("curve keys: load-or-create writes a 0600 file once and loads it after") {
  TempDir dir;
  std::string path = dir.file("bus.key");
  auto first = LoadOrCreateCurveKeyPair(path);
  REQUIRE(first.ok());
  CHECK(ModeOf(path) == 0600);
  auto second = LoadOrCreateCurveKeyPair(path);
  REQUIRE(second.ok());
  CHECK(second->secret_key == first->secret_key);
  CHECK(second->public_key == first->public_key);
  auto loaded = LoadCurveKeyPair(path);
  REQUIRE(loaded.ok());
  CHECK(loaded->public_key == first->public_key);
  // No temp files left behind.
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    files++;
  }
  CHECK(files == 1);
}

TEST_CASE("curve keys: racing creators all end up with the same key") {
  TempDir dir;
  std::string path = dir.file("bus.key");
  std::vector<std::string> keys(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < keys.size(); i++) {
    threads.emplace_back([&, i] {
      auto k = LoadOrCreateCurveKeyPair(path);
      if (k.ok()) keys[i] = k->public_key;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == 1);
  CHECK_FALSE(keys[0].empty());
}

TEST_CASE("curve keys: a key file others can read is refused with a clear error") {
  TempDir dir;
  std::string path = dir.file("bus.key");
  auto pair = GenerateCurveKeyPair();
  REQUIRE(pair.ok());
  WriteFile(path, pair->secret_key + "\n", 0644);
  auto r = LoadCurveKeyPair(path);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == EACCES);
  CHECK(r.status().message().find("0644") != std::string::npos);
  CHECK(r.status().message().find("chmod 600") != std::string::npos);
  // Load-or-create must not silently replace it either.
  CHECK(LoadOrCreateCurveKeyPair(path).status().code() == EACCES);
  REQUIRE(chmod(path.c_str(), 0640) == 0);
  CHECK(LoadCurveKeyPair(path).status().code() == EACCES);
  REQUIRE(chmod(path.c_str(), 0600) == 0);
  auto ok = LoadCurveKeyPair(path);
  REQUIRE(ok.ok());
  CHECK(ok->public_key == pair->public_key);
}

TEST_CASE("curve keys: bad key files are refused") {
  TempDir dir;
  SUBCASE("missing file") { CHECK(LoadCurveKeyPair(dir.file("none")).status().code() == ENOENT); }
  SUBCASE("missing directory") {
    CHECK(LoadOrCreateCurveKeyPair(dir.file("no/such/bus.key")).status().code() == ENOENT);
  }
  SUBCASE("garbage") {
    WriteFile(dir.file("k"), "hello\n", 0600);
    CHECK(LoadCurveKeyPair(dir.file("k")).status().code() == EINVAL);
  }
  SUBCASE("two keys") {
    auto a = GenerateCurveKeyPair();
    REQUIRE(a.ok());
    WriteFile(dir.file("k"), a->secret_key + "\n" + a->secret_key + "\n", 0600);
    CHECK(LoadCurveKeyPair(dir.file("k")).status().code() == EINVAL);
  }
  SUBCASE("empty") {
    WriteFile(dir.file("k"), "", 0600);
    CHECK(LoadOrCreateCurveKeyPair(dir.file("k")).status().code() == EINVAL);
  }
  SUBCASE("a directory") {
    std::filesystem::create_directory(dir.file("d"));
    REQUIRE(chmod(dir.file("d").c_str(), 0700) == 0);
    CHECK_FALSE(LoadCurveKeyPair(dir.file("d")).ok());
  }
  SUBCASE("a symbolic link") {
    auto a = GenerateCurveKeyPair();
    REQUIRE(a.ok());
    WriteFile(dir.file("real"), a->secret_key, 0600);
    std::filesystem::create_symlink(dir.file("real"), dir.file("link"));
    auto r = LoadCurveKeyPair(dir.file("link"));
    CHECK(r.status().code() == EACCES);
  }
}

}  // namespace
}  // namespace keel::bus
