// SqliteMountRefs: the Docker mount IDs of each volume on this node, in
// <data_dir>/docker.db (a SQLite file of its own, so the plugin's thread
// never shares keel.db's connection).  Every change is committed before the
// plugin answers Docker, so a keeld restart knows which containers still
// use a mount (rule 8).
#pragma once

#include <memory>
#include <string>

#include "manager/plugin/volume_driver.h"
#include "manager/state/sqlite.h"

namespace keel::plugin {

class SqliteMountRefs : public MountRefs {
 public:
  static Result<std::unique_ptr<SqliteMountRefs>> Open(const std::string& path);

  Result<std::set<std::string>> Get(const std::string& volume) override;
  Result<std::map<std::string, std::set<std::string>>> All() override;
  Status Add(const std::string& volume, const std::string& id) override;
  Status Remove(const std::string& volume, const std::string& id) override;
  Status Clear(const std::string& volume) override;

 private:
  explicit SqliteMountRefs(std::unique_ptr<Db> db) : db_(std::move(db)) {}
  std::unique_ptr<Db> db_;
};

}  // namespace keel::plugin
