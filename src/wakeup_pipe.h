// The core's wake-up path to its embedder: a pipe whose write end the core
// keeps and whose read end (duplicated for each asker) the embedder watches
// with its own poller. Writes never block and coalesce: a full pipe already
// holds a wake-up. Closing the write end gives every reader end of file.
#pragma once

#include <mutex>

namespace multipass {

class wakeup_pipe {
 public:
  // Opens the pipe, both ends non-blocking and close-on-exec; a failure
  // leaves it closed (reader() then fails, notify() does nothing).
  wakeup_pipe();
  ~wakeup_pipe();  // closes both of its ends
  wakeup_pipe(const wakeup_pipe&) = delete;
  wakeup_pipe& operator=(const wakeup_pipe&) = delete;

  // Makes the read end readable. Never blocks; async-signal-unsafe but
  // lock-free apart from a mutex held for the write call.
  void notify();
  // Closes the write end: readers see end of file once they read what is
  // left. Later notify() calls do nothing. Idempotent.
  void close_writer();
  // A new close-on-exec descriptor for the read end, owned by the caller;
  // -1 when the pipe could not be opened.
  int reader() const;

 private:
  mutable std::mutex mu_;  // guards write_fd_ against close_writer
  int read_fd_ = -1;
  int write_fd_ = -1;
};

}  // namespace multipass
