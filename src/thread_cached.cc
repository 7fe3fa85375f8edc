// The reader indexes of thread_cached: one per thread that reads, reused
// after the thread ends, so that slots stay few and dense.
#include "thread_cached.h"

#include <mutex>
#include <vector>

namespace multipass {
namespace detail {
namespace {

// Indexes in use are those of live threads; the ended ones' are reused first.
struct index_pool {
  std::mutex mu;
  std::vector<size_t> ended;
  size_t next = 0;
};

index_pool& pool() {
  // Never destroyed: a thread may end after static destructors have run.
  static index_pool* const instance = new index_pool;
  return *instance;
}

// The calling thread's index, cached where reading it needs no guard (a
// thread_local with a trivial initialiser); `ended` once its owner is gone.
constexpr size_t ended = no_reader_index - 1;
thread_local size_t cached_index = no_reader_index;

// Holds the thread's index and gives it back when the thread ends.
class owned_index {
 public:
  owned_index() {
    index_pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mu);
    if (p.ended.empty()) {
      value_ = p.next++;
    } else {
      value_ = p.ended.back();
      p.ended.pop_back();
    }
  }
  ~owned_index() {
    cached_index = ended;
    index_pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mu);
    try {
      p.ended.push_back(value_);
    } catch (...) {
      // Out of memory: the index is never reused, which only costs a slot.
    }
  }
  owned_index(const owned_index&) = delete;
  owned_index& operator=(const owned_index&) = delete;
  size_t value() const { return value_; }

 private:
  size_t value_;
};

}  // namespace

size_t reader_index() noexcept {
  const size_t index = cached_index;
  if (index < ended) return index;
  if (index == ended) return no_reader_index;
  try {
    thread_local owned_index owner;  // constructed once, on the first read
    cached_index = owner.value();
    return cached_index;
  } catch (...) {
    return no_reader_index;
  }
}

}  // namespace detail
}  // namespace multipass
