// A cluster of real meridian processes on loopback, every inter-region link going through
// its own TcpProxy so that tests can partition, heal, slow down, kill and restart regions.
#pragma once

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/tcp_proxy.h"

namespace integration {

class Cluster {
 public:
  explicit Cluster(std::vector<std::string> regions, std::vector<std::string> extra_args = {})
      : names_(std::move(regions)), extra_(std::move(extra_args)) {
    secret_ = dir_.Sub("secret");
    std::ofstream(secret_) << "integration-test-cluster-secret\n";
    for (const auto& from : names_) {
      for (const auto& to : names_) {
        if (from != to) links_[{from, to}] = std::make_unique<testsupport::TcpProxy>();
      }
    }
    for (size_t i = 0; i < names_.size(); ++i) Start(i);
  }

  size_t size() const { return names_.size(); }
  const std::string& name(size_t i) const { return names_[i]; }
  testsupport::HttpClient& http(size_t i) { return *clients_.at(names_[i]); }
  testsupport::ServerProcess& proc(size_t i) { return *procs_.at(names_[i]); }
  const std::string& secret_file() const { return secret_; }
  std::string data_dir(size_t i) const { return dir_.Sub("data-" + names_[i]); }

  // (Re)starts region i on its data directory; `extra` adds flags for this start only.
  void Start(size_t i, const std::vector<std::string>& extra = {}) {
    const std::string& me = names_[i];
    std::vector<std::string> args = {"--region=" + me, "--data-dir=" + data_dir(i),
                                     "--cluster-secret-file=" + secret_, "--log-level=info"};
    for (const auto& other : names_) {
      if (other != me) args.push_back("--peer=" + other + "=" + links_.at({me, other})->url());
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    args.insert(args.end(), extra.begin(), extra.end());
    auto proc = testsupport::ServerProcess::Start(args, dir_.Sub(me));
    for (const auto& other : names_) {
      if (other != me) links_.at({other, me})->SetTarget(proc->url());
    }
    clients_[me] = std::make_unique<testsupport::HttpClient>(proc->url());
    procs_[me] = std::move(proc);
  }

  void Kill(size_t i) { procs_.at(names_[i])->Kill(); }

  // Cuts both directions between regions a and b.
  void Partition(size_t a, size_t b) {
    links_.at({names_[a], names_[b]})->Block();
    links_.at({names_[b], names_[a]})->Block();
  }
  // Cuts region a off from every other region.
  void Isolate(size_t a) {
    for (size_t b = 0; b < names_.size(); ++b) {
      if (b != a) Partition(a, b);
    }
  }
  void HealAll() {
    for (auto& [_, link] : links_) link->Unblock();
  }
  void SetLatency(int ms) {
    for (auto& [_, link] : links_) link->SetDelay(ms);
  }

  std::string Digest(size_t i) {
    auto r = http(i).Get("/v1/digest");
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("digest") ? j["digest"].get<std::string>() : "";
  }

  // True once every region reports the same digest and applied vector.
  bool Converged() {
    std::string first;
    std::string first_applied;
    for (size_t i = 0; i < names_.size(); ++i) {
      auto r = http(i).Get("/v1/digest");
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (!j.is_object() || !j.contains("digest")) return false;
      const std::string d = j["digest"].get<std::string>();
      const std::string a = j["applied"].dump();
      if (i == 0) {
        first = d;
        first_applied = a;
      } else if (d != first || a != first_applied) {
        return false;
      }
    }
    return true;
  }

 private:
  testsupport::TempDir dir_{"meridian-cluster"};
  std::vector<std::string> names_;
  std::vector<std::string> extra_;
  std::string secret_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<testsupport::TcpProxy>> links_;
  std::map<std::string, std::unique_ptr<testsupport::ServerProcess>> procs_;
  std::map<std::string, std::unique_ptr<testsupport::HttpClient>> clients_;
};

}  // namespace integration
