#include "server/event_server.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "region/threads.h"
#include "server/http.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/problem.h"
#include "server/router.h"

namespace server {

using crdt::Status;
using Clock = std::chrono::steady_clock;

// epoll tags of the two descriptors that are not connections.
constexpr uint64_t kListenTag = ~uint64_t{0};
constexpr uint64_t kWakeTag = ~uint64_t{0} - 1;

namespace {

constexpr size_t kReadChunk = 65536;
constexpr size_t kMaxPendingOut = 4 << 20;  // stop answering pipelined requests until it drains
constexpr size_t kMaxMethod = 16;
constexpr size_t kLoopBodyBytes = 64 << 10;  // larger bodies are parsed on a worker thread
// An unfinished request this large may be refused when the server holds too many bytes.
constexpr int64_t kLargePartial = 1 << 20;
constexpr auto kHeadDeadline = std::chrono::seconds(30);  // a request must arrive whole within this
// The methods metrics count by name; any other is counted as "other".
constexpr const char* kKnownMethods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

const char* Reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// True when the comma-separated header value lists `token` (case-insensitive).
bool HasToken(std::string_view value, std::string_view token) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view part = value.substr(pos, comma - pos);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (IEquals(part, token)) return true;
    pos = comma + 1;
  }
  return false;
}

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// The parsed head of a request.
struct Head {
  std::string method;
  std::string target;
  bool http11 = true;
  Request::Headers headers;
  size_t length = 0;  // bytes of the head, blank line included

  const std::string* Find(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (IEquals(k, name)) return &v;
    }
    return nullptr;
  }
};

// Parses the head in data[0, end) (end just past "\r\n\r\n"). Returns an error reply on
// malformed input.
std::optional<Reply> ParseHead(std::string_view data, size_t max_headers, Head* head) {
  auto bad = [](const std::string& what) {
    Reply r = ProblemReply(Status::InvalidArgument("bad-request", what));
    r.close = true;
    return r;
  };
  size_t eol = data.find("\r\n");
  const std::string_view line = data.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1) {
    return bad("malformed request line");
  }
  head->method = std::string(line.substr(0, sp1));
  head->target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  const std::string_view version = line.substr(sp2 + 1);
  if (!std::all_of(head->method.begin(), head->method.end(), IsTokenChar)) return bad("malformed method");
  if (head->method.size() > kMaxMethod) return bad("method name too long");
  if (version == "HTTP/1.1") {
    head->http11 = true;
  } else if (version == "HTTP/1.0") {
    head->http11 = false;
  } else {
    return bad("unsupported HTTP version (HTTP/1.0 and HTTP/1.1 are served)");
  }
  for (char c : head->target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return bad("malformed request target");
  }
  size_t pos = eol + 2;
  while (pos < data.size()) {
    eol = data.find("\r\n", pos);
    if (eol == pos) break;  // the blank line
    const std::string_view field = data.substr(pos, eol - pos);
    pos = eol + 2;
    if (field.front() == ' ' || field.front() == '\t') return bad("folded header lines are not accepted");
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return bad("malformed header line");
    const std::string_view name = field.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), IsTokenChar)) return bad("malformed header name");
    std::string_view value = field.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    // No control characters in a value (a bare CR or LF would let a header hide another).
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) return bad("control character in a header value");
    }
    if (head->headers.size() >= max_headers) {
      Reply r = ProblemReply(Status(crdt::Code::kInvalidArgument, "headers-too-large", "too many header fields"));
      r.close = true;
      return r;
    }
    head->headers.emplace_back(std::string(name), std::string(value));
  }
  return std::nullopt;
}

// Decodes a chunked body starting at data[0], resuming at *resume (where a chunk-size line
// starts) with what *body holds so far, so that a body arriving in many reads is decoded
// once. Returns false when more bytes are needed; on true, *consumed covers the body
// (trailers included). Sets *error on malformed input and *too_large as soon as the
// decoded size passes `max`.
bool DecodeChunked(std::string_view data, size_t max, size_t* resume, std::string* body, size_t* consumed,
                   bool* too_large, std::optional<Reply>* error) {
  size_t pos = *resume;
  while (true) {
    *resume = pos;
    const size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      if (data.size() - pos > 1024) *error = ProblemReply(Status::InvalidArgument("bad-request", "malformed chunk size"));
      return false;
    }
    std::string_view size_text = data.substr(pos, eol - pos);
    size_text = size_text.substr(0, size_text.find(';'));  // extensions are ignored
    while (!size_text.empty() && (size_text.back() == ' ' || size_text.back() == '\t')) size_text.remove_suffix(1);
    if (size_text.empty() || size_text.size() > 15 ||
        !std::all_of(size_text.begin(), size_text.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
      *error = ProblemReply(Status::InvalidArgument("bad-request", "malformed chunk size"));
      return false;
    }
    const size_t size = std::stoull(std::string(size_text), nullptr, 16);
    pos = eol + 2;
    if (size == 0) {
      // Trailer fields, then a blank line.
      while (true) {
        const size_t end = data.find("\r\n", pos);
        if (end == std::string_view::npos) return false;
        if (end == pos) {
          *consumed = end + 2;
          return true;
        }
        pos = end + 2;
      }
    }
    if (body->size() + size > max) {
      *too_large = true;
      return false;
    }
    if (data.size() < pos + size + 2) {
      // Incomplete: the decoded size so far may already tell us the body is too large.
      if (body->size() + std::min(size, data.size() - pos) > max) *too_large = true;
      return false;
    }
    body->append(data.data() + pos, size);
    if (data.substr(pos + size, 2) != "\r\n") {
      *error = ProblemReply(Status::InvalidArgument("bad-request", "malformed chunk"));
      return false;
    }
    pos += size + 2;
  }
}

