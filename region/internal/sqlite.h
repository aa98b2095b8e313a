// Thin RAII wrapper over the SQLite C API: a connection and prepared statements.
//
// Errors are Status values (reason "storage"); nothing throws. A Db is used by one thread
// at a time (the owner serialises); statements belong to their Db and must not outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "crdt/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace region::internal {

class Stmt;

class Db {
 public:
  // How long a statement waits for a lock another connection holds before SQLITE_BUSY.
  static constexpr int kBusyTimeoutMs = 5000;
  // Opens (creating if absent) the database file at `path`, through the named VFS
  // (nullptr: SQLite's default).
  static crdt::Result<std::unique_ptr<Db>> Open(const std::string& path, const char* vfs = nullptr);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements without results.
  crdt::Status Exec(std::string_view sql);
  crdt::Result<Stmt> Prepare(std::string_view sql);
  int64_t Changes() const;
  sqlite3* raw() { return db_; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// A prepared statement. Bind with 1-based indexes, Step, read columns 0-based, Reset.
class Stmt {
 public:
  Stmt() = default;
  Stmt(Stmt&& other) noexcept : stmt_(other.stmt_), db_(other.db_) { other.stmt_ = nullptr; }
  Stmt& operator=(Stmt&& other) noexcept;
  ~Stmt();

  Stmt& Bind(int index, int64_t value);
  Stmt& Bind(int index, std::string_view text);
  Stmt& Bind(int index, const std::string& text) { return Bind(index, std::string_view(text)); }
  Stmt& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Stmt& BindNull(int index);
  Stmt& Bind(int index, const std::optional<std::string>& text);

  // True when a row is available; false when done. Errors become a Status.
  crdt::Result<bool> Step();
  // Steps to completion, expecting no rows.
  crdt::Status Run();
  void Reset();

  bool IsNull(int col) const;
  int64_t Int(int col) const;
  std::string Text(int col) const;
  std::string_view TextView(int col) const;  // valid until the next Step/Reset

 private:
  friend class Db;
  Stmt(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
};

// Status from the connection's last error, with `what` for context: reason "storage",
// code Unavailable for a full disk (it passes once space is freed), Internal otherwise.
crdt::Status StorageError(sqlite3* db, std::string_view what);
inline bool IsDiskFull(const crdt::Status& s) {
  return s.reason() == "storage" && s.code() == crdt::Code::kUnavailable;
}

}  // namespace region::internal
