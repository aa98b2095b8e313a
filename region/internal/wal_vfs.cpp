#include "region/internal/wal_vfs.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <new>
#include <vector>

#include <sqlite3.h>

namespace region::internal {
namespace {

constexpr size_t kMaxBuffered = 4 << 20;  // flush earlier than this, whatever happens
// SQLite's unix VFS silently masks a write's length to 17 bits: never hand it more.
constexpr size_t kMaxWrite = 64 << 10;
// How much the checkpointer writes to the database file between two syncs (see wal_vfs.h).
constexpr sqlite3_int64 kPacedSync = 512 << 10;

struct Pending {
  std::vector<char> bytes;
  sqlite3_int64 offset = 0;  // file offset of bytes[0]
  bool commit_frame = false; // the last header written was a commit frame's
};

// A WAL frame header is 24 bytes; bytes 4..7 hold the database size after a commit, and are
// zero in every frame but a transaction's last.
constexpr int kFrameHeader = 24;
bool IsCommitHeader(const char* bytes, int amt) {
  return amt == kFrameHeader && (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
}

struct ShimFile {
  sqlite3_file base;
  sqlite3_file* real;  // the wrapped file, stored right after this struct
  Pending* pending;    // WAL files only; nullptr otherwise
  ShimFile* wal;       // a database file's WAL, while both are open
  ShimFile* db;        // a WAL file's database file
  std::string* path;   // database files: the registry key
  // Paced database files (the checkpointer's): bytes written since the last sync, the
  // amount after which a write syncs (0 for other files), and the syncs it made.
  sqlite3_int64 unsynced;
  sqlite3_int64 sync_every;
  uint64_t paced_syncs;
  bool main_db;       // a main database file (SQLITE_OPEN_MAIN_DB)
  const char* name;   // the file's path as SQLite gave it (valid until xClose), or nullptr
};

// Database files by path, so that a WAL file finds its database file when it opens (SQLite
// does not tell the VFS which database a WAL belongs to).
std::mutex g_registry_mu;
std::map<std::string, ShimFile*>* g_registry = nullptr;

sqlite3_vfs* g_real_vfs = nullptr;
sqlite3_vfs g_vfs;
sqlite3_vfs g_paced_vfs;
sqlite3_vfs g_checked_vfs;
sqlite3_io_methods g_methods;

sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->real; }

// A failed fsync of a database file ends the process. The checkpoint that wrote those pages
// may already count them as copied (SQLite advances its mark without a sync when a pass
// does not reach the end of the WAL), and after a failed fsync Linux may drop the dirty
// pages and report the error only once: a later fsync could succeed and let the WAL be
// started over without them. The WAL is only started over after a successful fsync, so
// it still holds every such page, and a restart's recovery copies them again.
int SyncDatabaseOrDie(ShimFile* s, int flags) {
  const int rc = s->real->pMethods->xSync(s->real, flags);
  if (rc != SQLITE_OK) {
    int error = 0;
    s->real->pMethods->xFileControl(s->real, SQLITE_FCNTL_LAST_ERRNO, &error);
    std::fprintf(stderr,
                 "meridian: fatal: fsync of the database file %s failed (%s, errno %d: %s). Stopping so that "
                 "nothing is lost: at the next start SQLite recovers from its log the pages this fsync may not "
                 "have written. Check the disk (dmesg); do not delete the -wal or -shm files.\n",
                 s->name ? s->name : "?", sqlite3_errstr(rc), error, std::strerror(error));
    std::abort();
  }
  return rc;
}

int Flush(sqlite3_file* f) {
  auto* s = reinterpret_cast<ShimFile*>(f);
  if (!s->pending || s->pending->bytes.empty()) return SQLITE_OK;
  const std::vector<char>& bytes = s->pending->bytes;
  int rc = SQLITE_OK;
  for (size_t done = 0; done < bytes.size() && rc == SQLITE_OK; done += kMaxWrite) {
    const size_t n = std::min(kMaxWrite, bytes.size() - done);
    rc = s->real->pMethods->xWrite(s->real, bytes.data() + done, static_cast<int>(n),
                                   s->pending->offset + static_cast<sqlite3_int64>(done));
  }
  s->pending->bytes.clear();
  return rc;
}

int Close(sqlite3_file* f) {
  auto* s = reinterpret_cast<ShimFile*>(f);
  {
    std::lock_guard lock(g_registry_mu);
    if (s->db) s->db->wal = nullptr;
    if (s->wal) s->wal->db = nullptr;
    if (s->path) {
      auto it = g_registry->find(*s->path);
      if (it != g_registry->end() && it->second == s) g_registry->erase(it);
      delete s->path;
      s->path = nullptr;
    }
  }
  int rc = Flush(f);
  const int rc2 = s->real->pMethods ? s->real->pMethods->xClose(s->real) : SQLITE_OK;
  delete s->pending;
  s->pending = nullptr;
  return rc != SQLITE_OK ? rc : rc2;
}

int Read(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xRead(Real(f), buf, amt, off);
}

int Write(sqlite3_file* f, const void* buf, int amt, sqlite3_int64 off) {
  auto* s = reinterpret_cast<ShimFile*>(f);
  if (!s->pending) {
    int rc = s->real->pMethods->xWrite(s->real, buf, amt, off);
    if (rc == SQLITE_OK && s->sync_every > 0 && (s->unsynced += amt) >= s->sync_every) {
      s->unsynced = 0;
      rc = SyncDatabaseOrDie(s, SQLITE_SYNC_NORMAL);
      ++s->paced_syncs;
    }
    return rc;
  }
  Pending& p = *s->pending;
  const auto end = p.offset + static_cast<sqlite3_int64>(p.bytes.size());
  const auto* bytes = static_cast<const char*>(buf);
  if (!p.bytes.empty() && off >= p.offset && off + amt <= end) {
    // SQLite rewrites a frame of the open transaction: patch it in place.
    std::memcpy(p.bytes.data() + (off - p.offset), bytes, static_cast<size_t>(amt));
    return SQLITE_OK;
  }
  if (p.bytes.empty() || off != end || p.bytes.size() + static_cast<size_t>(amt) > kMaxBuffered) {
    if (int rc = Flush(f); rc != SQLITE_OK) return rc;
    p.offset = off;
  }
  p.bytes.insert(p.bytes.end(), bytes, bytes + amt);
  // A transaction ends with its commit frame (header, then page): write it out now, while
  // SQLite can still fail the commit cleanly if the disk refuses.
  if (p.commit_frame && amt != kFrameHeader) {
    p.commit_frame = false;
    return Flush(f);
  }
  p.commit_frame = IsCommitHeader(bytes, amt);
  return SQLITE_OK;
}

int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xTruncate(Real(f), size);
}

int Sync(sqlite3_file* f, int flags) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  auto* s = reinterpret_cast<ShimFile*>(f);
  s->unsynced = 0;
  if (s->main_db) return SyncDatabaseOrDie(s, flags);
  return Real(f)->pMethods->xSync(Real(f), flags);
}

