#include "manager/volume/filesystem.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace keel {
namespace {

Status Errno(int e, const std::string& what) { return Status::Error(e, what + ": " + strerror(e)); }

std::string Parent(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, "cannot open directory " + dir);
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0) return Errno(e, "cannot fsync directory " + dir);
  return Status();
}

}  // namespace

Status PosixFilesystem::CreateExclusive(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Errno(errno, "cannot create backing file " + path);
  close(fd);
  return SyncDir(Parent(path));
}

Status PosixFilesystem::Remove(const std::string& path) {
  if (unlink(path.c_str()) != 0) return Errno(errno, "cannot remove " + path);
  return SyncDir(Parent(path));
}

bool PosixFilesystem::Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

Result<std::vector<std::string>> PosixFilesystem::List(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return Errno(errno, "cannot list " + dir);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  return names;
}

}  // namespace keel
