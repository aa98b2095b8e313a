#include "server/config.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include <Poco/Exception.h>
#include <Poco/URI.h>
#include <nlohmann/json.hpp>

#include "crdt/json_text.h"

namespace server {

using crdt::Result;
using crdt::Status;
using nlohmann::json;

namespace {

Status Bad(const std::string& setting, const std::string& why) {
  return Status::InvalidArgument("invalid-config", "--" + setting + ": " + why);
}

// Config-file keys use underscores; flags use dashes.
std::string FlagName(std::string key) {
  for (char& ch : key) {
    if (ch == '_') ch = '-';
  }
  return key;
}

Result<RawSettings> ReadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Bad("config", "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = crdt::ParseJson(ss.str());
  if (!parsed.ok()) return Bad("config", path + ": " + parsed.status().message());
  if (!parsed->is_object()) return Bad("config", path + ": must be a JSON object");
  RawSettings out;
  for (const auto& [key, value] : parsed->items()) {
    const std::string flag = FlagName(key);
    if (flag == "peers") {
      if (!value.is_object()) return Bad("config", "'peers' must be an object {region: url}");
      for (const auto& [id, url] : value.items()) {
        if (!url.is_string()) return Bad("config", "peer '" + id + "' needs a URL string");
        out["peer"].push_back(id + "=" + url.get<std::string>());
      }
    } else if (flag == "plugins") {
      if (!value.is_array()) return Bad("config", "'plugins' must be an array of library paths");
      for (const auto& path : value) {
        if (!path.is_string()) return Bad("config", "'plugins' must be an array of library paths");
        out["plugin"].push_back(path.get<std::string>());
      }
    } else if (value.is_string()) {
      out[flag].push_back(value.get<std::string>());
    } else if (value.is_number_integer()) {
      out[flag].push_back(std::to_string(value.get<int64_t>()));
    } else {
      return Bad("config", "'" + key + "' must be a string or an integer");
    }
  }
  return out;
}

Result<int64_t> ParseInt(const std::string& setting, const std::string& text, int64_t lo, int64_t hi) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < lo || v > hi) {
    return Bad(setting, "'" + text + "' is not an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return v;
}

Status ParseListen(const std::string& text, ServerConfig& cfg) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return Bad("listen", "expected HOST:PORT, got '" + text + "'");
  auto port = ParseInt("listen", text.substr(colon + 1), 0, 65535);
  if (!port.ok()) return port.status();
  cfg.listen_host = text.substr(0, colon);
  cfg.listen_port = static_cast<uint16_t>(*port);
  return Status::Ok();
}

Status ParsePeer(const std::string& text, ServerConfig& cfg) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos) return Bad("peer", "expected REGION=URL, got '" + text + "'");
  auto id = crdt::RegionId::Parse(text.substr(0, eq));
  if (!id.ok()) return Bad("peer", id.status().message());
  std::string url = text.substr(eq + 1);
  while (!url.empty() && url.back() == '/') url.pop_back();
  const std::string expect = "a peer URL is http://HOST:PORT, got '" + url + "'";
  if (url.rfind("http://", 0) != 0) return Bad("peer", expect);
  try {
    Poco::URI uri(url);
    if (uri.getHost().empty() || !uri.getPath().empty() || !uri.getQuery().empty() || !uri.getFragment().empty() ||
        uri.getPort() == 0) {
      return Bad("peer", expect);
    }
  } catch (const Poco::Exception&) {
    return Bad("peer", expect);
  }
  if (*id == cfg.region) return Bad("peer", "region '" + id->str() + "' cannot be its own peer");
  for (const auto& p : cfg.peers) {
    if (p.id == *id) return Bad("peer", "peer '" + id->str() + "' is given twice");
  }
  cfg.peers.push_back({std::move(id).value(), std::move(url)});
  return Status::Ok();
}

}  // namespace

