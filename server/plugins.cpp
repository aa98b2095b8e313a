#include "server/plugins.h"

#include <memory>

#include <Poco/SharedLibrary.h>

#include "conflict/plugin_abi.h"
#include "crdt/json_text.h"

struct MeridianMergeResult {
  bool answered = false;
  bool failed = false;
  std::string text;
};

namespace server {

using crdt::Status;
using nlohmann::json;

namespace {

struct Registrar {
  conflict::Registry* registry;
  std::string library;
  Status status;
};

void Emit(MeridianMergeResult* r, const char* text, size_t length) {
  if (r->answered) return;
  r->answered = true;
  r->text.assign(text ? text : "", text ? length : 0);
}

void Fail(MeridianMergeResult* r, const char* message) {
  if (r->answered) return;
  r->answered = true;
  r->failed = true;
  r->text = message ? message : "failed";
}

// A plugin callback as a MergeCallback: siblings in as JSON text, the answer parsed strictly.
conflict::MergeCallback Wrap(meridian_merge_fn fn) {
  return [fn](const std::vector<conflict::Sibling>& siblings) -> crdt::Result<std::optional<json>> {
    const std::string input = conflict::SiblingsJson(siblings).dump();
    MeridianMergeResult result;
    fn(input.data(), input.size(), &result, &Emit, &Fail);
    if (!result.answered) return Status::Internal("the plugin callback answered nothing");
    if (result.failed) return Status::Internal(result.text);
    auto parsed = crdt::ParseJson(result.text);
    if (!parsed.ok()) return Status::Internal("the plugin callback returned " + parsed.status().message());
    if (parsed->is_null()) return std::optional<json>();
    return std::optional<json>(std::move(parsed).value());
  };
}

int Register(void* opaque, const char* name, meridian_merge_fn fn) {
  auto* r = static_cast<Registrar*>(opaque);
  if (!name || !fn) {
    r->status = Status::InvalidArgument("invalid-plugin", r->library + " registered a callback without a name");
    return 1;
  }
  Status s = r->registry->Register(name, Wrap(fn));
  if (!s.ok()) {
    r->status = Status::InvalidArgument("invalid-plugin", r->library + ": " + s.message());
    return 1;
  }
  return 0;
}

}  // namespace

Status LoadPlugins(const std::vector<std::string>& paths, conflict::Registry& registry) {
  static std::vector<std::unique_ptr<Poco::SharedLibrary>> loaded;  // for the life of the process
  for (const auto& path : paths) {
    auto lib = std::make_unique<Poco::SharedLibrary>();
    try {
      lib->load(path);
    } catch (const Poco::Exception& e) {
      return Status::InvalidArgument("invalid-plugin", "cannot load plugin " + path + ": " + e.displayText());
    }
    if (!lib->hasSymbol(MERIDIAN_PLUGIN_INIT_SYMBOL)) {
      return Status::InvalidArgument("invalid-plugin",
                                     path + " is not a Meridian plugin (no " MERIDIAN_PLUGIN_INIT_SYMBOL ")");
    }
    auto init = reinterpret_cast<meridian_plugin_init_fn>(lib->getSymbol(MERIDIAN_PLUGIN_INIT_SYMBOL));
    Registrar registrar{&registry, path, Status::Ok()};
    const int rc = init(&registrar, &Register);
    if (!registrar.status.ok()) return registrar.status;
    if (rc != 0) return Status::InvalidArgument("invalid-plugin", path + " refused to start (code " + std::to_string(rc) + ")");
    loaded.push_back(std::move(lib));
  }
  return Status::Ok();
}

}  // namespace server
