#include "server/router.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <future>
#include <istream>
#include <ostream>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/URI.h>

#include "server/log.h"
#include "server/problem.h"

namespace server {

using crdt::Status;

namespace {

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 1;  // skip the leading '/'
  while (true) {
    const size_t slash = path.find('/', pos);
    out.push_back(path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos));
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return out;
}

bool IsParam(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

class DispatchHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit DispatchHandler(const Router& router) : router_(router) {}
  void handleRequest(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) override {
    router_.Dispatch(request, response);
  }

 private:
  const Router& router_;
};

// Reads the body of a request POCO parsed, from its stream.
crdt::Result<std::string> ReadPocoBody(Poco::Net::HTTPServerRequest& raw, size_t max_body) {
  std::string body;
  std::istream& in = raw.stream();
  if (raw.hasContentLength()) {
    const auto length = raw.getContentLength64();
    if (length < 0 || static_cast<uint64_t>(length) > max_body) return PayloadTooLarge(max_body);
    body.resize(static_cast<size_t>(length));
    in.read(body.data(), length);
    if (in.gcount() != length) {
      return Status::InvalidArgument("truncated-body", "request body ended before Content-Length bytes");
    }
    return body;
  }
  if (!raw.getChunkedTransferEncoding()) return body;  // no body (RFC 9112 6.3)
  // Never ask for more than one byte past the limit: a blocking read must not wait for
  // bytes we are going to refuse anyway.
  char buf[16384];
  while (in) {
    const size_t want = std::min(sizeof buf, max_body + 1 - body.size());
    in.read(buf, static_cast<std::streamsize>(want));
    body.append(buf, static_cast<size_t>(in.gcount()));
    if (body.size() > max_body) return PayloadTooLarge(max_body);
  }
  return body;
}

}  // namespace

Router::Router(std::vector<Route> routes, Metrics& metrics, size_t max_body_bytes)
    : metrics_(metrics), max_body_(max_body_bytes) {
  for (auto& r : routes) {
    std::vector<std::string> segments = Split(r.pattern);
    routes_.push_back({std::move(r), std::move(segments)});
  }
}

std::vector<std::string> Router::RouteNames(const std::vector<Route>& routes) {
  std::vector<std::string> names;
  for (const auto& r : routes) names.push_back(r.name);
  return names;
}

Poco::Net::HTTPRequestHandler* Router::createRequestHandler(const Poco::Net::HTTPServerRequest&) {
  return new DispatchHandler(*this);
}

