#include "region/peer_auth.h"

#include <charconv>

#include <Poco/DigestEngine.h>
#include <Poco/HMACEngine.h>
#include <Poco/SHA2Engine.h>

namespace region {

using crdt::Result;
using crdt::Status;

namespace {

// Poco's HMACEngine needs the block and digest sizes as members.
class Sha256 : public Poco::SHA2Engine {
 public:
  enum { BLOCK_SIZE = 64, DIGEST_SIZE = 32 };
  Sha256() : Poco::SHA2Engine(Poco::SHA2Engine::SHA_256) {}
};

std::string Sha256Hex(std::string_view data) {
  Sha256 engine;
  engine.update(data.data(), static_cast<unsigned>(data.size()));
  return Poco::DigestEngine::digestToHex(engine.digest());
}

std::string Mac(std::string_view secret, const std::string& region, std::string_view method,
                std::string_view path_and_query, std::string_view body, const std::string& ts) {
  const std::string key(secret);
  Poco::HMACEngine<Sha256> hmac(key);
  const std::string text = std::string(method) + "\n" + std::string(path_and_query) + "\n" + Sha256Hex(body) +
                           "\n" + ts + "\n" + region;
  hmac.update(text);
  return Poco::DigestEngine::digestToHex(hmac.digest());
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Status Unauth(const char* reason, const std::string& message) {
  return Status(crdt::Code::kUnauthenticated, reason, message);
}

}  // namespace

std::string SignPeerRequest(std::string_view secret, const crdt::RegionId& region, std::string_view method,
                            std::string_view path_and_query, std::string_view body, uint64_t now_ms) {
  const std::string ts = std::to_string(now_ms);
  return std::string(kPeerAuthScheme) + " region=" + region.str() + ",ts=" + ts +
         ",sig=" + Mac(secret, region.str(), method, path_and_query, body, ts);
}

Result<crdt::RegionId> VerifyPeerRequest(std::string_view secret, std::string_view authorization,
                                         std::string_view method, std::string_view path_and_query,
                                         std::string_view body, uint64_t now_ms, uint64_t window_ms) {
  const std::string scheme = std::string(kPeerAuthScheme) + " ";
  if (authorization.substr(0, scheme.size()) != scheme) {
    return Unauth("unsigned", "replication requests must be signed with the cluster secret");
  }
  std::string region, ts, sig;
  std::string_view rest = authorization.substr(scheme.size());
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    std::string_view part = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) return Unauth("bad-signature", "malformed Authorization header");
    const std::string_view k = part.substr(0, eq), v = part.substr(eq + 1);
    if (k == "region") region = v;
    else if (k == "ts") ts = v;
    else if (k == "sig") sig = v;
  }
  auto id = crdt::RegionId::Parse(region);
  uint64_t stamp = 0;
  auto [ptr, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), stamp);
  if (!id.ok() || ec != std::errc() || ptr != ts.data() + ts.size() || sig.empty()) {
    return Unauth("bad-signature", "malformed Authorization header");
  }
  const uint64_t skew = stamp > now_ms ? stamp - now_ms : now_ms - stamp;
  if (skew > window_ms) {
    return Unauth("stale-signature", "signature timestamp is " + std::to_string(skew / 1000) +
                                         " s away from this region's clock (window " +
                                         std::to_string(window_ms / 1000) + " s)");
  }
  if (!ConstantTimeEqual(sig, Mac(secret, region, method, path_and_query, body, ts))) {
    return Unauth("bad-signature", "signature does not match (wrong cluster secret or tampered request)");
  }
  return id;
}

}  // namespace region
