#include "server/router.h"

#include <chrono>
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

Reply Router::Handle(Poco::Net::HTTPServerRequest& raw, Poco::Net::HTTPServerResponse& response, int* route_index,
                     bool* close, int* taken_status) const {
  const std::string& uri = raw.getURI();
  const size_t q = uri.find('?');
  const std::string raw_path = uri.substr(0, q);
  const std::string raw_query = q == std::string::npos ? "" : uri.substr(q + 1);
  if (raw_path.empty() || raw_path[0] != '/') {
    *close = true;
    return ProblemReply(Status::InvalidArgument("invalid-path", "the request target must be an absolute path"));
  }
  std::vector<std::string> segments = Split(raw_path);
  for (auto& s : segments) {
    std::string decoded;
    try {
      Poco::URI::decode(s, decoded);
    } catch (const Poco::Exception&) {
      *close = true;
      return ProblemReply(Status::InvalidArgument("invalid-path", "malformed percent-encoding in the path"));
    }
    s = std::move(decoded);
  }

  std::string allow;
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Compiled& c = routes_[i];
    if (c.segments.size() != segments.size()) continue;
    bool match = true;
    for (size_t k = 0; k < segments.size() && match; ++k) {
      match = IsParam(c.segments[k]) ? !segments[k].empty() : c.segments[k] == segments[k];
    }
    if (!match) continue;
    if (c.route.method != raw.getMethod()) {
      if (allow.find(c.route.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + c.route.method;
      continue;
    }
    *route_index = static_cast<int>(i);
    Request request(raw, raw_path, raw_query, max_body_);
    for (size_t k = 0; k < segments.size(); ++k) {
      if (IsParam(c.segments[k])) {
        request.params()[c.segments[k].substr(1, c.segments[k].size() - 2)] = segments[k];
      }
    }
    if (c.route.takeover) {
      *taken_status = c.route.takeover(request, raw, response);
      return Reply{};
    }
    Reply reply = c.route.handler(request);
    *close = request.body_unread();
    return reply;
  }
  // The body of a request we refuse is never read.
  *close = (raw.hasContentLength() && raw.getContentLength64() > 0) || raw.getChunkedTransferEncoding();
  if (!allow.empty()) {
    Reply reply = ProblemReply(Status(crdt::Code::kInvalidArgument, "method-not-allowed",
                                      raw.getMethod() + " is not allowed on " + raw_path + " (allowed: " + allow + ")"));
    reply.headers.emplace_back("Allow", allow);
    return reply;
  }
  return ProblemReply(Status::NotFound("route-not-found", "no route for " + raw.getMethod() + " " + raw_path));
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
