// The replication wire format: what a region answers when a peer pulls its change feed.
//
//   response := {"region": id, "now_ms": int, "applied": vector, "more": bool,
//                "changes": [change, ...]}
//   change   := [origin, seq, hlc, collection, key, kind, ctx, body]
//       hlc  packed HLC integer;  kind  region::ChangeKind integer;
//       ctx  crdt::VersionVector text;  body  the change body as a JSON string
//   vector   := crdt::VersionVector text
//
// `changes` are in the server's apply order, which is causal; `applied` is the server's
// applied vector when it answered; `now_ms` its physical clock (for offset estimates).
// Decoding validates every field and never throws.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "crdt/status.h"
#include "crdt/version_vector.h"
#include "region/types.h"

namespace region {

struct PullResponse {
  crdt::RegionId region;
  uint64_t now_ms = 0;
  crdt::VersionVector applied;
  std::vector<Change> changes;
  bool more = false;  // the server holds more changes for this puller
};

std::string EncodePullResponse(const PullResponse& response);
// InvalidArgument("invalid-pull-response") names what is wrong.
crdt::Result<PullResponse> DecodePullResponse(std::string_view text);

}  // namespace region
