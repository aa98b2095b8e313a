// One process per data directory: an exclusive flock on <dir>/LOCK, held while the region is
// open. A second process on the same directory would keep its own sequence numbers and log
// positions in memory and write duplicates of the first one's; it is refused instead.
#pragma once

#include <memory>
#include <string>

#include "crdt/status.h"

namespace region::internal {

class DirLock {
 public:
  // Locks `dir`/LOCK (created if missing) and writes this process's id into it. Fails with
  // reason "data-dir-in-use", naming the holder's pid when it can be read, if another open
  // file description holds the lock (another process, or another Node in this one).
  static crdt::Result<std::unique_ptr<DirLock>> Acquire(const std::string& dir);
  ~DirLock();  // closing the file releases the lock
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace region::internal