Result<ServerConfig> ResolveConfig(const RawSettings& flags) {
  RawSettings all;
  if (auto it = flags.find("config"); it != flags.end() && !it->second.empty()) {
    auto file = ReadConfigFile(it->second.back());
    if (!file.ok()) return file.status();
    all = std::move(file).value();
  }
  for (const auto& [k, v] : flags) {
    if (k == "config") continue;
    all[k] = v;  // a flag replaces the file's value (and the file's peer list)
  }
  static const char* kKnown[] = {"region",         "listen",         "data-dir",     "peer",
                                 "cluster-secret-file", "durability", "max-batch",    "max-body-bytes",
                                 "http-threads",   "log-level",      "max-clock-offset-ms",
                                 "debug-clock-offset-ms", "plugin", "merge-budget-ms", "web-root",
                                 "purge-every-ms", "http-loops", "checkpoint-pages", "max-buffered-bytes"};
  for (const auto& [k, _] : all) {
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown)) {
      return Bad(k, "unknown setting");
    }
  }
  auto last = [&](const std::string& k) -> std::optional<std::string> {
    auto it = all.find(k);
    if (it == all.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
  };

  ServerConfig cfg;
  auto region = last("region");
  if (!region) return Bad("region", "is required (for example --region=us-east)");
  auto id = crdt::RegionId::Parse(*region);
  if (!id.ok()) return Bad("region", id.status().message());
  cfg.region = std::move(id).value();
  if (auto v = last("listen")) MERIDIAN_RETURN_IF_ERROR(ParseListen(*v, cfg));
  cfg.data_dir = last("data-dir").value_or("data/" + cfg.region.str());
  if (auto it = all.find("peer"); it != all.end()) {
    for (const auto& p : it->second) MERIDIAN_RETURN_IF_ERROR(ParsePeer(p, cfg));
  }
  cfg.cluster_secret_file = last("cluster-secret-file").value_or("");
  if (auto v = last("durability")) {
    if (*v == "full") cfg.durability = region::Durability::kFull;
    else if (*v == "normal") cfg.durability = region::Durability::kNormal;
    else if (*v == "off") cfg.durability = region::Durability::kOff;
    else return Bad("durability", "must be full, normal or off");
  }
  if (auto v = last("max-batch")) {
    auto n = ParseInt("max-batch", *v, 1, 100000);
    if (!n.ok()) return n.status();
    cfg.max_batch = static_cast<int>(*n);
  }
  if (auto v = last("checkpoint-pages")) {
    auto n = ParseInt("checkpoint-pages", *v, 0, 1000000);
    if (!n.ok()) return n.status();
    cfg.checkpoint_pages = static_cast<int>(*n);
  }
  if (auto v = last("max-body-bytes")) {
    auto n = ParseInt("max-body-bytes", *v, 1024, int64_t{1} << 30);
    if (!n.ok()) return n.status();
    cfg.max_body_bytes = static_cast<size_t>(*n);
  }
  if (auto v = last("max-buffered-bytes")) {
    auto n = ParseInt("max-buffered-bytes", *v, int64_t{1} << 20, int64_t{1} << 40);
    if (!n.ok()) return n.status();
    cfg.max_buffered_bytes = static_cast<size_t>(*n);
  }
  if (auto v = last("http-threads")) {
    auto n = ParseInt("http-threads", *v, 4, 4096);
    if (!n.ok()) return n.status();
    cfg.http_threads = static_cast<int>(*n);
  }
  if (auto v = last("http-loops")) {
    auto n = ParseInt("http-loops", *v, 1, 64);
    if (!n.ok()) return n.status();
    cfg.http_loops = static_cast<int>(*n);
  }
  if (auto v = last("max-clock-offset-ms")) {
    auto n = ParseInt("max-clock-offset-ms", *v, 1, 3'600'000);
    if (!n.ok()) return n.status();
    cfg.max_clock_offset_ms = static_cast<uint64_t>(*n);
  }
  if (auto v = last("debug-clock-offset-ms")) {
    auto n = ParseInt("debug-clock-offset-ms", *v, -86'400'000, 86'400'000);
    if (!n.ok()) return n.status();
    cfg.debug_clock_offset_ms = *n;
  }
  if (auto it = all.find("plugin"); it != all.end()) cfg.plugins = it->second;
  if (auto v = last("merge-budget-ms")) {
    auto n = ParseInt("merge-budget-ms", *v, 1, 60'000);
    if (!n.ok()) return n.status();
    cfg.merge_budget_ms = static_cast<int>(*n);
  }
  if (auto v = last("web-root")) cfg.web_root = *v;
  if (auto v = last("purge-every-ms")) {
    auto n = ParseInt("purge-every-ms", *v, 0, 86'400'000);
    if (!n.ok()) return n.status();
    cfg.purge_every_ms = static_cast<int>(*n);
  }
  if (!cfg.peers.empty() && cfg.cluster_secret_file.empty()) {
    return Bad("cluster-secret-file", "is required when peers are configured (peers sign replication requests)");
  }
  if (auto v = last("log-level")) {
    if (!ParseLogLevel(*v, &cfg.log_level)) return Bad("log-level", "must be debug, info, warning or error");
  }
  return cfg;
}

}  // namespace server
