#include "manager/plugin/mount_refs.h"

namespace keel::plugin {

Result<std::unique_ptr<SqliteMountRefs>> SqliteMountRefs::Open(const std::string& path) {
  auto db = Db::Open(path);
  if (!db.ok()) return db.status();
  Status s = (*db)->Exec(
      "CREATE TABLE IF NOT EXISTS docker_mounts ("
      " volume TEXT NOT NULL,"
      " id TEXT NOT NULL,"
      " PRIMARY KEY (volume, id))");
  if (!s.ok()) return s;
  return std::unique_ptr<SqliteMountRefs>(new SqliteMountRefs(std::move(db).value()));
}

Result<std::set<std::string>> SqliteMountRefs::Get(const std::string& volume) {
  auto st = db_->Prepare("SELECT id FROM docker_mounts WHERE volume = ?1");
  if (!st.ok()) return st.status();
  st.value().Bind(1, volume);
  std::set<std::string> ids;
  for (;;) {
    auto row = st.value().Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ids.insert(st.value().Text(0));
  }
  return ids;
}

Result<std::map<std::string, std::set<std::string>>> SqliteMountRefs::All() {
  auto st = db_->Prepare("SELECT volume, id FROM docker_mounts");
  if (!st.ok()) return st.status();
  std::map<std::string, std::set<std::string>> all;
  for (;;) {
    auto row = st.value().Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    all[st.value().Text(0)].insert(st.value().Text(1));
  }
  return all;
}

Status SqliteMountRefs::Add(const std::string& volume, const std::string& id) {
  auto st = db_->Prepare("INSERT OR IGNORE INTO docker_mounts (volume, id) VALUES (?1, ?2)");
  if (!st.ok()) return st.status();
  return st.value().Bind(1, volume).Bind(2, id).Run();
}

Status SqliteMountRefs::Remove(const std::string& volume, const std::string& id) {
  auto st = db_->Prepare("DELETE FROM docker_mounts WHERE volume = ?1 AND id = ?2");
  if (!st.ok()) return st.status();
  return st.value().Bind(1, volume).Bind(2, id).Run();
}

Status SqliteMountRefs::Clear(const std::string& volume) {
  auto st = db_->Prepare("DELETE FROM docker_mounts WHERE volume = ?1");
  if (!st.ok()) return st.status();
  return st.value().Bind(1, volume).Run();
}

}  // namespace keel::plugin
