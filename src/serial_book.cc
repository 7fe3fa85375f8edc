// The serial book (see serial_book.h).
#include "serial_book.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace multipass {

namespace detail {

bool serial_greater(uint32_t a, uint32_t b) {
  const uint32_t half = uint32_t{1} << 31;
  return (a < b && b - a > half) || (a > b && a - b < half);
}

}  // namespace detail

uint32_t serial_book::serial_for(const std::string& key,
                                 const std::string& file, uint64_t hash,
                                 uint32_t floor, bool commit) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = entries_.find(key);
  entry loaded;
  entry* e = found != entries_.end() ? &found->second : &loaded;
  if (found == entries_.end() && !file.empty()) load(file, e);
  if (e->known && e->hash == hash) {
    if (found == entries_.end() && commit) entries_.emplace(key, *e);
    return e->serial;
  }
  uint32_t next = floor;
  if (e->known && !detail::serial_greater(floor, e->serial + 1)) {
    next = e->serial + 1;
  }
  if (!commit) return next;
  if (found == entries_.end()) e = &entries_.emplace(key, *e).first->second;
  e->known = true;
  e->serial = next;
  e->hash = hash;
  if (!file.empty()) store(file, e);
  return next;
}

void serial_book::load(const std::string& file, entry* e) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) {
      tell(e, "cannot read the zone's serial from " + file + ": " +
                  std::strerror(errno));
    }
    return;
  }
  char text[64] = {};
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  unsigned long serial = 0;
  unsigned long long hash = 0;
  if (n <= 0 || std::sscanf(text, "%lu %llx", &serial, &hash) != 2 ||
      serial > UINT32_MAX) {
    tell(e, "ignoring " + file + ": not a serial and a hash");
    return;
  }
  e->known = true;
  e->serial = static_cast<uint32_t>(serial);
  e->hash = hash;
}

void serial_book::store(const std::string& file, entry* e) {
  const std::string tmp = file + ".tmp";
  char text[64];
  const int length =
      std::snprintf(text, sizeof text, "%" PRIu32 " %016" PRIx64 "\n",
                    e->serial, e->hash);
  ::unlink(tmp.c_str());  // a leftover (or a planted link) goes first
  const int fd = ::open(tmp.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0644);
  bool ok = fd >= 0;
  if (ok) {
    ok = ::write(fd, text, static_cast<size_t>(length)) == length;
    ok = ::close(fd) == 0 && ok;
    ok = ok && ::rename(tmp.c_str(), file.c_str()) == 0;
    if (!ok) ::unlink(tmp.c_str());
  }
  if (!ok) {
    tell(e, "cannot keep the zone's serial in " + file + ": " +
                std::strerror(errno) + " (kept in memory only)");
  } else {
    e->error.clear();
  }
}

void serial_book::tell(entry* e, const std::string& text) {
  if (e->error == text) return;
  e->error = text;
  if (on_error) on_error(text);
}

}  // namespace multipass
