#include "manager/bus/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace keel::bus {
namespace {

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

Status Errno(int err, const std::string& what) {
  return Status::Error(err, what + ": " + std::strerror(err));
}

std::string ModeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

std::string DirName(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Error(errno, std::strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status();
}

}  // namespace

bool IsZ85Key(std::string_view key) {
  if (key.size() != kZ85KeyLength) return false;
  for (char c : key) {
    if (kZ85Alphabet.find(c) == std::string_view::npos) return false;
  }
  // libzmq also refuses groups of 5 characters that overflow 32 bits.
  std::string text(key);
  uint8_t bytes[32];
  return zmq_z85_decode(bytes, text.c_str()) != nullptr;
}

Result<CurveKeyPair> GenerateCurveKeyPair() {
  char pub[kZ85KeyLength + 1], sec[kZ85KeyLength + 1];
  if (zmq_curve_keypair(pub, sec) != 0) {
    return Errno(errno, "cannot generate a CURVE keypair (libzmq without CURVE?)");
  }
  return CurveKeyPair{pub, sec};
}

Result<std::string> CurvePublicKey(std::string_view secret_key) {
  if (!IsZ85Key(secret_key)) {
    return Status::Error(EINVAL, "not a Z85 CURVE key (40 characters of the Z85 alphabet)");
  }
  std::string sec(secret_key);
  char pub[kZ85KeyLength + 1];
  if (zmq_curve_public(pub, sec.c_str()) != 0) {
    return Errno(errno, "cannot derive the CURVE public key");
  }
  return std::string(pub);
}

Result<CurveKeyPair> LoadCurveKeyPair(const std::string& path) {
  // O_NOFOLLOW: a symlink planted at the key path must not redirect us.
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ELOOP) {
      return Status::Error(EACCES, "CURVE key file " + path + " is a symbolic link; refusing it");
    }
    return Errno(err, "cannot open CURVE key file " + path);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return Errno(err, "cannot stat CURVE key file " + path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return Status::Error(EINVAL, "CURVE key file " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return Status::Error(EACCES, "CURVE key file " + path + " has mode " + ModeString(st.st_mode) +
                                     ": group or others can access the secret key; run "
                                     "'chmod 600 " +
                                     path + "' (or remove it to generate a new key)");
  }
  // The file is one key and a newline; read a little more to spot junk.
  std::vector<char> buf(256);
  size_t len = 0;
  while (len < buf.size()) {
    ssize_t n = read(fd, buf.data() + len, buf.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return Errno(err, "cannot read CURVE key file " + path);
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  close(fd);
  std::string_view text(buf.data(), len);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  if (!IsZ85Key(text)) {
    return Status::Error(
        EINVAL, "CURVE key file " + path + " does not hold one Z85 secret key (40 characters)");
  }
  auto pub = CurvePublicKey(text);
  if (!pub.ok()) return pub.status();
  return CurveKeyPair{*pub, std::string(text)};
}

Result<CurveKeyPair> LoadOrCreateCurveKeyPair(const std::string& path) {
  auto loaded = LoadCurveKeyPair(path);
  if (loaded.ok() || loaded.status().code() != ENOENT) return loaded;

  auto pair = GenerateCurveKeyPair();
  if (!pair.ok()) return pair;
  std::string tmp = path + ".tmp.XXXXXX";
  // mkstemp creates the file with mode 0600, so the secret is never
  // readable by others, not even for an instant.
  int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return Errno(errno, "cannot create a temp file next to " + path);
  Status s = WriteAll(fd, pair->secret_key + "\n");
  if (s.ok() && fsync(fd) != 0) s = Status::Error(errno, std::strerror(errno));
  if (close(fd) != 0 && s.ok()) s = Status::Error(errno, std::strerror(errno));
  if (!s.ok()) {
    unlink(tmp.c_str());
    return Status::Error(s.code(), "cannot write CURVE key file " + tmp + ": " + s.message());
  }
  // link() instead of rename(): it fails if the name exists, so two keelds
  // (or keeld and keelctl) starting together cannot replace each other's key
  // after one of them has already registered its public half.
  if (link(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    if (err == EEXIST) return LoadCurveKeyPair(path);
    return Errno(err, "cannot install CURVE key file " + path);
  }
  unlink(tmp.c_str());
  // The new name must survive a crash, or the node would come back with no
  // key and generate a different one.
  int dir = open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    int rc = fsync(dir);
    int err = errno;
    close(dir);
    if (rc != 0) return Errno(err, "cannot fsync the directory of " + path);
  }
  return pair;
}

}  // namespace keel::bus