// Threads for routes that may block.
class WorkerPool {
 public:
  WorkerPool(int max, const char* thread_name) : max_(std::max(1, max)), thread_name_(thread_name) {}
  ~WorkerPool() { Stop(); }

  // All or nothing: either the task is queued and some thread will run it, or Run throws and
  // nothing is queued (the caller answers the request itself). A thread that cannot be
  // started is not an error while another one can take the task later.
  void Run(std::function<void()> task) {
    std::unique_lock lock(mu_);
    tasks_.push_back(std::move(task));
    if (static_cast<int>(tasks_.size()) > idle_ && static_cast<int>(threads_.size()) < max_) {
      try {
        threads_.emplace_back([this] {
          region::NameThread(thread_name_);
          Work();
        });
        return;
      } catch (const std::exception& e) {
        if (threads_.empty()) {
          tasks_.pop_back();
          throw;
        }
        // Said at most once a minute: under a thread limit it would repeat for every request.
        const auto now = std::chrono::steady_clock::now();
        if (now - last_warning_ >= std::chrono::minutes(1)) {
          last_warning_ = now;
          Log(LogLevel::kWarning, "cannot start another worker thread; the request waits for a busy one",
              {{"error", e.what()}, {"threads", std::to_string(threads_.size())}});
        }
      }
    }
    cv_.notify_one();
  }

  void Stop() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      threads.swap(threads_);
    }
    cv_.notify_all();
    for (auto& t : threads) t.join();
  }

 private:
  void Work() {
    std::unique_lock lock(mu_);
    while (true) {
      ++idle_;
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      --idle_;
      if (tasks_.empty()) return;  // stopping
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  const int max_;
  const char* const thread_name_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  int idle_ = 0;
  std::chrono::steady_clock::time_point last_warning_{};
  bool stopping_ = false;
};

}  // namespace

struct Loop;

struct Conn {
  int fd = -1;
  Loop* loop = nullptr;
  std::string in;
  std::string out;
  size_t out_pos = 0;
  bool first = true;        // nothing consumed yet: the first request is only peeked at
  bool busy = false;        // a request is being handled
  bool closed = false;
  bool close_after = false;  // close once the pending answer is written
  bool peer_closed = false;  // the client sent FIN: answer what was sent, then close
  bool continue_sent = false;
  bool read_paused = false;  // stopped reading: enough is buffered until an answer goes out
  bool rdhup = false;        // the kernel reported the peer's FIN: read to the end
  uint32_t gen = 0;          // tells this connection's events from those of an earlier one on its fd
  std::optional<Clock::time_point> partial_since;  // a request started arriving and is not whole yet
  int64_t accounted = 0;     // bytes of `in` counted in the server's `buffered`
  size_t chunk_resume = 0;   // a chunked body being received: where decoding resumes
  std::string chunk_body;    // and what it decoded so far
  Clock::time_point last_active;
  // The request being handled.
  std::shared_ptr<Request> request;  // shared with a worker running its handler
  int route_index = -1;
  std::string method;
  bool keep_alive = true;
  Clock::time_point started;
  std::optional<Reply> sync_reply;  // answered on the loop thread while being dispatched
};

struct EventServer::Impl {
  Impl(int listen_fd, const Router& router, EventServerOptions options, Handoff handoff)
      : listen_fd(listen_fd), router(router), options(std::move(options)), handoff(std::move(handoff)),
        workers(this->options.max_workers, "http-worker"),
        waiters(this->options.max_waiters, "http-waiter") {}

  int listen_fd;
  const Router& router;
  const EventServerOptions options;
  Handoff handoff;
  WorkerPool workers;
  WorkerPool waiters;  // for routes that wait
  std::vector<std::unique_ptr<Loop>> loops;
  std::atomic<int> in_flight{0};
  std::atomic<int> open{0};  // connections the loops own
  std::atomic<int64_t> buffered{0};  // bytes of requests read and not yet answered, all connections
  std::atomic<size_t> next_loop{0};  // the loop the next accepted connection goes to
  std::atomic<bool> draining{false};  // answer what is in flight with Connection: close, take no more
  bool started = false;
  bool stopped = false;
  ~Impl();
};

