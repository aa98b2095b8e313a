#include "server/http.h"

#include <algorithm>
#include <istream>
#include <sstream>

#include <Poco/DeflatingStream.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/String.h>
#include <Poco/URI.h>

#include "crdt/utf8.h"

namespace server {

using crdt::Result;
using crdt::Status;

Request::Request(Poco::Net::HTTPServerRequest& raw, std::string path, std::string raw_query, size_t max_body)
    : raw_(raw), method_(raw.getMethod()), path_(std::move(path)), max_body_(max_body) {
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

const std::string& Request::target() const { return raw_.getURI(); }

std::optional<std::string> Request::query(const std::string& name) const {
  for (const auto& [k, v] : query_) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::optional<std::string> Request::header(const std::string& name) const {
  if (!raw_.has(name)) return std::nullopt;
  return raw_.get(name);
}

std::string Request::media_type() const {
  if (!raw_.has("Content-Type")) return "";
  std::string type = raw_.getContentType();
  type = type.substr(0, type.find(';'));
  Poco::trimInPlace(type);
  Poco::toLowerInPlace(type);
  return type;
}

Result<std::string> Request::Body() {
  auto too_large = [&] {
    return Status(crdt::Code::kResourceExhausted, "payload-too-large",
                  "request body exceeds the limit of " + std::to_string(max_body_) + " bytes");
  };
  std::string body;
  std::istream& in = raw_.stream();
  if (raw_.hasContentLength()) {
    const auto length = raw_.getContentLength64();
    if (length < 0 || static_cast<uint64_t>(length) > max_body_) return too_large();
    body.resize(static_cast<size_t>(length));
    in.read(body.data(), length);
    if (in.gcount() != length) {
      return Status::InvalidArgument("truncated-body", "request body ended before Content-Length bytes");
    }
  } else if (!raw_.getChunkedTransferEncoding()) {
    // Neither Content-Length nor chunked: the body is empty (RFC 9112 6.3); reading to the
    // end of a kept-alive connection would wait for the client to hang up.
  } else {
    // Never ask for more than one byte past the limit: a blocking read must not wait for
    // bytes we are going to refuse anyway.
    char buf[16384];
    while (in) {
      const size_t want = std::min(sizeof buf, max_body_ + 1 - body.size());
      in.read(buf, static_cast<std::streamsize>(want));
      body.append(buf, static_cast<size_t>(in.gcount()));
      if (body.size() > max_body_) return too_large();
    }
  }
  body_read_ = true;
  return body;
}

bool Request::body_unread() const {
  if (body_read_) return false;
  return (raw_.hasContentLength() && raw_.getContentLength64() > 0) || raw_.getChunkedTransferEncoding();
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
