// SQLite VFS shims: one coalesces the writer's WAL appends into one write per commit, one
// paces the checkpointer's writes to the database file with syncs, and one only passes
// through (for the other connections); all three stop the process on a failed fsync of the
// database file (below).
//
// Coalescing (CoalescingWalVfsName). SQLite writes each WAL frame with two pwrite calls (a
// 24-byte header, then the page), so a group commit of 50 documents issues over 100 system
// calls before its fsync; on this kind of virtual machine a system call costs microseconds.
// The shim buffers consecutive appends to the WAL file and hands them to the real file in
// one write, at the latest when SQLite syncs the WAL, reads it, truncates it, asks its
// size, or closes it.
//
// Safety rests on how SQLite publishes a commit to other connections: it writes the
// wal-index header twice with a memory barrier (xShmBarrier on the database file) between
// the copies, and readers only trust the header when both copies agree. The shim writes a
// transaction's frames out as soon as its commit frame is written (so a full disk fails
// the commit cleanly), at every sync, read or size query, and, as a last guarantee, in
// that barrier: no other connection can ever see a frame still in the buffer, with or
// without synchronous=FULL. Files other than the WAL pass straight through.
//
// Pacing (PacedSyncVfsName). An fsync ends with a flush of the disk's write cache, and the
// disk first makes durable everything it has been sent, whichever file it came from: while
// a checkpoint pass that copied a few MB into the database file is being fsynced, the
// writer's next WAL fsync waits behind all of it (10-40 ms here, after 4000 frames).
// Through this shim, the database file is synced after every 512 KB written, so that a
// commit's fsync finds at most that much ahead of it (about 0.6 ms of flushing here). It
// adds a sync per 512 KB to the checkpointer's passes, which are off the commit path;
// much smaller steps made them too slow to keep up under a heavy write load. Other files
// pass straight through.
//
// All three end the process when an fsync of a database file fails (a checkpoint's): after
// a failed fsync Linux may drop the unwritten pages and report the error only once, while
// SQLite may already count them as copied out of the WAL; a later fsync that succeeds would
// let the WAL start over without them. The WAL still holds them, and a restart's recovery
// copies them again.
#pragma once

#include <cstdint>

struct sqlite3;

namespace region::internal {

// Register the VFSs (idempotent, thread-safe) and return the name of one for sqlite3_open_v2.
const char* CoalescingWalVfsName();
const char* PacedSyncVfsName();
const char* CheckedSyncVfsName();  // pass-through, but for the stop on a failed fsync
// fsyncs the database file of `db` through its VFS, as SQLite does (SQLITE_SYNC_NORMAL);
// SQLITE_MISUSE when the connection has no database file.
int SyncDatabaseFile(sqlite3* db);
// The syncs the pacing made for the database file of `db` (a connection opened through
// PacedSyncVfsName; 0 for others). Call on the thread that uses `db`.
uint64_t PacedSyncs(sqlite3* db);

}  // namespace region::internal