struct Loop {
  EventServer::Impl* server = nullptr;
  int epfd = -1;
  int evfd = -1;
  std::thread thread;
  std::thread::id thread_id;
  std::atomic<bool> stopping{false};
  std::atomic<bool> accepting{true};
  std::unordered_map<int, std::shared_ptr<Conn>> conns;
  std::mutex posted_mu;
  std::vector<std::pair<std::shared_ptr<Conn>, Reply>> posted;
  std::vector<int> given;  // under posted_mu: connections another loop accepted for this one
  bool dead = false;  // under posted_mu: the loop has stopped, answers are dropped
  uint32_t next_gen = 0;
  bool listening = false;  // the listen socket is in this loop's epoll set
  std::optional<Clock::time_point> accept_resume;  // accepting paused (out of descriptors) until
  Clock::time_point last_accept_log;
  std::string date;  // the Date header, refreshed every second
  char read_buf[kReadChunk];
  Clock::time_point last_sweep;

  void Run();
  void Accept();
  void Give(int fd);
  void Adopt(int fd);
  void OnEvent(const std::shared_ptr<Conn>& conn, uint32_t events);
  void ReadMore(const std::shared_ptr<Conn>& conn);
  // Brings the server's count of buffered bytes up to date with this connection's buffer;
  // false when a large unfinished request was refused because the server holds too much.
  bool Account(const std::shared_ptr<Conn>& conn);
  bool Peek(const std::shared_ptr<Conn>& conn);
  void ReadAvailable(const std::shared_ptr<Conn>& conn);
  void Drive(const std::shared_ptr<Conn>& conn);
  void Pump(const std::shared_ptr<Conn>& conn);
  void Refuse(const std::shared_ptr<Conn>& conn, const std::string& method, Reply reply);
  void Listen(bool on);
  void CloseIdle();
  bool ParseOne(const std::shared_ptr<Conn>& conn);
  void Dispatch(const std::shared_ptr<Conn>& conn, Head head, bool has_body, std::string body, bool too_large);
  void Finish(const std::shared_ptr<Conn>& conn, Reply reply);
  void Answer(const std::shared_ptr<Conn>& conn, const Reply& reply, bool keep_alive);
  void Flush(const std::shared_ptr<Conn>& conn);
  void Close(const std::shared_ptr<Conn>& conn);
  void Post(const std::shared_ptr<Conn>& conn, Reply reply);
  void OnPosted();
  void Sweep();
};

void Loop::Post(const std::shared_ptr<Conn>& conn, Reply reply) {
  if (std::this_thread::get_id() == thread_id) {
    conn->sync_reply = std::move(reply);
    return;
  }
  bool was_empty;
  {
    std::lock_guard lock(posted_mu);
    if (dead) return;
    was_empty = posted.empty() && given.empty();
    posted.emplace_back(conn, std::move(reply));
  }
  if (was_empty) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(evfd, &one, sizeof one);
  }
}

void Loop::OnPosted() {
  uint64_t count;
  [[maybe_unused]] ssize_t n = read(evfd, &count, sizeof count);  // first, then take the list
  std::vector<std::pair<std::shared_ptr<Conn>, Reply>> ready;
  std::vector<int> adopted;
  {
    std::lock_guard lock(posted_mu);
    ready.swap(posted);
    adopted.swap(given);
  }
  for (int fd : adopted) Adopt(fd);
  for (auto& [conn, reply] : ready) {
    Finish(conn, std::move(reply));
    if (!conn->closed) Drive(conn);
  }
  if (server->draining.load()) CloseIdle();
}

void Loop::Run() {
  thread_id = std::this_thread::get_id();
  epoll_event events[256];
  while (!stopping.load()) {
    const int n = epoll_wait(epfd, events, 256, accept_resume ? 100 : 1000);
    for (int i = 0; i < n; ++i) {
      // data.u64: the fd in the low half, the connection's generation in the high half.
      const uint64_t tag = events[i].data.u64;
      const int fd = static_cast<int>(tag & 0xffffffffu);
      if (tag == kListenTag) {
        Accept();
      } else if (tag == kWakeTag) {
        OnPosted();
      } else {
        auto it = conns.find(fd);
        if (it == conns.end() || it->second->gen != static_cast<uint32_t>(tag >> 32)) continue;  // stale
        std::shared_ptr<Conn> conn = it->second;  // keeps it alive while it is handled
        OnEvent(conn, events[i].events);
      }
    }
    const auto now = Clock::now();
    if (accept_resume && now >= *accept_resume && !server->draining.load() && accepting.load()) {
      accept_resume.reset();
      Listen(true);
      Accept();
    }
    if (!accepting.load() && listening) Listen(false);
    if (server->draining.load()) CloseIdle();
    if (now - last_sweep >= std::chrono::seconds(1)) Sweep();
  }
}

void Loop::Accept() {
  while (accepting.load()) {
    const int fd = accept4(server->listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        // Out of descriptors (or memory): the listen socket stays readable, so stop
        // watching it for a moment instead of spinning; say so at most once a second.
        const auto now = Clock::now();
        if (now - last_accept_log >= std::chrono::seconds(1)) {
          last_accept_log = now;
          Log(LogLevel::kWarning, "accept failed; pausing new connections for 100 ms",
              {{"error", std::strerror(errno)}, {"connections", std::to_string(conns.size())}});
        }
        Listen(false);
        accept_resume = now + std::chrono::milliseconds(100);
      }
      return;
    }
    // Connections are dealt to the loops in turn: one wake-up may accept a whole burst,
    // which would otherwise all land on this loop.
    const auto& loops = server->loops;
    Loop* target = loops[server->next_loop.fetch_add(1) % loops.size()].get();
    if (target == this) {
      Adopt(fd);
    } else {
      target->Give(fd);
    }
  }
}