int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xFileSize(Real(f), size);
}

int Lock(sqlite3_file* f, int level) { return Real(f)->pMethods->xLock(Real(f), level); }
int Unlock(sqlite3_file* f, int level) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xUnlock(Real(f), level);
}
int CheckReservedLock(sqlite3_file* f, int* out) { return Real(f)->pMethods->xCheckReservedLock(Real(f), out); }
int FileControl(sqlite3_file* f, int op, void* arg) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) { return Real(f)->pMethods->xDeviceCharacteristics(Real(f)); }
int ShmMap(sqlite3_file* f, int pg, int pgsz, int extend, void volatile** pp) {
  return Real(f)->pMethods->xShmMap(Real(f), pg, pgsz, extend, pp);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
// SQLite publishes new WAL frames to other connections by writing the wal-index header
// twice with a barrier between the copies; readers accept the header only when both copies
// agree. Commit frames are flushed as soon as they are written (above), so this flush
// normally finds nothing; it is the guarantee that no reader ever sees a buffered frame.
// A failure here cannot be reported to SQLite, so the process stops rather than let
// readers see frames that are not on disk.
void ShmBarrier(sqlite3_file* f) {
  auto* s = reinterpret_cast<ShimFile*>(f);
  if (s->wal && Flush(&s->wal->base) != SQLITE_OK) {
    std::fprintf(stderr, "meridian: fatal: cannot write the WAL of %s\n", s->path ? s->path->c_str() : "?");
    std::abort();
  }
  Real(f)->pMethods->xShmBarrier(Real(f));
}
int ShmUnmap(sqlite3_file* f, int del) { return Real(f)->pMethods->xShmUnmap(Real(f), del); }
int Fetch(sqlite3_file* f, sqlite3_int64 off, int amt, void** pp) {
  if (int rc = Flush(f); rc != SQLITE_OK) return rc;
  return Real(f)->pMethods->xFetch(Real(f), off, amt, pp);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return Real(f)->pMethods->xUnfetch(Real(f), off, p); }

int OpenReal(sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* s = reinterpret_cast<ShimFile*>(f);
  s->real = reinterpret_cast<sqlite3_file*>(s + 1);
  s->pending = nullptr;
  s->wal = nullptr;
  s->db = nullptr;
  s->path = nullptr;
  s->unsynced = 0;
  s->sync_every = 0;
  s->paced_syncs = 0;
  s->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
  s->name = name;
  s->base.pMethods = nullptr;
  const int rc = g_real_vfs->xOpen(g_real_vfs, name, s->real, flags, out_flags);
  if (rc == SQLITE_OK) s->base.pMethods = &g_methods;
  return rc;
}

int OpenChecked(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  return OpenReal(name, f, flags, out_flags);
}

int OpenPaced(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  const int rc = OpenReal(name, f, flags, out_flags);
  if (rc == SQLITE_OK && (flags & SQLITE_OPEN_MAIN_DB)) {
    reinterpret_cast<ShimFile*>(f)->sync_every = kPacedSync;
  }
  return rc;
}

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* s = reinterpret_cast<ShimFile*>(f);
  const int rc = OpenReal(name, f, flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  if (!name) return SQLITE_OK;
  std::lock_guard lock(g_registry_mu);
  if (flags & SQLITE_OPEN_MAIN_DB) {
    if (!g_registry->count(name)) {
      s->path = new std::string(name);
      (*g_registry)[name] = s;
    }
  } else if (flags & SQLITE_OPEN_WAL) {
    // Buffer only when the database file is known: its barrier is what flushes.
    const std::string wal(name);
    const std::string db = wal.size() > 4 ? wal.substr(0, wal.size() - 4) : "";
    auto it = g_registry->find(db);
    if (it != g_registry->end() && !it->second->wal) {
      s->pending = new (std::nothrow) Pending();
      if (s->pending) {
        s->db = it->second;
        it->second->wal = s;
      }
    }
  }
  return SQLITE_OK;
}

int Delete(sqlite3_vfs*, const char* name, int sync_dir) { return g_real_vfs->xDelete(g_real_vfs, name, sync_dir); }
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real_vfs->xAccess(g_real_vfs, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real_vfs->xFullPathname(g_real_vfs, name, n, out);
}
int Randomness(sqlite3_vfs*, int n, char* out) { return g_real_vfs->xRandomness(g_real_vfs, n, out); }
int Sleep(sqlite3_vfs*, int us) { return g_real_vfs->xSleep(g_real_vfs, us); }
int CurrentTime(sqlite3_vfs*, double* t) { return g_real_vfs->xCurrentTime(g_real_vfs, t); }
int GetLastError(sqlite3_vfs*, int n, char* out) { return g_real_vfs->xGetLastError(g_real_vfs, n, out); }
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* t) { return g_real_vfs->xCurrentTimeInt64(g_real_vfs, t); }

