// Loading merge-callback plugins (shared libraries, conflict/plugin_abi.h) at start-up.
#pragma once

#include <string>
#include <vector>

#include "conflict/merge.h"
#include "crdt/status.h"

namespace server {

// Loads each library and lets it register its callbacks in `registry`. The libraries stay
// loaded for the life of the process. InvalidArgument("invalid-plugin") names the library
// and what went wrong (cannot load, no meridian_plugin_init, refused, bad callback name).
crdt::Status LoadPlugins(const std::vector<std::string>& paths, conflict::Registry& registry);

}  // namespace server
