// The CLI's stdout, captured up to a fixed capacity in memory mapped for the
// purpose and unmapped when the buffer is cleared or destroyed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace multipass {

// Why not a std::string: the capture of a broken CLI reaches the output cap
// (16 MiB by default), and glibc keeps a freed block that big in the
// refresher thread's arena for good (its trim threshold grows with the
// largest block freed), so one flood of output would stay resident in
// CoreDNS for its lifetime. Pages of an anonymous mapping go back to the
// system when it is unmapped. The mapping reserves `capacity` bytes of
// address space on the first append; only the pages written take memory.
class capture_buffer {
 public:
  capture_buffer() = default;
  explicit capture_buffer(size_t capacity) : capacity_(capacity) {}
  ~capture_buffer() { clear(); }
  capture_buffer(capture_buffer&& other) noexcept;
  capture_buffer& operator=(capture_buffer&& other) noexcept;
  capture_buffer(const capture_buffer&) = delete;
  capture_buffer& operator=(const capture_buffer&) = delete;

  // Appends n bytes. False, with nothing appended, when they would not fit
  // in the capacity. Throws std::bad_alloc when the mapping fails.
  bool append(const char* data, size_t n);
  // Unmaps the memory; the buffer is empty, with the same capacity.
  void clear() noexcept;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  std::string_view view() const { return {data_, size_}; }
  std::string str() const { return std::string(view()); }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  size_t mapped_ = 0;  // bytes mapped at data_ (capacity rounded to pages)
};

}  // namespace multipass
