// A short memory of names recently confirmed missing.
#include "miss_memory.h"

#include <algorithm>
#include <iterator>

namespace multipass::detail {

miss_memory::miss_memory(std::chrono::milliseconds window, size_t capacity)
    : window_(window.count() > 0 ? window : std::chrono::milliseconds(0)),
      capacity_(window_.count() > 0 ? capacity : 0) {}

std::chrono::milliseconds miss_memory::remaining(std::string_view name,
                                                clock::time_point now) const {
  if (capacity_ == 0) return std::chrono::milliseconds(0);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(name);
  if (it == index_.end() || expired(*it->second, now))
    return std::chrono::milliseconds(0);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      it->second->at + window_ - now);
  // Never zero for a name still remembered (a sub-millisecond rest).
  return std::max(left, std::chrono::milliseconds(1));
}

void miss_memory::remember(std::string_view name, clock::time_point now) {
  if (capacity_ == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(name);
  if (it != index_.end()) {
    // Newest again: move it to the back (the node, and so the view, stays).
    it->second->at = now;
    order_.splice(order_.end(), order_, it->second);
  } else {
    order_.push_back(entry{std::string(name), now});
    auto last = std::prev(order_.end());
    try {
      index_.emplace(std::string_view(last->name), last);
    } catch (...) {
      order_.pop_back();
      throw;
    }
  }
  // Times arrive nearly in order, so the expired names sit at the front.
  while (!order_.empty() &&
         (order_.size() > capacity_ || expired(order_.front(), now))) {
    index_.erase(std::string_view(order_.front().name));
    order_.pop_front();
  }
}

size_t miss_memory::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return order_.size();
}

}  // namespace multipass::detail
