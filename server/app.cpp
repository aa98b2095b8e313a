#include "server/app.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

#include <sys/resource.h>
#include <unistd.h>

#include <Poco/Net/HTTPServerConnectionFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <Poco/Net/TCPServerDispatcher.h>
#include <Poco/ThreadPool.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionSet.h>

#include "conflict/merge.h"
#include "region/http_transport.h"
#include "region/node.h"
#include "server/api.h"
#include "server/event_server.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/live.h"
#include "server/plugins.h"
#include "server/router.h"

namespace server {

using crdt::Status;
using Poco::Util::Option;

namespace {
crdt::Result<std::string> ReadSecret(const std::string& path) {
  std::ifstream in(path);
  if (!in) return crdt::Status::InvalidArgument("invalid-config", "cannot read --cluster-secret-file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string secret = ss.str();
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
  if (secret.size() < 16) {
    return crdt::Status::InvalidArgument("invalid-config",
                                         "the cluster secret in " + path + " must be at least 16 characters");
  }
  return secret;
}
// Every client connection is a descriptor, and the event loops hold many at once: lift the
// soft limit (often 1024) to the hard one, capped at 65536.
void RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t want = limit.rlim_max == RLIM_INFINITY ? 65536 : std::min<rlim_t>(limit.rlim_max, 65536);
  if (limit.rlim_cur >= want) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = want;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    Log(LogLevel::kInfo, "raised the open-file limit",
        {{"from", std::to_string(before)}, {"to", std::to_string(want)}});
  }
}
}  // namespace

void MeridianApp::defineOptions(Poco::Util::OptionSet& options) {
  ServerApplication::defineOptions(options);
  auto add = [&](const char* name, const char* arg, const char* help, bool repeatable = false) {
    Option o(name, "", help, false);
    if (arg) o.argument(arg);
    o.repeatable(repeatable);
    options.addOption(o);
  };
  add("help", nullptr, "print this help and exit");
  add("region", "ID", "this region's id, ^[a-z][a-z0-9-]{0,31}$ (required)");
  add("listen", "HOST:PORT", "address to serve HTTP on; port 0 picks a free port (default 127.0.0.1:7001)");
  add("data-dir", "DIR", "directory of this region's database (default data/<region>)");
  add("peer", "ID=URL", "a peer region and its base URL, e.g. eu-west=http://127.0.0.1:7002 (repeatable)", true);
  add("config", "FILE", "JSON config file; flags override its settings");
  add("cluster-secret-file", "FILE", "file holding the secret peers share to sign replication requests");
  add("durability", "MODE", "full (default: fsync every commit), normal, or off");
  add("max-batch", "N", "most writes per group commit; 1 turns group commit off (default 1024)");
  add("checkpoint-pages", "N",
      "WAL pages that start a checkpoint on a thread of its own (default 4000); 0: inside the commit, as SQLite does");
  add("max-body-bytes", "N", "largest request body accepted (default 16777216)");
  add("max-buffered-bytes", "N",
      "request bytes all connections may hold unanswered; past it, large unfinished requests get 503 (default 268435456)");
  add("http-threads", "N", "threads for requests that may block (reads, listings) and live sessions (default 128)");
  add("http-loops", "N", "event-loop threads that own the HTTP connections (default 2)");
  add("log-level", "LEVEL", "debug, info (default), warning or error");
  add("max-clock-offset-ms", "MS", "largest clock difference tolerated between regions (default 500)");
  add("debug-clock-offset-ms", "MS", "testing only: run this region's clock MS ahead (or behind, if negative)");
  add("plugin", "PATH", "a merge-callback plugin (shared library) to load (repeatable)", true);
  add("merge-budget-ms", "MS", "time a merge callback may take before the last writer wins (default 100)");
  add("purge-every-ms", "MS",
      "how often the region with the smallest id drops deleted crdt documents every region has seen "
      "(default 10000; 0: never)");
  add("web-root", "DIR", "directory of the demo app served at /ui/ (default: the source tree's web/)");
}

