// Test helpers for a source's log queue (take every queued line, count
// lines), its counters, and a question's wait for a look.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
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

// What a question that waits does: asks for a look and waits for it (up to
// miss_wait); returns the newest snapshot.
inline snapshot look(source& src, std::string_view address_of = {}) {
  const uint64_t seq = src.request_refresh(address_of);
  if (seq > 0) src.wait_refresh(seq, src.options().miss_wait);
  return src.current();
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
