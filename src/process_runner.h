// Runs one program (no shell) with a deadline and an output cap, and reports
// how it ended. The child gets its own process group, default signal
// dispositions for every signal the host catches, an empty signal mask, stdin
// from the null device, no ambient capabilities (Linux) and an allow-listed
// part of the current environment (plus overrides; see run_options::env).
// On a deadline, an abort or too much output the whole group gets SIGTERM,
// then SIGKILL after a short grace, and the child is always reaped.
//
// Only the synchronous part of Boost.Process v1 is used: no SIGCHLD handler
// is installed (that would crash a Go host), and no waitpid(-1) is called.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "capture_buffer.h"

namespace multipass {

enum class run_status {
  exited,            // the program ran and exited by itself (any exit code)
  not_found,         // no such file, or the name is not in PATH
  not_executable,    // found but cannot be executed
  spawn_failed,      // pipe/fork failed
  timed_out,         // the deadline passed; the group was killed
  output_too_large,  // stdout went over the cap; the group was killed
  aborted,           // the abort flag was raised; the group was killed
  killed,            // died of a signal we did not send
};

struct run_options {
  std::chrono::milliseconds timeout{10000};
  uint64_t max_output_bytes = 16u << 20;  // a larger stdout is a failure
  // Variables set for the child on top of what it inherits: PATH, HOME,
  // USER, LOGNAME, LANG, LANGUAGE, LC_*, TZ, TMPDIR, XDG_*,
  // DBUS_SESSION_BUS_ADDRESS, MULTIPASS_*, SNAP_* and SNAPD_* of ours.
  std::vector<std::pair<std::string, std::string>> env;
  // Raised (from any thread) to abort the run; checked every few ms.
  const std::atomic<bool>* abort = nullptr;
};

struct run_result {
  run_status status = run_status::spawn_failed;
  bool started = false;  // a process was created
  int exit_code = -1;    // when status == exited
  int signal = 0;        // when status == killed
  capture_buffer out;    // stdout (complete only when status == exited)
  // The line of stderr that says what failed (at most 512 octets; a longer
  // one is cut on a UTF-8 boundary and ends in "…"): the
  // first "<command> failed: ..." line; else the first line that is no
  // notice (a "*** ... ***" banner, a [warning]/[info]/[debug]/[trace] log
  // line); else the first non-empty line. Only the first 64 KiB of stderr
  // are read for it.
  std::string err_line;
  std::string reason;    // what went wrong, for people; empty on exit 0

  bool ok() const { return status == run_status::exited && exit_code == 0; }
};

// Runs `program` with `args` (argv[1..]). A program without '/' is looked up
// in PATH at each call, in its absolute entries only (as Go's exec.LookPath);
// a relative path ("./multipass", "bin/multipass") is not_found. Never throws. Blocks the calling thread until the
// child is reaped, which is at most about timeout + 1 s.
run_result run_process(const std::string& program,
                       const std::vector<std::string>& args,
                       const run_options& options);

// What identifies the file `program` resolves to now (as run_process would
// resolve it): its path, device, inode, size and modification time, so that
// a changed binary (an upgrade) compares unequal. Empty when it resolves to
// nothing. Never throws.
std::string program_identity(const std::string& program);

// Opens a pipe whose ends are close-on-exec, under the lock that every
// runner's fork takes, so that no CLI child inherits either end (macOS has
// no pipe2). False when the pipe cannot be made.
bool open_cloexec_pipe(int fds[2]);

namespace detail {

// What the child runs between fork and exec (async-signal-safe): first every
// signal with a handler installed (inherited from the host: Go installs one
// for nearly every signal), and SIGPIPE and SIGTERM even when ignored, get
// their default disposition back; only then is the signal mask emptied, so
// that no host handler can run in the child before exec.
void reset_child_signals();

}  // namespace detail

}  // namespace multipass
