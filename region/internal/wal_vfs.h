// A SQLite VFS shim that coalesces the writer's WAL appends into one write per commit.
//
// SQLite writes each WAL frame with two pwrite calls (a 24-byte header, then the page), so
// a group commit of 50 documents issues over 100 system calls before its fsync; on this
// kind of virtual machine a system call costs microseconds. The shim buffers consecutive
// appends to the WAL file and hands them to the real file in one write, at the latest when
// SQLite syncs the WAL, reads it, truncates it, asks its size, or closes it.
//
// Safety rests on one SQLite property: with synchronous=FULL, a commit syncs the WAL
// before it publishes the new frames in the wal-index, so no other connection can read a
// frame that is still in the buffer. Use it only for connections with synchronous=FULL
// (region::Store does). Files other than the WAL pass straight through.
#pragma once

namespace region::internal {

// Registers the VFS (idempotent, thread-safe) and returns its name for sqlite3_open_v2.
const char* CoalescingWalVfsName();

}  // namespace region::internal
