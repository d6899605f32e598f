// Filesystem: the few file operations the volume manager does on the pool
// directory, behind an interface.  PosixFilesystem is the real one; tests
// run it in a temporary directory, or inject failures with a subclass.
#pragma once

#include <string>
#include <vector>

#include "manager/common/status.h"

namespace keel {

class Filesystem {
 public:
  virtual ~Filesystem() = default;
  // Creates an empty file, mode 0600; EEXIST if anything is at `path`.
  // The new directory entry is made durable (fsync of the directory).
  virtual Status CreateExclusive(const std::string& path) = 0;
  // Removes a file; ENOENT if it does not exist.
  virtual Status Remove(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory.
  virtual Result<std::vector<std::string>> List(const std::string& dir) = 0;
};

class PosixFilesystem : public Filesystem {
 public:
  Status CreateExclusive(const std::string& path) override;
  Status Remove(const std::string& path) override;
  bool Exists(const std::string& path) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;
};

}  // namespace keel