void Loop::Give(int fd) {
  bool was_empty;
  {
    std::lock_guard lock(posted_mu);
    if (dead) {
      close(fd);
      return;
    }
    was_empty = posted.empty() && given.empty();
    given.push_back(fd);
  }
  if (was_empty) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(evfd, &one, sizeof one);
  }
}

void Loop::Adopt(int fd) {
  {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto conn = std::make_shared<Conn>();
    conn->fd = fd;
    conn->loop = this;
    conn->gen = ++next_gen;
    conn->last_active = Clock::now();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = (uint64_t{conn->gen} << 32) | static_cast<uint32_t>(fd);
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      return;
    }
    conns.emplace(fd, conn);
    server->open.fetch_add(1);
    ReadMore(conn);
  }
}

void Loop::OnEvent(const std::shared_ptr<Conn>& conn, uint32_t events) {
  if (events & (EPOLLERR)) {
    Close(conn);
    return;
  }
  if (events & (EPOLLRDHUP | EPOLLHUP)) conn->rdhup = true;
  if (events & EPOLLOUT) Flush(conn);
  if (conn->closed) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
    ReadMore(conn);
  } else if (events & EPOLLOUT) {
    Drive(conn);  // pipelined requests wait while answers do not drain
  }
}

// The first request of a connection is looked at without being consumed, so that a
// WebSocket upgrade can be handed over whole. Returns true when the connection is now
// read normally.
bool Loop::Peek(const std::shared_ptr<Conn>& conn) {
  const size_t max_head = server->options.max_head_bytes;
  std::string buf;
  buf.resize(max_head);  // zero-filled once per connection
  const ssize_t n = recv(conn->fd, buf.data(), buf.size(), MSG_PEEK);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
    Close(conn);
    return false;
  }
  if (n == 0) return true;  // the normal read sees the end
  buf.resize(static_cast<size_t>(n));
  const size_t end = buf.find("\r\n\r\n");
  // Wait for the rest of the head, unless no more can come (the peer's FIN) or the head
  // ended with bare LFs: the normal read then answers.
  if (end == std::string::npos && buf.size() < max_head && !conn->rdhup && buf.find("\n\n") == std::string::npos) {
    return false;
  }
  conn->first = false;
  if (end == std::string::npos) return true;
  // The request line decides whether the head is looked at at all (most connections).
  const std::string line = buf.substr(0, buf.find("\r\n"));
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || line.compare(0, sp1, "GET") != 0 || !server->handoff) return true;
  const Resolved resolved = server->router.Resolve("GET", line.substr(sp1 + 1, sp2 - sp1 - 1));
  if (resolved.index < 0 || !server->router.route(resolved.index).takeover) return true;
  // Only a well-formed WebSocket upgrade without a body goes to POCO's server: anything
  // else is answered here, with this server's framing rules (POCO's are laxer), and POCO
  // closes a connection after its one request (app.cpp), so no later request on it is
  // ever framed by POCO.
  Head head;
  if (ParseHead(std::string_view(buf).substr(0, end + 4), server->options.max_headers, &head)) return true;
  const std::string* upgrade = head.Find("Upgrade");
  const std::string* connection = head.Find("Connection");
  if (!upgrade || !HasToken(*upgrade, "websocket") || !connection || !HasToken(*connection, "upgrade") ||
      head.Find("Content-Length") || head.Find("Transfer-Encoding")) {
    return true;
  }
  // Hand the connection over, unread and blocking.
  epoll_ctl(epfd, EPOLL_CTL_DEL, conn->fd, nullptr);
  const int flags = fcntl(conn->fd, F_GETFL);
  fcntl(conn->fd, F_SETFL, flags & ~O_NONBLOCK);
  const int fd = conn->fd;
  conns.erase(fd);
  server->open.fetch_sub(1);
  conn->closed = true;
  conn->fd = -1;
  server->handoff(fd);
  return false;
}

void Loop::ReadMore(const std::shared_ptr<Conn>& conn) {
  if (conn->first && !Peek(conn)) return;
  ReadAvailable(conn);
  if (!conn->closed && Account(conn)) Drive(conn);
  if (!conn->closed) Account(conn);
}

bool Loop::Account(const std::shared_ptr<Conn>& conn) {
  const int64_t size = conn->closed ? 0 : static_cast<int64_t>(conn->in.size());
  const int64_t total = server->buffered.fetch_add(size - conn->accounted) + size - conn->accounted;
  conn->accounted = size;
  // Only a large request still arriving is refused: small ones and answers in progress go on.
  if (conn->closed || conn->busy || size < kLargePartial ||
      total <= static_cast<int64_t>(server->options.max_buffered_bytes)) {
    return true;
  }
  Log(LogLevel::kWarning, "request refused: the server holds too many unfinished request bytes",
      {{"buffered", std::to_string(total)}, {"limit", std::to_string(server->options.max_buffered_bytes)}});
  Refuse(conn, "", ProblemReply(Status::Unavailable("server-busy",
                                                    "the server holds too many unfinished large requests; retry")));
  Account(conn);
  return false;
}

