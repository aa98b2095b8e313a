#include "server/problem.h"

#include <atomic>
#include <chrono>
#include <map>

#include "server/log.h"

namespace server {

using crdt::Code;
using crdt::Status;

int HttpStatusFor(const Status& status) {
  // Reasons whose HTTP status is more specific than their code's.
  static const std::map<std::string, int> kByReason = {
      {"version-mismatch", 412},   {"payload-too-large", 413}, {"unsupported-media-type", 415},
      {"method-not-allowed", 405}, {"not-acceptable", 406},    {"session-not-caught-up", 503},
      {"upgrade-required", 426},   {"headers-too-large", 431},
  };
  if (auto it = kByReason.find(status.reason()); it != kByReason.end()) return it->second;
  switch (status.code()) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kOutOfRange: return 400;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists: return 409;
    case Code::kFailedPrecondition: return 409;
    case Code::kAborted: return 409;
    case Code::kResourceExhausted: return 429;
    case Code::kUnauthenticated: return 401;
    case Code::kUnavailable: return 503;
    case Code::kDeadlineExceeded: return 504;
    case Code::kGone: return 410;
    case Code::kInternal: return 500;
  }
  return 500;
}

namespace {
const char* TitleFor(int http) {
  switch (http) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Internal Server Error";
  }
}
}  // namespace

Reply ProblemReply(const Status& status) {
  const int http = HttpStatusFor(status);
  std::string detail = status.message();
  if (http >= 500 && status.code() == Code::kInternal) {
    static std::atomic<uint64_t> incidents{0};
    const std::string id = std::to_string(++incidents);
    Log(LogLevel::kError, "internal error", {{"incident", id}, {"error", status.ToString()}});
    detail = "internal error (incident " + id + "); the server log has the details";
  }
  if (status.reason() == "disk-full" || status.reason() == "database-gone") {
    // Said at most every 10 s: every write fails meanwhile.
    static std::atomic<int64_t> last_said{0};
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now().time_since_epoch()).count();
    int64_t said = last_said.load();
    if (now - said >= 10 && last_said.compare_exchange_strong(said, now)) {
      Log(LogLevel::kError, "writes are refused", {{"reason", status.reason()}, {"error", status.message()}});
    }
  }
  const std::string reason = status.reason().empty() ? crdt::CodeName(status.code()) : status.reason();
  Reply reply;
  reply.status = http;
  reply.content_type = "application/problem+json";
  reply.body = "{\"type\":" + JsonQuote(kProblemTypePrefix + reason) + ",\"title\":" + JsonQuote(TitleFor(http)) +
               ",\"status\":" + std::to_string(http) + ",\"detail\":" + JsonQuote(detail) + "}";
  if (http == 503) reply.headers.emplace_back("Retry-After", "1");
  return reply;
}

}  // namespace server
