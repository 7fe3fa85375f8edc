// A bounded queue of bounded log lines that the embedder drains (the core
// never calls back into Go). When full, new lines are dropped and counted.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "multipass/multipass.h"

namespace multipass {

struct log_line {
  int level = 0;         // enum multipass_log_level
  std::string text;
  uint64_t dropped = 0;  // lines dropped before this one
};

class log_queue {
 public:
  // A longer line is cut to this many octets on a UTF-8 boundary, ending in
  // "…": what multipass_log_entry_t.text holds before its NUL, so that the
  // C ABI hands out every line whole.
  static constexpr size_t max_line_bytes =
      sizeof(multipass_log_entry_t::text) - 1;

  explicit log_queue(size_t capacity = 1024) : capacity_(capacity) {}

  // Never blocks. Cuts the text to max_line_bytes. Drops (and counts) the
  // line when the queue is full; drops it uncounted once closed (the drainer
  // has stopped).
  void push(int level, std::string text);

  enum class pop_result { line, empty, closed };
  // Waits up to `wait` for a line. `closed` once closed and drained. Drops
  // not yet reported with a later line come out as a line with empty text
  // and `dropped` set, once the queue is empty.
  pop_result pop(std::chrono::milliseconds wait, log_line* out);

  // After close(), push drops and pop drains what is left (with any drop
  // count) then says closed.
  void close();

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<log_line> lines_;
  uint64_t dropped_ = 0;  // not yet reported
  bool closed_ = false;
};

}  // namespace multipass
