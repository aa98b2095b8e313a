#include "server/api.h"

#include <charconv>
#include <sstream>

#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>
#include <nlohmann/json.hpp>

#include "region/http_transport.h"
#include "region/peer_auth.h"
#include "region/wire.h"
#include "server/problem.h"

namespace server {

using crdt::Result;
using crdt::Status;
using nlohmann::json;

namespace {

constexpr int kMaxPageLimit = 1000;
constexpr int kMaxWaitMs = 30000;

std::string HlcJson(crdt::Hlc hlc) {
  return "{\"wall_ms\":" + std::to_string(hlc.wall_ms()) + ",\"logical\":" + std::to_string(hlc.logical()) + "}";
}

// Integer query parameter: absent -> fallback; malformed or below `lo` -> 400; above `hi` -> hi.
Result<int64_t> IntParam(const Request& r, const std::string& name, int64_t fallback, int64_t lo, int64_t hi) {
  auto text = r.query(name);
  if (!text) return fallback;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec == std::errc::result_out_of_range && !text->empty() && (*text)[0] != '-') return hi;
  if (ec != std::errc() || ptr != text->data() + text->size() || v < lo) {
    return Status::InvalidArgument("invalid-parameter", "query parameter '" + name + "' must be an integer >= " +
                                                            std::to_string(lo) + ", got '" + text->substr(0, 40) + "'");
  }
  return std::min(v, hi);
}

std::string Base64Url(const std::string& raw) {
  std::ostringstream out;
  Poco::Base64Encoder enc(out, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
  enc.rdbuf()->setLineLength(0);
  enc << raw;
  enc.close();
  return out.str();
}

Result<std::string> FromBase64Url(const std::string& text) {
  try {
    std::istringstream in(text);
    Poco::Base64Decoder dec(in, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
    std::string out((std::istreambuf_iterator<char>(dec)), std::istreambuf_iterator<char>());
    return out;
  } catch (const std::exception&) {
    return Status::InvalidArgument("invalid-cursor", "the 'after' cursor is malformed; pass back a 'next' value");
  }
}

Status RequireMediaType(const Request& r, const std::string& type) {
  const std::string got = r.media_type();
  if (got == type) return Status::Ok();
  return Status(crdt::Code::kInvalidArgument, "unsupported-media-type",
                "Content-Type must be " + type + (got.empty() ? " (none given)" : ", got " + got));
}

// Clients never assign HLCs or origins.
Status RejectServerAssigned(const Request& r) {
  for (const char* q : {"hlc", "origin"}) {
    if (r.query(q)) {
      return Status::InvalidArgument("server-assigned-field",
                                     std::string("'") + q + "' is assigned by the server and cannot be given");
    }
  }
  for (const char* h : {"X-Meridian-Hlc", "X-Meridian-Origin"}) {
    if (r.header(h)) {
      return Status::InvalidArgument("server-assigned-field",
                                     std::string("header ") + h + " is assigned by the server and cannot be given");
    }
  }
  return Status::Ok();
}

// An entity tag without its quotes; `weak` says whether it had "W/".
std::string Unquoted(std::string tag, bool* weak) {
  *weak = tag.rfind("W/", 0) == 0;
  if (*weak) tag = tag.substr(2);
  if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') tag = tag.substr(1, tag.size() - 2);
  return tag;
}

// The version an If-Match header names. If-Match compares strongly (RFC 9110 13.1.1): a
// weak tag keeps its "W/" and so matches no version.
std::optional<std::string> IfMatch(const Request& r) {
  auto v = r.header("If-Match");
  if (!v) return std::nullopt;
  bool weak = false;
  std::string tag = Unquoted(*v, &weak);
  return weak ? "W/" + tag : tag;
}

// True when an If-None-Match value ("*" or a list of tags, weak or not: it compares weakly)
// names `version`.
bool ListsTag(const std::string& value, const std::string& version) {
  size_t pos = 0;
  while (pos < value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string::npos) comma = value.size();
    std::string tag = value.substr(pos, comma - pos);
    pos = comma + 1;
    tag.erase(0, tag.find_first_not_of(" \t"));
    tag.erase(tag.find_last_not_of(" \t") + 1);
    bool weak = false;
    if (tag == "*" || Unquoted(tag, &weak) == version) return true;
  }
  return false;
}

std::string DocJson(const region::Document& d) {
  return "{\"key\":" + JsonQuote(d.key) + ",\"value\":" + d.value + ",\"version\":" + JsonQuote(d.version) +
         ",\"hlc\":" + HlcJson(d.hlc) + ",\"origin\":" + JsonQuote(d.origin.str()) +
         ",\"conflicted\":" + (d.conflicted ? "true" : "false") +
         (d.siblings.empty() ? std::string()
                             : ",\"siblings\":" + d.siblings + ",\"siblings_total\":" + std::to_string(d.siblings_total)) +
         "}";
}

Reply WithVersion(Reply reply, const std::string& version) {
  reply.headers.emplace_back("ETag", "\"" + version + "\"");
  return reply;
}

std::string VectorJson(const crdt::VersionVector& vv) {
  std::string out = "{";
  for (const auto& [origin, seq] : vv.entries()) {
    if (out.size() > 1) out += ',';
    out += JsonQuote(origin.str()) + ":" + std::to_string(seq);
  }
  return out + "}";
}

}  // namespace

std::vector<Route> Api::Routes() {
  auto bind = [this](Reply (Api::*fn)(Request&)) { return [this, fn](Request& r) { return (this->*fn)(r); }; };
  auto write = [this](region::ChangeKind kind) {
    return [this, kind](Request& r, Respond respond) { WriteDoc(r, kind, std::move(respond)); };
  };
  auto quick = [](Route route) {
    route.quick = true;
    return route;
  };
  auto attempt = [this](Route route, std::optional<Reply> (Api::*fn)(Request&)) {
    route.attempt = [this, fn](Request& r) { return (this->*fn)(r); };
    return route;
  };
  auto waits = [](Route route) {
    route.waits = true;
    return route;
  };
  const std::string doc = "/v1/collections/{c}/docs/{key}";
  return {
      quick({"GET", "/healthz", "healthz", bind(&Api::Healthz)}),
      quick({"GET", "/readyz", "readyz", bind(&Api::Readyz)}),
      {"GET", "/metrics", "metrics", bind(&Api::MetricsText)},
      {"GET", "/v1/collections", "collections", bind(&Api::ListCollections)},
      {"PUT", "/v1/collections/{c}", "collection", bind(&Api::PutCollection)},
      {"GET", "/v1/collections/{c}", "collection", bind(&Api::GetCollection)},
      {"GET", "/v1/collections/{c}/docs", "docs", bind(&Api::ListDocs)},
      waits(attempt({"GET", doc, "doc", bind(&Api::GetDoc)}, &Api::TryGetDoc)),  // sessions wait
      {"PUT", doc, "doc", nullptr, nullptr, write(region::ChangeKind::kPut)},
      {"PATCH", doc, "doc", nullptr, nullptr, write(region::ChangeKind::kPatch)},
      {"DELETE", doc, "doc", nullptr, nullptr, write(region::ChangeKind::kDelete)},
      {"POST", doc + "/ops", "doc_ops", bind(&Api::DocOps)},
      waits({"GET", "/v1/changes", "changes", bind(&Api::Changes)}),
      {"GET", "/v1/cluster", "cluster", bind(&Api::Cluster)},
      {"GET", "/v1/digest", "digest", bind(&Api::Digest)},
      {"GET", "/v1/conflicts", "conflicts", bind(&Api::ListConflicts)},
      {"GET", "/v1/conflicts/{id}", "conflict", bind(&Api::GetConflict)},
      {"POST", "/v1/conflicts/{id}/resolve", "conflict_resolve", bind(&Api::ResolveConflict)},
      waits({"GET", region::kPullPath, "replication_pull", bind(&Api::ReplicationPull)}),
  };
}

Reply Api::Healthz(Request&) {
  return JsonReply(200, "{\"status\":\"ok\",\"region\":" + JsonQuote(node_.region().str()) + "}");
}

Reply Api::Readyz(Request&) {
  if (node_.closed()) return ProblemReply(Status::Unavailable("shutting-down", "the region is shutting down"));
  if (auto refused = node_.WritesRefused()) return ProblemReply(*refused);
  return JsonReply(200, "{\"status\":\"ready\",\"region\":" + JsonQuote(node_.region().str()) + "}");
}

Reply Api::MetricsText(Request&) {
  Reply reply;
  reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
  reply.body = metrics_ ? metrics_->Render(node_.Stats(), node_.Cluster()) : "";
  return reply;
}

namespace {
std::string CollectionJson(const region::CollectionInfo& c) {
  json def = json::parse(c.definition, nullptr, false);
  json out = json::object();
  out["name"] = c.name;
  out["policy"] = def.is_object() ? def.value("policy", "lww") : "lww";
  if (def.is_object()) {
    for (const auto& [k, v] : def.items()) out[k] = v;
  }
  out["defined"] = c.defined;
  if (c.defined) {
    out["hlc"] = {{"wall_ms", c.hlc.wall_ms()}, {"logical", c.hlc.logical()}};
    out["origin"] = c.origin.str();
  }
  return out.dump();
}
}  // namespace

Reply Api::ListCollections(Request&) {
  auto all = node_.Collections();
  if (!all.ok()) return ProblemReply(all.status());
  std::string body = "{\"collections\":[";
  for (size_t i = 0; i < all->size(); ++i) body += (i ? "," : "") + CollectionJson((*all)[i]);
  return JsonReply(200, body + "]}");
}

Reply Api::GetCollection(Request& r) {
  auto all = node_.Collections();
  if (!all.ok()) return ProblemReply(all.status());
  for (const auto& c : *all) {
    if (c.name == r.param("c")) return JsonReply(200, CollectionJson(c));
  }
  if (Status s = region::ValidateCollectionName(r.param("c")); !s.ok()) return ProblemReply(s);
  return ProblemReply(Status::NotFound("not-found", "no collection '" + r.param("c") + "'"));
}

Reply Api::PutCollection(Request& r) {
  if (Status s = RejectServerAssigned(r); !s.ok()) return ProblemReply(s);
  if (Status s = RequireMediaType(r, "application/json"); !s.ok()) return ProblemReply(s);
  auto body = r.Body();
  if (!body.ok()) return ProblemReply(body.status());
  auto info = node_.DefineCollection(r.param("c"), *body);
  if (!info.ok()) return ProblemReply(info.status());
  return JsonReply(200, CollectionJson(*info));
}

Reply Api::ListDocs(Request& r) {
  auto limit = IntParam(r, "limit", 100, 1, kMaxPageLimit);
  if (!limit.ok()) return ProblemReply(limit.status());
  std::string after;
  if (auto cursor = r.query("after"); cursor && !cursor->empty()) {
    auto decoded = FromBase64Url(*cursor);
    if (!decoded.ok()) return ProblemReply(decoded.status());
    after = std::move(decoded).value();
  }
  auto page = node_.List(r.param("c"), r.query("prefix").value_or(""), after, static_cast<int>(*limit));
  if (!page.ok()) return ProblemReply(page.status());
  std::string body = "{\"docs\":[";
  for (size_t i = 0; i < page->docs.size(); ++i) body += (i ? "," : "") + DocJson(page->docs[i]);
  body += "],\"next\":" + (page->next ? JsonQuote(Base64Url(*page->next)) : std::string("null")) + "}";
  return JsonReply(200, std::move(body));
}

Reply Api::GetDoc(Request& r) {
  if (auto token = r.header("X-Meridian-Session")) {
    auto vv = crdt::VersionVector::Decode(*token);
    if (!vv.ok()) {
      return ProblemReply(Status::InvalidArgument("invalid-session", "X-Meridian-Session is not a session token"));
    }
    if (Status s = node_.WaitForSession(*vv, options_.session_wait_ms, r.client_gone()); !s.ok()) return ProblemReply(s);
  }
  return DocReply(r, node_.Get(r.param("c"), r.param("key")));
}

std::optional<Reply> Api::TryGetDoc(Request& r) {
  if (r.header("X-Meridian-Session")) return std::nullopt;  // may wait for replication
  auto doc = node_.TryGet(r.param("c"), r.param("key"));
  if (!doc) return std::nullopt;  // every read connection is busy
  return DocReply(r, *doc);
}

Reply Api::DocReply(Request& r, const Result<region::Document>& doc) {
  if (!doc.ok()) return ProblemReply(doc.status());
  if (auto none_match = r.header("If-None-Match"); none_match && ListsTag(*none_match, doc->version)) {
    Reply reply;
    reply.status = 304;
    return WithVersion(std::move(reply), doc->version);
  }
  return WithVersion(JsonReply(200, DocJson(*doc)), doc->version);
}

void Api::WriteDoc(Request& r, region::ChangeKind kind, Respond respond) {
  if (Status s = RejectServerAssigned(r); !s.ok()) return respond(ProblemReply(s));
  if (auto ack = r.query("ack"); ack && *ack != "local") {
    return respond(ProblemReply(Status::InvalidArgument("invalid-parameter", "ack must be 'local' in this version")));
  }
  region::WriteRequest req{r.param("c"), r.param("key"), "", IfMatch(r)};
  if (kind != region::ChangeKind::kDelete) {
    const char* type = kind == region::ChangeKind::kPatch ? "application/merge-patch+json" : "application/json";
    if (Status s = RequireMediaType(r, type); !s.ok()) return respond(ProblemReply(s));
    auto body = r.Body();
    if (!body.ok()) return respond(ProblemReply(body.status()));
    req.body = std::move(body).value();
  }
  node_.WriteAsync(std::move(req), kind, [respond = std::move(respond)](Result<region::WriteAck> ack) {
    if (!ack.ok()) return respond(ProblemReply(ack.status()));
    Reply reply = JsonReply(ack->created ? 201 : 200,
                            "{\"key\":" + JsonQuote(ack->key) + ",\"version\":" + JsonQuote(ack->version) +
                                ",\"hlc\":" + HlcJson(ack->hlc) + ",\"origin\":" + JsonQuote(ack->dot.origin.str()) +
                                ",\"seq\":" + std::to_string(ack->dot.seq) + "}");
    reply.headers.emplace_back("X-Meridian-Session", ack->session);
    respond(WithVersion(std::move(reply), ack->version));
  });
}

Reply Api::DocOps(Request& r) {
  if (Status s = RejectServerAssigned(r); !s.ok()) return ProblemReply(s);
  if (Status s = RequireMediaType(r, "application/json"); !s.ok()) return ProblemReply(s);
  auto body = r.Body();
  if (!body.ok()) return ProblemReply(body.status());
  region::WriteRequest req{r.param("c"), r.param("key"), std::move(body).value(), IfMatch(r)};
  auto ack = node_.Ops(req, r.header("Idempotency-Key").value_or(""));
  if (!ack.ok()) return ProblemReply(ack.status());
  Reply reply = JsonReply(ack->created ? 201 : 200,
                          "{\"key\":" + JsonQuote(ack->key) + ",\"version\":" + JsonQuote(ack->version) +
                              ",\"hlc\":" + HlcJson(ack->hlc) + ",\"origin\":" + JsonQuote(ack->dot.origin.str()) +
                              ",\"seq\":" + std::to_string(ack->dot.seq) + ",\"value\":" + ack->value + "}");
  reply.headers.emplace_back("X-Meridian-Session", ack->session);
  return WithVersion(std::move(reply), ack->version);
}

Reply Api::Changes(Request& r) {
  auto limit = IntParam(r, "limit", 100, 1, kMaxPageLimit);
  auto wait = IntParam(r, "wait_ms", 0, 0, kMaxWaitMs);
  for (const auto* p : {&limit, &wait}) {
    if (!p->ok()) return ProblemReply(p->status());
  }
  auto page =
      node_.Feed(r.query("since").value_or(""), static_cast<int>(*limit), static_cast<int>(*wait), r.client_gone());
  if (!page.ok()) return ProblemReply(page.status());
  std::string body = "{\"changes\":[";
  bool first = true;
  for (const auto& c : page->changes) {
    body += first ? "" : ",";
    first = false;
    body += "{\"origin\":" + JsonQuote(c.dot.origin.str()) + ",\"seq\":" + std::to_string(c.dot.seq) +
            ",\"hlc\":" + HlcJson(c.hlc) + ",\"collection\":" + JsonQuote(c.collection) +
            ",\"op\":" + JsonQuote(region::ChangeKindName(c.kind));
    switch (c.kind) {
      case region::ChangeKind::kPut: body += ",\"key\":" + JsonQuote(c.key) + ",\"value\":" + c.body; break;
      case region::ChangeKind::kPatch: body += ",\"key\":" + JsonQuote(c.key) + ",\"patch\":" + c.body; break;
      case region::ChangeKind::kDelete: body += ",\"key\":" + JsonQuote(c.key); break;
      case region::ChangeKind::kDefine: body += ",\"definition\":" + c.body; break;
      case region::ChangeKind::kPurge: break;  // the context says what was purged
      case region::ChangeKind::kOps:  // the body is {"ops":[...]}: splice its member
        body += ",\"key\":" + JsonQuote(c.key) + "," + c.body.substr(1, c.body.size() - 2);
        break;
    }
    body += ",\"context\":" + VectorJson(c.ctx) + "}";
  }
  body += "],\"next\":" + JsonQuote(page->next) + "}";
  return JsonReply(200, std::move(body));
}

Reply Api::Cluster(Request&) {
  const region::ClusterInfo c = node_.Cluster();
  std::string body = "{\"region\":" + JsonQuote(c.region.str()) + ",\"now_ms\":" + std::to_string(c.now_ms) +
                     ",\"hlc\":" + HlcJson(c.hlc) + ",\"applied\":" + VectorJson(c.applied) +
                     ",\"floor\":" + VectorJson(c.floor) + ",\"stable\":" + VectorJson(c.stable) +
                     ",\"refusing_writes\":" + (c.refusing_writes ? "true" : "false") + ",\"peers\":[";
  for (size_t i = 0; i < c.peers.size(); ++i) {
    const region::PeerStatus& p = c.peers[i];
    body += (i ? "," : "") + std::string("{\"region\":") + JsonQuote(p.id.str()) + ",\"url\":" + JsonQuote(p.url) +
            ",\"state\":" + JsonQuote(p.state) + ",\"lag_changes\":" + std::to_string(p.lag_changes) +
            ",\"lag_ms\":" + std::to_string(p.lag_ms) +
            ",\"outbound_lag_changes\":" + std::to_string(p.outbound_lag_changes) +
            ",\"last_contact_ms\":" + (p.last_contact_ms ? std::to_string(p.last_contact_ms) : "null") +
            ",\"last_contact_ago_ms\":" +
            (p.last_contact_ms ? std::to_string(c.now_ms > p.last_contact_ms ? c.now_ms - p.last_contact_ms : 0)
                               : "null") +
            ",\"clock_offset_ms\":" + (p.clock_offset_known ? std::to_string(p.clock_offset_ms) : "null") +
            ",\"pulls\":" + std::to_string(p.pulls) + ",\"changes_applied\":" + std::to_string(p.changes_applied) +
            ",\"last_error\":" + (p.last_error.empty() ? "null" : JsonQuote(p.last_error)) + "}";
  }
  return JsonReply(200, body + "]}");
}

Reply Api::Digest(Request&) {
  auto d = node_.Digest();
  if (!d.ok()) return ProblemReply(d.status());
  std::string body = "{\"digest\":" + JsonQuote(d->digest) + ",\"collections\":{";
  for (size_t i = 0; i < d->collections.size(); ++i) {
    body += (i ? "," : "") + JsonQuote(d->collections[i].first) + ":" + JsonQuote(d->collections[i].second);
  }
  body += "},\"applied\":" + VectorJson(d->applied) + "}";
  return JsonReply(200, std::move(body));
}

Reply Api::ReplicationPull(Request& r) {
  if (options_.cluster_secret.empty()) {
    return ProblemReply(Status(crdt::Code::kUnauthenticated, "no-cluster-secret",
                               "this region has no cluster secret; start it with --cluster-secret-file"));
  }
  region::Clock& clock = options_.clock ? *options_.clock : system_clock_;
  auto peer = region::VerifyPeerRequest(options_.cluster_secret, r.header("Authorization").value_or(""), r.method(),
                                        r.target(), "", clock.NowMs());
  if (!peer.ok()) return ProblemReply(peer.status());
  auto have = crdt::VersionVector::Decode(r.query("have").value_or(""));
  if (!have.ok()) return ProblemReply(have.status());
  auto limit = IntParam(r, "limit", 1000, 1, 10000);
  auto wait = IntParam(r, "wait_ms", 0, 0, kMaxWaitMs);
  for (const auto* p : {&limit, &wait}) {
    if (!p->ok()) return ProblemReply(p->status());
  }
  // The puller's floor (region/stability.h); older regions do not send one.
  std::optional<region::FloorReport> floor;
  if (auto f = r.query("floor")) {
    auto vv = crdt::VersionVector::Decode(*f);
    if (!vv.ok()) return ProblemReply(vv.status());
    auto seq = IntParam(r, "floor_seq", 0, 0, INT64_MAX);
    if (!seq.ok()) return ProblemReply(seq.status());
    floor = region::FloorReport{std::move(vv).value(), static_cast<uint64_t>(*seq)};
  }
  auto pulled = node_.Pull(*peer, *have, static_cast<int>(*limit), static_cast<int>(*wait), floor ? &*floor : nullptr,
                           r.client_gone());
  if (!pulled.ok()) return ProblemReply(pulled.status());
  Reply reply = JsonReply(200, region::EncodePullResponse(*pulled));
  MaybeGzip(r, reply);
  return reply;
}

namespace {
std::string ConflictJson(const region::ConflictRow& c, const std::string& region) {
  return "{\"id\":" + std::to_string(c.id) + ",\"collection\":" + JsonQuote(c.collection) +
         ",\"key\":" + JsonQuote(c.key) + ",\"policy\":" + JsonQuote(c.policy) + ",\"versions\":" + c.versions +
         ",\"outcome\":" + c.outcome + ",\"detected_by\":" + JsonQuote(region) +
         ",\"detected_at\":" + std::to_string(c.detected_at) + ",\"status\":" + JsonQuote(c.status) +
         ",\"resolution\":" + (c.resolution.empty() ? "null" : c.resolution) + "}";
}

crdt::Result<int64_t> ConflictId(const Request& r) {
  const std::string& text = r.param("id");
  int64_t id = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || ptr != text.data() + text.size() || id < 1) {
    return Status::NotFound("not-found", "no conflict '" + text.substr(0, 40) + "'");
  }
  return id;
}
}  // namespace

