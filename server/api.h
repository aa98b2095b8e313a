// Api: the v1 REST routes of one region and their handlers.
//
// Each handler parses and validates the request, makes one call into region::Node and
// encodes the answer; errors go through ProblemReply. The Api borrows the node, which must
// outlive the HTTP server that serves these routes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "region/node.h"
#include "server/http.h"
#include "server/metrics.h"

namespace server {

struct ApiOptions {
  int session_wait_ms = 2000;  // how long a read waits for its session token
  std::string cluster_secret;  // empty: replication endpoints refuse every request
  region::Clock* clock = nullptr;  // for signature windows; nullptr: the system clock
};

class Api {
 public:
  Api(region::Node& node, ApiOptions options) : node_(node), options_(options) {}

  // The route table. Handlers capture `this`: the Api must outlive the server.
  std::vector<Route> Routes();
  void SetMetrics(const Metrics* metrics) { metrics_ = metrics; }

 private:
  Reply Healthz(Request& r);
  Reply Readyz(Request& r);
  Reply MetricsText(Request& r);
  Reply ListCollections(Request& r);
  Reply PutCollection(Request& r);
  Reply GetCollection(Request& r);
  Reply ListDocs(Request& r);
  Reply GetDoc(Request& r);
  std::optional<Reply> TryGetDoc(Request& r);
  Reply DocReply(Request& r, const crdt::Result<region::Document>& doc);
  void WriteDoc(Request& r, region::ChangeKind kind, Respond respond);
  Reply DocOps(Request& r);
  Reply Changes(Request& r);
  Reply Cluster(Request& r);
  Reply Digest(Request& r);
  Reply ReplicationPull(Request& r);
  Reply ListConflicts(Request& r);
  Reply GetConflict(Request& r);
  Reply ResolveConflict(Request& r);

  region::Node& node_;
  ApiOptions options_;
  region::SystemClock system_clock_;
  const Metrics* metrics_ = nullptr;
};

}  // namespace server
