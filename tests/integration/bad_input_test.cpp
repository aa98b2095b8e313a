// Bad input gets a clear problem+json answer with a stable type, and changes nothing.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/URI.h>
#include <boost/test/unit_test.hpp>

#include "tests/integration/fixture.h"

using integration::Json;
using integration::Server;
using nlohmann::json;
using testsupport::HttpResponse;

namespace {

void ExpectProblem(const HttpResponse& r, int status, const std::string& type) {
  BOOST_TEST(r.status == status, r.body);
  BOOST_TEST(r.header("content-type") == "application/problem+json");
  const json body = Json(r);
  BOOST_TEST(body["type"] == "urn:meridian:problem:" + type, r.body);
  BOOST_TEST(body["status"] == status);
  BOOST_TEST(body["detail"].is_string());
  for (const char* leak : {"sqlite", "SELECT", "INSERT", "Exception", ".cpp"}) {
    BOOST_TEST(r.body.find(leak) == std::string::npos, leak);
  }
}

// Raw bytes over a socket, for requests no well-behaved client sends. Reads until the
// server closes the connection, or (`first_answer_only`) until one answer with a JSON body
// has arrived; a read that times out appends "<timeout>".
std::string Exchange(const std::string& url, const std::string& request, std::chrono::milliseconds timeout,
                     bool first_answer_only) {
  Poco::URI uri(url);
  Poco::Net::StreamSocket sock(Poco::Net::SocketAddress(uri.getHost(), uri.getPort()));
  sock.setReceiveTimeout(Poco::Timespan(static_cast<long>(timeout.count() / 1000), 0));
  sock.sendBytes(request.data(), static_cast<int>(request.size()));
  std::string out;
  char buf[4096];
  try {
    while (true) {
      const int n = sock.receiveBytes(buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
      if (first_answer_only && out.find("\r\n\r\n") != std::string::npos && out.find("}") != std::string::npos) break;
    }
  } catch (const Poco::Exception&) {
    out += "<timeout>";
  }
  return out;
}

std::string RawExchange(const std::string& url, const std::string& request, std::chrono::milliseconds timeout) {
  return Exchange(url, request, timeout, /*first_answer_only=*/true);
}

std::string ExchangeUntilClose(const std::string& url, const std::string& request, std::chrono::milliseconds timeout) {
  return Exchange(url, request, timeout, /*first_answer_only=*/false);
}

// The status codes of the HTTP/1.1 answers in `stream`, in order.
std::vector<int> Statuses(const std::string& stream) {
  std::vector<int> out;
  size_t pos = 0;
  while ((pos = stream.find("HTTP/1.1 ", pos)) != std::string::npos) {
    out.push_back(std::stoi(stream.substr(pos + 9, 3)));
    pos += 9;
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bad_input)

BOOST_AUTO_TEST_CASE(malformed_documents_are_rejected_and_nothing_is_written) {
  Server s;
  auto& h = s.http();
  const std::string digest = Json(h.Get("/v1/digest"))["digest"];
  const std::string path = "/v1/collections/c/docs/k";
  ExpectProblem(h.Put(path, "{\"a\":"), 400, "invalid-json");
  ExpectProblem(h.Put(path, ""), 400, "invalid-json");
  ExpectProblem(h.Put(path, R"({"a":1,"a":2})"), 400, "duplicate-key");
  ExpectProblem(h.Put(path, std::string(65, '[') + std::string(65, ']')), 400, "too-deep");
  ExpectProblem(h.Put(path, "{\"a\":" + std::string(100000, '[')), 400, "too-deep");
  ExpectProblem(h.Put(path, "[1]"), 400, "invalid-document");
  ExpectProblem(h.Put(path, "\"text\""), 400, "invalid-document");
  ExpectProblem(h.Patch(path, "[1]"), 400, "invalid-patch");
  ExpectProblem(h.Put(path, "{\"s\":\"\xff\xfe\"}"), 400, "invalid-json");
  BOOST_TEST(h.Get(path).status == 404);
  BOOST_TEST(Json(h.Get("/v1/digest"))["digest"] == digest);
}

BOOST_AUTO_TEST_CASE(documents_hold_at_most_10000_top_level_fields) {
  Server s;
  auto& h = s.http();
  auto fields = [](int from, int to, const std::string& value) {
    std::string body = "{";
    for (int i = from; i < to; ++i) body += (i > from ? ",\"f" : "\"f") + std::to_string(i) + "\":" + value;
    return body + "}";
  };
  ExpectProblem(h.Put("/v1/collections/c/docs/wide", fields(0, 10001, "1")), 400, "too-many-fields");
  BOOST_TEST(h.Get("/v1/collections/c/docs/wide").status == 404);
  BOOST_TEST(h.Put("/v1/collections/c/docs/wide", fields(0, 10000, "1")).status == 201);
  ExpectProblem(h.Patch("/v1/collections/c/docs/wide", fields(10000, 10001, "1")), 400, "too-many-fields");
  // Removing one makes room for another; the refused patch left nothing behind.
  BOOST_TEST(h.Patch("/v1/collections/c/docs/wide", R"({"f0":null,"g":2})").status == 200);
  const auto doc = Json(h.Get("/v1/collections/c/docs/wide"));
  BOOST_TEST(doc["value"].size() == 10000u);
  BOOST_TEST(!doc["value"].contains("f10000"));
  BOOST_TEST(h.Put("/v1/collections/c/docs/next", "{}").status == 201);  // the writer goes on
}

BOOST_AUTO_TEST_CASE(wrong_content_type_is_415) {
  Server s;
  auto& h = s.http();
  const std::string path = "/v1/collections/c/docs/k";
  ExpectProblem(h.Send("PUT", path, "{}", "text/plain"), 415, "unsupported-media-type");
  ExpectProblem(h.Send("PUT", path, "{}", ""), 415, "unsupported-media-type");
  ExpectProblem(h.Send("PATCH", path, "{}", "application/json"), 415, "unsupported-media-type");
  ExpectProblem(h.Send("PUT", "/v1/collections/c", "{}", "text/plain"), 415, "unsupported-media-type");
  BOOST_TEST(h.Send("PUT", path, "{}", "application/json; charset=utf-8").status == 201);
}

BOOST_AUTO_TEST_CASE(bodies_over_the_limit_get_413_before_being_read) {
  Server s({"--max-body-bytes=4096"});
  auto& h = s.http();
  ExpectProblem(h.Put("/v1/collections/c/docs/k", "{\"a\":\"" + std::string(5000, 'x') + "\"}"), 413,
                "payload-too-large");
  // A client announcing 1 GB and sending nothing: the answer comes at once, the connection closes.
  const auto start = std::chrono::steady_clock::now();
  const std::string reply = RawExchange(
      s.proc->url(),
      "PUT /v1/collections/c/docs/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000000000\r\n\r\n{",
      std::chrono::seconds(10));
  BOOST_TEST(reply.find("HTTP/1.1 413") == 0u, reply);
  BOOST_TEST(reply.find("payload-too-large") != std::string::npos);
  BOOST_TEST((std::chrono::steady_clock::now() - start < std::chrono::seconds(5)));
  // Chunked bodies are cut off at the limit too.
  std::string chunked = "PUT /v1/collections/c/docs/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 8; ++i) chunked += "400\r\n" + std::string(1024, ' ') + "\r\n";
  const std::string chunked_reply = RawExchange(s.proc->url(), chunked, std::chrono::seconds(10));
  BOOST_TEST(chunked_reply.find("HTTP/1.1 413") == 0u, chunked_reply);
  BOOST_TEST(h.Get("/v1/collections/c/docs/k").status == 404);
  // A route that reads no body does not run either: the document stays.
  BOOST_TEST(h.Put("/v1/collections/c/docs/kept", "{}").status == 201);
  const std::string del = RawExchange(
      s.proc->url(), "DELETE /v1/collections/c/docs/kept HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
      std::chrono::seconds(10));
  BOOST_TEST(del.find("HTTP/1.1 413") == 0u, del);
  BOOST_TEST(h.Get("/v1/collections/c/docs/kept").status == 200);
  BOOST_TEST(h.Get("/healthz").status == 200);
}

BOOST_AUTO_TEST_CASE(unfinished_large_requests_past_the_server_budget_get_503) {
  Server s({"--max-buffered-bytes=4194304"});
  const Poco::URI uri(s.proc->url());
  const Poco::Net::SocketAddress addr(uri.getHost(), uri.getPort());
  // Four clients each send 1.5 MiB of an 8 MiB body and stop: 6 MiB against a 4 MiB budget.
  const std::string head =
      "PUT /v1/collections/c/docs/big HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 8388608\r\n\r\n";
  const std::string part(1536 * 1024, ' ');
  std::vector<std::unique_ptr<Poco::Net::StreamSocket>> socks;
  for (int i = 0; i < 4; ++i) {
    socks.push_back(std::make_unique<Poco::Net::StreamSocket>(addr));
    socks.back()->sendBytes(head.data(), static_cast<int>(head.size()));
    socks.back()->sendBytes(part.data(), static_cast<int>(part.size()));
  }
  std::vector<std::string> answers(socks.size());
  auto refused = [&] {
    int n = 0;
    for (size_t i = 0; i < socks.size(); ++i) {
      char buf[4096];
      if (answers[i].empty() && socks[i]->poll(Poco::Timespan(0), Poco::Net::Socket::SELECT_READ)) {
        const int got = socks[i]->receiveBytes(buf, sizeof buf);
        answers[i] = got > 0 ? std::string(buf, static_cast<size_t>(got)) : "<closed>";
      }
      if (answers[i].find("HTTP/1.1 503") == 0 && answers[i].find("server-busy") != std::string::npos) ++n;
    }
    return n;
  };
  BOOST_TEST(testsupport::PollUntil([&] { return refused() >= 1; }, std::chrono::seconds(10)));
  for (size_t i = 0; i < answers.size(); ++i) {
    BOOST_TEST((answers[i].empty() || answers[i].find("HTTP/1.1 503") == 0), i << ": " << answers[i].substr(0, 200));
  }
  socks.clear();
  // Once they are gone the budget is whole again: a 2 MiB document goes in.
  auto& h = s.http();
  BOOST_TEST(testsupport::PollUntil(
      [&] { return h.Put("/v1/collections/c/docs/ok", "{\"a\":\"" + std::string(2 << 20, 'x') + "\"}").status == 201; },
      std::chrono::seconds(10)));
  BOOST_TEST(h.Get("/v1/collections/c/docs/big").status == 404);
}

BOOST_AUTO_TEST_CASE(http_framing_pipelining_chunked_continue_and_malformed_requests) {
  Server s;
  auto& h = s.http();
  const std::string url = s.proc->url();
  const auto timeout = std::chrono::seconds(10);
  // Three pipelined requests in one packet: a quick route, a write that waits for its group
  // commit, and a read served by a worker thread. Answers come in order.
  const std::string pipelined =
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "PUT /v1/collections/c/docs/p HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 7\r\n\r\n{\"a\":1}"
      "GET /v1/collections/c/docs/p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string answers = ExchangeUntilClose(url, pipelined, timeout);
  BOOST_TEST((Statuses(answers) == std::vector<int>{200, 201, 200}), answers);
  BOOST_TEST(answers.find("\"status\":\"ok\"") < answers.find("\"seq\":1"), answers);
  BOOST_TEST(answers.rfind("\"a\":1") > answers.find("\"seq\":1"), answers);
  BOOST_TEST(answers.find("<timeout>") == std::string::npos);

  // A chunked body, with a chunk extension and a trailer.
  const std::string chunked =
      "PUT /v1/collections/c/docs/q HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "4;ext=1\r\n{\"b\"\r\n3\r\n:2}\r\n0\r\nX-Trailer: t\r\n\r\n";
  BOOST_TEST((Statuses(ExchangeUntilClose(url, chunked, timeout)) == std::vector<int>{201}));
  BOOST_TEST(Json(h.Get("/v1/collections/c/docs/q"))["value"]["b"] == 2);

  // Expect: 100-continue: the interim answer comes before the body is sent.
  {
    Poco::URI uri(url);
    Poco::Net::StreamSocket sock(Poco::Net::SocketAddress(uri.getHost(), uri.getPort()));
    sock.setReceiveTimeout(Poco::Timespan(10, 0));
    const std::string head =
        "PUT /v1/collections/c/docs/r HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 7\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
    sock.sendBytes(head.data(), static_cast<int>(head.size()));
    char buf[4096];
    const int n = sock.receiveBytes(buf, sizeof buf);
    BOOST_TEST(std::string(buf, static_cast<size_t>(std::max(n, 0))) == "HTTP/1.1 100 Continue\r\n\r\n");
    sock.sendBytes("{\"c\":3}", 7);
    std::string rest;
    int m;
    while ((m = sock.receiveBytes(buf, sizeof buf)) > 0) rest.append(buf, static_cast<size_t>(m));
    BOOST_TEST((Statuses(rest) == std::vector<int>{201}), rest);
  }

  // Malformed requests: a problem answer, then the connection closes.
  const std::string bad_line = ExchangeUntilClose(url, "NONSENSE\r\n\r\n", timeout);
  BOOST_TEST((Statuses(bad_line) == std::vector<int>{400}), bad_line);
  BOOST_TEST(bad_line.find("urn:meridian:problem:bad-request") != std::string::npos);
  BOOST_TEST(bad_line.find("<timeout>") == std::string::npos);
  const std::string bad_length = ExchangeUntilClose(
      url, "PUT /v1/collections/c/docs/s HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: -5\r\n\r\n",
      timeout);
  BOOST_TEST((Statuses(bad_length) == std::vector<int>{400}), bad_length);
  const std::string huge_head = ExchangeUntilClose(
      url, "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(70000, 'x') + "\r\n\r\n", timeout);
  BOOST_TEST((Statuses(huge_head) == std::vector<int>{431}), huge_head.substr(0, 200));
  BOOST_TEST(huge_head.find("urn:meridian:problem:headers-too-large") != std::string::npos);

  // HTTP/1.0 without keep-alive: one answer, then the server closes.
  const std::string old = ExchangeUntilClose(url, "GET /healthz HTTP/1.0\r\n\r\n", timeout);
  BOOST_TEST((Statuses(old) == std::vector<int>{200}), old);
  BOOST_TEST(old.find("Connection: close") != std::string::npos);
  BOOST_TEST(old.find("<timeout>") == std::string::npos);
  // Chunked bodies need HTTP/1.1; bare-LF heads are refused at once (they once waited for
  // the idle timeout, 10 s).
  const std::string old_chunked = ExchangeUntilClose(
      url, "PUT /v1/collections/c/docs/o HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", timeout);
  BOOST_TEST((Statuses(old_chunked) == std::vector<int>{400}), old_chunked);
  const auto quick = std::chrono::seconds(5);
  const std::string bare_lf = ExchangeUntilClose(url, "GET /healthz HTTP/1.1\nHost: x\n\n", quick);
  BOOST_TEST((Statuses(bare_lf) == std::vector<int>{400}), bare_lf);
  BOOST_TEST(bare_lf.find("<timeout>") == std::string::npos);
  // A first request cut short by the client's FIN: the server closes at once, too.
  {
    Poco::URI uri(url);
    Poco::Net::StreamSocket sock(Poco::Net::SocketAddress(uri.getHost(), uri.getPort()));
    sock.setReceiveTimeout(Poco::Timespan(5, 0));
    const std::string partial = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    sock.sendBytes(partial.data(), static_cast<int>(partial.size()));
    sock.shutdownSend();
    char buf[256];
    int n = -1;
    try {
      n = sock.receiveBytes(buf, sizeof buf);
    } catch (const Poco::Exception&) {
    }
    BOOST_TEST(n == 0);  // closed, not timed out (-1) or reset
  }

  // A live session must be its connection's first request; its head may arrive in pieces
  // (the server waits for all of it before handing the connection over).
  BOOST_TEST(h.Put("/v1/collections/t", R"({"policy":"crdt","fields":{"body":"text"}})").status == 200);
  {
    Poco::URI uri(url);
    Poco::Net::StreamSocket sock(Poco::Net::SocketAddress(uri.getHost(), uri.getPort()));
    sock.setReceiveTimeout(Poco::Timespan(10, 0));
    const std::string first = "GET /v1/collections/t/docs/d/live?agent=web-a HTTP/1.1\r\nHost: x\r\n";
    const std::string rest =
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    sock.sendBytes(first.data(), static_cast<int>(first.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a packet boundary, not a wait for state
    sock.sendBytes(rest.data(), static_cast<int>(rest.size()));
    char buf[4096];
    const int n = sock.receiveBytes(buf, sizeof buf);
    const std::string answer(buf, static_cast<size_t>(std::max(n, 0)));
    BOOST_TEST(answer.find("HTTP/1.1 101") == 0u, answer);
    BOOST_TEST(answer.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos, answer);
  }
  BOOST_TEST(h.Get("/healthz").status == 200);
  auto reused = h.Get("/v1/collections/t/docs/d/live?agent=web-a", {{"Upgrade", "websocket"}});
  ExpectProblem(reused, 426, "upgrade-required");
  BOOST_TEST(h.Get("/healthz").status == 200);

  // Only a WebSocket upgrade goes to the other parser (POCO's, laxer): a plain first request
  // for the live endpoint is answered here, and what follows it is framed by this server's
  // rules. (POCO once took such a connection and stored 7 bytes of a chunked body here.)
  const std::string live = "GET /v1/collections/t/docs/d/live?agent=web-a HTTP/1.1\r\nHost: x\r\n";
  const std::string smuggled =
      "PUT /v1/collections/c/docs/smuggled HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n";
  const std::string plain = ExchangeUntilClose(url, live + "\r\n" + smuggled, timeout);
  BOOST_TEST((Statuses(plain) == std::vector<int>{426, 400}), plain);
  // An upgrade that POCO refuses (no key) ends its connection: nothing after it is read.
  const std::string after =
      "PUT /v1/collections/c/docs/after HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 7\r\n\r\n{\"a\":1}";
  const std::string refused =
      ExchangeUntilClose(url, live + "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + after, timeout);
  BOOST_TEST(Statuses(refused).size() == 1u, refused);
  BOOST_TEST(refused.find("<timeout>") == std::string::npos, refused);
  BOOST_TEST(h.Get("/v1/collections/c/docs/smuggled").status == 404);
  BOOST_TEST(h.Get("/v1/collections/c/docs/after").status == 404);
}

BOOST_AUTO_TEST_CASE(requests_framed_two_ways_are_refused_and_nothing_stalls) {
  Server s({"--max-body-bytes=1024"});
  auto& h = s.http();
  const std::string url = s.proc->url();
  const auto timeout = std::chrono::seconds(10);
  const std::string put = "PUT /v1/collections/c/docs/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  // Anything a proxy could frame differently is 400 and closes the connection.
  for (const std::string& framing : {
           std::string("Content-Length: 7\r\nTransfer-Encoding: chunked\r\n"),
           std::string("Content-Length: 7\r\nContent-Length: 40\r\n"),
           std::string("Transfer-Encoding: gzip, chunked\r\n"),
           std::string("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
           std::string("X-Hidden: a\nContent-Length: 7\r\n"),
       }) {
    const std::string answer = ExchangeUntilClose(url, put + framing + "\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n", timeout);
    BOOST_TEST((Statuses(answer) == std::vector<int>{400}), framing << answer);
    BOOST_TEST(answer.find("urn:meridian:problem:bad-request") != std::string::npos, answer);
    BOOST_TEST(answer.find("<timeout>") == std::string::npos);
  }
  BOOST_TEST(h.Get("/v1/collections/c/docs/k").status == 404);
  // A method longer than any real one is malformed; an unknown one is counted as "other".
  const std::string long_method = ExchangeUntilClose(url, std::string(100, 'X') + " /healthz HTTP/1.1\r\n\r\n", timeout);
  BOOST_TEST((Statuses(long_method) == std::vector<int>{400}), long_method);
  const std::string odd = ExchangeUntilClose(url, "FROBNICATE /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", timeout);
  BOOST_TEST((Statuses(odd) == std::vector<int>{405}), odd);
  const std::string metrics = h.Get("/metrics").body;
  BOOST_TEST(metrics.find("FROBNICATE") == std::string::npos);
  BOOST_TEST(metrics.find("method=\"other\"") != std::string::npos);

  // Pipelined requests past what the server buffers at once (here about 130 KB) are all
  // answered: reading resumes as answers go out.
  std::string pipelined;
  for (int i = 0; i < 8; ++i) pipelined += "GET /healthz HTTP/1.1\r\nX-Pad: " + std::string(60000, 'p') + "\r\n\r\n";
  pipelined += "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n";
  const auto start = std::chrono::steady_clock::now();
  const std::string nine = ExchangeUntilClose(url, pipelined, timeout);
  BOOST_TEST(Statuses(nine).size() == 9u, nine.substr(0, 300));
  BOOST_TEST((std::chrono::steady_clock::now() - start < std::chrono::seconds(5)));

  // A client that sends its request and then its FIN gets the answer and a prompt close
  // (not the idle timeout).
  {
    Poco::URI uri(url);
    Poco::Net::StreamSocket sock(Poco::Net::SocketAddress(uri.getHost(), uri.getPort()));
    sock.setReceiveTimeout(Poco::Timespan(10, 0));
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    const auto sent = std::chrono::steady_clock::now();
    sock.sendBytes(request.data(), static_cast<int>(request.size()));
    sock.shutdownSend();
    std::string answer;
    char buf[4096];
    int n;
    while ((n = sock.receiveBytes(buf, sizeof buf)) > 0) answer.append(buf, static_cast<size_t>(n));
    BOOST_TEST((Statuses(answer) == std::vector<int>{200}), answer);
    BOOST_TEST((std::chrono::steady_clock::now() - sent < std::chrono::seconds(5)));
  }
}

BOOST_AUTO_TEST_CASE(bad_collection_names_and_keys_are_400) {
  Server s;
  auto& h = s.http();
  ExpectProblem(h.Put("/v1/collections/bad%20name/docs/k", "{}"), 400, "invalid-collection");
  ExpectProblem(h.Put("/v1/collections/_system/docs/k", "{}"), 400, "invalid-collection");
  ExpectProblem(h.Put("/v1/collections/a%2Fb/docs/k", "{}"), 400, "invalid-collection");
  ExpectProblem(h.Put("/v1/collections/" + std::string(65, 'c') + "/docs/k", "{}"), 400, "invalid-collection");
  ExpectProblem(h.Put("/v1/collections/bad!/docs/k", "{}"), 400, "invalid-collection");
  ExpectProblem(h.Put("/v1/collections/bad!", R"({"policy":"lww"})"), 400, "invalid-collection");
  ExpectProblem(h.Get("/v1/collections/bad!/docs"), 400, "invalid-collection");
  ExpectProblem(h.Put("/v1/collections/c/docs/a%01b", "{}"), 400, "invalid-key");
  ExpectProblem(h.Put("/v1/collections/c/docs/%FF", "{}"), 400, "invalid-key");
  ExpectProblem(h.Put("/v1/collections/c/docs/" + std::string(1025, 'k'), "{}"), 400, "invalid-key");
  ExpectProblem(h.Get("/v1/collections/c/docs/%zz"), 400, "invalid-path");
}

BOOST_AUTO_TEST_CASE(client_supplied_hlc_or_origin_is_refused) {
  Server s;
  auto& h = s.http();
  const std::string path = "/v1/collections/c/docs/k";
  ExpectProblem(h.Put(path, R"({"_hlc":{"wall_ms":1}})"), 400, "server-assigned-field");
  ExpectProblem(h.Put(path, R"({"_origin":"eu-west"})"), 400, "server-assigned-field");
  ExpectProblem(h.Patch(path, R"({"_hlc":1})"), 400, "server-assigned-field");
  ExpectProblem(h.Put(path + "?hlc=123", "{}"), 400, "server-assigned-field");
  ExpectProblem(h.Put(path + "?origin=eu-west", "{}"), 400, "server-assigned-field");
  ExpectProblem(h.Put(path, "{}", {{"X-Meridian-Origin", "eu-west"}}), 400, "server-assigned-field");
  BOOST_TEST(h.Get(path).status == 404);
  // Ordinary fields named like metadata are data, not metadata.
  BOOST_TEST(h.Put(path, R"({"origin":"LHR","hlc":"n/a"})").status == 201);
  // Every other write refuses them too: definitions, resolutions and crdt operations.
  ExpectProblem(h.Put("/v1/collections/d?hlc=1", R"({"policy":"lww"})"), 400, "server-assigned-field");
  ExpectProblem(h.Put("/v1/collections/d", R"({"policy":"lww"})", {{"X-Meridian-Origin", "eu-west"}}), 400,
                "server-assigned-field");
  BOOST_TEST(h.Get("/v1/collections/d").status == 404);
  ExpectProblem(h.Send("POST", "/v1/conflicts/1/resolve?hlc=1", R"({"value":{}})", "application/json"), 400,
                "server-assigned-field");
  BOOST_TEST(h.Put("/v1/collections/counts", R"({"policy":"crdt"})").status == 200);
  for (const std::string field : {"_origin", "_version", "_dot"}) {
    ExpectProblem(h.Send("POST", "/v1/collections/counts/docs/x/ops",
                         R"({"ops":[{"op":"set","path":"/)" + field + R"(","value":"forged"}]})", "application/json"),
                  400, "server-assigned-field");
  }
  BOOST_TEST(h.Get("/v1/collections/counts/docs/x").status == 404);
}

BOOST_AUTO_TEST_CASE(unknown_routes_are_404_and_wrong_methods_405_with_allow) {
  Server s;
  auto& h = s.http();
  ExpectProblem(h.Get("/nope"), 404, "route-not-found");
  ExpectProblem(h.Get("/v1/collections/c/docs/k/extra/bits"), 404, "route-not-found");
  ExpectProblem(h.Get("/v1/collections/"), 404, "route-not-found");
  ExpectProblem(h.Send("POST", "/v1/collections/c/docs/k", "{}", "application/json"), 405, "method-not-allowed");
  auto r = h.Send("DELETE", "/v1/collections", "");
  ExpectProblem(r, 405, "method-not-allowed");
  BOOST_TEST(r.header("allow") == "GET, HEAD");
  BOOST_TEST(h.Send("POST", "/v1/collections/c/docs/k", "{}", "application/json").header("allow") ==
             "GET, HEAD, PUT, PATCH, DELETE");
  ExpectProblem(h.Send("BREW", "/healthz", ""), 405, "method-not-allowed");
  // HEAD is GET without the body (also for errors), so the next answer on the connection
  // starts right after the head.
  BOOST_TEST(h.Put("/v1/collections/c/docs/k", R"({"a":1})").status == 201);
  const std::string stream = ExchangeUntilClose(s.proc->url(),
                                                "HEAD /v1/collections/c/docs/k HTTP/1.1\r\nHost: x\r\n\r\n"
                                                "HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                                                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                                std::chrono::seconds(10));
  BOOST_TEST((Statuses(stream) == std::vector<int>{200, 404, 200}), stream);
  BOOST_TEST(stream.find("\r\n\r\nHTTP/1.1 404") != std::string::npos, stream);
  BOOST_TEST(stream.find("\r\n\r\nHTTP/1.1 200") != std::string::npos, stream);
  BOOST_TEST(stream.find("Content-Length: 0") == std::string::npos, stream);  // the GET's length
}

BOOST_AUTO_TEST_CASE(query_parameters_are_validated_and_huge_limits_clamped) {
  Server s;
  auto& h = s.http();
  for (int i = 0; i < 3; ++i) BOOST_TEST(h.Put("/v1/collections/q/docs/k" + std::to_string(i), "{}").status == 201);
  ExpectProblem(h.Get("/v1/collections/q/docs?limit=abc"), 400, "invalid-parameter");
  ExpectProblem(h.Get("/v1/collections/q/docs?limit=-1"), 400, "invalid-parameter");
  ExpectProblem(h.Get("/v1/collections/q/docs?limit=0"), 400, "invalid-parameter");
  ExpectProblem(h.Get("/v1/collections/q/docs?after=***"), 400, "invalid-cursor");
  BOOST_TEST(h.Get("/v1/collections/q/docs?limit=99999999999999999999999").status == 200);
  BOOST_TEST(h.Get("/v1/changes?limit=2147483648").status == 200);
  ExpectProblem(h.Get("/v1/changes?since=x"), 400, "invalid-cursor");
  ExpectProblem(h.Get("/v1/changes?wait_ms=-5"), 400, "invalid-parameter");
  ExpectProblem(h.Get("/v1/collections/q/docs/k0", {{"X-Meridian-Session", "not a token"}}), 400, "invalid-session");
  ExpectProblem(h.Put("/v1/collections/q/docs/k0?ack=sometimes", "{}"), 400, "invalid-parameter");
  // A malformed escape is refused, not half-decoded (this limit once read as 1).
  ExpectProblem(h.Get("/v1/collections/q/docs?limit=1%zz"), 400, "invalid-query");
  ExpectProblem(h.Put("/v1/collections/q/docs/k9?ack=local%zz", "{}"), 400, "invalid-query");
  ExpectProblem(h.Get("/v1/collections/q/docs?prefix=%"), 400, "invalid-query");
  BOOST_TEST(h.Get("/v1/collections/q/docs/k9").status == 404);
  // A NUL cannot cut a file name short in the app's files.
  ExpectProblem(h.Get("/ui/index.html%00.js"), 404, "route-not-found");
}

BOOST_AUTO_TEST_CASE(bad_collection_definitions_are_400) {
  Server s;
  auto& h = s.http();
  ExpectProblem(h.Put("/v1/collections/c", "{}"), 400, "invalid-definition");
  ExpectProblem(h.Put("/v1/collections/c", R"({"policy":"fifo"})"), 400, "invalid-definition");
  ExpectProblem(h.Put("/v1/collections/c", R"({"policy":"lww","extra":1})"), 400, "invalid-definition");
  ExpectProblem(h.Put("/v1/collections/c", R"({"policy":5})"), 400, "invalid-definition");
  ExpectProblem(h.Put("/v1/collections/c", R"(["lww"])"), 400, "invalid-definition");
  BOOST_TEST(h.Get("/v1/collections/c").status == 404);
}

BOOST_AUTO_TEST_CASE(a_body_without_length_or_chunking_is_empty_not_awaited) {
  Server s;
  const auto start = std::chrono::steady_clock::now();
  const std::string reply = RawExchange(
      s.proc->url(), "PUT /v1/collections/c/docs/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n",
      std::chrono::seconds(10));
  BOOST_TEST(reply.find("HTTP/1.1 400") == 0u, reply);
  BOOST_TEST(reply.find("invalid-json") != std::string::npos);
  BOOST_TEST((std::chrono::steady_clock::now() - start < std::chrono::seconds(5)));
}

BOOST_AUTO_TEST_CASE(garbage_on_the_socket_does_not_hurt_the_server) {
  Server s;
  for (const char* junk : {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "GET\r\n\r\n", "GET / HTTP/9.9\r\n\r\n",
                           "PUT /v1/collections/c/docs/k HTTP/1.1\r\nContent-Length: -5\r\n\r\n"}) {
    (void)RawExchange(s.proc->url(), junk, std::chrono::seconds(2));
  }
  BOOST_TEST(s.http().Get("/healthz").status == 200);
  BOOST_TEST(s.proc->running());
}

BOOST_AUTO_TEST_SUITE_END()
