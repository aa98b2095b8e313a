#include "server/http.h"

#include <algorithm>
#include <istream>
#include <sstream>

#include <Poco/DeflatingStream.h>
#include <Poco/Exception.h>
#include <Poco/String.h>
#include <Poco/URI.h>

#include "crdt/utf8.h"

namespace server {

using crdt::Result;
using crdt::Status;

Request::Request(std::string method, std::string target, std::string path, std::string raw_query, Headers headers,
                 bool has_body, BodyReader body)
    : method_(std::move(method)),
      target_(std::move(target)),
      path_(std::move(path)),
      headers_(std::move(headers)),
      has_body_(has_body),
      body_(std::move(body)) {
  size_t pos = 0;
  while (pos <= raw_query.size() && !raw_query.empty()) {
    size_t amp = raw_query.find('&', pos);
    if (amp == std::string::npos) amp = raw_query.size();
    const std::string part = raw_query.substr(pos, amp - pos);
    if (!part.empty()) {
      const size_t eq = part.find('=');
      std::string name, value;
      try {
        Poco::URI::decode(part.substr(0, eq), name, /*plusAsSpace=*/true);
        if (eq != std::string::npos) Poco::URI::decode(part.substr(eq + 1), value, true);
      } catch (const Poco::Exception&) {
        // A malformed escape leaves the parameter out; handlers then see it as absent.
      }
      query_.emplace_back(std::move(name), std::move(value));
    }
    pos = amp + 1;
  }
}

const std::string& Request::param(const std::string& name) const {
  static const std::string kEmpty;
  auto it = params_.find(name);
  return it == params_.end() ? kEmpty : it->second;
}

std::optional<std::string> Request::query(const std::string& name) const {
  for (const auto& [k, v] : query_) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::optional<std::string> Request::header(const std::string& name) const {
  for (const auto& [k, v] : headers_) {
    if (Poco::icompare(k, name) == 0) return v;
  }
  return std::nullopt;
}

std::string Request::media_type() const {
  std::string type = header("Content-Type").value_or("");
  type = type.substr(0, type.find(';'));
  Poco::trimInPlace(type);
  Poco::toLowerInPlace(type);
  return type;
}

Result<std::string> Request::Body() {
  if (body_read_) return Status::Internal("the request body was already read");
  body_read_ = true;
  if (!has_body_ || !body_) return std::string();
  auto body = body_();
  // A refused body was not read: the connection must not parse it as the next request.
  if (!body.ok()) body_read_ = false;
  return body;
}

Status PayloadTooLarge(size_t max_body) {
  return Status(crdt::Code::kResourceExhausted, "payload-too-large",
                "request body exceeds the limit of " + std::to_string(max_body) + " bytes");
}

std::string JsonQuote(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const auto ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x80) {
      const size_t n = crdt::Utf8SequenceLength(s, i);
      if (n == 0) {
        out += "\\ufffd";  // never emit invalid UTF-8
        ++i;
      } else {
        out.append(s, i, n);
        i += n;
      }
      continue;
    }
    ++i;
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20) {
          static const char* kHex = "0123456789abcdef";
          out += "\\u00";
          out += kHex[ch >> 4];
          out += kHex[ch & 0xF];
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  out += '"';
  return out;
}

void MaybeGzip(const Request& request, Reply& reply, size_t min_bytes) {
  if (reply.body.size() < min_bytes) return;
  const auto accept = request.header("Accept-Encoding");
  if (!accept || accept->find("gzip") == std::string::npos) return;
  std::ostringstream out;
  {
    Poco::DeflatingOutputStream gz(out, Poco::DeflatingStreamBuf::STREAM_GZIP, 1);
    gz.write(reply.body.data(), static_cast<std::streamsize>(reply.body.size()));
    gz.close();
  }
  reply.body = out.str();
  reply.headers.emplace_back("Content-Encoding", "gzip");
}

Reply JsonReply(int status, std::string body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace server
