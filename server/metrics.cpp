#include "server/metrics.h"

#include <cstdio>
#include <functional>

namespace server {

Metrics::Metrics(std::vector<std::string> route_names) : names_(std::move(route_names)) {
  names_.push_back("unmatched");
  for (size_t i = 0; i < names_.size(); ++i) latency_.push_back(std::make_unique<Histogram>());
}

void Metrics::Observe(int route, const std::string& method, int status, double seconds) {
  const int idx = static_cast<int>(Index(route));
  Histogram& h = *latency_[static_cast<size_t>(idx)];
  // One bucket per observation (the render adds them up): one atomic add, not one per bound.
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      h.in[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  h.count.fetch_add(1, std::memory_order_relaxed);
  h.sum_micros.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  ++requests_[{idx, method, status}];
}

namespace {
std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void RenderHeader(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += "# HELP " + name + " " + help + "\n";
  out += "# TYPE " + name + " " + type + "\n";
}

// A metric with one unlabelled value.
void RenderOne(std::string& out, const std::string& name, const char* type, const std::string& help,
               const std::string& value) {
  RenderHeader(out, name, type, help);
  out += name + " " + value + "\n";
}

void RenderSeconds(std::string& out, const std::string& name, const std::string& help,
                   const region::SecondsHistogram& h) {
  RenderHeader(out, name, "histogram", help);
  for (int i = 0; i < region::SecondsHistogram::kCount; ++i) {
    out += name + "_bucket{le=\"" + Num(region::SecondsHistogram::kBounds[i]) + "\"} " + std::to_string(h.le[i]) +
           "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(h.count) + "\n";
  out += name + "_sum " + Num(static_cast<double>(h.micros_sum) / 1e6) + "\n";
  out += name + "_count " + std::to_string(h.count) + "\n";
}
}  // namespace

std::string Metrics::Render(const region::NodeStats& node, const region::ClusterInfo& cluster) const {
  std::string out;
  RenderHeader(out, "meridian_http_requests_total", "counter", "HTTP requests by route, method and status.");
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, n] : requests_) {
      const auto& [idx, method, status] = k;
      out += "meridian_http_requests_total{route=\"" + names_[static_cast<size_t>(idx)] + "\",method=\"" +
             method + "\",code=\"" + std::to_string(status) + "\"} " + std::to_string(n) + "\n";
    }
  }
  RenderHeader(out, "meridian_http_requests_in_flight", "gauge",
               "HTTP requests being handled, by route (live sessions not included).");
  for (size_t r = 0; r < names_.size(); ++r) {
    const Histogram& h = *latency_[r];
    const int64_t n = h.in_flight.load();
    if (n != 0 || h.count.load() != 0) out += "meridian_http_requests_in_flight{route=\"" + names_[r] + "\"} " + std::to_string(n) + "\n";
  }
  RenderHeader(out, "meridian_http_request_duration_seconds", "histogram", "HTTP request latency by route.");
  for (size_t r = 0; r < names_.size(); ++r) {
    const Histogram& h = *latency_[r];
    const uint64_t count = h.count.load();
    if (count == 0) continue;
    const std::string label = "route=\"" + names_[r] + "\"";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += h.in[i].load();
      out += "meridian_http_request_duration_seconds_bucket{" + label + ",le=\"" + Num(kLatencyBuckets[i]) +
             "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "meridian_http_request_duration_seconds_bucket{" + label + ",le=\"+Inf\"} " + std::to_string(count) + "\n";
    out += "meridian_http_request_duration_seconds_sum{" + label + "} " + Num(h.sum_micros.load() / 1e6) + "\n";
    out += "meridian_http_request_duration_seconds_count{" + label + "} " + std::to_string(count) + "\n";
  }

  const region::WriterStats& w = node.writer;
  RenderHeader(out, "meridian_commit_batch_size", "histogram", "Writes per group-commit transaction.");
  for (int i = 0; i < region::WriterStats::kBuckets; ++i) {
    out += "meridian_commit_batch_size_bucket{le=\"" + std::to_string(region::WriterStats::kBatchBuckets[i]) +
           "\"} " + std::to_string(w.batch_le[i]) + "\n";
  }
  out += "meridian_commit_batch_size_bucket{le=\"+Inf\"} " + std::to_string(w.batches) + "\n";
  out += "meridian_commit_batch_size_sum " + std::to_string(w.jobs) + "\n";
  out += "meridian_commit_batch_size_count " + std::to_string(w.batches) + "\n";
  RenderSeconds(out, "meridian_commit_duration_seconds",
                "Time of a group-commit transaction, BEGIN to the end of COMMIT (the fsync included).",
                w.commit_seconds);
  RenderHeader(out, "meridian_wal_checkpoints_total", "counter",
               "WAL checkpoints: passes by the background connection, and the writer's catch-ups after them.");
  out += "meridian_wal_checkpoints_total{kind=\"background\"} " + std::to_string(w.checkpoints_background) + "\n";
  out += "meridian_wal_checkpoints_total{kind=\"catch_up\"} " + std::to_string(w.checkpoints_catch_up) + "\n";
  RenderOne(out, "meridian_wal_background_syncs_total", "counter",
            "fsyncs of the database file by the background connection "
            "(durability full: every 512 KB a pass writes and after each pass; normal: after each pass).",
            std::to_string(w.checkpoint_background_syncs));
  RenderOne(out, "meridian_wal_restarts_total", "counter", "Catch-ups that started the WAL over from its beginning.",
            std::to_string(w.wal_restarts));
  RenderSeconds(out, "meridian_wal_catch_up_duration_seconds",
                "Writer time in checkpoint catch-ups between two transactions (no commit runs meanwhile).",
                w.catch_up_seconds);
  RenderOne(out, "meridian_wal_checkpoint_failures_total", "counter",
            "WAL checkpoints that returned an error (retried later).",
            std::to_string(w.checkpoints_failed));
  RenderOne(out, "meridian_wal_frames", "gauge", "Pages in the write-ahead log after the newest commit.",
            std::to_string(w.wal_frames));
  RenderOne(out, "meridian_commit_failures_total", "counter", "Group-commit transactions rolled back.",
            std::to_string(w.failed_batches));
  RenderOne(out, "meridian_commit_disk_full_total", "counter",
            "Group-commit transactions rolled back because the disk was full.", std::to_string(w.disk_full_batches));

  RenderOne(out, "meridian_documents", "gauge", "Live documents in this region.", std::to_string(node.live_docs));
  RenderOne(out, "meridian_change_log_position", "gauge", "Position of the newest change in this region's log.",
            std::to_string(node.last_lsn));
  RenderOne(out, "meridian_hlc_wall_ms", "gauge", "Wall part of this region's hybrid logical clock.",
            std::to_string(node.hlc.wall_ms()));
  RenderOne(out, "meridian_hlc_logical", "gauge", "Logical part of this region's hybrid logical clock.",
            std::to_string(node.hlc.logical()));
  RenderOne(out, "meridian_conflicts_total", "counter", "Conflicts recorded in this region's conflict log.",
            std::to_string(node.conflicts));
  RenderOne(out, "meridian_text_tombstones_collected_total", "counter",
            "Deleted characters dropped from texts once causally stable, since start.",
            std::to_string(node.text_tombstones_collected));
  RenderOne(out, "meridian_crdt_deleted_documents", "gauge",
            "Rows kept for deleted crdt documents (purged once stable).",
            std::to_string(node.empty_crdt_docs));
  RenderOne(out, "meridian_refusing_writes", "gauge", "1 while this region's clock is ahead of a majority of peers.",
            cluster.refusing_writes ? "1" : "0");
  struct PeerGauge {
    const char* name;
    const char* help;
    std::function<std::string(const region::PeerStatus&)> value;
  };
  const PeerGauge gauges[] = {
      {"meridian_peer_up", "1 when the last pull from the peer succeeded and nothing was held back.",
       [](const region::PeerStatus& p) { return std::string(p.state == "ok" ? "1" : "0"); }},
      {"meridian_peer_lag_changes", "Changes the peer has that this region has not applied.",
       [](const region::PeerStatus& p) { return std::to_string(p.lag_changes); }},
      {"meridian_peer_lag_ms", "Age of the oldest change from the peer not applied yet.",
       [](const region::PeerStatus& p) { return std::to_string(p.lag_ms); }},
      {"meridian_peer_outbound_lag_changes", "Changes of this region the peer lacked at its last pull.",
       [](const region::PeerStatus& p) { return std::to_string(p.outbound_lag_changes); }},
      {"meridian_peer_clock_offset_ms", "Estimated peer clock minus this region's clock.",
       [](const region::PeerStatus& p) { return std::to_string(p.clock_offset_ms); }},
      {"meridian_peer_last_contact_ms", "Wall clock of the last answer from the peer.",
       [](const region::PeerStatus& p) { return std::to_string(p.last_contact_ms); }},
      {"meridian_peer_changes_applied_total", "Changes applied from this peer's feed.",
       [](const region::PeerStatus& p) { return std::to_string(p.changes_applied); }},
  };
  for (const auto& g : gauges) {
    RenderHeader(out, g.name, std::string(g.name).find("_total") != std::string::npos ? "counter" : "gauge", g.help);
    for (const auto& p : cluster.peers) {
      out += std::string(g.name) + "{peer=\"" + p.id.str() + "\"} " + g.value(p) + "\n";
    }
  }
  RenderHeader(out, "meridian_applied_seq", "gauge", "Highest contiguous change seq applied, per origin region.");
  for (const auto& [origin, seq] : node.applied.entries()) {
    out += "meridian_applied_seq{origin=\"" + origin.str() + "\"} " + std::to_string(seq) + "\n";
  }
  return out;
}

}  // namespace server
