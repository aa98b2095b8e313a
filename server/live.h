// Live collaborative editing over WebSocket, and the demo app's static files.
//
// GET /v1/collections/{c}/docs/{key}/live?field=body&agent=web-... upgrades to a WebSocket
// that carries the operations of one text field of a crdt-collection document:
//   server -> client  {"type":"hello","region","agent"}, then {"type":"snapshot","state",
//                     "value"} (the field's Text state, null when it has none yet), then
//                     {"type":"ops","ops":[text op, ...]} for every change applied at this
//                     region to that field (any origin, the client's own echoed too),
//                     {"type":"ack","seq"} / {"type":"error","seq","problem"} per client
//                     batch, {"type":"presence","editors":[...]} when other editors move
//   client -> server  {"type":"ops","seq":n,"ops":[text op, ...]} (ops the client made with
//                     its own origin, "web-..."), {"type":"presence","name","index"}
// A client batch is one write at this region (POST .../ops with {"op":"text"} operations),
// so it is durable when acknowledged and replicates like any other write. The session
// follows the region's change feed from the moment before its snapshot: operations may
// arrive twice and clients ignore duplicates (text operations are idempotent).
//
// GET /ui/ and /ui/{file} serve the demo app from a directory of flat files.
//
// Thread-safety: one session per server thread; presence is shared under a mutex.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "region/node.h"
#include "server/http.h"

namespace server {

class Live {
 public:
  Live(region::Node& node, std::string web_root) : node_(node), web_root_(std::move(web_root)) {}
  std::vector<Route> Routes();
  // Ends every live session (before the HTTP server stops: it waits for open requests).
  void Stop() { stopping_ = true; }

 private:
  int Session(Request& r, Poco::Net::HTTPServerRequest& raw, Poco::Net::HTTPServerResponse& response);
  // The answer to a live-session request that cannot become a session: a problem for bad
  // parameters, else 426 (no WebSocket upgrade, or `on_own_connection` false: the upgrade
  // came on a connection that had served other requests). nullopt: go ahead.
  std::optional<Reply> Refusal(Request& r, bool on_own_connection);
  Reply File(Request& r, const std::string& name);

  region::Node& node_;
  std::string web_root_;
  std::atomic<bool> stopping_{false};
};

}  // namespace server
