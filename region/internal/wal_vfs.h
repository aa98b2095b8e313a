// A SQLite VFS shim that coalesces the writer's WAL appends into one write per commit.
//
// SQLite writes each WAL frame with two pwrite calls (a 24-byte header, then the page), so
// a group commit of 50 documents issues over 100 system calls before its fsync; on this
// kind of virtual machine a system call costs microseconds. The shim buffers consecutive
// appends to the WAL file and hands them to the real file in one write, at the latest when
// SQLite syncs the WAL, reads it, truncates it, asks its size, or closes it.
//
// Safety rests on how SQLite publishes a commit to other connections: it writes the
// wal-index header twice with a memory barrier (xShmBarrier on the database file) between
// the copies, and readers only trust the header when both copies agree. The shim writes a
// transaction's frames out as soon as its commit frame is written (so a full disk fails
// the commit cleanly), at every sync, read or size query, and, as a last guarantee, in
// that barrier: no other connection can ever see a frame still in the buffer, with or
// without synchronous=FULL. Files other than the WAL pass straight through.
#pragma once

namespace region::internal {

// Registers the VFS (idempotent, thread-safe) and returns its name for sqlite3_open_v2.
const char* CoalescingWalVfsName();

}  // namespace region::internal
