// A short memory of names recently confirmed missing, so that repeated
// questions for the same unknown name (a resolver's search list, a client
// retrying) are answered NXDOMAIN at once instead of each waiting for an
// on-demand refresh.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace multipass::detail {

// Remembers names for a fixed window, at most `capacity` of them (the
// oldest are forgotten first). Thread-safe: every method takes one mutex.
// contains() and remaining() allocate nothing; remember() may allocate.
class miss_memory {
 public:
  using clock = std::chrono::steady_clock;

  static constexpr size_t default_capacity = 4096;

  // A zero window or capacity remembers nothing.
  explicit miss_memory(std::chrono::milliseconds window,
                       size_t capacity = default_capacity);
  miss_memory(const miss_memory&) = delete;
  miss_memory& operator=(const miss_memory&) = delete;

  // True when `name` (compared byte for byte) was remembered less than the
  // window before `now`.
  bool contains(std::string_view name, clock::time_point now) const {
    return remaining(name, now).count() > 0;
  }

  // How much longer `name` stays remembered after `now`; zero when it is
  // not remembered (or its window has passed).
  std::chrono::milliseconds remaining(std::string_view name,
                                      clock::time_point now) const;

  // Remembers `name` as missing at `now` (a name already remembered gets the
  // new time). Forgets names whose window has passed and, beyond capacity,
  // the oldest.
  void remember(std::string_view name, clock::time_point now);

  // How many names are remembered (expired ones not yet dropped included).
  size_t size() const;

  std::chrono::milliseconds window() const { return window_; }

 private:
  struct entry {
    std::string name;
    clock::time_point at;
  };
  using list = std::list<entry>;

  bool expired(const entry& e, clock::time_point now) const {
    return now - e.at >= window_;
  }

  const std::chrono::milliseconds window_;
  const size_t capacity_;
  mutable std::mutex mu_;
  list order_;  // oldest first; list nodes never move, so views stay valid
  std::unordered_map<std::string_view, list::iterator> index_;  // into order_
};

}  // namespace multipass::detail
