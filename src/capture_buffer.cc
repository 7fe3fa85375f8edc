// Anonymous mappings for captured output (see capture_buffer.h).
#include "capture_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <utility>

namespace multipass {

capture_buffer::capture_buffer(capture_buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(other.capacity_),
      mapped_(std::exchange(other.mapped_, 0)) {}

capture_buffer& capture_buffer::operator=(capture_buffer&& other) noexcept {
  if (this != &other) {
    clear();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = other.capacity_;
    mapped_ = std::exchange(other.mapped_, 0);
  }
  return *this;
}

bool capture_buffer::append(const char* data, size_t n) {
  if (n > capacity_ - size_) return false;
  if (n == 0) return true;
  if (!data_) {
    size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    size_t length = (capacity_ + page - 1) / page * page;
    int flags = MAP_PRIVATE | MAP_ANON;
#ifdef MAP_NORESERVE
    flags |= MAP_NORESERVE;  // address space only; pages come as written
#endif
    void* at = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (at == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<char*>(at);
    mapped_ = length;
  }
  std::memcpy(data_ + size_, data, n);
  size_ += n;
  return true;
}

void capture_buffer::clear() noexcept {
  if (data_) ::munmap(data_, mapped_);
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
}

}  // namespace multipass