void MeridianApp::handleOption(const std::string& name, const std::string& value) {
  ServerApplication::handleOption(name, value);
  if (name == "help") {
    help_ = true;
    stopOptionsProcessing();
    return;
  }
  flags_[name].push_back(value);
}

void MeridianApp::PrintHelp() {
  Poco::Util::HelpFormatter help(options());
  help.setCommand(commandName());
  help.setUsage("--region=ID [--listen=HOST:PORT] [--data-dir=DIR] [--peer=ID=URL ...] [OPTIONS]");
  help.setHeader(
      "Meridian: one region of a multi-leader geo-replicated document store.\n"
      "Serves the v1 REST API on --listen and stores data durably in --data-dir.");
  help.setFooter("Example: meridian --region=us-east --listen=127.0.0.1:7001 --data-dir=/var/lib/meridian");
  help.format(std::cout);
}

int MeridianApp::main(const std::vector<std::string>& args) {
  if (help_) {
    PrintHelp();
    return EXIT_OK;
  }
  if (!args.empty()) {
    std::cerr << "meridian: unexpected argument '" << args[0] << "' (flags look like --name=value; see --help)\n";
    return EXIT_USAGE;
  }
  flags_.erase("daemon");
  flags_.erase("umask");
  flags_.erase("pidfile");
  auto config = ResolveConfig(flags_);
  if (!config.ok()) {
    std::cerr << "meridian: " << config.status().message() << " (see --help)\n";
    return EXIT_USAGE;
  }
  const ServerConfig& cfg = *config;
  InitLogging(cfg.region.str(), cfg.log_level);
  RaiseDescriptorLimit();

  std::string secret;
  if (!cfg.cluster_secret_file.empty()) {
    auto read = ReadSecret(cfg.cluster_secret_file);
    if (!read.ok()) {
      std::cerr << "meridian: " << read.status().message() << "\n";
      return EXIT_CONFIG;
    }
    secret = std::move(read).value();
  }
  std::unique_ptr<region::Clock> clock;
  if (cfg.debug_clock_offset_ms != 0) {
    clock = std::make_unique<region::OffsetClock>(cfg.debug_clock_offset_ms);
    Log(LogLevel::kWarning, "clock shifted for testing", {{"offset_ms", std::to_string(cfg.debug_clock_offset_ms)}});
  } else {
    clock = std::make_unique<region::SystemClock>();
  }
  conflict::Registry registry;
  if (Status s = LoadPlugins(cfg.plugins, registry); !s.ok()) {
    std::cerr << "meridian: " << s.message() << "\n";
    return EXIT_CONFIG;
  }
  std::unique_ptr<region::HttpTransport> transport;
  region::NodeOptions nopts;
  nopts.registry = &registry;
  nopts.merge_budget_ms = cfg.merge_budget_ms;
  nopts.purge_every_ms = cfg.purge_every_ms;
  nopts.region = cfg.region;
  nopts.data_dir = cfg.data_dir;
  nopts.durability = cfg.durability;
  nopts.max_batch = cfg.max_batch;
  nopts.checkpoint_pages = cfg.checkpoint_pages;
  nopts.clock = clock.get();
  nopts.max_clock_offset_ms = cfg.max_clock_offset_ms;
  if (!cfg.peers.empty()) {
    transport = std::make_unique<region::HttpTransport>(cfg.region, secret, *clock);
    for (const auto& p : cfg.peers) nopts.peers.push_back({p.id, p.url});
    nopts.transport = transport.get();
  }
  auto opened = region::Node::Open(nopts);
  if (!opened.ok()) {
    std::cerr << "meridian: cannot open region " << cfg.region.str() << ": " << opened.status().message() << "\n";
    return EXIT_CANTCREAT;
  }
  std::unique_ptr<region::Node> node = std::move(opened).value();

  ApiOptions aopts;
  aopts.cluster_secret = secret;
  aopts.clock = clock.get();
  Api api(*node, aopts);
  std::vector<Route> routes = api.Routes();
  Live live(*node, cfg.web_root);
  for (auto& route : live.Routes()) routes.push_back(std::move(route));
  Metrics metrics(Router::RouteNames(routes));
  api.SetMetrics(&metrics);

  Poco::Net::ServerSocket socket;
  try {
    // SO_REUSEADDR only: POCO's two-argument bind also sets SO_REUSEPORT, with which a second
    // server on the same port binds too and the kernel splits connections between the two.
    socket.bind(Poco::Net::SocketAddress(cfg.listen_host, cfg.listen_port), /*reuseAddress=*/true,
                /*reusePort=*/false);
    socket.listen(1024);
  } catch (const Poco::Exception& e) {
    std::cerr << "meridian: cannot listen on " << cfg.listen_host << ":" << cfg.listen_port << ": "
              << e.displayText() << "\n";
    return EXIT_UNAVAILABLE;
  }
  // Live sessions (WebSocket upgrades) are handed to POCO's server, which holds a thread
  // per session; everything else is served by the event loops.
  auto* router = new Router(std::move(routes), metrics, cfg.max_body_bytes);
  Poco::Net::HTTPRequestHandlerFactory::Ptr factory(router);
  Poco::Net::HTTPServerParams::Ptr params(new Poco::Net::HTTPServerParams);
  params->setMaxThreads(cfg.http_threads);
  params->setMaxQueued(4096);
  // One request per connection: POCO sees only a connection's first request, a WebSocket
  // upgrade (event_server.cpp), and must never frame a second one.
  params->setKeepAlive(false);
  params->setServerName("meridian");
  Poco::ThreadPool pool("http", 1, cfg.http_threads + 4);
  auto* sessions = new Poco::Net::TCPServerDispatcher(new Poco::Net::HTTPServerConnectionFactory(params, factory),
                                                       pool, params);
  EventServerOptions eopts;
  eopts.loops = cfg.http_loops;
  eopts.max_workers = cfg.http_threads;
  eopts.max_buffered_bytes = cfg.max_buffered_bytes;
  // Handing a connection to POCO and stopping POCO's dispatcher exclude each other, so that
  // no connection is enqueued on a dispatcher already stopped.
  std::mutex sessions_mu;
  bool sessions_stopping = false;
  EventServer http(socket.impl()->sockfd(), *router, eopts, [sessions, &sessions_mu, &sessions_stopping](int fd) {
    std::lock_guard lock(sessions_mu);
    if (sessions_stopping) {
      close(fd);
      return;
    }
    try {
      // The socket takes ownership of the descriptor.
      sessions->enqueue(Poco::Net::StreamSocket(new Poco::Net::StreamSocketImpl(fd)));
    } catch (const Poco::Exception& e) {
      Log(LogLevel::kWarning, "live session not started", {{"error", e.displayText()}});
    }
  });
  if (!http.Start()) {
    std::cerr << "meridian: cannot start the HTTP event loops: " << std::strerror(errno) << "\n";
    node->Close();
    return EXIT_OSERR;
  }

  const std::string url = "http://" + cfg.listen_host + ":" + std::to_string(socket.address().port());
  std::cout << "meridian: region " << cfg.region.str() << " listening on " << url << std::endl;
  Log(LogLevel::kInfo, "listening",
      {{"url", url}, {"data_dir", cfg.data_dir}, {"max_batch", std::to_string(cfg.max_batch)},
       {"peers", std::to_string(cfg.peers.size())}});

  waitForTerminationRequest();

  Log(LogLevel::kInfo, "shutting down: finishing in-flight requests");
  live.Stop();  // live sessions end
  http.StopAccepting();
  {
    std::lock_guard lock(sessions_mu);
    sessions_stopping = true;
    sessions->stop();
  }
  // Connections POCO serves (handed-off upgrades that did not become sessions) finish
  // their current request and close, as in POCO's own HTTPServer::stopAll.
  router->StopConnections();
  node->BeginShutdown();  // long polls answer now
  http.Stop(std::chrono::seconds(10));
  pool.joinAll();
  node->Close();
  sessions->release();
  Log(LogLevel::kInfo, "stopped cleanly");
  return EXIT_OK;
}

}  // namespace server
