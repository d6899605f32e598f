// A thin RAII wrapper over SQLite: a connection (Db) and prepared statements
// (Stmt), with errors as Status values.  Used by the node state store and the
// embedded kvdb.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "manager/common/status.h"

namespace keel {

class Stmt;

class Db {
 public:
  // Opens (creating if needed) a database file: WAL journal, synchronous
  // FULL (a committed transaction survives power loss), foreign keys on,
  // a busy timeout.
  static Result<std::unique_ptr<Db>> Open(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  Status Exec(const std::string& sql);
  Result<Stmt> Prepare(const std::string& sql);
  // journal_mode as SQLite reports it ("wal").
  Result<std::string> JournalMode();
  int64_t LastInsertRowid() const;
  int Changes() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() { return db_; }

  // An error naming what failed and SQLite's message.
  Status Error(const std::string& what) const;

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

class Stmt {
 public:
  Stmt(Stmt&& o) noexcept : db_(o.db_), st_(o.st_) { o.st_ = nullptr; }
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt();

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, const std::string& v);
  Stmt& BindNull(int i);
  // One step: true if a row is ready, false when done.
  Result<bool> Step();
  // Runs to completion (for statements without rows).
  Status Run();
  int64_t Int(int col) const;
  std::string Text(int col) const;
  bool IsNull(int col) const;

 private:
  friend class Db;
  Stmt(Db* db, sqlite3_stmt* st) : db_(db), st_(st) {}
  Db* db_;
  sqlite3_stmt* st_;
  Status bind_error_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Db* db) : db_(db) {}
  ~Transaction();
  Status Begin();
  Status Commit();

 private:
  Db* db_;
  bool open_ = false;
};

}  // namespace keel
