// HttpTransport: the production Transport. Pulls a peer's change feed over HTTP/1.1
// keep-alive (one connection per peer), signs every request with the cluster secret
// (peer_auth.h) and accepts gzip-compressed answers.
//
// Thread-safety: Pull for one peer is called from that peer's puller thread; Cancel from
// any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "region/clock.h"
#include "region/replication.h"

namespace Poco::Net {
class HTTPClientSession;
}

namespace region {

inline constexpr const char* kPullPath = "/v1/replication/pull";

class HttpTransport final : public Transport {
 public:
  HttpTransport(crdt::RegionId self, std::string secret, Clock& clock);
  ~HttpTransport() override;

  crdt::Result<PullResponse> Pull(const PeerConfig& peer, const crdt::VersionVector& have, const FloorReport& floor,
                                  int limit, int wait_ms) override;
  void Cancel() override;

 private:
  std::shared_ptr<Poco::Net::HTTPClientSession> Session(const PeerConfig& peer);
  void Drop(const PeerConfig& peer);

  const crdt::RegionId self_;
  const std::string secret_;
  Clock& clock_;
  std::mutex mu_;
  bool cancelled_ = false;
  std::map<crdt::RegionId, std::shared_ptr<Poco::Net::HTTPClientSession>> sessions_;
};

}  // namespace region