// Reads what the socket holds, up to what may be buffered (then read_paused).
void Loop::ReadAvailable(const std::shared_ptr<Conn>& conn) {
  const size_t cap = server->options.max_head_bytes + server->router.max_body() + kReadChunk;
  while (!conn->closed && !conn->peer_closed) {
    if (conn->in.size() > cap) {  // the answer to what is buffered comes first
      conn->read_paused = true;
      return;
    }
    const ssize_t n = recv(conn->fd, read_buf, kReadChunk, 0);
    if (n > 0) {
      // A connection closing after its answer (a refused body) reads only to drain.
      if (!conn->close_after) conn->in.append(read_buf, static_cast<size_t>(n));
      conn->last_active = Clock::now();
      // A short read is most likely all there is (the next edge brings more), unless the
      // peer's FIN is queued behind it: then read on to see the end.
      if (static_cast<size_t>(n) < kReadChunk && !conn->rdhup) return;
      continue;
    }
    if (n == 0) {
      conn->peer_closed = true;
      if (conn->request) conn->request->MarkClientGone();
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) Close(conn);
    return;
  }
}

// Answers what is buffered, reading on when a paused read can resume.
void Loop::Drive(const std::shared_ptr<Conn>& conn) {
  const size_t cap = server->options.max_head_bytes + server->router.max_body() + kReadChunk;
  while (!conn->closed) {
    Pump(conn);
    if (conn->closed || !conn->read_paused || conn->in.size() > cap) return;
    conn->read_paused = false;
    ReadAvailable(conn);
  }
}

void Loop::Pump(const std::shared_ptr<Conn>& conn) {
  while (!conn->closed && !conn->busy && !conn->close_after && !server->draining.load() &&
         conn->out.size() - conn->out_pos < kMaxPendingOut) {
    if (!ParseOne(conn)) break;
  }
  if (conn->closed) return;
  // Draining: a request already received (whole or in part) and not yet taken is answered
  // 503, not dropped with the connection (its client then knows it was not applied).
  if (!conn->busy && !conn->close_after && server->draining.load() && !conn->in.empty()) {
    Refuse(conn, "", ProblemReply(Status::Unavailable("shutting-down", "the region is shutting down; retry")));
    if (conn->closed) return;
  }
  const bool idle = !conn->busy && conn->out_pos == conn->out.size();
  if (idle && (conn->close_after || conn->peer_closed || server->draining.load())) Close(conn);
}

// Answers a request that is refused before it is routed; the connection closes after.
void Loop::Refuse(const std::shared_ptr<Conn>& conn, const std::string& method, Reply reply) {
  conn->in.clear();
  conn->busy = true;
  conn->route_index = -1;
  conn->method = method.empty() ? "?" : method;
  conn->started = Clock::now();
  server->in_flight.fetch_add(1);
  server->router.metrics().Started(-1);
  conn->keep_alive = false;
  reply.close = true;
  Finish(conn, std::move(reply));
}

