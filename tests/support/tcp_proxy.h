// Test support: a userspace TCP proxy on loopback, for partitions and latency between
// regions (this kernel has no netem).
//
// The proxy listens on 127.0.0.1:<port> (picked by the kernel) and forwards every
// connection to the current target. Block() cuts every open connection and refuses new
// ones (connections are accepted and closed at once, as a dead link looks to HTTP);
// Unblock() lets traffic through again. SetDelay() adds latency to every chunk in both
// directions. The target can change at any time (a restarted server on a new port).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace testsupport {

class TcpProxy {
 public:
  TcpProxy();
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // "http://127.0.0.1:PORT" or "127.0.0.1:PORT".
  void SetTarget(const std::string& url);
  void Block();
  void Unblock();
  void SetDelay(int ms) { delay_ms_ = ms; }

 private:
  void AcceptLoop();
  void Pump(int client);
  void CloseAll();

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> blocked_{false};
  std::atomic<int> delay_ms_{0};
  std::mutex mu_;
  uint16_t target_port_ = 0;
  std::set<int> open_fds_;
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace testsupport
