// Router: the POCO request-handler factory that dispatches requests through the route table.
//
// Every request gets an answer: unknown paths 404 and known paths with another method 405
// with Allow (never POCO's 501), and any exception a handler lets escape becomes a 500
// problem instead of a dropped connection. A request whose body was not read closes its
// connection so that the unread bytes are never parsed as the next request.
//
// Thread-safety: immutable after construction; one Router serves all server threads.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <Poco/Net/HTTPRequestHandlerFactory.h>

#include "server/http.h"
#include "server/metrics.h"

namespace server {

// A request target resolved to a route.
struct Resolved {
  int index = -1;                             // into the route table; -1: answer with `error`
  std::string path;                           // the target's path, still percent-encoded
  std::string raw_query;
  std::map<std::string, std::string> params;  // percent-decoded path parameters
  Reply error;                                // 400 (bad path), 404 or 405 with Allow
};

class Router : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Router(std::vector<Route> routes, Metrics& metrics, size_t max_body_bytes);

  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest& request) override;

  // Serves one request of a connection POCO's server owns (WebSocket upgrades).
  void Dispatch(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) const;

  // Tells the connections POCO serves to close after their current request (what POCO's
  // own HTTPServer::stopAll does).
  void StopConnections() {
    const bool abort_current = false;
    serverStopped.notify(this, abort_current);
  }

  // Finds the route for `method` and `target`.
  Resolved Resolve(const std::string& method, const std::string& target) const;
  const Route& route(int index) const { return routes_[static_cast<size_t>(index)].route; }
  Metrics& metrics() const { return metrics_; }
  size_t max_body() const { return max_body_; }

  static std::vector<std::string> RouteNames(const std::vector<Route>& routes);

 private:
  struct Compiled {
    Route route;
    std::vector<std::string> segments;  // "{x}" marks a parameter
  };
  // Answers the request; when a takeover route answered on the connection itself, returns
  // its status in *taken_status (and the Reply is unused).
  Reply Handle(Poco::Net::HTTPServerRequest& raw, Poco::Net::HTTPServerResponse& response, int* route_index,
               bool* close, int* taken_status) const;

  std::vector<Compiled> routes_;
  Metrics& metrics_;
  size_t max_body_;
};

// Runs a route's handler to its answer, waiting for an asynchronous one.
Reply RunHandler(const Route& route, Request& request);

}  // namespace server