bool Loop::ParseOne(const std::shared_ptr<Conn>& conn) {
  const EventServerOptions& opt = server->options;
  // Empty lines before a request line are ignored (RFC 9112 2.2).
  size_t skip = 0;
  while (conn->in.compare(skip, 2, "\r\n") == 0) skip += 2;
  if (skip > 0) conn->in.erase(0, skip);
  if (conn->in.empty()) return false;
  if (!conn->partial_since) conn->partial_since = Clock::now();
  const size_t end = conn->in.find("\r\n\r\n");
  if (end == std::string::npos || end + 4 > opt.max_head_bytes) {
    if (conn->in.find("\n\n") < opt.max_head_bytes) {  // would otherwise wait for the idle timeout
      Refuse(conn, "?", ProblemReply(Status::InvalidArgument("bad-request", "header lines must end with CRLF")));
    } else if (conn->in.size() > opt.max_head_bytes) {
      Refuse(conn, "?",
             ProblemReply(Status(crdt::Code::kInvalidArgument, "headers-too-large", "the request head is too large")));
    }
    return false;
  }
  Head head;
  head.length = end + 4;
  if (auto error = ParseHead(std::string_view(conn->in).substr(0, head.length), opt.max_headers, &head)) {
    Refuse(conn, head.method, std::move(*error));
    return false;
  }
  auto bad = [&](const char* what) {
    Refuse(conn, head.method, ProblemReply(Status::InvalidArgument("bad-request", what)));
    return false;
  };
  // Framing: exactly one way to find where the body ends, or the request is refused (a
  // request two parties could frame differently is how requests are smuggled).
  const std::string* te = nullptr;
  const std::string* cl = nullptr;
  for (const auto& [name, value] : head.headers) {
    if (IEquals(name, "Transfer-Encoding")) {
      if (te) return bad("more than one Transfer-Encoding header");
      te = &value;
    } else if (IEquals(name, "Content-Length")) {
      if (cl && *cl != value) return bad("conflicting Content-Length headers");
      cl = &value;
    }
  }
  if (te && cl) return bad("both Transfer-Encoding and Content-Length");
  if (te && !IEquals(*te, "chunked")) return bad("only the chunked transfer coding is accepted");
  if (te && !head.http11) return bad("the chunked transfer coding needs HTTP/1.1");
  const size_t max_body = server->router.max_body();
  const std::string* expect = head.Find("Expect");
  auto want_more = [&] {
    if (!conn->continue_sent && head.http11 && expect && HasToken(*expect, "100-continue")) {
      conn->out += "HTTP/1.1 100 Continue\r\n\r\n";
      conn->continue_sent = true;
      Flush(conn);
    }
    return false;
  };
  std::string body;
  bool too_large = false;
  bool has_body = false;
  size_t consumed = head.length;
  if (te) {
    has_body = true;
    size_t used = 0;
    std::optional<Reply> error;
    const bool complete = DecodeChunked(std::string_view(conn->in).substr(head.length), max_body, &conn->chunk_resume,
                                        &conn->chunk_body, &used, &too_large, &error);
    if (error) {
      Refuse(conn, head.method, std::move(*error));
      return false;
    }
    if (!complete && !too_large) return want_more();
    if (complete) body = std::move(conn->chunk_body);
    consumed += used;
  } else if (cl) {
    const std::string& v = *cl;
    if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return bad("malformed Content-Length");
    }
    const uint64_t length = std::stoull(v);
    has_body = length > 0;
    if (length > max_body) {
      too_large = true;
    } else if (conn->in.size() < head.length + length) {
      return want_more();
    } else {
      body = conn->in.substr(head.length, length);
      consumed += length;
    }
  }
  conn->continue_sent = false;
  conn->chunk_resume = 0;
  conn->chunk_body.clear();
  conn->partial_since.reset();
  if (too_large) {
    conn->in.clear();  // never read: the connection closes after the answer
    conn->close_after = true;
  } else {
    conn->in.erase(0, consumed);
  }
  try {
    Dispatch(conn, std::move(head), has_body, std::move(body), too_large);
  } catch (const std::exception& e) {
    // Routing or building the request failed (out of memory): answer, never crash.
    if (conn->busy && !conn->closed) {
      Reply r = ProblemReply(Status::Internal(std::string("unhandled exception: ") + e.what()));
      r.close = true;
      conn->request.reset();
      Finish(conn, std::move(r));
    }
    return false;
  }
  return true;
}

void Loop::Dispatch(const std::shared_ptr<Conn>& conn, Head head, bool has_body, std::string body, bool too_large) {
  conn->busy = true;
  conn->started = Clock::now();
  conn->method = head.method;
  server->in_flight.fetch_add(1);
  const std::string* connection = head.Find("Connection");
  conn->keep_alive = head.http11 ? !(connection && HasToken(*connection, "close"))
                                 : (connection && HasToken(*connection, "keep-alive"));
  Resolved resolved = server->router.Resolve(head.method, head.target);
  conn->route_index = resolved.index;
  server->router.metrics().Started(resolved.index);
  if (resolved.index < 0) {
    if (too_large) resolved.error.close = true;
    Finish(conn, std::move(resolved.error));
    return;
  }
  const Route& route = server->router.route(resolved.index);
  const size_t max_body = server->router.max_body();
  const size_t body_bytes = body.size();
  if (too_large) {
    // Whatever the route, also one that reads no body (a DELETE): nothing runs.
    Reply r = ProblemReply(PayloadTooLarge(max_body));
    r.close = true;
    Finish(conn, std::move(r));
    return;
  }
  Request::BodyReader reader = [body = std::move(body)]() mutable -> crdt::Result<std::string> {
    return std::move(body);
  };
  conn->request = std::make_shared<Request>(std::move(head.method), std::move(head.target), std::move(resolved.path),
                                            std::move(resolved.raw_query), std::move(head.headers), has_body,
                                            std::move(reader));
  conn->request->params() = std::move(resolved.params);
  auto guarded = [](auto&& fn) -> std::optional<Reply> {
    try {
      fn();
      return std::nullopt;
    } catch (const std::exception& e) {
      Reply r = ProblemReply(Status::Internal(std::string("unhandled exception: ") + e.what()));
      r.close = true;
      return r;
    } catch (...) {
      Reply r = ProblemReply(Status::Internal("unhandled non-standard exception"));
      r.close = true;
      return r;
    }
  };
  if (route.takeover && !route.handler) {
    Reply r = ProblemReply(Status::InvalidArgument(
        "upgrade-required", "open " + conn->request->path() + " as a WebSocket on a connection of its own"));
    r.headers.emplace_back("Upgrade", "websocket");
    Finish(conn, std::move(r));
    return;
  }
  if (route.async && body_bytes > kLoopBodyBytes) {
    // Parsing a large body would hold up every connection of this loop: a worker starts
    // the write instead.
    // The worker holds its own reference to the request: the write's completion may finish
    // the connection's request (on the loop) while the worker is still inside the handler.
    std::shared_ptr<Conn> target = conn;
    std::shared_ptr<Request> request = conn->request;
    Loop* loop = this;
    const Route* r = &route;
    server->workers.Run([loop, target, request, r, guarded] {
      auto answered = std::make_shared<std::atomic<bool>>(false);
      auto failed = guarded([&] {
        r->async(*request, [loop, target, answered](Reply reply) {
          answered->store(true);
          loop->Post(target, std::move(reply));
        });
      });
      if (failed && !answered->load()) loop->Post(target, std::move(*failed));
    });
    return;
  }
  if (route.async) {
    std::shared_ptr<Conn> target = conn;
    Loop* loop = this;
    auto failed = guarded([&] {
      route.async(*conn->request, [loop, target](Reply reply) { loop->Post(target, std::move(reply)); });
    });
    if (failed) {
      // The handler threw before answering (it must not answer after throwing).
      if (!conn->sync_reply) conn->sync_reply = std::move(*failed);
    }
    if (conn->sync_reply) {
      Reply r = std::move(*conn->sync_reply);
      conn->sync_reply.reset();
      Finish(conn, std::move(r));
    }
    return;
  }
  if (route.quick) {
    Reply reply;
    auto failed = guarded([&] { reply = route.handler(*conn->request); });
    Finish(conn, failed ? std::move(*failed) : std::move(reply));
    return;
  }
  if (route.attempt) {
    std::optional<Reply> answered;
    auto failed = guarded([&] { answered = route.attempt(*conn->request); });
    if (failed || answered) {
      Finish(conn, failed ? std::move(*failed) : std::move(*answered));
      return;
    }
  }
  std::shared_ptr<Conn> target = conn;
  std::shared_ptr<Request> request = conn->request;
  Loop* loop = this;
  const Route* r = &route;
  (route.waits ? server->waiters : server->workers).Run([loop, target, request, r, guarded] {
    Reply reply;
    auto failed = guarded([&] { reply = r->handler(*request); });
    loop->Post(target, failed ? std::move(*failed) : std::move(reply));
  });
}

