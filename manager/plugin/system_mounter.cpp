#include "manager/plugin/system_mounter.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

extern char** environ;

namespace keel::plugin {
namespace {

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A program's complaint for an error message: its first line (mkfs.xfs
// follows its reason with the whole usage text).
std::string FirstLine(const std::string& s) {
  std::string line = Trimmed(s.substr(0, s.find('\n')));
  return line.size() > 300 ? line.substr(0, 300) + "..." : line;
}

// Decodes mountinfo's octal escapes (\040 for a space, \011, \012, \134).
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

Result<int> RunProgram(const std::vector<std::string>& argv, std::string* output) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return Status::Error(errno, "pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pipefd[1]);
  if (rc != 0) {
    close(pipefd[0]);
    return Status::Error(rc, "cannot run " + argv[0] + ": " + strerror(rc));
  }
  output->clear();
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0 && output->size() < 65536) output->append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::Error(errno, "waitpid for " + argv[0] + " failed");
  }
  if (WIFSIGNALED(status)) {
    return Status::Error(EIO,
                         argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status)));
  }
  return WEXITSTATUS(status);
}

std::vector<std::string> MountPointsOf(const std::string& mountinfo) {
  std::vector<std::string> points;
  std::istringstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string f;
    for (int i = 0; i < 5 && fields >> f; i++) {
      if (i == 4) points.push_back(Unescape(f));
    }
  }
  return points;
}

Status SystemMounter::WaitDevice(const std::string& device, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    struct stat st;
    if (stat(device.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) return Status();
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Error(ETIMEDOUT, "device " + device + " did not appear within " +
                                          std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Result<std::string> SystemMounter::Probe(const std::string& device) {
  std::string out;
  // -p: low-level probe of the device itself, never blkid's cache.
  auto rc = RunProgram({"blkid", "-p", "-o", "export", device}, &out);
  if (!rc.ok()) return rc.status();
  if (*rc == 2) return std::string();  // nothing found: a blank disk
  if (*rc != 0) {
    return Status::Error(
        EIO, "blkid " + device + " failed (exit " + std::to_string(*rc) + "): " + FirstLine(out));
  }
  return FsTypeFromBlkid(device, out);
}

Result<std::string> FsTypeFromBlkid(const std::string& device, const std::string& output) {
  std::map<std::string, std::string> tags;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) tags[line.substr(0, eq)] = line.substr(eq + 1);
  }
  if (tags.contains("TYPE")) return tags["TYPE"];
  // Never format over something blkid recognizes without naming a file
  // system: a partition table is somebody's data.
  if (tags.contains("PTTYPE")) {
    return Status::Error(EEXIST, device + " holds a partition table (" + tags["PTTYPE"] +
                                     ") and no file system: not formatting it");
  }
  return std::string();
}

Status SystemMounter::MakeFilesystem(const std::string& device, const std::string& fstype) {
  std::vector<std::string> argv;
  if (fstype == "ext4") {
    argv = {"mkfs.ext4", "-q", "-F", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1",
            device};
  } else if (fstype == "xfs") {
    argv = {"mkfs.xfs", "-q", "-f", "-K", device};
  } else {
    return Status::Error(EINVAL, "cannot make file system '" + fstype + "': only ext4 and xfs");
  }
  std::string out;
  auto rc = RunProgram(argv, &out);
  if (!rc.ok()) return rc.status();
  if (*rc != 0) {
    return Status::Error(EIO, argv[0] + " " + device + " failed (exit " + std::to_string(*rc) +
                                  "): " + FirstLine(out));
  }
  return Status();
}

Status SystemMounter::MakeDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Error(ec.value(), "cannot create " + dir + ": " + ec.message());
  // Containers see the directory's own mode only while nothing is mounted
  // on it; the parents must be searchable for dockerd's bind mount.
  if (chmod(dir.c_str(), 0755) != 0) {
    return Status::Error(errno, "cannot chmod " + dir + ": " + strerror(errno));
  }
  return Status();
}

Status SystemMounter::Mount(const std::string& device, const std::string& dir,
                            const std::string& fstype) {
  if (mount(device.c_str(), dir.c_str(), fstype.c_str(), MS_NOATIME, nullptr) != 0) {
    int e = errno;
    return Status::Error(e, "mount " + device + " (" + fstype + ") on " + dir + ": " + strerror(e));
  }
  return Status();
}

Status SystemMounter::Unmount(const std::string& dir) {
  if (umount2(dir.c_str(), UMOUNT_NOFOLLOW) != 0) {
    int e = errno;
    if (e == EINVAL) return Status();  // not a mount point any more
    return Status::Error(e, "unmount " + dir + ": " + strerror(e) +
                                (e == EBUSY ? " (a process still uses it)" : ""));
  }
  return Status();
}

Result<bool> SystemMounter::IsMounted(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return Status::Error(errno ? errno : EIO, "cannot read /proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  for (const auto& p : MountPointsOf(text.str())) {
    if (p == dir) return true;
  }
  return false;
}

}  // namespace keel::plugin
