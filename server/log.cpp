#include "server/log.h"

#include <atomic>

#include <Poco/AutoPtr.h>
#include <Poco/ConsoleChannel.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Logger.h>
#include <Poco/Timestamp.h>

namespace server {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::string g_region;  // set once before threads start

const char* Name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

// logfmt value: bare when safe, quoted with escapes otherwise.
void AppendValue(std::string& out, const std::string& v) {
  const bool bare = !v.empty() && v.find_first_of(" \"=\\\n\t") == std::string::npos;
  if (bare) {
    out += v;
    return;
  }
  out += '"';
  for (char ch : v) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else {
      out += ch;
    }
  }
  out += '"';
}

Poco::Logger& Logger() {
  static Poco::Logger& logger = [] () -> Poco::Logger& {
    Poco::Logger& l = Poco::Logger::get("meridian");
    l.setChannel(Poco::AutoPtr<Poco::Channel>(new Poco::ConsoleChannel));
    l.setLevel(Poco::Message::PRIO_TRACE);
    return l;
  }();
  return logger;
}

}  // namespace

void InitLogging(const std::string& region, LogLevel min_level) {
  g_region = region;
  g_min_level = static_cast<int>(min_level);
  (void)Logger();
}

bool ParseLogLevel(const std::string& text, LogLevel* out) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}) {
    if (text == Name(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_min_level.load(); }

void Log(LogLevel level, const std::string& msg, std::initializer_list<std::pair<std::string, std::string>> fields) {
  if (!LogEnabled(level)) return;
  std::string line = "ts=" + Poco::DateTimeFormatter::format(Poco::Timestamp(), "%Y-%m-%dT%H:%M:%S.%iZ");
  line += " level=";
  line += Name(level);
  if (!g_region.empty()) {
    line += " region=";
    line += g_region;
  }
  line += " msg=";
  AppendValue(line, msg);
  for (const auto& [k, v] : fields) {
    line += ' ';
    line += k;
    line += '=';
    AppendValue(line, v);
  }
  Logger().information(line);
}

}  // namespace server
