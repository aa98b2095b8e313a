#include "tests/support/traces.h"

#include <fstream>
#include <sstream>

#include <Poco/Exception.h>
#include <Poco/InflatingStream.h>

namespace testsupport {

using nlohmann::json;

std::optional<json> LoadTrace(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::stringstream raw;
  try {
    Poco::InflatingInputStream inflate(file, Poco::InflatingStreamBuf::STREAM_GZIP);
    raw << inflate.rdbuf();
  } catch (const Poco::Exception&) {
    return std::nullopt;
  }
  json j = json::parse(raw.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::vector<json> TraceEdits(const json& trace, const std::string& path) {
  std::vector<json> edits;
  for (const json& txn : trace["txns"]) {
    for (const json& p : txn["patches"]) {
      const uint64_t pos = p[0], del = p[1];
      const std::string& ins = p[2].get_ref<const std::string&>();
      if (del > 0) edits.push_back({{"op", "delete"}, {"path", path}, {"index", pos}, {"count", del}});
      if (!ins.empty()) edits.push_back({{"op", "insert"}, {"path", path}, {"index", pos}, {"text", ins}});
    }
  }
  return edits;
}

}  // namespace testsupport
