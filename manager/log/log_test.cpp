#include "manager/log/log.h"

#include <doctest/doctest.h>

#include <vector>

namespace keel {
namespace {

std::vector<std::string>* g_lines;
void Capture(const std::string& line) { g_lines->push_back(line); }

}  // namespace

TEST_CASE("log: logfmt lines with quoting") {
  CHECK(FormatLogLine(LogLevel::kInfo, "volume created", {{"volume", "db"}, {"size", "10 GiB"}}) ==
        "level=info msg=\"volume created\" volume=db size=\"10 GiB\"");
  CHECK(FormatLogLine(LogLevel::kError, "x", {{"e", "a\"b\nc"}}) ==
        "level=error msg=x e=\"a\\\"b\\nc\"");
  CHECK(FormatLogLine(LogLevel::kWarning, "", {}) == "level=warning msg=\"\"");
}

TEST_CASE("log: level filters records") {
  std::vector<std::string> lines;
  g_lines = &lines;
  SetLogSink(Capture);
  SetLogLevel(LogLevel::kWarning);
  KLOG(kInfo, "hidden");
  KLOG(kError, "shown");
  SetLogLevel(LogLevel::kInfo);
  SetLogSink(nullptr);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "level=error msg=shown");
  LogLevel l;
  CHECK(ParseLogLevel("warn", &l));
  CHECK(l == LogLevel::kWarning);
  CHECK_FALSE(ParseLogLevel("verbose", &l));
}

}  // namespace keel
