#include "server/live.h"

#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include <Poco/Buffer.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/WebSocket.h>
#include <nlohmann/json.hpp>

#include "crdt/doc_crdt.h"
#include "crdt/json_text.h"
#include "server/log.h"
#include "server/problem.h"

namespace server {

using crdt::Status;
using nlohmann::json;

namespace {

constexpr int kMaxFrameBytes = 4 * 1024 * 1024;
constexpr int kFeedWaitMs = 25;
constexpr int kProgressEveryMs = 500;
// After a session that sent edits ends, the floor stays held where its page was for this
// long, so that the page can reconnect and still send what it typed meanwhile.
constexpr int kReconnectGraceMs = 10'000;

// A floor hold, released when the session ends (after the grace time if it edited).
struct FloorHold {
  FloorHold(region::Node& node, uint64_t id) : node(node), id(id) {}
  ~FloorHold() { node.ReleaseFloor(id, edited ? kReconnectGraceMs : 0); }
  FloorHold(const FloorHold&) = delete;
  FloorHold& operator=(const FloorHold&) = delete;
  region::Node& node;
  const uint64_t id;
  bool edited = false;
};

// A version vector the page sent (`name` of msg), no further than what the session has
// shown it; nullopt when missing or malformed.
std::optional<crdt::VersionVector> PageVector(const json& msg, const char* name, const crdt::VersionVector& shown) {
  if (!msg.is_object() || !msg.contains(name) || !msg[name].is_string()) return std::nullopt;
  auto v = crdt::VersionVector::Decode(msg[name].get<std::string>());
  if (!v.ok()) return std::nullopt;
  v->Meet(shown);
  return std::move(v).value();
}

// Who is editing which document at this region.
class Presence {
 public:
  struct Editor {
    std::string name;
    int64_t index = -1;
  };
  void Set(const std::string& doc, const std::string& agent, Editor e) {
    std::lock_guard lock(mu_);
    docs_[doc][agent] = std::move(e);
    ++version_;
  }
  void Remove(const std::string& doc, const std::string& agent) {
    std::lock_guard lock(mu_);
    docs_[doc].erase(agent);
    if (docs_[doc].empty()) docs_.erase(doc);
    ++version_;
  }
  uint64_t version() const {
    std::lock_guard lock(mu_);
    return version_;
  }
  json Others(const std::string& doc, const std::string& agent, const std::string& region) const {
    std::lock_guard lock(mu_);
    json out = json::array();
    auto it = docs_.find(doc);
    if (it == docs_.end()) return out;
    for (const auto& [a, e] : it->second) {
      if (a != agent) out.push_back({{"agent", a}, {"name", e.name}, {"index", e.index}, {"region", region}});
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, Editor>> docs_;
  uint64_t version_ = 0;
};

Presence& SharedPresence() {
  static Presence p;
  return p;
}

void SendJson(Poco::Net::WebSocket& ws, const json& message) {
  const std::string text = message.dump(-1, ' ', false, json::error_handler_t::replace);
  ws.sendFrame(text.data(), static_cast<int>(text.size()), Poco::Net::WebSocket::FRAME_TEXT);
}

json ProblemJson(const Status& s) {
  const Reply r = ProblemReply(s);
  return json::parse(r.body, nullptr, false);
}

// The text at `field` of a document's encoded CRDT state: {state, value}.
crdt::Result<std::pair<json, std::string>> TextOf(const std::string& state_text, const std::string& field) {
  if (state_text.empty()) return std::make_pair(json(nullptr), std::string());
  auto parsed = crdt::ParseJson(state_text);
  if (!parsed.ok()) return parsed.status();
  auto doc = crdt::DocCrdt::Decode(*parsed);
  if (!doc.ok()) return doc.status();
  const crdt::Text* text = doc->TextAt({field});
  if (!text) return std::make_pair(json(nullptr), std::string());
  return std::make_pair(text->Encode(), text->Value());
}

bool ValidField(const std::string& f) {
  return !f.empty() && f.size() <= 256 && f.find('/') == std::string::npos && f.find('~') == std::string::npos;
}

bool ValidAgent(const std::string& a) {
  return a.rfind("web-", 0) == 0 && crdt::RegionId::Parse(a).ok();
}

void SendReply(Poco::Net::HTTPServerResponse& response, const Reply& reply) {
  response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
  response.setContentType(reply.content_type);
  for (const auto& [k, v] : reply.headers) response.set(k, v);
  response.setContentLength64(static_cast<Poco::Int64>(reply.body.size()));
  response.send() << reply.body;
}

}  // namespace

std::vector<Route> Live::Routes() {
  std::vector<Route> routes;
  // A connection whose first request this is becomes the session (the takeover); on a
  // connection that served other requests it is refused by the handler.
  Route live{"GET", "/v1/collections/{c}/docs/{key}/live", "doc_live",
             [this](Request& r) { return *Refusal(r, /*on_own_connection=*/false); }};
  live.takeover = [this](Request& r, Poco::Net::HTTPServerRequest& raw, Poco::Net::HTTPServerResponse& resp) {
    return Session(r, raw, resp);
  };
  routes.push_back(std::move(live));
  routes.push_back({"GET", "/ui/", "ui", [this](Request& r) { return File(r, "index.html"); }});
  routes.push_back({"GET", "/ui", "ui", [](Request&) {
                      Reply reply;
                      reply.status = 301;
                      reply.content_type = "text/plain";
                      reply.headers.emplace_back("Location", "/ui/");
                      return reply;
                    }});
  routes.push_back({"GET", "/ui/{file}", "ui", [this](Request& r) { return File(r, r.param("file")); }});
  return routes;
}

Reply Live::File(Request& r, const std::string& name) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"}, {".png", "image/png"}, {".ico", "image/x-icon"}, {".json", "application/json"}};
  const size_t dot = name.rfind('.');
  const std::string ext = dot == std::string::npos ? "" : name.substr(dot);
  auto type = kTypes.find(ext);
  // One flat directory: no separators, no hidden files, known types only.
  if (name.empty() || name[0] == '.' || name.find_first_of(std::string("/\\\0", 3)) != std::string::npos ||
      type == kTypes.end()) {
    return ProblemReply(Status::NotFound("route-not-found", "no file '" + name + "' in the app"));
  }
  std::ifstream in(web_root_ + "/" + name, std::ios::binary);
  if (!in) return ProblemReply(Status::NotFound("route-not-found", "no file '" + name + "' in the app"));
  std::ostringstream body;
  body << in.rdbuf();
  Reply reply;
  reply.content_type = type->second;
  reply.body = body.str();
  reply.headers.emplace_back("Cache-Control", "no-cache");
  MaybeGzip(r, reply, 4096);
  return reply;
}

std::optional<Reply> Live::Refusal(Request& r, bool on_own_connection) {
  const std::string field = r.query("field").value_or("body");
  const std::string agent = r.query("agent").value_or("");
  if (!ValidField(field)) return ProblemReply(Status::InvalidArgument("invalid-parameter", "field names a top-level field"));
  if (!ValidAgent(agent)) {
    return ProblemReply(Status::InvalidArgument("invalid-parameter",
                                                "agent is the client's origin: \"web-\" and up to 28 of [a-z0-9-]"));
  }
  auto initial = node_.CrdtState(r.param("c"), r.param("key"));  // validates names and the policy
  if (!initial.ok()) return ProblemReply(initial.status());
  const auto upgrade = r.header("Upgrade");
  const bool is_upgrade = upgrade && Poco::icompare(*upgrade, "websocket") == 0;
  if (is_upgrade && on_own_connection) return std::nullopt;
  Reply reply = ProblemReply(Status::InvalidArgument(
      "upgrade-required", is_upgrade ? "open the live session on a connection of its own (its first request)"
                                     : "this endpoint speaks WebSocket"));
  reply.headers.emplace_back("Upgrade", "websocket");
  return reply;
}

int Live::Session(Request& r, Poco::Net::HTTPServerRequest& raw, Poco::Net::HTTPServerResponse& response) {
  const std::string collection = r.param("c");
  const std::string key = r.param("key");
  const std::string field = r.query("field").value_or("body");
  const std::string agent = r.query("agent").value_or("");
  if (auto refusal = Refusal(r, /*on_own_connection=*/true)) {
    SendReply(response, *refusal);
    return refusal->status;
  }

  const std::string doc_id = collection + "/" + key;
  Presence& presence = SharedPresence();
  try {
    Poco::Net::WebSocket ws(raw, response);
    ws.setMaxPayloadSize(kMaxFrameBytes);
    // Follow the feed from before the snapshot: nothing falls between the two. The page
    // has seen at least `cursor`: the region's floor is held there (and raised as the page
    // confirms what it has seen) so that what the page sends is never older than the floor.
    crdt::VersionVector shown = node_.Applied();  // the newest `v` sent to the page
    auto held = node_.HoldFloor(shown);
    // Commits between the two reads can move the floor past what was read: read again.
    for (int i = 0; i < 20 && !held.ok(); ++i) {
      shown = node_.Applied();
      held = node_.HoldFloor(shown);
    }
    if (!held.ok()) throw Poco::Exception(held.status().message());
    std::string cursor = shown.Encode();
    FloorHold hold(node_, *held);
    SendJson(ws, {{"type", "hello"}, {"region", node_.region().str()}, {"agent", agent}});
    auto state = node_.CrdtState(collection, key);
    if (!state.ok()) throw Poco::Exception(state.status().message());
    auto text = TextOf(*state, field);
    if (!text.ok()) throw Poco::Exception(text.status().message());
    SendJson(ws, {{"type", "snapshot"}, {"state", text->first}, {"value", text->second}, {"v", cursor}});
    auto last_progress = std::chrono::steady_clock::now();
    Log(LogLevel::kInfo, "live session", {{"doc", doc_id}, {"agent", agent}});

    uint64_t presence_seen = UINT64_MAX;
    Poco::Buffer<char> buffer(0);
    const json path = json::array({field});
    bool open = true;
    while (open && !node_.closed() && !stopping_) {
      // The client's frames first.
      while (open && ws.poll(Poco::Timespan(0, 1000), Poco::Net::Socket::SELECT_READ)) {
        int flags = 0;
        buffer.resize(0);
        const int n = ws.receiveFrame(buffer, flags);
        const int opcode = flags & Poco::Net::WebSocket::FRAME_OP_BITMASK;
        if (n <= 0 || opcode == Poco::Net::WebSocket::FRAME_OP_CLOSE) {
          open = false;
          break;
        }
        if (opcode == Poco::Net::WebSocket::FRAME_OP_PING) {
          ws.sendFrame(buffer.begin(), n,
                       static_cast<int>(Poco::Net::WebSocket::FRAME_FLAG_FIN) |
                           static_cast<int>(Poco::Net::WebSocket::FRAME_OP_PONG));
          continue;
        }
        if (opcode != Poco::Net::WebSocket::FRAME_OP_TEXT) continue;
        const json msg = json::parse(buffer.begin(), buffer.begin() + n, nullptr, false);
        const std::string type = msg.is_object() ? msg.value("type", "") : "";
        if (type == "seen") {  // the page has applied everything up to v
          if (auto v = PageVector(msg, "v", shown)) node_.RaiseFloor(hold.id, *v);
          continue;
        }
        if (type == "presence") {
          Presence::Editor e;
          e.name = msg.value("name", std::string()).substr(0, 64);
          e.index = msg.contains("index") && msg["index"].is_number_integer() ? msg["index"].get<int64_t>() : -1;
          presence.Set(doc_id, agent, std::move(e));
          continue;
        }
        const json seq = msg.is_object() && msg.contains("seq") ? msg["seq"] : json(nullptr);
        const auto base = PageVector(msg, "base", shown);
        if (type != "ops" || !msg.contains("ops") || !msg["ops"].is_array() || !base) {
          SendJson(ws, {{"type", "error"}, {"seq", seq},
                        {"problem", ProblemJson(Status::InvalidArgument(
                                        "invalid-op", R"(messages are {"type":"ops","seq":n,"base":v,"ops":[...]}, )"
                                                      R"({"type":"seen","v":v} or presence)"))}});
          continue;
        }
        json ops = json::array();
        bool own = true;
        for (const auto& op : msg["ops"]) {
          own = own && op.is_object() && op.contains("id") && op["id"].is_array() && !op["id"].empty() &&
                op["id"][0] == agent;
          ops.push_back({{"op", "text"}, {"path", "/" + field}, {"text", op}});
        }
        if (!own) {
          SendJson(ws, {{"type", "error"}, {"seq", seq},
                        {"problem", ProblemJson(Status::InvalidArgument(
                                        "invalid-op", "a session sends only operations made by its agent " + agent))}});
          continue;
        }
        hold.edited = true;
        region::WriteRequest write{collection, key, json{{"ops", std::move(ops)}, {"base", base->Encode()}}.dump(),
                                   std::nullopt};
        auto ack = node_.Ops(write);
        if (ack.ok()) {
          SendJson(ws, {{"type", "ack"}, {"seq", seq}});
        } else {
          SendJson(ws, {{"type", "error"}, {"seq", seq}, {"problem", ProblemJson(ack.status())}});
        }
      }
      if (!open) break;
      // Then what the region applied since.
      auto page = node_.Feed(cursor, 1000, kFeedWaitMs);
      if (!page.ok()) break;  // shutting down
      cursor = page->next;
      json out = json::array();
      for (const auto& c : page->changes) {
        if (c.kind != region::ChangeKind::kOps || c.collection != collection || c.key != key) continue;
        const json body = json::parse(c.body, nullptr, false);
        if (!body.is_object() || !body.contains("ops")) continue;
        for (const auto& op : body["ops"]) {
          if (op.value("op", "") == "text" && op.value("path", json()) == path) out.push_back(op["text"]);
        }
      }
      // The page learns how far it has seen (`v`) with the ops, or now and then without.
      const auto now = std::chrono::steady_clock::now();
      const bool tell = !out.empty() || (now - last_progress >= std::chrono::milliseconds(kProgressEveryMs) &&
                                         cursor != shown.Encode());
      if (tell) {
        json message = {{"type", out.empty() ? "progress" : "ops"}, {"v", cursor}};
        if (!out.empty()) message["ops"] = std::move(out);
        SendJson(ws, message);
        shown = *crdt::VersionVector::Decode(cursor);  // the feed's own cursor: well formed
        last_progress = now;
      }
      if (const uint64_t v = presence.version(); v != presence_seen) {
        presence_seen = v;
        SendJson(ws, {{"type", "presence"}, {"editors", presence.Others(doc_id, agent, node_.region().str())}});
      }
    }
    try {
      ws.shutdown();
    } catch (const Poco::Exception&) {
    }
  } catch (const Poco::Net::WebSocketException& e) {
    Log(LogLevel::kDebug, "live session refused", {{"error", e.displayText()}});
    presence.Remove(doc_id, agent);
    if (!response.sent()) {
      const Reply reply = ProblemReply(Status::InvalidArgument("bad-request", e.displayText()));
      SendReply(response, reply);
      return reply.status;
    }
    return 400;
  } catch (const Poco::Exception& e) {
    Log(LogLevel::kDebug, "live session ended", {{"doc", doc_id}, {"agent", agent}, {"error", e.displayText()}});
  } catch (const std::exception& e) {
    Log(LogLevel::kWarning, "live session failed", {{"doc", doc_id}, {"agent", agent}, {"error", e.what()}});
  }
  presence.Remove(doc_id, agent);
  return 101;
}

}  // namespace server
