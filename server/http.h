// The HTTP vocabulary of server/: a parsed request, a reply value, and the route table.
//
// Handlers are functions Request& -> Reply: they parse and validate, make one call into
// region::Node, and encode the answer. Every error becomes a Reply through ProblemReply
// (problem.h), the one place that maps a Status to an HTTP status.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crdt/status.h"

namespace Poco::Net {
class HTTPServerRequest;
class HTTPServerResponse;
}

namespace server {

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after this reply
};

class Request {
 public:
  // Header names as sent; lookups ignore case.
  using Headers = std::vector<std::pair<std::string, std::string>>;
  // Reads the whole body once. It decides "payload-too-large" (ResourceExhausted) from
  // Content-Length before reading when it can.
  using BodyReader = std::function<crdt::Result<std::string>()>;

  // `path` and `raw_query` split `target`; `has_body` says whether a body was announced
  // (Content-Length > 0 or chunked), so that an unread one closes the connection.
  Request(std::string method, std::string target, std::string path, std::string raw_query, Headers headers,
          bool has_body, BodyReader body);

  const std::string& method() const { return method_; }
  // The request target exactly as sent (path and query, still percent-encoded).
  const std::string& target() const { return target_; }
  const std::string& path() const { return path_; }
  // Percent-decoded path parameter captured by the route ({c}, {key}).
  const std::string& param(const std::string& name) const;
  // Percent-decoded query parameter; first occurrence wins.
  std::optional<std::string> query(const std::string& name) const;
  std::optional<std::string> header(const std::string& name) const;
  // The media type of Content-Type, lower-cased, without parameters ("" when absent).
  std::string media_type() const;

  // Reads the whole body. ResourceExhausted("payload-too-large") when it exceeds the
  // configured limit, decided from Content-Length before reading when it is given.
  crdt::Result<std::string> Body();
  // True when a body was sent and not read completely (the connection must then close).
  bool body_unread() const { return has_body_ && !body_read_; }

  std::map<std::string, std::string>& params() { return params_; }

  // Set by the server when the client closes its side of the connection while the request
  // is handled: a handler that waits (a long poll) stops waiting and answers at once.
  void MarkClientGone() { client_gone_.store(true, std::memory_order_relaxed); }
  const std::atomic<bool>* client_gone() const { return &client_gone_; }

 private:
  std::string method_;
  std::string target_;
  std::string path_;
  std::vector<std::pair<std::string, std::string>> query_;
  Headers headers_;
  std::map<std::string, std::string> params_;
  bool has_body_;
  BodyReader body_;
  bool body_read_ = false;
  std::atomic<bool> client_gone_{false};
};

// "payload-too-large" for a body over `max_body` bytes.
crdt::Status PayloadTooLarge(size_t max_body);

using Handler = std::function<Reply(Request&)>;
// Answers a request later, from any thread, exactly once.
using Respond = std::function<void(Reply)>;
// A handler that does not block: it starts the work and answers through Respond (writes,
// which wait for a group commit). The Request lives until the answer.
using AsyncHandler = std::function<void(Request&, Respond)>;
// A handler that answers on the connection itself (a WebSocket upgrade).
// It returns the HTTP status it sent, for metrics.
using Takeover = std::function<int(Request&, Poco::Net::HTTPServerRequest&, Poco::Net::HTTPServerResponse&)>;

struct Route {
  std::string method;
  std::string pattern;  // "/v1/collections/{c}/docs/{key}": {x} matches one segment
  std::string name;     // label for metrics, e.g. "doc"
  Handler handler;
  Takeover takeover = nullptr;  // set: used instead of handler
  AsyncHandler async = nullptr; // set: used instead of handler
  // The handler never blocks (no waiting, no long reads): the event loop may run it itself
  // instead of handing it to a worker thread.
  bool quick = false;
  // Tried on the event loop first when set: an answer if it can give one without waiting,
  // nullopt if it would have to wait (then `handler` runs on a worker).
  std::function<std::optional<Reply>(Request&)> attempt = nullptr;
  // The handler may wait long (a long poll, a session that has to catch up): it runs on
  // threads of its own, so that waiting requests never hold up the other routes.
  bool waits = false;
};

// JSON string literal for `s` (quoted and escaped).
std::string JsonQuote(const std::string& s);
Reply JsonReply(int status, std::string body);
// Compresses the reply's body with gzip when the client accepts it and it is worth it.
void MaybeGzip(const Request& request, Reply& reply, size_t min_bytes = 8192);

}  // namespace server
