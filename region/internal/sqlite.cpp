#include "region/internal/sqlite.h"

#include <sqlite3.h>

#include <cstring>
#include <string>

namespace region::internal {

using crdt::Result;
using crdt::Status;

namespace {
// Memory statistics take a global mutex on every SQLite allocation; nothing here reads
// them. Must run before SQLite initialises, hence at load time.
[[maybe_unused]] const bool kMemStatusOff = [] { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK; }();
}  // namespace

Status StorageError(sqlite3* db, std::string_view what) {
  const char* msg = db ? sqlite3_errmsg(db) : "out of memory";
  std::string text = std::string(what) + ": " + msg;
  // The system's reason, when there is one ("disk I/O error" alone does not say "no space").
  if (const int err = db ? sqlite3_system_errno(db) : 0; err != 0) {
    text += " (errno " + std::to_string(err) + ": " + std::strerror(err) + ")";
  }
  // A full disk is the operator's to fix and passes once space is freed: Unavailable, still
  // reason "storage" (a batch that meets it rolls back whole).
  if (db && (sqlite3_extended_errcode(db) & 0xff) == SQLITE_FULL) {
    return Status(crdt::Code::kUnavailable, "storage", text);
  }
  return Status(crdt::Code::kInternal, "storage", text);
}

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, const char* vfs) {
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &raw, flags, vfs) != SQLITE_OK) {
    Status s = StorageError(raw, "open " + path);
    sqlite3_close(raw);
    return s;
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  return std::unique_ptr<Db>(new Db(raw));
}

Db::~Db() { sqlite3_close_v2(db_); }

Status Db::Exec(std::string_view sql) {
  char* err = nullptr;
  const std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status(crdt::Code::kInternal, "storage", "sql: " + msg);
  }
  return Status::Ok();
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return StorageError(db_, "prepare");
  }
  return Stmt(stmt, db_);
}

int64_t Db::Changes() const { return sqlite3_changes64(db_); }

Stmt& Stmt::operator=(Stmt&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = other.stmt_;
    db_ = other.db_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Stmt& Stmt::Bind(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Stmt& Stmt::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Stmt& Stmt::Bind(int index, const std::optional<std::string>& text) {
  return text ? Bind(index, std::string_view(*text)) : BindNull(index);
}

Result<bool> Stmt::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status s = StorageError(db_, "step");
  sqlite3_reset(stmt_);
  return s;
}

Status Stmt::Run() {
  auto r = Step();
  Reset();
  return r.ok() ? Status::Ok() : r.status();
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string_view Stmt::TextView(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string_view(p, static_cast<size_t>(n)) : std::string_view();
}

std::string Stmt::Text(int col) const { return std::string(TextView(col)); }

}  // namespace region::internal
