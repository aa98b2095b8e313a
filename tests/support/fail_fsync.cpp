// Test support, loaded with LD_PRELOAD into a meridian process: fsync and fdatasync of a
// file whose path ends with $MERIDIAN_FAIL_FSYNC_SUFFIX fail with EIO, from the call after
// the first $MERIDIAN_FAIL_FSYNC_AFTER (default 0) such calls on, $MERIDIAN_FAIL_FSYNC_TIMES
// times (default: every call; 1 is what Linux does, reporting a writeback error once).
// Other calls go to libc. The pages stay in the page cache: no data is really lost.
#include <dlfcn.h>
#include <errno.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool PathEndsWithSuffix(int fd) {
  const char* suffix = std::getenv("MERIDIAN_FAIL_FSYNC_SUFFIX");
  if (suffix == nullptr || *suffix == '\0') return false;
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char path[4096];
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  const size_t len = std::strlen(suffix);
  return static_cast<size_t>(n) >= len && std::strcmp(path + n - len, suffix) == 0;
}

std::atomic<long> g_matching_calls{0};

long EnvLong(const char* name, long otherwise) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atol(v) : otherwise;
}

bool ShouldFail(int fd) {
  if (!PathEndsWithSuffix(fd)) return false;
  const long call = g_matching_calls.fetch_add(1);
  const long after = EnvLong("MERIDIAN_FAIL_FSYNC_AFTER", 0);
  const long times = EnvLong("MERIDIAN_FAIL_FSYNC_TIMES", -1);
  return call >= after && (times < 0 || call < after + times);
}

using SyncFn = int (*)(int);

int Call(const char* name, int fd) {
  if (ShouldFail(fd)) {
    errno = EIO;
    return -1;
  }
  auto real = reinterpret_cast<SyncFn>(dlsym(RTLD_NEXT, name));
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return real(fd);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int fsync(int fd) { return Call("fsync", fd); }
extern "C" __attribute__((visibility("default"))) int fdatasync(int fd) { return Call("fdatasync", fd); }
