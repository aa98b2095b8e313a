// Test support, loaded with LD_PRELOAD into a meridian process, to make system calls on one
// file fail:
//   - fsync and fdatasync of a file whose path ends with $MERIDIAN_FAIL_FSYNC_SUFFIX fail
//     with EIO, from the call after the first $MERIDIAN_FAIL_FSYNC_AFTER (default 0) such
//     calls on, $MERIDIAN_FAIL_FSYNC_TIMES times (default: every call; 1 is what Linux does,
//     reporting a writeback error once). The pages stay in the page cache: no data is lost.
//   - write, pwrite and pwrite64 to a file whose path ends with $MERIDIAN_FAIL_WRITE_SUFFIX
//     fail with ENOSPC (a full disk), with $MERIDIAN_FAIL_WRITE_AFTER and _TIMES likewise.
// Other calls go to libc.
#include <dlfcn.h>
#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

long EnvLong(const std::string& name, long otherwise) {
  const char* v = std::getenv(name.c_str());
  return v != nullptr ? std::atol(v) : otherwise;
}

bool PathEndsWith(int fd, const char* suffix) {
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

// One kind of failure: its environment variables ($PREFIX_SUFFIX, _AFTER, _TIMES) and the
// count of matching calls so far.
struct Injection {
  const char* prefix;
  std::atomic<long> calls{0};

  bool ShouldFail(int fd) {
    const std::string p = prefix;
    if (!PathEndsWith(fd, std::getenv((p + "_SUFFIX").c_str()))) return false;
    const long call = calls.fetch_add(1);
    const long after = EnvLong(p + "_AFTER", 0);
    const long times = EnvLong(p + "_TIMES", -1);
    return call >= after && (times < 0 || call < after + times);
  }
};

Injection g_fsync{"MERIDIAN_FAIL_FSYNC"};
Injection g_write{"MERIDIAN_FAIL_WRITE"};

template <typename Fn>
Fn Real(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

int Sync(const char* name, int fd) {
  if (g_fsync.ShouldFail(fd)) {
    errno = EIO;
    return -1;
  }
  auto real = Real<int (*)(int)>(name);
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return real(fd);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int fsync(int fd) { return Sync("fsync", fd); }
extern "C" __attribute__((visibility("default"))) int fdatasync(int fd) { return Sync("fdatasync", fd); }

extern "C" __attribute__((visibility("default"))) ssize_t write(int fd, const void* buf, size_t n) {
  if (g_write.ShouldFail(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return Real<ssize_t (*)(int, const void*, size_t)>("write")(fd, buf, n);
}

extern "C" __attribute__((visibility("default"))) ssize_t pwrite(int fd, const void* buf, size_t n, off_t at) {
  if (g_write.ShouldFail(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return Real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite")(fd, buf, n, at);
}

extern "C" __attribute__((visibility("default"))) ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t at) {
  if (g_write.ShouldFail(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return Real<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64")(fd, buf, n, at);
}
