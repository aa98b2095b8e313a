// EventServer: the HTTP/1.1 server of a region, event-driven.
//
// A few event-loop threads (epoll) own every connection: they read and parse requests,
// run the router, and write the answers. What happens to a request depends on its route:
//   - quick routes (health checks) run on the loop itself;
//   - asynchronous routes (document writes) start on the loop and answer when their group
//     commit completes, so a write in flight holds no thread: one commit's answers are
//     written by the loops in one pass instead of waking one thread per write;
//   - every other route runs on a worker thread (reads), and its answer goes back to the
//     loop; routes that wait (long polls) have worker threads of their own, so that however
//     many wait, the other routes still get threads, and a wait ends early when its client
//     closes the connection.
// A connection whose first request is for a takeover route (a WebSocket upgrade) is
// handed, unread, to `handoff` (POCO's server, which speaks WebSocket); the loop only
// peeked at it.
//
// HTTP: keep-alive (HTTP/1.1 by default, HTTP/1.0 on request), pipelined requests answered
// in order, Content-Length and chunked bodies, Expect: 100-continue, idle connections
// closed after a timeout. A body over the limit is answered with 413 as soon as its size
// is known, without reading it, and the connection closes. Malformed requests get a
// problem answer and the connection closes.
//
// Thread-safety: Start() and Stop() from one thread; everything else is internal.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace server {

class Router;

struct EventServerOptions {
  int loops = 2;                   // event-loop threads
  int max_workers = 128;           // threads for blocking routes
  int max_waiters = 1024;          // threads for routes that wait (long polls hold one each)
  int keep_alive_timeout_s = 10;   // idle connections close after this
  size_t max_head_bytes = 65536;   // request line and headers
  size_t max_headers = 100;
  // Bytes of requests all connections may hold unanswered; past it, a connection with a
  // large request (over 1 MiB) still arriving gets 503 server-busy and is closed.
  size_t max_buffered_bytes = size_t{256} << 20;
};

class EventServer {
 public:
  // Takes over a connection (its file descriptor, still blocking-unset and unread).
  using Handoff = std::function<void(int fd)>;

  // `listen_fd`: a bound, listening socket; the server makes it non-blocking and does not
  // close it.
  EventServer(int listen_fd, const Router& router, EventServerOptions options, Handoff handoff);
  ~EventServer();
  EventServer(const EventServer&) = delete;
  EventServer& operator=(const EventServer&) = delete;

  // Starts the loops; false when the system refused an epoll instance or an eventfd.
  bool Start();
  // Stops accepting connections.
  void StopAccepting();
  // Takes no more requests, waits (up to `drain`) for those in flight to be answered (with
  // Connection: close) and their connections to close, then closes what is left and stops
  // the threads. Answers that come later are dropped. Idempotent.
  void Stop(std::chrono::milliseconds drain);

  // Requests being handled right now.
  int in_flight() const;

  struct Impl;  // internal (public for the loops in event_server.cpp)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace server
