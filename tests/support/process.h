// Test support: real meridian processes and scratch directories.
//
// ServerProcess starts the meridian binary (listening on port 0 unless told otherwise),
// waits with a deadline for its "listening on" line, and kills it when destroyed. Its
// stdout and stderr go to files in its data directory's parent, kept for post-mortems.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

namespace testsupport {

// A fresh directory under $TMPDIR (or /tmp), removed when destroyed unless keep() was called.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "meridian-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }
  void keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

class ServerProcess {
 public:
  // Starts `meridian` with `args` (add --listen=127.0.0.1:0 yourself or let this add it),
  // logs to <log_prefix>.out/.err. Throws std::runtime_error if it does not report its URL
  // within `timeout` or exits first; the message includes its stderr. `env` (NAME=value)
  // is added to the environment it inherits.
  static std::unique_ptr<ServerProcess> Start(std::vector<std::string> args, const std::string& log_prefix,
                                              std::chrono::milliseconds timeout = std::chrono::seconds(20),
                                              const std::vector<std::string>& env = {});
  ~ServerProcess();

  const std::string& url() const { return url_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // Sends SIGKILL and reaps the process.
  void Kill();
  // Sends SIGTERM and waits up to `timeout`; returns the exit status (or -1 on timeout,
  // after which the process is killed).
  int Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits up to `timeout` for the process to end by itself; returns its exit status, or
  // 128 + the signal that ended it, or -1 if it still runs.
  int WaitForExit(std::chrono::milliseconds timeout);
  std::string Stderr() const;

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  std::string url_;
  std::string log_prefix_;
};

// The path of the meridian binary under test.
std::string MeridianBinary();

}  // namespace testsupport