Reply Api::ListConflicts(Request& r) {
  region::ConflictQuery q;
  q.collection = r.query("collection").value_or("");
  q.key = r.query("key").value_or("");
  q.status = r.query("status").value_or("");
  auto since = IntParam(r, "since", 0, 0, INT64_MAX);
  auto limit = IntParam(r, "limit", 100, 1, kMaxPageLimit);
  auto after = IntParam(r, "after", 0, 0, INT64_MAX);
  for (const auto* p : {&since, &limit, &after}) {
    if (!p->ok()) return ProblemReply(p->status());
  }
  q.since_ms = *since;
  q.limit = static_cast<int>(*limit);
  q.after = *after;
  auto page = node_.Conflicts(q);
  if (!page.ok()) return ProblemReply(page.status());
  std::string body = "{\"conflicts\":[";
  for (size_t i = 0; i < page->conflicts.size(); ++i) {
    body += (i ? "," : "") + ConflictJson(page->conflicts[i], node_.region().str());
  }
  body += "],\"next\":" + (page->next ? JsonQuote(std::to_string(*page->next)) : std::string("null")) + "}";
  return JsonReply(200, std::move(body));
}

Reply Api::GetConflict(Request& r) {
  auto id = ConflictId(r);
  if (!id.ok()) return ProblemReply(id.status());
  auto c = node_.Conflict(*id);
  if (!c.ok()) return ProblemReply(c.status());
  return JsonReply(200, ConflictJson(*c, node_.region().str()));
}

Reply Api::ResolveConflict(Request& r) {
  auto id = ConflictId(r);
  if (!id.ok()) return ProblemReply(id.status());
  if (Status s = RejectServerAssigned(r); !s.ok()) return ProblemReply(s);
  if (Status s = RequireMediaType(r, "application/json"); !s.ok()) return ProblemReply(s);
  auto body = r.Body();
  if (!body.ok()) return ProblemReply(body.status());
  auto ack = node_.ResolveConflict(*id, *body);
  if (!ack.ok()) return ProblemReply(ack.status());
  Reply reply = JsonReply(200, "{\"conflict\":" + std::to_string(*id) + ",\"key\":" + JsonQuote(ack->key) +
                                   ",\"version\":" + JsonQuote(ack->version) + ",\"hlc\":" + HlcJson(ack->hlc) +
                                   ",\"origin\":" + JsonQuote(ack->dot.origin.str()) +
                                   ",\"seq\":" + std::to_string(ack->dot.seq) + "}");
  reply.headers.emplace_back("X-Meridian-Session", ack->session);
  return WithVersion(std::move(reply), ack->version);
}

}  // namespace server
