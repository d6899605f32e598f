#include "manager/state/state_store.h"

#include <cerrno>

#include "manager/state/migrations.h"

namespace keel {

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path, Clock* clock) {
  auto db = Db::Open(path);
  if (!db.ok()) return db.status();
  auto v = Migrate(db.value().get(), StateMigrations(), clock->NowMs());
  if (!v.ok()) return v.status();
  return std::unique_ptr<StateStore>(new StateStore(std::move(db).value(), clock));
}

Result<std::vector<Replica>> StateStore::QueryReplicas(const std::string& where,
                                                       const std::string& arg) {
  auto st = db_->Prepare(
      "SELECT volume, uuid, size, block_size, backing_path, kernel_id, created_at FROM replicas " +
      where + " ORDER BY volume");
  if (!st.ok()) return st.status();
  if (!arg.empty()) st.value().Bind(1, arg);
  std::vector<Replica> out;
  for (;;) {
    auto row = st.value().Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const Stmt& s = st.value();
    Replica r;
    r.volume = s.Text(0);
    r.uuid = s.Text(1);
    r.size = static_cast<uint64_t>(s.Int(2));
    r.block_size = static_cast<uint32_t>(s.Int(3));
    r.backing_path = s.Text(4);
    if (!s.IsNull(5)) r.kernel_id = static_cast<uint32_t>(s.Int(5));
    r.created_at = s.Int(6);
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::optional<Replica>> StateStore::GetReplica(const std::string& volume) {
  auto rs = QueryReplicas("WHERE volume = ?", volume);
  if (!rs.ok()) return rs.status();
  if (rs->empty()) return std::optional<Replica>();
  return std::optional<Replica>(rs->front());
}

Result<std::optional<Replica>> StateStore::GetReplicaByUuid(const std::string& uuid) {
  auto rs = QueryReplicas("WHERE uuid = ?", uuid);
  if (!rs.ok()) return rs.status();
  if (rs->empty()) return std::optional<Replica>();
  return std::optional<Replica>(rs->front());
}

Result<std::vector<Replica>> StateStore::ListReplicas() { return QueryReplicas("", ""); }

Status StateStore::PutReplica(const Replica& r) {
  auto st = db_->Prepare(
      "INSERT INTO replicas"
      " (volume, uuid, size, block_size, backing_path, kernel_id, created_at)"
      " VALUES (?, ?, ?, ?, ?, ?, ?)"
      " ON CONFLICT (volume) DO UPDATE SET uuid = excluded.uuid, size = excluded.size,"
      " block_size = excluded.block_size, backing_path = excluded.backing_path,"
      " kernel_id = excluded.kernel_id, created_at = excluded.created_at");
  if (!st.ok()) return st.status();
  Stmt& s = st.value();
  s.Bind(1, r.volume).Bind(2, r.uuid).Bind(3, static_cast<int64_t>(r.size));
  s.Bind(4, int64_t{r.block_size}).Bind(5, r.backing_path);
  if (r.kernel_id) {
    s.Bind(6, int64_t{*r.kernel_id});
  } else {
    s.BindNull(6);
  }
  s.Bind(7, r.created_at);
  return s.Run();
}

Status StateStore::RemoveReplica(const std::string& volume) {
  auto st = db_->Prepare("DELETE FROM replicas WHERE volume = ?");
  if (!st.ok()) return st.status();
  return st.value().Bind(1, volume).Run();
}

Status StateStore::SetKernelId(const std::string& volume, std::optional<uint32_t> id) {
  auto st = db_->Prepare("UPDATE replicas SET kernel_id = ? WHERE volume = ?");
  if (!st.ok()) return st.status();
  if (id) {
    st.value().Bind(1, int64_t{*id});
  } else {
    st.value().BindNull(1);
  }
  Status s = st.value().Bind(2, volume).Run();
  if (s.ok() && db_->Changes() == 0) {
    return Status::Error(ENOENT, "no replica of volume '" + volume + "' in the state store");
  }
  return s;
}

Result<int64_t> StateStore::BeginIntent(const std::string& op, const std::string& volume,
                                        const std::string& step, const nlohmann::json& data) {
  auto st = db_->Prepare(
      "INSERT INTO intents (op, volume, step, data, created_at, updated_at)"
      " VALUES (?, ?, ?, ?, ?, ?)");
  if (!st.ok()) return st.status();
  int64_t now = clock_->NowMs();
  Status s = st.value()
                 .Bind(1, op)
                 .Bind(2, volume)
                 .Bind(3, step)
                 .Bind(4, data.dump())
                 .Bind(5, now)
                 .Bind(6, now)
                 .Run();
  if (!s.ok()) return s;
  return db_->LastInsertRowid();
}

Status StateStore::UpdateIntent(int64_t id, const std::string& step, const nlohmann::json& data) {
  auto st = db_->Prepare("UPDATE intents SET step = ?, data = ?, updated_at = ? WHERE id = ?");
  if (!st.ok()) return st.status();
  Status s =
      st.value().Bind(1, step).Bind(2, data.dump()).Bind(3, clock_->NowMs()).Bind(4, id).Run();
  if (s.ok() && db_->Changes() == 0) {
    return Status::Error(ENOENT, "intent " + std::to_string(id) + " does not exist");
  }
  return s;
}

Status StateStore::FinishIntent(int64_t id) {
  auto st = db_->Prepare("DELETE FROM intents WHERE id = ?");
  if (!st.ok()) return st.status();
  return st.value().Bind(1, id).Run();
}

Status StateStore::FinishIntentWith(int64_t id, const std::function<Status()>& body) {
  Transaction tx(db_.get());
  Status s = tx.Begin();
  if (s.ok()) s = body();
  if (s.ok()) s = FinishIntent(id);
  if (s.ok()) s = tx.Commit();
  return s;
}

Result<std::vector<Intent>> StateStore::QueryIntents(const std::string& where,
                                                     const std::string& arg) {
  auto st = db_->Prepare("SELECT id, op, volume, step, data, created_at, updated_at FROM intents " +
                         where + " ORDER BY id");
  if (!st.ok()) return st.status();
  if (!arg.empty()) st.value().Bind(1, arg);
  std::vector<Intent> out;
  for (;;) {
    auto row = st.value().Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const Stmt& s = st.value();
    Intent in;
    in.id = s.Int(0);
    in.op = s.Text(1);
    in.volume = s.Text(2);
    in.step = s.Text(3);
    in.data = nlohmann::json::parse(s.Text(4), nullptr, false);
    if (in.data.is_discarded()) {
      return Status::Error(EUCLEAN, "intent " + std::to_string(in.id) + " has corrupt data");
    }
    in.created_at = s.Int(5);
    in.updated_at = s.Int(6);
    out.push_back(std::move(in));
  }
  return out;
}

Result<std::vector<Intent>> StateStore::PendingIntents() { return QueryIntents("", ""); }

Result<std::optional<Intent>> StateStore::IntentFor(const std::string& volume) {
  auto in = QueryIntents("WHERE volume = ?", volume);
  if (!in.ok()) return in.status();
  if (in->empty()) return std::optional<Intent>();
  return std::optional<Intent>(in->front());
}

Result<std::optional<std::string>> StateStore::GetNodeFact(const std::string& key) {
  auto st = db_->Prepare("SELECT value FROM node WHERE key = ?");
  if (!st.ok()) return st.status();
  auto row = st.value().Bind(1, key).Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(st.value().Text(0));
}

Status StateStore::PutNodeFact(const std::string& key, const std::string& value) {
  auto st = db_->Prepare("INSERT OR REPLACE INTO node (key, value) VALUES (?, ?)");
  if (!st.ok()) return st.status();
  return st.value().Bind(1, key).Bind(2, value).Run();
}

Status StateStore::DeleteNodeFact(const std::string& key) {
  auto st = db_->Prepare("DELETE FROM node WHERE key = ?");
  if (!st.ok()) return st.status();
  return st.value().Bind(1, key).Run();
}

Result<std::vector<std::pair<std::string, std::string>>> StateStore::ListNodeFacts(
    const std::string& prefix) {
  auto st = db_->Prepare("SELECT key, value FROM node WHERE substr(key, 1, ?) = ? ORDER BY key");
  if (!st.ok()) return st.status();
  st.value().Bind(1, static_cast<int64_t>(prefix.size())).Bind(2, prefix);
  std::vector<std::pair<std::string, std::string>> out;
  for (;;) {
    auto row = st.value().Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.emplace_back(st.value().Text(0), st.value().Text(1));
  }
  return out;
}

}  // namespace keel
