#include "wakeup_pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "process_runner.h"

namespace multipass {

wakeup_pipe::wakeup_pipe() {
  int fds[2];
  if (!open_cloexec_pipe(fds)) return;
  for (int fd : fds) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
      ::close(fds[0]);
      ::close(fds[1]);
      return;
    }
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
}

wakeup_pipe::~wakeup_pipe() {
  close_writer();
  if (read_fd_ >= 0) ::close(read_fd_);
}

void wakeup_pipe::notify() {
  std::lock_guard<std::mutex> lock(mu_);
  if (write_fd_ < 0) return;
  const char byte = 1;
  ssize_t n;
  do {
    n = ::write(write_fd_, &byte, 1);
  } while (n < 0 && errno == EINTR);
  // EAGAIN: the pipe is full, so a wake-up is pending already.
}

void wakeup_pipe::close_writer() {
  std::lock_guard<std::mutex> lock(mu_);
  if (write_fd_ < 0) return;
  ::close(write_fd_);
  write_fd_ = -1;
}

int wakeup_pipe::reader() const {
  if (read_fd_ < 0) return -1;
  return ::fcntl(read_fd_, F_DUPFD_CLOEXEC, 0);
}

}  // namespace multipass
