// Test support: a small keep-alive HTTP client over POCO for talking to real servers.
// One client per thread; it reconnects after a failure. Transport errors come back as
// status 0 with the error text in `body` rather than as exceptions.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace Poco::Net {
class HTTPClientSession;
}

namespace testsupport {

struct HttpResponse {
  int status = 0;  // 0: transport error
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(const std::string& base_url, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~HttpClient();

  using Headers = std::vector<std::pair<std::string, std::string>>;
  HttpResponse Send(const std::string& method, const std::string& path, const std::string& body = "",
                    const std::string& content_type = "", const Headers& headers = {});
  HttpResponse Get(const std::string& path, const Headers& headers = {}) { return Send("GET", path, "", "", headers); }
  HttpResponse Put(const std::string& path, const std::string& json, const Headers& headers = {}) {
    return Send("PUT", path, json, "application/json", headers);
  }
  HttpResponse Patch(const std::string& path, const std::string& json) {
    return Send("PATCH", path, json, "application/merge-patch+json");
  }
  HttpResponse Delete(const std::string& path) { return Send("DELETE", path); }

 private:
  std::string host_;
  uint16_t port_ = 0;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Poco::Net::HTTPClientSession> session_;
};

// Percent-encodes one path segment.
std::string UrlEncode(const std::string& segment);

// Polls `done` until it returns true or `timeout` passes; returns its last answer.
bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds interval = std::chrono::milliseconds(10));

}  // namespace testsupport
