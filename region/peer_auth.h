// Peer authentication for replication requests: HMAC-SHA256 with the cluster secret.
//
//   Authorization: Meridian-HMAC-SHA256 region=<id>,ts=<unix ms>,sig=<hex>
//   sig = HMAC-SHA256(secret, method "\n" path_and_query "\n" hex(SHA-256(body)) "\n" ts "\n" region)
//
// A request is accepted when the signature matches and ts is within `window_ms` (default
// 300 s) of the verifier's clock. Replaying a request inside the window is harmless: the
// signed replication endpoints only read. Thread-safe, pure apart from hashing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "crdt/status.h"
#include "crdt/version_vector.h"

namespace region {

inline constexpr const char* kPeerAuthScheme = "Meridian-HMAC-SHA256";
inline constexpr uint64_t kPeerAuthWindowMs = 300'000;

// The Authorization header value for a request signed by `region` at `now_ms`.
std::string SignPeerRequest(std::string_view secret, const crdt::RegionId& region, std::string_view method,
                            std::string_view path_and_query, std::string_view body, uint64_t now_ms);

// Checks an Authorization header; returns the signing region. Unauthenticated with reason
// "unsigned", "bad-signature" or "stale-signature" otherwise.
crdt::Result<crdt::RegionId> VerifyPeerRequest(std::string_view secret, std::string_view authorization,
                                               std::string_view method, std::string_view path_and_query,
                                               std::string_view body, uint64_t now_ms,
                                               uint64_t window_ms = kPeerAuthWindowMs);

}  // namespace region
