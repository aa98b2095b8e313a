#include "tests/support/http_client.h"

#include <sstream>
#include <thread>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <Poco/String.h>
#include <Poco/URI.h>

namespace testsupport {

HttpClient::HttpClient(const std::string& base_url, std::chrono::milliseconds timeout) : timeout_(timeout) {
  Poco::URI uri(base_url);
  host_ = uri.getHost();
  port_ = uri.getPort();
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::Send(const std::string& method, const std::string& path, const std::string& body,
                              const std::string& content_type, const Headers& headers) {
  HttpResponse out;
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (!session_) {
        session_ = std::make_unique<Poco::Net::HTTPClientSession>(host_, port_);
        session_->setKeepAlive(true);
        session_->setTimeout(Poco::Timespan(static_cast<long>(timeout_.count() / 1000),
                                            static_cast<long>((timeout_.count() % 1000) * 1000)));
      }
      Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
      req.setKeepAlive(true);
      if (!content_type.empty()) req.setContentType(content_type);
      for (const auto& [k, v] : headers) req.set(k, v);
      if (!body.empty() || method == "PUT" || method == "PATCH" || method == "POST") {
        req.setContentLength64(static_cast<Poco::Int64>(body.size()));
      }
      std::ostream& os = session_->sendRequest(req);
      os.write(body.data(), static_cast<std::streamsize>(body.size()));
      Poco::Net::HTTPResponse resp;
      std::istream& is = session_->receiveResponse(resp);
      std::ostringstream ss;
      Poco::StreamCopier::copyStream(is, ss);
      out.status = static_cast<int>(resp.getStatus());
      out.body = ss.str();
      out.headers.clear();
      for (const auto& [k, v] : resp) out.headers[Poco::toLower(k)] = v;
      if (!resp.getKeepAlive()) session_.reset();
      return out;
    } catch (const std::exception& e) {
      session_.reset();
      out.status = 0;
      out.body = e.what();
      // A kept-alive connection the server closed fails once; retry on a fresh one only for
      // reads, so that a test never sends a write twice without knowing.
      if (method != "GET") break;
    }
  }
  return out;
}

std::string UrlEncode(const std::string& segment) {
  std::string out;
  Poco::URI::encode(segment, "/?#[]@!$&'()*+,;=%", out);
  return out;
}

bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace testsupport
