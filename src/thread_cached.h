// A value that one thread publishes and any number of threads read, where a
// read touches only memory of the reading thread's own: no lock, no counter
// and no cache line shared with other readers. The pattern of RocksDB's
// thread-local SuperVersion (ColumnFamilyData::GetThreadLocalSuperVersion):
// each reading thread keeps, in a slot of its own, a counted reference to the
// value it last read; a read takes that reference out of the slot and puts it
// back; publishing a new value takes every reference out of every slot that
// is not being read at that moment, so the next read of each thread fetches
// the new value once.
//
// What a thread that stops reading holds: its slot (128 bytes; slots come 64
// to a chunk allocated on the first read of a thread with an index in it) and,
// until the next publication, one reference to the value that is current
// anyway. Never an older value: every publication takes them all back. A
// thread that ends gives its index to the next thread that reads.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace multipass {
namespace detail {

// The calling thread's reader index: small and dense among the threads alive
// that have read some thread_cached value, given back when the thread ends.
// npos when the thread cannot have one (out of memory, or ending).
constexpr size_t no_reader_index = static_cast<size_t>(-1);
size_t reader_index() noexcept;

}  // namespace detail

template <typename T>
class thread_cached {
 public:
  using pointer = std::shared_ptr<const T>;

  thread_cached() = default;
  explicit thread_cached(pointer initial) : current_(std::move(initial)) {}
  // Requires that no read is in progress.
  ~thread_cached() {
    for (std::atomic<slot*>& chunk : chunks_) {
      slot* slots = chunk.load(std::memory_order_acquire);
      if (!slots) continue;
      for (size_t i = 0; i < slots_per_chunk; ++i) {
        delete as_holder(slots[i].state.load(std::memory_order_acquire));
      }
      delete[] slots;
    }
  }
  thread_cached(const thread_cached&) = delete;
  thread_cached& operator=(const thread_cached&) = delete;

  // The current value as a counted reference, for a caller that keeps it.
  // Takes the mutex that store() holds for a pointer swap.
  pointer load() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }

  // Publishes `value`. Never waits for a reader: a read in progress finishes
  // with the value it began with, then drops it. Whoever drops the last
  // reference to the old value frees it (here, unless a read holds it).
  void store(pointer value) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      current_.swap(value);
    }
    // After the swap: a slot filled before it is emptied here, or (being
    // read at this moment) its read finds it taken and drops its reference.
    for (std::atomic<slot*>& chunk : chunks_) {
      slot* slots = chunk.load(std::memory_order_acquire);
      if (!slots) continue;
      for (size_t i = 0; i < slots_per_chunk; ++i) {
        const uintptr_t was =
            slots[i].state.exchange(empty, std::memory_order_acq_rel);
        if (was != in_use) delete as_holder(was);
      }
    }
  }

  class read_guard;
  // The current value for the span of one read (the guard's life). Touches
  // the calling thread's slot only, unless the value changed since this
  // thread's last read (then it takes load()'s mutex once). A thread that
  // reads again while a guard of its own is alive (a nested read), or that
  // has no slot, gets a counted reference instead.
  read_guard read() const {
    slot* own = slot_of(detail::reader_index());
    if (own) {
      const uintptr_t was = own->state.exchange(in_use, std::memory_order_acquire);
      if (was != in_use) {
        holder* cached = as_holder(was);
        if (!cached) cached = fetch();
        if (cached) return read_guard(own, cached);
        own->state.store(empty, std::memory_order_release);  // out of memory
      }
    }
    return read_guard(load());
  }

 private:
  // One thread's counted reference, kept between its reads.
  struct holder {
    pointer value;
  };
  // A slot's state: empty, in_use (its thread reads), or a holder's address.
  // 128 bytes apart, so that two slots never share a cache line (nor a pair
  // of lines that the hardware fetches together).
  static constexpr uintptr_t empty = 0;
  static constexpr uintptr_t in_use = 1;
  struct slot {
    std::atomic<uintptr_t> state{empty};
    char padding[128 - sizeof(std::atomic<uintptr_t>)];
  };
  static constexpr size_t slots_per_chunk = 64;
  static constexpr size_t max_chunks = 64;  // 4,096 reading threads at once

  static holder* as_holder(uintptr_t state) {
    return state == empty || state == in_use
               ? nullptr
               : reinterpret_cast<holder*>(state);
  }

  // A new holder of the current value; nullptr when out of memory.
  holder* fetch() const noexcept {
    try {
      return new holder{load()};
    } catch (...) {
      return nullptr;
    }
  }

  // The slot of reader `index`, its chunk allocated on first use; nullptr
  // past the last chunk or when out of memory.
  slot* slot_of(size_t index) const noexcept {
    if (index >= max_chunks * slots_per_chunk) return nullptr;
    std::atomic<slot*>& chunk = chunks_[index / slots_per_chunk];
    slot* slots = chunk.load(std::memory_order_acquire);
    if (!slots) {
      slot* fresh;
      try {
        fresh = new slot[slots_per_chunk];
      } catch (...) {
        return nullptr;
      }
      if (chunk.compare_exchange_strong(slots, fresh, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
        slots = fresh;
      } else {
        delete[] fresh;  // another thread of the chunk was first
      }
    }
    return &slots[index % slots_per_chunk];
  }

  mutable std::mutex mu_;  // guards current_
  pointer current_;
  mutable std::array<std::atomic<slot*>, max_chunks> chunks_{};

 public:
  // A read in progress: the value, alive at least as long as the guard.
  class read_guard {
   public:
    read_guard(const read_guard&) = delete;
    read_guard& operator=(const read_guard&) = delete;
    ~read_guard() {
      if (!slot_) return;
      // Back into the slot, unless a store() emptied it meanwhile: then
      // the value is old and this read drops it.
      uintptr_t expected = in_use;
      if (!slot_->state.compare_exchange_strong(
              expected, reinterpret_cast<uintptr_t>(holder_),
              std::memory_order_release, std::memory_order_relaxed)) {
        delete holder_;
      }
    }

    const T& operator*() const { return *get(); }
    const T* operator->() const { return get().get(); }
    // The value as a counted reference: copy it to keep it past the guard.
    const pointer& get() const { return slot_ ? holder_->value : owned_; }

    // A guard over a counted reference, for a reader without a
    // thread_cached (a test's fixed value).
    explicit read_guard(pointer owned) : owned_(std::move(owned)) {}

   private:
    friend class thread_cached;
    read_guard(slot* own, holder* cached) : slot_(own), holder_(cached) {}

    slot* slot_ = nullptr;      // the thread's slot, in_use while alive
    holder* holder_ = nullptr;  // taken out of it
    pointer owned_;             // without a slot
  };
};

}  // namespace multipass