void Loop::Finish(const std::shared_ptr<Conn>& conn, Reply reply) {
  server->in_flight.fetch_sub(1);
  const double seconds = std::chrono::duration<double>(Clock::now() - conn->started).count();
  // Metrics count routed requests by method, and others under a fixed name, so that odd
  // methods cannot grow them.
  const bool known = std::any_of(std::begin(kKnownMethods), std::end(kKnownMethods),
                                 [&](const char* m) { return conn->method == m; });
  server->router.metrics().Ended(conn->route_index);
  server->router.metrics().Observe(conn->route_index, known ? conn->method : "other", reply.status, seconds);
  if (LogEnabled(LogLevel::kDebug)) {
    Log(LogLevel::kDebug, "request", {{"method", conn->method},
                                      {"uri", conn->request ? conn->request->target() : std::string()},
                                      {"status", std::to_string(reply.status)},
                                      {"ms", std::to_string(seconds * 1000)}});
  }
  // The body was taken off the connection before dispatch (or it is closing: a body over
  // the limit), so a handler that did not read it leaves nothing behind.
  conn->request.reset();
  conn->busy = false;
  if (conn->closed) return;
  if (reply.close) conn->close_after = true;
  const bool keep_alive = conn->keep_alive && !conn->close_after && !server->draining.load();
  if (!keep_alive) conn->close_after = true;
  Answer(conn, reply, keep_alive);
  Flush(conn);
}