Resolved Router::Resolve(const std::string& method, const std::string& target) const {
  Resolved out;
  const size_t q = target.find('?');
  out.path = target.substr(0, q);
  out.raw_query = q == std::string::npos ? "" : target.substr(q + 1);
  if (out.path.empty() || out.path[0] != '/') {
    out.error = ProblemReply(Status::InvalidArgument("invalid-path", "the request target must be an absolute path"));
    out.error.close = true;
    return out;
  }
  // A malformed escape in the query is refused, not half-decoded ("limit=5%zz" is not 5).
  for (size_t i = 0; i < out.raw_query.size(); ++i) {
    if (out.raw_query[i] != '%') continue;
    if (i + 2 >= out.raw_query.size() || !std::isxdigit(static_cast<unsigned char>(out.raw_query[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(out.raw_query[i + 2]))) {
      out.error = ProblemReply(Status::InvalidArgument("invalid-query", "malformed percent-encoding in the query"));
      return out;
    }
  }
  std::vector<std::string> segments = Split(out.path);
  for (auto& s : segments) {
    std::string decoded;
    try {
      Poco::URI::decode(s, decoded);
    } catch (const Poco::Exception&) {
      out.error = ProblemReply(Status::InvalidArgument("invalid-path", "malformed percent-encoding in the path"));
      out.error.close = true;
      return out;
    }
    s = std::move(decoded);
  }

  // HEAD is served by the GET route; the server sends the head of its answer only.
  const std::string& wanted = method == "HEAD" ? std::string("GET") : method;
  std::string allow;
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Compiled& c = routes_[i];
    if (c.segments.size() != segments.size()) continue;
    bool match = true;
    for (size_t k = 0; k < segments.size() && match; ++k) {
      match = IsParam(c.segments[k]) ? !segments[k].empty() : c.segments[k] == segments[k];
    }
    if (!match) continue;
    if (c.route.method != wanted) {
      const std::string methods = c.route.method == "GET" ? "GET, HEAD" : c.route.method;
      if (allow.find(c.route.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + methods;
      continue;
    }
    out.index = static_cast<int>(i);
    for (size_t k = 0; k < segments.size(); ++k) {
      if (IsParam(c.segments[k])) out.params[c.segments[k].substr(1, c.segments[k].size() - 2)] = segments[k];
    }
    return out;
  }
  if (!allow.empty()) {
    out.error = ProblemReply(Status(crdt::Code::kInvalidArgument, "method-not-allowed",
                                    method + " is not allowed on " + out.path + " (allowed: " + allow + ")"));
    out.error.headers.emplace_back("Allow", allow);
    return out;
  }
  out.error = ProblemReply(Status::NotFound("route-not-found", "no route for " + method + " " + out.path));
  return out;
}

Reply RunHandler(const Route& route, Request& request) {
  if (!route.async) return route.handler(request);
  std::promise<Reply> answered;
  std::future<Reply> answer = answered.get_future();
  route.async(request, [&answered](Reply reply) { answered.set_value(std::move(reply)); });
  return answer.get();
}

Reply Router::Handle(Poco::Net::HTTPServerRequest& raw, Poco::Net::HTTPServerResponse& response, int* route_index,
                     bool* close, int* taken_status) const {
  Resolved resolved = Resolve(raw.getMethod(), raw.getURI());
  const bool has_body = (raw.hasContentLength() && raw.getContentLength64() > 0) || raw.getChunkedTransferEncoding();
  if (resolved.index < 0) {
    // The body of a request we refuse is never read.
    *close = resolved.error.close || has_body;
    return resolved.error;
  }
  *route_index = resolved.index;
  const Route& route = routes_[static_cast<size_t>(resolved.index)].route;
  Request::Headers headers;
  for (const auto& [name, value] : raw) headers.emplace_back(name, value);
  const size_t max_body = max_body_;
  Request request(raw.getMethod(), raw.getURI(), std::move(resolved.path), std::move(resolved.raw_query),
                  std::move(headers), has_body, [&raw, max_body]() -> crdt::Result<std::string> {
                    return ReadPocoBody(raw, max_body);
                  });
  request.params() = std::move(resolved.params);
  if (route.takeover) {
    *taken_status = route.takeover(request, raw, response);
    return Reply{};
  }
  Reply reply = RunHandler(route, request);
  *close = request.body_unread();
  return reply;
}

void Router::Dispatch(Poco::Net::HTTPServerRequest& raw, Poco::Net::HTTPServerResponse& response) const {
  const auto start = std::chrono::steady_clock::now();
  int route_index = -1;
  bool close = false;
  int taken_status = 0;
  Reply reply;
  try {
    reply = Handle(raw, response, &route_index, &close, &taken_status);
  } catch (const std::exception& e) {
    reply = ProblemReply(Status::Internal(std::string("unhandled exception: ") + e.what()));
    close = true;
  } catch (...) {
    reply = ProblemReply(Status::Internal("unhandled non-standard exception"));
    close = true;
  }
  close = close || reply.close;
  if (taken_status != 0) {
    metrics_.Observe(route_index, raw.getMethod(), taken_status,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return;
  }
  try {
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
    response.setContentType(reply.content_type);
    for (const auto& [k, v] : reply.headers) response.set(k, v);
    response.setContentLength64(static_cast<Poco::Int64>(reply.body.size()));
    response.setKeepAlive(!close && raw.getKeepAlive());
    std::ostream& out = response.send();
    out.write(reply.body.data(), static_cast<std::streamsize>(reply.body.size()));
    out.flush();
  } catch (const std::exception& e) {
    Log(LogLevel::kDebug, "response not delivered", {{"error", e.what()}});
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_.Observe(route_index, raw.getMethod(), reply.status, seconds);
  if (LogEnabled(LogLevel::kDebug)) {
    Log(LogLevel::kDebug, "request", {{"method", raw.getMethod()}, {"uri", raw.getURI()},
                                      {"status", std::to_string(reply.status)},
                                      {"ms", std::to_string(seconds * 1000)}});
  }
}

}  // namespace server
