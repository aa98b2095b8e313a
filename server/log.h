// Structured logs: one logfmt line per event on stderr, through Poco::Logger.
//
//   ts=2026-11-26T07:46:42.123Z level=info region=us-east msg="listening" url=http://...
//
// Thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

namespace server {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Sets up the channel; `region` is added to every line. Lines below `min_level` are dropped.
void InitLogging(const std::string& region, LogLevel min_level);
bool ParseLogLevel(const std::string& text, LogLevel* out);
void Log(LogLevel level, const std::string& msg,
         std::initializer_list<std::pair<std::string, std::string>> fields = {});
bool LogEnabled(LogLevel level);

}  // namespace server
