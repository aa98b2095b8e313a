// HTTP metrics and the Prometheus text exposition of everything /metrics shows.
//
// Thread-safe: Observe() is called by every request thread (atomics for the latency
// histograms, one short mutex for the per-status counters).
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "region/node.h"

namespace server {

class Metrics {
 public:
  static constexpr std::array<double, 12> kLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                             0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

  explicit Metrics(std::vector<std::string> route_names);

  // `route` indexes the names given at construction; -1 for unmatched requests.
  void Observe(int route, const std::string& method, int status, double seconds);
  // Requests of `route` being handled by the event loops and their threads (live sessions,
  // which POCO's server holds, are not counted).
  void Started(int route) { latency_[Index(route)]->in_flight.fetch_add(1, std::memory_order_relaxed); }
  void Ended(int route) { latency_[Index(route)]->in_flight.fetch_sub(1, std::memory_order_relaxed); }

  // The Prometheus text format (version 0.0.4) for requests and the node's state.
  std::string Render(const region::NodeStats& node, const region::ClusterInfo& cluster) const;

 private:
  struct Histogram {
    std::array<std::atomic<uint64_t>, kLatencyBuckets.size()> in{};  // observations in (bound[i-1], bound[i]]
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_micros{0};
    std::atomic<int64_t> in_flight{0};
  };
  size_t Index(int route) const { return route < 0 ? names_.size() - 1 : static_cast<size_t>(route); }

  std::vector<std::string> names_;  // routes, then "unmatched"
  std::vector<std::unique_ptr<Histogram>> latency_;
  mutable std::mutex mu_;
  std::map<std::tuple<int, std::string, int>, uint64_t> requests_;
};

}  // namespace server
