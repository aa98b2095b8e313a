#include "region/http_transport.h"

#include <sstream>

#include <Poco/InflatingStream.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include "region/peer_auth.h"

namespace region {

using crdt::Result;
using crdt::Status;

HttpTransport::HttpTransport(crdt::RegionId self, std::string secret, Clock& clock)
    : self_(std::move(self)), secret_(std::move(secret)), clock_(clock) {}

HttpTransport::~HttpTransport() { Cancel(); }

std::shared_ptr<Poco::Net::HTTPClientSession> HttpTransport::Session(const PeerConfig& peer) {
  std::lock_guard lock(mu_);
  if (cancelled_) return nullptr;
  auto& s = sessions_[peer.id];
  if (!s) {
    try {
      Poco::URI uri(peer.url);
      s = std::make_shared<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
      s->setKeepAlive(true);
    } catch (const Poco::Exception&) {
      sessions_.erase(peer.id);
      return nullptr;
    }
  }
  return s;
}

void HttpTransport::Drop(const PeerConfig& peer) {
  std::lock_guard lock(mu_);
  sessions_.erase(peer.id);
}

void HttpTransport::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  for (auto& [id, s] : sessions_) {
    try {
      s->abort();  // shuts the socket down: a blocked receive returns at once
    } catch (...) {
    }
  }
}

Result<PullResponse> HttpTransport::Pull(const PeerConfig& peer, const crdt::VersionVector& have,
                                         const FloorReport& floor, int limit, int wait_ms) {
  auto session = Session(peer);
  if (!session) return Status::Unavailable("peer-unreachable", "no connection to " + peer.url);
  std::string have_q, floor_q;
  Poco::URI::encode(have.Encode(), ":,", have_q);
  Poco::URI::encode(floor.floor.Encode(), ":,", floor_q);
  const std::string target = std::string(kPullPath) + "?have=" + have_q + "&limit=" + std::to_string(limit) +
                             "&wait_ms=" + std::to_string(wait_ms) + "&floor=" + floor_q +
                             "&floor_seq=" + std::to_string(floor.seq);
  try {
    session->setTimeout(Poco::Timespan(0, 2'000'000), Poco::Timespan(0, 5'000'000),
                        Poco::Timespan(wait_ms / 1000 + 10, 0));
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, target, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setKeepAlive(true);
    req.set("Accept-Encoding", "gzip");
    req.set("Authorization", SignPeerRequest(secret_, self_, "GET", target, "", clock_.NowMs()));
    session->sendRequest(req);
    Poco::Net::HTTPResponse resp;
    std::istream& in = session->receiveResponse(resp);
    std::ostringstream body;
    if (resp.get("Content-Encoding", "") == "gzip") {
      Poco::InflatingInputStream inflate(in, Poco::InflatingStreamBuf::STREAM_GZIP);
      Poco::StreamCopier::copyStream(inflate, body);
    } else {
      Poco::StreamCopier::copyStream(in, body);
    }
    if (!resp.getKeepAlive()) Drop(peer);
    const int status = static_cast<int>(resp.getStatus());
    if (status == 401) {
      return Status(crdt::Code::kUnauthenticated, "peer-auth",
                    "peer " + peer.id.str() + " rejected our signature (cluster secrets differ?)");
    }
    if (status == 410) return Status(crdt::Code::kGone, "history-compacted", body.str());
    if (status != 200) {
      return Status::Unavailable("peer-error", "peer " + peer.id.str() + " answered HTTP " + std::to_string(status));
    }
    auto decoded = DecodePullResponse(body.str());
    if (!decoded.ok()) return Status::Unavailable("peer-error", decoded.status().message());
    if (decoded->region != peer.id) {
      return Status::Unavailable("peer-mismatch", peer.url + " is region " + decoded->region.str() + ", not " +
                                                      peer.id.str());
    }
    return decoded;
  } catch (const Poco::Exception& e) {
    Drop(peer);
    return Status::Unavailable("peer-unreachable", "peer " + peer.id.str() + " at " + peer.url + ": " + e.displayText());
  } catch (const std::exception& e) {
    Drop(peer);
    return Status::Unavailable("peer-unreachable", "peer " + peer.id.str() + ": " + e.what());
  }
}

}  // namespace region
