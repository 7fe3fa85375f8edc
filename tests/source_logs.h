// Test helpers for a source's log queue (take every queued line, count
// lines) and its counters.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "source.h"

namespace multipass {
namespace testing_support {

inline std::vector<log_line> drain(source& src) {
  std::vector<log_line> lines;
  log_line line;
  while (src.logs().pop(std::chrono::milliseconds(0), &line) ==
         log_queue::pop_result::line)
    lines.push_back(line);
  return lines;
}

inline multipass_source_stats_t stats_of(const source& src) {
  multipass_source_stats_t stats{};
  stats.struct_size = sizeof stats;
  src.stats(&stats);
  return stats;
}

// Lines at `level` whose text contains `word`.
inline size_t count_lines(const std::vector<log_line>& lines, int level,
                          const std::string& word) {
  size_t n = 0;
  for (const auto& line : lines)
    n += line.level == level && line.text.find(word) != std::string::npos;
  return n;
}

}  // namespace testing_support
}  // namespace multipass
