// Runs one program with a deadline, an output cap and an abort flag, using
// only the synchronous, signal-handler-free part of Boost.Process v1.
#include "process_runner.h"

#include <boost/version.hpp>
#if BOOST_VERSION >= 108800
#include <boost/process/v1/args.hpp>
#include <boost/process/v1/child.hpp>
#include <boost/process/v1/exe.hpp>
#include <boost/process/v1/extend.hpp>
#include <boost/process/v1/io.hpp>
#include <boost/process/v1/pipe.hpp>
namespace bp = boost::process::v1;
#else
#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/pipe.hpp>
namespace bp = boost::process;
#endif

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <crt_externs.h>  // _NSGetEnviron: a dylib cannot reach `environ`
#else
extern char** environ;
#endif

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>

#include "text_cut.h"

namespace multipass {
namespace detail {
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds poll_tick{20};    // how often the abort flag is read
constexpr milliseconds term_grace{500};  // SIGTERM -> SIGKILL
constexpr size_t read_chunk = 64 * 1024;
// stderr beyond this is drained, not kept.
constexpr size_t stderr_keep = 64 * 1024;
// The stderr line a failure reports is cut to this, on a UTF-8 boundary.
constexpr size_t err_line_max = 512;
// Signal numbers run from 1 to signal_limit - 1.
#if defined(NSIG)
constexpr int signal_limit = NSIG;
#else
constexpr int signal_limit = 65;  // Linux's; unused numbers fail harmlessly
#endif

// Serialises pipe creation and fork among this library's runners, so that no
// runner's child inherits another run's pipe ends (Boost 1.74 creates its
// exec-error pipe without O_CLOEXEC, and macOS has no pipe2).
std::mutex& spawn_mutex() {
  static std::mutex mu;
  return mu;
}

// A pipe whose both ends are close-on-exec in the parent; the child gets its
// end through dup2, which clears the flag on the new descriptor.
bool make_cloexec_pipe(int fds[2]) {
#if defined(__linux__)
  return ::pipe2(fds, O_CLOEXEC) == 0;
#else
  if (::pipe(fds) != 0) return false;
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return true;
#endif
}

}  // namespace

// Between fork and exec: async-signal-safe calls only. Dispositions first,
// the mask last: a signal pending at that moment meets SIG_DFL.
void reset_child_signals() {
  struct sigaction default_action;
  std::memset(&default_action, 0, sizeof default_action);
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  for (int sig = 1; sig < signal_limit; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction installed;
    // Numbers the system does not use (or reserves) fail here: skipped.
    if (::sigaction(sig, nullptr, &installed) != 0) continue;
    const bool caught = (installed.sa_flags & SA_SIGINFO) != 0 ||
                        (installed.sa_handler != SIG_DFL &&
                         installed.sa_handler != SIG_IGN);
    // An ignored SIGPIPE or SIGTERM would survive exec: the CLI must die of
    // a closed pipe and of our SIGTERM.
    if (caught || sig == SIGPIPE || sig == SIGTERM)
      ::sigaction(sig, &default_action, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the host may block signals
}

namespace {

// Runs in the child between fork and exec: async-signal-safe calls only.
struct child_setup : bp::extend::handler {
  template <class Executor>
  void on_exec_setup(Executor&) const {
    ::setpgid(0, 0);  // own process group: the whole tree can be killed
    reset_child_signals();
#if defined(__linux__) && defined(PR_CAP_AMBIENT)
    // A service may give CoreDNS an ambient capability (to bind port 53):
    // the CLI gets none of it.
    ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
#endif
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd > 0) {
      ::dup2(null_fd, STDIN_FILENO);
      ::close(null_fd);
    } else if (null_fd < 0) {
      ::close(STDIN_FILENO);
    }
  }
};

char** current_environ() {
#if defined(__APPLE__)
  return *_NSGetEnviron();
#else
  return environ;
#endif
}

// Whether the variable that `entry` ("NAME=value") sets is one the CLI may
// see (see child_environment).
bool passed_to_cli(std::string_view entry) {
  const size_t equals = entry.find('=');
  if (equals == std::string_view::npos || equals == 0) return false;
  const std::string_view name = entry.substr(0, equals);
  for (std::string_view exact :
       {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
        "DBUS_SESSION_BUS_ADDRESS"}) {
    if (name == exact) return true;
  }
  for (std::string_view prefix :
       {"LC_", "XDG_", "MULTIPASS_", "SNAP_", "SNAPD_"}) {
    if (name.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

// The child's environment: the allowed part of ours (read at each run) with
// `overrides` set. What the multipass CLI needs, and nothing else of
// CoreDNS's: PATH, HOME, USER, LOGNAME (the snap's wrapper and the macOS CLI
// find the client certificate through them), LANG, LANGUAGE, LC_*, TZ,
// TMPDIR (macOS's per-user temporary folder), XDG_* (XDG_RUNTIME_DIR and
// DBUS_SESSION_BUS_ADDRESS: `snap run` tracks the CLI in the user's session),
// MULTIPASS_* (the CLI's own settings) and SNAP_*, SNAPD_* (snapd's).
// LD_PRELOAD, LD_LIBRARY_PATH, DYLD_*, proxies and credentials stay behind.
// Built in the parent; Boost 1.74's own environment class reads past the end
// of short entries, so it is not used.
class child_environment {
 public:
  explicit child_environment(
      const std::vector<std::pair<std::string, std::string>>& overrides) {
    for (char** entry = current_environ(); entry && *entry; ++entry) {
      std::string_view text(*entry);
      if (!passed_to_cli(text)) continue;
      bool replaced =
          std::any_of(overrides.begin(), overrides.end(), [&](const auto& kv) {
            return text.size() > kv.first.size() &&
                   text.compare(0, kv.first.size(), kv.first) == 0 &&
                   text[kv.first.size()] == '=';
          });
      if (!replaced) entries_.emplace_back(text);
    }
    for (const auto& kv : overrides)
      entries_.push_back(kv.first + "=" + kv.second);
    for (std::string& entry : entries_) pointers_.push_back(&entry[0]);
    pointers_.push_back(nullptr);
  }
  child_environment(const child_environment&) = delete;
  child_environment& operator=(const child_environment&) = delete;

  char** native() { return pointers_.data(); }

 private:
  std::vector<std::string> entries_;
  std::vector<char*> pointers_;
};

// Hands a prepared envp to the executor (in the parent, before the fork).
struct use_environment : bp::extend::handler {
  explicit use_environment(char** envp) : envp_(envp) {}
  template <class Executor>
  void on_setup(Executor& exec) const {
    exec.env = envp_;
  }
  char** envp_;
};

struct lookup {
  run_status status = run_status::exited;  // exited: found
  std::string path;
  std::string reason;
};

bool is_executable_file(const std::string& path, bool* exists) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    *exists = false;
    return false;
  }
  *exists = true;
  return S_ISREG(info.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Resolves `program` like execvp would, but in the parent and at each run.
lookup find_program(const std::string& program) {
  lookup found;
  if (program.empty()) {
    found.status = run_status::not_found;
    found.reason = "no program given";
    return found;
  }
  bool exists = false;
  if (program.find('/') != std::string::npos) {
    if (program.front() != '/') {
      // Relative to whatever folder CoreDNS started in: never run.
      found.status = run_status::not_found;
      found.reason = program + ": a relative path (give an absolute path, or "
                               "a bare name to look up in PATH)";
      return found;
    }
    found.path = program;
    if (!is_executable_file(program, &exists)) {
      found.status =
          exists ? run_status::not_executable : run_status::not_found;
      found.reason =
          program + (exists ? ": not an executable file" : ": no such file");
    }
    return found;
  }
  const char* env_path = std::getenv("PATH");
  std::string path_list = env_path ? env_path : "/usr/bin:/bin";
  bool seen_non_executable = false;
  for (size_t begin = 0; begin <= path_list.size();) {
    size_t end = path_list.find(':', begin);
    if (end == std::string::npos) end = path_list.size();
    std::string dir = path_list.substr(begin, end - begin);
    begin = end + 1;
    // An empty or relative entry ("", ".", "bin") would mean the working
    // directory or a folder below it: skipped, as Go's exec.LookPath refuses
    // them (a planted ./multipass is never run).
    if (dir.empty() || dir.front() != '/') continue;
    std::string candidate = dir + "/" + program;
    if (is_executable_file(candidate, &exists)) {
      found.path = std::move(candidate);
      return found;
    }
    if (exists && !seen_non_executable) {
      seen_non_executable = true;
      found.path = candidate;
    }
  }
  if (seen_non_executable) {
    found.status = run_status::not_executable;
    found.reason = found.path + ": not an executable file";
  } else {
    found.status = run_status::not_found;
    found.reason = program + ": not found in PATH";
  }
  return found;
}

std::string seconds_text(milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s",
                static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

// One line of stderr, without surrounding blanks.
std::string_view trimmed(std::string_view line) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!line.empty() && blank(line.front())) line.remove_prefix(1);
  while (!line.empty() && blank(line.back())) line.remove_suffix(1);
  return line;
}

// "list failed: ...", "authenticate failed: ...": a command's own failure.
bool says_what_failed(std::string_view line) {
  const size_t at = line.find(" failed:");
  if (at == 0 || at == std::string_view::npos) return false;
  for (size_t i = 0; i < at; ++i) {
    const char c = line[i];
    if (!(std::isalpha(static_cast<unsigned char>(c)) || c == '-')) return false;
  }
  return true;
}

// A line printed beside the error, not about it: a "*** ... ***" banner
// (1.16's driver deprecation warning) or a log line below error level.
bool is_notice(std::string_view line) {
  if (line.substr(0, 3) == "***") return true;
  const std::string_view head = line.substr(0, 48);
  for (std::string_view level : {"[warning]", "[info]", "[debug]", "[trace]"})
    if (head.find(level) != std::string_view::npos) return true;
  return false;
}

std::string telling_line(const std::string& text) {
  std::string_view first, first_not_notice;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string_view line =
        trimmed(std::string_view(text).substr(begin, end - begin));
    begin = end + 1;
    if (line.empty()) continue;
    if (says_what_failed(line)) {
      first_not_notice = line;
      break;
    }
    if (first.empty()) first = line;
    if (first_not_notice.empty() && !is_notice(line)) first_not_notice = line;
  }
  const std::string_view chosen = first_not_notice.empty() ? first : first_not_notice;
  return detail::cut_copy(chosen, err_line_max);
}

// Owns the started child: whatever happens, the group is killed (if asked)
// and the child is reaped before the run returns.
class child_guard {
 public:
  explicit child_guard(bp::child& child) : child_(child), pgid_(child.id()) {}
  child_guard(const child_guard&) = delete;
  child_guard& operator=(const child_guard&) = delete;
  ~child_guard() {
    if (!reaped_) terminate_group();
  }

  bool running() {
    std::error_code ec;
    return child_.running(ec);  // waitpid(pid, WNOHANG): reaps this pid only
  }

  // SIGTERM to the group, a short grace, SIGKILL to the group, reap.
  void terminate_group() {
    signal_group(SIGTERM);
    auto grace_end = clock::now() + term_grace;
    while (running() && clock::now() < grace_end)
      std::this_thread::sleep_for(milliseconds(5));
    signal_group(SIGKILL);
    reap();
  }

  // Reaps the leader, then kills whatever it left behind in its group.
  void reap() {
    std::error_code ec;
    child_.wait(ec);  // waitpid(pid, 0); returns at once if already reaped
    reaped_ = true;
    reap_failed_ = static_cast<bool>(ec);
    ::kill(-pgid_, SIGKILL);  // stragglers only; ESRCH when there are none
  }

  bool reap_failed() const { return reap_failed_; }

 private:
  // The group, or the leader alone should it have no group of its own.
  void signal_group(int sig) {
    if (::kill(-pgid_, sig) != 0 && running()) ::kill(pgid_, sig);
  }

  bp::child& child_;
  pid_t pgid_;
  bool reaped_ = false;
  bool reap_failed_ = false;
};

}  // namespace

run_result run(const std::string& program, const std::vector<std::string>& args,
               const run_options& options) {
  run_result result;
  lookup found = find_program(program);
  if (found.status != run_status::exited) {
    result.status = found.status;
    result.reason = std::move(found.reason);
    return result;
  }

  // Pipe creation and fork happen under one lock (see spawn_mutex). The
  // bp::pipe objects own our read ends; Boost closes the write ends right
  // after the fork (on success and on error).
  std::unique_lock<std::mutex> spawn_lock(spawn_mutex());
  int out_fds[2], err_fds[2];
  if (!make_cloexec_pipe(out_fds)) {
    result.reason = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  bp::pipe out_pipe(out_fds[0], out_fds[1]);
  if (!make_cloexec_pipe(err_fds)) {
    result.reason = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  bp::pipe err_pipe(err_fds[0], err_fds[1]);
  child_environment environment(options.env);
  bp::child child;
  std::error_code ec;
  child = bp::child(bp::exe = found.path, bp::args = args,
                    bp::std_out > out_pipe, bp::std_err > err_pipe,
                    use_environment(environment.native()), child_setup{}, ec);
  spawn_lock.unlock();
  if (ec || !child.valid()) {
    int err = ec ? ec.value() : 0;
    if (err == ENOENT) {
      result.status = run_status::not_found;
    } else if (err == EACCES || err == ENOEXEC || err == EPERM ||
               err == EISDIR) {
      result.status = run_status::not_executable;
    } else {
      result.status = run_status::spawn_failed;
    }
    result.reason = found.path + ": " +
                    (ec ? ec.message() : std::string("could not start"));
    return result;
  }
  result.started = true;

  child_guard guard(child);
  const auto deadline = clock::now() + options.timeout;
  std::string err_text;
  const int out_fd = out_pipe.native_source();
  const int err_fd = err_pipe.native_source();
  bool out_open = true, err_open = true;
  bool kill_group = false;
  result.status = run_status::exited;

  result.out = capture_buffer(static_cast<size_t>(options.max_output_bytes));
  std::string chunk(read_chunk, '\0');
  while (out_open || err_open) {
    if (options.abort && options.abort->load(std::memory_order_acquire)) {
      result.status = run_status::aborted;
      break;
    }
    auto now = clock::now();
    if (now >= deadline) {
      result.status = run_status::timed_out;
      break;
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - now) +
                milliseconds(1);
    int wait_ms = static_cast<int>(std::min(left, poll_tick).count());
    pollfd fds[2];
    nfds_t count = 0;
    if (out_open) fds[count++] = pollfd{out_fd, POLLIN, 0};
    if (err_open) fds[count++] = pollfd{err_fd, POLLIN, 0};
    int ready_fds = ::poll(fds, count, wait_ms);
    if (ready_fds < 0) {
      if (errno == EINTR) continue;
      result.status = run_status::spawn_failed;
      result.reason = std::string("poll: ") + std::strerror(errno);
      kill_group = true;
      break;
    }
    for (nfds_t i = 0; i < count; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) continue;
      ssize_t bytes_read = ::read(fds[i].fd, &chunk[0], chunk.size());
      if (bytes_read < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      bool is_out = fds[i].fd == out_fd;
      if (bytes_read <= 0) {
        (is_out ? out_open : err_open) = false;
        continue;
      }
      if (is_out) {
        if (!result.out.append(chunk.data(),
                               static_cast<size_t>(bytes_read))) {
          result.status = run_status::output_too_large;
          out_open = err_open = false;
          break;
        }
      } else if (err_text.size() < stderr_keep) {
        err_text.append(
            chunk, 0,
            std::min(static_cast<size_t>(bytes_read),
                     stderr_keep - err_text.size()));
      }
    }
  }
  if (result.status != run_status::exited) kill_group = true;

  if (!kill_group) {
    // Both pipes hit EOF: the program is exiting. Wait for it, still bounded
    // by the deadline and the abort flag.
    while (guard.running()) {
      if (options.abort && options.abort->load(std::memory_order_acquire)) {
        result.status = run_status::aborted;
        kill_group = true;
        break;
      }
      if (clock::now() >= deadline) {
        result.status = run_status::timed_out;
        kill_group = true;
        break;
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
  }
  if (kill_group) {
    guard.terminate_group();
  } else {
    guard.reap();
  }

  result.err_line = telling_line(err_text);
  switch (result.status) {
    case run_status::exited: {
      int status = child.native_exit_code();
      if (guard.reap_failed()) {
        // Reaped elsewhere (the host ignores SIGCHLD): let the output decide.
        result.exit_code = 0;
      } else if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
        if (result.exit_code != 0)
          result.reason = "exit " + std::to_string(result.exit_code);
      } else if (WIFSIGNALED(status)) {
        result.status = run_status::killed;
        result.signal = WTERMSIG(status);
        result.reason = "killed by signal " + std::to_string(result.signal);
        result.out.clear();
      }
      break;
    }
    case run_status::timed_out:
      result.reason = "timed out after " + seconds_text(options.timeout) +
                      "; its process group was killed";
      break;
    case run_status::output_too_large:
      result.reason = "wrote more than " +
                      std::to_string(options.max_output_bytes) +
                      " bytes to stdout; its process group was killed";
      break;
    case run_status::aborted:
      result.reason = "aborted; its process group was killed";
      break;
    default:
      break;
  }
  if (result.status != run_status::exited) result.out.clear();
  return result;
}

}  // namespace detail

bool open_cloexec_pipe(int fds[2]) {
  std::lock_guard<std::mutex> lock(detail::spawn_mutex());
  return detail::make_cloexec_pipe(fds);
}

run_result run_process(const std::string& program,
                       const std::vector<std::string>& args,
                       const run_options& options) {
  try {
    return detail::run(program, args, options);
  } catch (const std::exception& e) {
    run_result result;
    result.status = run_status::spawn_failed;
    result.reason = e.what();
    return result;
  } catch (...) {
    run_result result;
    result.status = run_status::spawn_failed;
    result.reason = "unknown error";
    return result;
  }
}

std::string program_identity(const std::string& program) {
  try {
    detail::lookup found = detail::find_program(program);
    if (found.status != run_status::exited || found.path.empty()) return {};
    struct stat st;
    if (::stat(found.path.c_str(), &st) != 0) return {};
#if defined(__APPLE__)
    const auto& mtime = st.st_mtimespec;
#else
    const auto& mtime = st.st_mtim;
#endif
    return found.path + " " + std::to_string(st.st_dev) + " " +
           std::to_string(st.st_ino) + " " + std::to_string(st.st_size) + " " +
           std::to_string(mtime.tv_sec) + "." + std::to_string(mtime.tv_nsec);
  } catch (...) {
    return {};
  }
}

}  // namespace multipass
