// The one mapping from crdt::Status to an HTTP reply: application/problem+json (RFC 9457).
//
//   {"type": "urn:meridian:problem:<reason>", "title": ..., "status": N, "detail": ...}
//
// `type` is stable (the Status reason); clients switch on it. Internal errors never show
// their message (it may name SQL or files): the detail points to the server log instead,
// where the message is logged with the same incident id.
#pragma once

#include <string>

#include "crdt/status.h"
#include "server/http.h"

namespace server {

inline constexpr const char* kProblemTypePrefix = "urn:meridian:problem:";

int HttpStatusFor(const crdt::Status& status);
Reply ProblemReply(const crdt::Status& status);

}  // namespace server