void Loop::Answer(const std::shared_ptr<Conn>& conn, const Reply& reply, bool keep_alive) {
  std::string& out = conn->out;
  if (conn->out_pos == out.size()) {
    out.clear();
    conn->out_pos = 0;
  }
  out.reserve(out.size() + 256 + reply.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(reply.status);
  out += ' ';
  out += Reason(reply.status);
  out += "\r\nDate: ";
  out += date;
  out += "\r\nServer: meridian\r\nContent-Type: ";
  out += reply.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(reply.body.size());
  out += keep_alive ? "\r\nConnection: keep-alive\r\n" : "\r\nConnection: close\r\n";
  for (const auto& [k, v] : reply.headers) {
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  out += "\r\n";
  if (conn->method != "HEAD") out += reply.body;  // HEAD: the same head, Content-Length included
}

void Loop::Flush(const std::shared_ptr<Conn>& conn) {
  while (!conn->closed && conn->out_pos < conn->out.size()) {
    const ssize_t n = send(conn->fd, conn->out.data() + conn->out_pos, conn->out.size() - conn->out_pos, MSG_NOSIGNAL);
    if (n > 0) {
      conn->out_pos += static_cast<size_t>(n);
      conn->last_active = Clock::now();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT resumes
    Close(conn);
    return;
  }
  if (conn->closed) return;
  if (conn->out_pos == conn->out.size() && !conn->busy) {
    if (conn->close_after) {
      Close(conn);
    } else if (conn->out.capacity() > (1 << 20)) {
      std::string().swap(conn->out);
      conn->out_pos = 0;
    }
  }
}

void Loop::Close(const std::shared_ptr<Conn>& conn) {
  if (conn->closed) return;
  conn->closed = true;
  server->buffered.fetch_sub(conn->accounted);
  conn->accounted = 0;
  if (conn->request) conn->request->MarkClientGone();
  conns.erase(conn->fd);
  server->open.fetch_sub(1);
  close(conn->fd);
  conn->fd = -1;
}

void Loop::Sweep() {
  const auto now = Clock::now();
  last_sweep = now;
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  date = buf;
  const auto timeout = std::chrono::seconds(server->options.keep_alive_timeout_s);
  std::vector<std::shared_ptr<Conn>> idle;
  for (const auto& [fd, conn] : conns) {
    if (conn->busy) continue;
    // Idle, or not reading its answers, or sending a request too slowly.
    if (now - conn->last_active > timeout || (conn->partial_since && now - *conn->partial_since > kHeadDeadline)) {
      idle.push_back(conn);
    }
  }
  for (const auto& conn : idle) Close(conn);
}

void Loop::Listen(bool on) {
  if (on == listening) return;
  if (on) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = kListenTag;
    listening = epoll_ctl(epfd, EPOLL_CTL_ADD, server->listen_fd, &ev) == 0;
  } else {
    epoll_ctl(epfd, EPOLL_CTL_DEL, server->listen_fd, nullptr);
    listening = false;
  }
}

// Draining: connections with nothing in flight and nothing left to send close now.
void Loop::CloseIdle() {
  std::vector<std::shared_ptr<Conn>> idle;
  for (const auto& [fd, conn] : conns) {
    if (!conn->busy && conn->out_pos == conn->out.size()) idle.push_back(conn);
  }
  // Pump answers a request already read but not taken (503) before it closes the connection.
  for (const auto& conn : idle) conn->in.empty() ? Close(conn) : Pump(conn);
}

EventServer::Impl::~Impl() {
  for (auto& loop : loops) {
    if (loop->epfd >= 0) close(loop->epfd);
    if (loop->evfd >= 0) close(loop->evfd);
  }
}

EventServer::EventServer(int listen_fd, const Router& router, EventServerOptions options, Handoff handoff)
    : impl_(std::make_unique<Impl>(listen_fd, router, std::move(options), std::move(handoff))) {}

EventServer::~EventServer() { Stop(std::chrono::milliseconds(0)); }

int EventServer::in_flight() const { return impl_->in_flight.load(); }

bool EventServer::Start() {
  if (impl_->started) return true;
  impl_->started = true;
  const int flags = fcntl(impl_->listen_fd, F_GETFL);
  if (flags < 0 || fcntl(impl_->listen_fd, F_SETFL, flags | O_NONBLOCK) != 0) return false;
  const int count = std::max(1, impl_->options.loops);
  for (int i = 0; i < count; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->server = impl_.get();
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    Loop* l = loop.get();
    impl_->loops.push_back(std::move(loop));  // owned from here: its descriptors close with it
    if (l->epfd < 0 || l->evfd < 0) return false;
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.u64 = kWakeTag;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &wake) != 0) return false;
    l->Listen(true);
    if (!l->listening) return false;
    l->Sweep();
  }
  for (auto& loop : impl_->loops) {
    Loop* l = loop.get();
    l->thread = std::thread([l] {
      region::NameThread("http-loop");
      l->Run();
    });
  }
  return true;
}

namespace {
void Wake(Loop& loop) {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(loop.evfd, &one, sizeof one);
}
}  // namespace

void EventServer::StopAccepting() {
  for (auto& loop : impl_->loops) {
    loop->accepting = false;  // the loop stops watching the listen socket when it wakes
    Wake(*loop);
  }
}

void EventServer::Stop(std::chrono::milliseconds drain) {
  if (impl_->stopped) return;
  impl_->stopped = true;
  StopAccepting();
  // Draining: no new requests; what is in flight is answered with Connection: close, and
  // every connection closes once its answers are out.
  impl_->draining = true;
  for (auto& loop : impl_->loops) Wake(*loop);
  const auto deadline = Clock::now() + drain;
  while ((impl_->in_flight.load() > 0 || impl_->open.load() > 0) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& loop : impl_->loops) {
    loop->stopping = true;
    Wake(*loop);
  }
  for (auto& loop : impl_->loops) {
    if (loop->thread.joinable()) loop->thread.join();
  }
  for (auto& loop : impl_->loops) {
    {
      std::lock_guard lock(loop->posted_mu);
      loop->dead = true;  // answers still to come (past the deadline) are dropped
      loop->posted.clear();
      for (int fd : loop->given) close(fd);
      loop->given.clear();
    }
    std::vector<std::shared_ptr<Conn>> open;
    for (const auto& [fd, conn] : loop->conns) open.push_back(conn);
    for (const auto& conn : open) loop->Close(conn);
  }
  impl_->workers.Stop();
  impl_->waiters.Stop();
}

}  // namespace server