void Register() {
  g_registry = new std::map<std::string, ShimFile*>();
  g_real_vfs = sqlite3_vfs_find(nullptr);
  g_methods = sqlite3_io_methods{3,         Close,    Read,      Write,          Truncate, Sync,    FileSize,
                                 Lock,      Unlock,   CheckReservedLock, FileControl, SectorSize,
                                 DeviceCharacteristics, ShmMap, ShmLock,   ShmBarrier,     ShmUnmap, Fetch,   Unfetch};
  std::memset(&g_vfs, 0, sizeof g_vfs);
  g_vfs.iVersion = 2;
  g_vfs.szOsFile = static_cast<int>(sizeof(ShimFile)) + g_real_vfs->szOsFile;
  g_vfs.mxPathname = g_real_vfs->mxPathname;
  g_vfs.zName = "meridian-wal";
  g_vfs.xOpen = Open;
  g_vfs.xDelete = Delete;
  g_vfs.xAccess = Access;
  g_vfs.xFullPathname = FullPathname;
  g_vfs.xRandomness = Randomness;
  g_vfs.xSleep = Sleep;
  g_vfs.xCurrentTime = CurrentTime;
  g_vfs.xGetLastError = GetLastError;
  g_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
  g_paced_vfs = g_vfs;
  g_paced_vfs.zName = "meridian-paced";
  g_paced_vfs.xOpen = OpenPaced;
  g_checked_vfs = g_vfs;
  g_checked_vfs.zName = "meridian-checked";
  g_checked_vfs.xOpen = OpenChecked;
  sqlite3_vfs_register(&g_vfs, /*makeDflt=*/0);
  sqlite3_vfs_register(&g_paced_vfs, /*makeDflt=*/0);
  sqlite3_vfs_register(&g_checked_vfs, /*makeDflt=*/0);
}

std::once_flag g_once;

}  // namespace

const char* CoalescingWalVfsName() {
  std::call_once(g_once, Register);
  return g_vfs.zName;
}

const char* PacedSyncVfsName() {
  std::call_once(g_once, Register);
  return g_paced_vfs.zName;
}

const char* CheckedSyncVfsName() {
  std::call_once(g_once, Register);
  return g_checked_vfs.zName;
}

namespace {
sqlite3_file* DatabaseFile(sqlite3* db) {
  sqlite3_file* f = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK) return nullptr;
  return f != nullptr && f->pMethods != nullptr ? f : nullptr;
}
}  // namespace

int SyncDatabaseFile(sqlite3* db) {
  sqlite3_file* f = DatabaseFile(db);
  return f != nullptr ? f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) : SQLITE_MISUSE;
}

uint64_t PacedSyncs(sqlite3* db) {
  sqlite3_file* f = DatabaseFile(db);
  return f != nullptr && f->pMethods == &g_methods ? reinterpret_cast<ShimFile*>(f)->paced_syncs : 0;
}

}  // namespace region::internal
