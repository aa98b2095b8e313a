// MeridianApp: the `meridian` process.
//
// Start-up: flags and config file -> ServerConfig -> open region::Node -> HTTP server on
// the listen address (port 0 picks a free port) -> one line on stdout,
//   meridian: region us-east listening on http://127.0.0.1:7001
// which scripts and tests wait for. SIGINT/SIGTERM: stop accepting connections, wake
// long-polls, let in-flight requests finish (their writes commit), then close the node.
#pragma once

#include <string>
#include <vector>

#include <Poco/Util/ServerApplication.h>

#include "server/config.h"

namespace server {

class MeridianApp : public Poco::Util::ServerApplication {
 protected:
  void defineOptions(Poco::Util::OptionSet& options) override;
  void handleOption(const std::string& name, const std::string& value) override;
  int main(const std::vector<std::string>& args) override;

 private:
  void PrintHelp();
  bool help_ = false;
  RawSettings flags_;
};

}  // namespace server
