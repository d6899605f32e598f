#include "manager/state/sqlite.h"

#include <cerrno>

namespace keel {

Result<std::unique_ptr<Db>> Db::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return Status::Error(EIO, "cannot open database " + path + ": " + msg);
  }
  std::unique_ptr<Db> db(new Db(raw, path));
  sqlite3_busy_timeout(raw, 5000);
  Status s = db->Exec("PRAGMA journal_mode=WAL");
  if (s.ok()) s = db->Exec("PRAGMA synchronous=FULL");
  if (s.ok()) s = db->Exec("PRAGMA foreign_keys=ON");
  if (!s.ok()) return s;
  auto mode = db->JournalMode();
  if (!mode.ok()) return mode.status();
  if (*mode != "wal") {
    return Status::Error(EIO, "database " + path + " refused WAL mode (journal_mode=" + *mode +
                                  "): is the data directory on a file system that supports it?");
  }
  return db;
}

Db::~Db() { sqlite3_close_v2(db_); }

Status Db::Error(const std::string& what) const {
  int rc = sqlite3_errcode(db_);
  int code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? EBUSY
             : rc == SQLITE_FULL                        ? ENOSPC
             : rc == SQLITE_CONSTRAINT                  ? EEXIST
                                                        : EIO;
  return Status::Error(code, what + " (" + path_ + "): " + sqlite3_errmsg(db_));
}

Status Db::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Status::Error(rc == SQLITE_BUSY ? EBUSY : EIO,
                         "database " + path_ + ": " + msg + " (in: " + sql.substr(0, 60) + ")");
  }
  return Status();
}

Result<Stmt> Db::Prepare(const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    return Error("prepare '" + sql.substr(0, 60) + "'");
  }
  return Stmt(this, st);
}

Result<std::string> Db::JournalMode() {
  auto st = Prepare("PRAGMA journal_mode");
  if (!st.ok()) return st.status();
  auto row = st.value().Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::Error(EIO, "PRAGMA journal_mode returned nothing");
  return st.value().Text(0);
}

int64_t Db::LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }
int Db::Changes() const { return sqlite3_changes(db_); }

Stmt::~Stmt() {
  if (st_) sqlite3_finalize(st_);
}

Stmt& Stmt::Bind(int i, int64_t v) {
  if (sqlite3_bind_int64(st_, i, v) != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = db_->Error("bind");
  }
  return *this;
}

Stmt& Stmt::Bind(int i, const std::string& v) {
  if (sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) !=
          SQLITE_OK &&
      bind_error_.ok()) {
    bind_error_ = db_->Error("bind");
  }
  return *this;
}

Stmt& Stmt::BindNull(int i) {
  if (sqlite3_bind_null(st_, i) != SQLITE_OK && bind_error_.ok()) bind_error_ = db_->Error("bind");
  return *this;
}

Result<bool> Stmt::Step() {
  if (!bind_error_.ok()) return bind_error_;
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(std::string("step '") + sqlite3_sql(st_) + "'");
}

Status Stmt::Run() {
  for (;;) {
    auto r = Step();
    if (!r.ok()) return r.status();
    if (!*r) return Status();
  }
}

int64_t Stmt::Int(int col) const { return sqlite3_column_int64(st_, col); }

std::string Stmt::Text(int col) const {
  const unsigned char* t = sqlite3_column_text(st_, col);
  int n = sqlite3_column_bytes(st_, col);
  return t ? std::string(reinterpret_cast<const char*>(t), n) : std::string();
}

bool Stmt::IsNull(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }

Transaction::~Transaction() {
  if (open_) db_->Exec("ROLLBACK");
}

Status Transaction::Begin() {
  Status s = db_->Exec("BEGIN IMMEDIATE");
  if (s.ok()) open_ = true;
  return s;
}

Status Transaction::Commit() {
  Status s = db_->Exec("COMMIT");
  if (s.ok()) open_ = false;
  return s;
}

}  // namespace keel
