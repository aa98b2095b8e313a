// ServerConfig: every setting of the meridian process, from flags and an optional JSON
// config file (flags win). Validation happens here, once, with messages that name the
// setting, so a bad start-up fails before anything is opened.
//
// Config file (JSON), every key optional:
//   {"region": "us-east", "listen": "127.0.0.1:7001", "data_dir": "data/us-east",
//    "peers": {"eu-west": "http://127.0.0.1:7002"}, "cluster_secret_file": "secret",
//    "durability": "full", "max_batch": 1024, "checkpoint_pages": 4000, "max_body_bytes": 16777216,
//    "http_threads": 128, "http_loops": 2, "log_level": "info", "max_clock_offset_ms": 500,
//    "plugins": ["/usr/lib/meridian/cart.so"], "merge_budget_ms": 100}
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "crdt/status.h"
#include "crdt/version_vector.h"
#include "region/store.h"
#include "server/log.h"

namespace server {

struct Peer {
  crdt::RegionId id;
  std::string url;  // http://host:port
};

struct ServerConfig {
  crdt::RegionId region;
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 7001;
  std::string data_dir;
  std::vector<Peer> peers;
  std::string cluster_secret_file;
  region::Durability durability = region::Durability::kFull;
  int max_batch = 1024;
  int checkpoint_pages = 4000;        // WAL pages that start a background checkpoint; 0: in the commit
  size_t max_body_bytes = 16 * 1024 * 1024;
  size_t max_buffered_bytes = size_t{256} << 20;  // unanswered request bytes, all connections
  int http_threads = 128;             // worker threads for blocking requests (and WebSockets)
  int http_loops = 2;                 // event-loop threads that own the connections
  LogLevel log_level = LogLevel::kInfo;
  uint64_t max_clock_offset_ms = 500;
  int64_t debug_clock_offset_ms = 0;  // testing only: shifts this process's clock
  std::vector<std::string> plugins;   // merge-callback libraries to load
  int merge_budget_ms = 100;
  int purge_every_ms = 10'000;  // region/node.h NodeOptions::purge_every_ms
  std::string web_root = MERIDIAN_WEB_ROOT;  // the demo app's files, served at /ui/
};

// Raw settings as given: flag name -> values (repeatable flags keep every value).
using RawSettings = std::map<std::string, std::vector<std::string>>;

// Builds the configuration: the file named by settings["config"] (if any) first, then the
// flags over it. InvalidArgument("invalid-config") names the offending setting.
crdt::Result<ServerConfig> ResolveConfig(const RawSettings& flags);

}  // namespace server
