// Structured logging for keeld: one line per record on stderr, logfmt
// style ("level=info msg=\"volume created\" volume=db size=10GiB"), so it
// reads well in a terminal and in the journal.  When stderr is connected to
// journald (JOURNAL_STREAM is set), each line starts with the syslog
// priority "<N>" so journald records the level.
//
//   KLOG(kInfo, "volume created", {{"volume", name}, {"size", "10GiB"}});
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

using LogFields = std::vector<std::pair<std::string, std::string>>;

// "debug", "info", "warning" ("warn"), "error"; false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel* level);
const char* LogLevelName(LogLevel level);

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Where records go; default: stderr.  Tests capture records with this.
void SetLogSink(void (*sink)(const std::string& line));

// One record; thread-safe.
void Log(LogLevel level, std::string_view msg, const LogFields& fields = {});

// The logfmt line for a record, without the journald prefix (for tests).
std::string FormatLogLine(LogLevel level, std::string_view msg, const LogFields& fields);

}  // namespace keel

#define KLOG(level, ...) ::keel::Log(::keel::LogLevel::level, __VA_ARGS__)
