// A real meridian process on a loopback port 0 with a scratch data directory, and a
// keep-alive HTTP client to it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace integration {

struct Server {
  explicit Server(std::vector<std::string> extra = {}, const std::string& region = "us-east") : region_(region) {
    extra_ = std::move(extra);
    Start();
  }
  // `env` (NAME=value) is added to the server's environment for this start only.
  void Start(const std::vector<std::string>& env = {}) {
    std::vector<std::string> args = {"--region=" + region_, "--data-dir=" + dir.Sub("data"), "--log-level=info"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    proc = testsupport::ServerProcess::Start(args, dir.Sub(region_), std::chrono::seconds(20), env);
    client = std::make_unique<testsupport::HttpClient>(proc->url());
  }
  void Restart() {
    if (proc->running()) proc->Terminate();
    Start();
  }
  testsupport::HttpClient& http() { return *client; }

  testsupport::TempDir dir;
  std::unique_ptr<testsupport::ServerProcess> proc;
  std::unique_ptr<testsupport::HttpClient> client;

 private:
  std::string region_;
  std::vector<std::string> extra_;
};

inline nlohmann::json Json(const testsupport::HttpResponse& r) {
  return nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
}

}  // namespace integration
