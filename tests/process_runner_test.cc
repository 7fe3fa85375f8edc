// The process runner against the stand-in CLI and a few tiny scripts.
#include "process_runner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#if defined(__linux__)
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include "fake_cli.h"
#include "utf8.h"

namespace multipass {
namespace {

using namespace std::chrono_literals;
using testing_support::fake_cli;

const std::vector<std::string> list_args = {"list", "--format=json"};

run_options quick(std::chrono::milliseconds timeout = 30s) {
  run_options options;
  options.timeout = timeout;
  return options;
}

// A small shell script in `dir`, executable unless told otherwise.
std::string script(const std::string& dir, const std::string& name,
                   const std::string& body, bool executable = true) {
  std::string path = dir + "/" + name;
  testing_support::write_text(path, "#!/bin/sh\n" + body + "\n");
  ::chmod(path.c_str(), executable ? 0755 : 0644);
  return path;
}

// Restores PATH when it goes out of scope.
class path_override {
 public:
  explicit path_override(const std::string& path) {
    const char* old = ::getenv("PATH");
    had_ = old != nullptr;
    if (had_) old_ = old;
    ::setenv("PATH", path.c_str(), 1);
  }
  ~path_override() {
    if (had_) {
      ::setenv("PATH", old_.c_str(), 1);
    } else {
      ::unsetenv("PATH");
    }
  }

 private:
  bool had_ = false;
  std::string old_;
};

#if defined(__linux__)
size_t open_fds() {
  size_t count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return 0;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count;
}
#endif

// No child of ours is left unreaped (the test may call waitpid(-1)).
bool no_children_left() {
  int status;
  return ::waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD;
}

TEST(process_runner_test, prints_the_listing_and_exits_zero) {
  fake_cli cli;
  cli.set_fixture("list-one-running.json");
  run_result result = run_process(fake_cli::binary(), list_args, quick());
  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_TRUE(result.started);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out.view(), testing_support::fixture("list-one-running.json"));
  EXPECT_TRUE(result.err_line.empty());
  EXPECT_TRUE(no_children_left());
}

TEST(process_runner_test, child_gets_its_own_process_group_and_argv) {
  fake_cli cli;
  ASSERT_TRUE(run_process(fake_cli::binary(), list_args, quick()).ok());
  auto runs = cli.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(fake_cli::field(runs[0], "pid"), fake_cli::field(runs[0], "pgid"));
  EXPECT_NE(fake_cli::field(runs[0], "pgid"), std::to_string(::getpgrp()));
  EXPECT_NE(runs[0].find("args=list --format=json"), std::string::npos)
      << runs[0];
}

TEST(process_runner_test, environment_is_inherited_plus_overrides) {
  fake_cli cli;  // MULTIPASS_FAKE_DIR reaches the child: inherited
  ASSERT_TRUE(run_process(fake_cli::binary(), list_args, quick()).ok());
  run_options options = quick();
  options.env.emplace_back("MULTIPASS_SERVER_ADDRESS", "10.0.0.5:51001");
  ASSERT_TRUE(run_process(fake_cli::binary(), list_args, options).ok());
  auto runs = cli.runs();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(fake_cli::field(runs[0], "server_address"), "-");
  EXPECT_EQ(fake_cli::field(runs[1], "server_address"), "10.0.0.5:51001");
  EXPECT_EQ(::getenv("MULTIPASS_SERVER_ADDRESS"),
            nullptr);  // not set in the parent
}

TEST(process_runner_test, stderr_is_not_mixed_into_stdout) {
  fake_cli cli;
  cli.set_mode("ok-warning");
  cli.set_fixture("list-mixed.json");
  run_result result = run_process(fake_cli::binary(), list_args, quick());
  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_EQ(result.out.view(), testing_support::fixture("list-mixed.json"));
  EXPECT_NE(result.err_line.find("Warning"), std::string::npos)
      << result.err_line;
}

TEST(process_runner_test, failure_reports_exit_code_and_first_stderr_line) {
  fake_cli cli;
  cli.set_mode("no-daemon");
  run_result result = run_process(fake_cli::binary(), list_args, quick());
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.status, run_status::exited);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err_line,
            "list failed: cannot connect to the multipass socket");
  EXPECT_TRUE(result.out.empty());

  cli.set_mode("no-auth");
  result = run_process(fake_cli::binary(), list_args, quick());
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err_line,
            "list failed: The client is not authenticated with the Multipass "
            "service.");

  cli.set_mode("bad-address");
  result = run_process(fake_cli::binary(), list_args, quick());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err_line.find("missing port number in address 'foo'"),
            std::string::npos);
  EXPECT_TRUE(no_children_left());
}

// A long stderr line is cut to 512 octets on a UTF-8 boundary, ending in
// "…": the log line and the error that quote it stay well-formed.
TEST(process_runner_test, a_long_stderr_line_is_cut_on_a_utf8_boundary) {
  fake_cli cli;
  std::string accents;  // "é" is two octets
  while (accents.size() < 2000) accents += "\xC3\xA9";
  for (const std::string& before : {std::string("list failed: "),
                                    std::string("list failed: x")}) {
    testing_support::write_text(cli.dir() + "/stderr.txt", before + accents + "\n");
    const std::string cli_script =
        script(cli.dir(), "cli", "cat '" + cli.dir() + "/stderr.txt' >&2; exit 2");
    run_result result = run_process(cli_script, list_args, quick());
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_LE(result.err_line.size(), 512u);
    EXPECT_GE(result.err_line.size(), 511u);
    EXPECT_EQ(result.err_line.rfind(before, 0), 0u);
    EXPECT_EQ(result.err_line.substr(result.err_line.size() - 3), "\xE2\x80\xA6");
    EXPECT_TRUE(testing_support::valid_utf8(result.err_line)) << result.err_line;
  }
}

// 1.16 with the lxd or libvirt driver prints a deprecation banner before
// anything else, and -v logging adds log lines: the reported line is the
// one that says what failed.
TEST(process_runner_test, the_reported_stderr_line_says_what_failed) {
  fake_cli cli;
  const std::string banner =
      "*** Warning! The lxd driver is deprecated and will be removed in an "
      "future release. ***";
  struct case_ {
    std::string stderr_text;
    std::string line;
  };
  const std::vector<case_> cases = {
      {banner + "\nlist failed: IP not available\n",
       "list failed: IP not available"},
      {"\n  " + banner + "\n[2026-01-02T10:00:00.000] [warning] [daemon] slow\n"
       "list failed: cannot connect to the multipass socket\nPlease ensure "
       "multipassd is running\n",
       "list failed: cannot connect to the multipass socket"},
      {banner + "\nUnknown option 'no-ipv4'.\n", "Unknown option 'no-ipv4'."},
      {"[info] [client] starting\n[error] [client] Caught an unhandled "
       "exception: missing port number in address 'foo'\n",
       "[error] [client] Caught an unhandled exception: missing port number "
       "in address 'foo'"},
      {banner + "\n", banner},  // nothing else: better than nothing
  };
  for (const case_& c : cases) {
    testing_support::write_text(cli.dir() + "/stderr.txt", c.stderr_text);
    const std::string cli_script =
        script(cli.dir(), "cli", "cat '" + cli.dir() + "/stderr.txt' >&2; exit 2");
    run_result result = run_process(cli_script, list_args, quick());
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_EQ(result.err_line, c.line) << c.stderr_text;
  }
  // The stand-in playing main with the banner, while a VM boots.
  testing_support::write_text(cli.dir() + "/timeline",
                              "cli main\nbanner\n0 boot Running N/A\n");
  run_result result = run_process(fake_cli::binary(), list_args, quick());
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err_line, "list failed: IP not available");
}

TEST(process_runner_test, hang_is_killed_at_the_deadline) {
  fake_cli cli;
  cli.set_mode("hang");
  run_result result = run_process(fake_cli::binary(), list_args, quick(2s));
  EXPECT_EQ(result.status, run_status::timed_out);
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.reason.find("timed out"), std::string::npos)
      << result.reason;
  auto runs = cli.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_TRUE(testing_support::process_gone(
      std::stoi(fake_cli::field(runs[0], "pid"))));
  EXPECT_TRUE(no_children_left());
}

TEST(process_runner_test, deadline_kills_the_whole_process_group) {
  fake_cli cli;
  cli.set_mode("hang-child");
  run_result result = run_process(fake_cli::binary(), list_args, quick(3s));
  EXPECT_EQ(result.status, run_status::timed_out);
  pid_t child = cli.child_pid();
  ASSERT_GT(child, 0) << "the stand-in wrote no child.pid";
  // The grandchild is killed with the group; its reaper is PID 1, so allow
  // it a moment to disappear (liveness bound only).
  EXPECT_TRUE(testing_support::eventually(
      [&] { return testing_support::process_gone(child); }, 10s));
  EXPECT_TRUE(no_children_left());
}

TEST(process_runner_test, output_over_the_cap_fails_and_kills) {
  fake_cli cli;
  cli.set_mode("huge:1");
  run_options options = quick();
  options.max_output_bytes = 64 * 1024;
  run_result result = run_process(fake_cli::binary(), list_args, options);
  EXPECT_EQ(result.status, run_status::output_too_large);
  EXPECT_TRUE(result.out.empty());
  EXPECT_TRUE(no_children_left());

  // The same output fits under the default 16 MiB cap.
  result = run_process(fake_cli::binary(), list_args, quick());
  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_GT(result.out.size(), 1u << 20);
}

TEST(process_runner_test, output_exactly_at_the_cap_is_accepted) {
  fake_cli cli;
  std::string listing = testing_support::fixture("list-one-running.json");
  cli.set_listing(listing);
  run_options options = quick();
  options.max_output_bytes = listing.size();
  EXPECT_TRUE(run_process(fake_cli::binary(), list_args, options).ok());
  options.max_output_bytes = listing.size() - 1;
  EXPECT_EQ(run_process(fake_cli::binary(), list_args, options).status,
            run_status::output_too_large);
}

TEST(process_runner_test, missing_binary_is_not_found) {
  fake_cli cli;
  run_result result =
      run_process(cli.dir() + "/no-such-multipass", list_args, quick());
  EXPECT_EQ(result.status, run_status::not_found);
  EXPECT_FALSE(result.started);
  EXPECT_NE(result.reason.find("no-such-multipass"), std::string::npos);

  path_override path(cli.dir());
  result = run_process("no-such-multipass", list_args, quick());
  EXPECT_EQ(result.status, run_status::not_found);
  EXPECT_NE(result.reason.find("PATH"), std::string::npos) << result.reason;
}

TEST(process_runner_test, file_without_execute_permission_is_not_executable) {
  fake_cli cli;
  std::string plain =
      script(cli.dir(), "multipass", "echo hi", /*executable=*/false);
  run_result result = run_process(plain, list_args, quick());
  EXPECT_EQ(result.status, run_status::not_executable);
  EXPECT_FALSE(result.started);

  path_override path(cli.dir());
  result = run_process("multipass", list_args, quick());
  EXPECT_EQ(result.status, run_status::not_executable);

  result = run_process(cli.dir(), list_args, quick());  // a directory
  EXPECT_EQ(result.status, run_status::not_executable);
}

TEST(process_runner_test, name_without_slash_is_searched_in_path_at_each_run) {
  fake_cli cli;
  std::string bin = cli.dir() + "/bin";
  ASSERT_EQ(::mkdir(bin.c_str(), 0755), 0);
  ASSERT_EQ(::symlink(fake_cli::binary().c_str(), (bin + "/multipass").c_str()),
            0);
  const char* old_path = ::getenv("PATH");
  {
    path_override path(bin + ":" + (old_path ? old_path : "/usr/bin:/bin"));
    EXPECT_TRUE(run_process("multipass", list_args, quick()).ok());
  }
  {
    path_override path(cli.dir() + "/nowhere");
    EXPECT_EQ(run_process("multipass", list_args, quick()).status,
              run_status::not_found);
  }
}

// Changes the working directory while alive.
class working_directory {
 public:
  explicit working_directory(const std::string& dir) {
    char here[4096];
    if (::getcwd(here, sizeof here)) old_ = here;
    changed_ = ::chdir(dir.c_str()) == 0;
  }
  ~working_directory() {
    if (!old_.empty() && ::chdir(old_.c_str()) != 0)
      std::fprintf(stderr, "could not return to %s\n", old_.c_str());
  }
  bool changed() const { return changed_; }

 private:
  std::string old_;
  bool changed_ = false;
};

TEST(process_runner_test, empty_path_entries_are_not_the_working_directory) {
  fake_cli cli;
  ASSERT_EQ(::symlink(fake_cli::binary().c_str(),
                      (cli.dir() + "/multipass").c_str()),
            0);
  working_directory cwd(cli.dir());  // ./multipass exists and would run
  ASSERT_TRUE(cwd.changed());
  const std::string nowhere = cli.dir() + "/nowhere";
  for (const std::string& path :
       {std::string(), std::string(":"), ":" + nowhere,
        nowhere + "::" + nowhere, nowhere + ":"}) {
    path_override override_path(path);
    run_result result = run_process("multipass", list_args, quick());
    EXPECT_EQ(result.status, run_status::not_found) << "PATH=" << path;
    EXPECT_FALSE(result.started) << "PATH=" << path;
  }
  // Nor are relative entries, as Go's exec.LookPath: "." and "./", and a
  // folder below the working directory.
  ASSERT_EQ(::mkdir((cli.dir() + "/bin").c_str(), 0755), 0);
  ASSERT_EQ(::symlink(fake_cli::binary().c_str(),
                      (cli.dir() + "/bin/multipass").c_str()),
            0);
  for (const std::string& path :
       {":" + nowhere + "::.:", std::string("./"), std::string("bin"),
        "bin:" + nowhere}) {
    path_override relative(path);
    run_result result = run_process("multipass", list_args, quick());
    EXPECT_EQ(result.status, run_status::not_found) << "PATH=" << path;
  }
  // An absolute entry for the same folder works.
  path_override absolute(nowhere + ":" + cli.dir() + "/bin");
  EXPECT_TRUE(run_process("multipass", list_args, quick()).ok());
  EXPECT_EQ(cli.run_count(), 1u);
}

TEST(process_runner_test, a_relative_program_path_is_never_run) {
  fake_cli cli;
  ASSERT_EQ(::mkdir((cli.dir() + "/bin").c_str(), 0755), 0);
  ASSERT_EQ(::symlink(fake_cli::binary().c_str(),
                      (cli.dir() + "/bin/multipass").c_str()),
            0);
  working_directory cwd(cli.dir());  // both would resolve from here
  ASSERT_TRUE(cwd.changed());
  for (const char* program : {"./bin/multipass", "bin/multipass"}) {
    run_result result = run_process(program, list_args, quick());
    EXPECT_EQ(result.status, run_status::not_found) << program;
    EXPECT_FALSE(result.started) << program;
    EXPECT_NE(result.reason.find("relative path"), std::string::npos)
        << result.reason;
    EXPECT_EQ(program_identity(program), "") << program;
  }
  EXPECT_EQ(cli.run_count(), 0u);
}

// Sets environment variables while alive, restoring what was there.
class environment_override {
 public:
  explicit environment_override(
      std::vector<std::pair<std::string, std::string>> values) {
    for (const auto& kv : values) {
      const char* old = ::getenv(kv.first.c_str());
      saved_.push_back({kv.first, old ? old : "", old != nullptr});
      ::setenv(kv.first.c_str(), kv.second.c_str(), 1);
    }
  }
  ~environment_override() {
    for (const saved& s : saved_) {
      if (s.had) {
        ::setenv(s.name.c_str(), s.value.c_str(), 1);
      } else {
        ::unsetenv(s.name.c_str());
      }
    }
  }

 private:
  struct saved {
    std::string name, value;
    bool had;
  };
  std::vector<saved> saved_;
};

#if defined(__linux__) && defined(PR_CAP_AMBIENT)
// A service gives CoreDNS CAP_NET_BIND_SERVICE as an ambient capability
// (docs/service.md); the CLI must not inherit it.
TEST(process_runner_test, the_child_gets_no_ambient_capability) {
  if (::geteuid() != 0) GTEST_SKIP() << "raising an ambient capability needs root";
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  ASSERT_EQ(::syscall(SYS_capget, &header, data), 0);
  data[0].inheritable |= 1u << CAP_NET_BIND_SERVICE;
  ASSERT_EQ(::syscall(SYS_capset, &header, data), 0);
  // Ambient capabilities are per thread: the runner forks from this one.
  ASSERT_EQ(::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE,
                    0, 0),
            0);
  const std::string read_caps = "grep '^CapAmb:' /proc/self/status";
  run_result result = run_process("/bin/sh", {"-c", read_caps}, quick());
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_EQ(result.out.view(), "CapAmb:\t0000000000000000\n");
}
#endif

TEST(process_runner_test, the_child_gets_only_the_allowed_environment) {
  environment_override env({
      {"HOME", "/home/someone"},
      {"USER", "someone"},
      {"LC_TIME", "C"},
      {"XDG_RUNTIME_DIR", "/run/user/1000"},
      {"MULTIPASS_SERVER_ADDRESS", "unix:/tmp/x"},
      {"SNAP_USER_COMMON", "/home/someone/snap/x/common"},
      {"LD_PRELOAD", "/tmp/evil.so"},
      {"LD_LIBRARY_PATH", "/tmp/evil"},
      {"AWS_SECRET_ACCESS_KEY", "hunter2"},
      {"https_proxy", "http://proxy:3128"},
      {"COREDNS_SOMETHING", "1"},
  });
  run_options options = quick();
  options.env.emplace_back("MULTIPASS_SERVER_ADDRESS", "10.0.0.5:51001");
  run_result result = run_process("/usr/bin/env", {}, options);
  ASSERT_TRUE(result.ok()) << result.reason;
  std::set<std::string> names;
  std::istringstream lines{std::string(result.out.view())};
  for (std::string line; std::getline(lines, line);) {
    names.insert(line.substr(0, line.find('=')));
    if (line.rfind("MULTIPASS_SERVER_ADDRESS=", 0) == 0) {
      EXPECT_EQ(line, "MULTIPASS_SERVER_ADDRESS=10.0.0.5:51001");
    }
  }
  for (const char* kept : {"PATH", "HOME", "USER", "LC_TIME",
                           "XDG_RUNTIME_DIR", "MULTIPASS_SERVER_ADDRESS",
                           "SNAP_USER_COMMON"}) {
    EXPECT_EQ(names.count(kept), 1u) << kept;
  }
  for (const char* dropped : {"LD_PRELOAD", "LD_LIBRARY_PATH",
                              "AWS_SECRET_ACCESS_KEY", "https_proxy",
                              "COREDNS_SOMETHING"}) {
    EXPECT_EQ(names.count(dropped), 0u) << dropped;
  }
}

TEST(process_runner_test, abort_flag_kills_a_running_child) {
  fake_cli cli;
  cli.set_mode("hang");
  std::atomic<bool> abort{false};
  run_options options = quick(60s);
  options.abort = &abort;
  auto running = std::async(std::launch::async, [&] {
    return run_process(fake_cli::binary(), list_args, options);
  });
  ASSERT_TRUE(
      testing_support::eventually([&] { return cli.run_count() == 1; }));
  abort = true;
  ASSERT_EQ(running.wait_for(30s), std::future_status::ready);
  run_result result = running.get();
  EXPECT_EQ(result.status, run_status::aborted);
  EXPECT_TRUE(testing_support::process_gone(
      std::stoi(fake_cli::field(cli.runs()[0], "pid"))));
  EXPECT_TRUE(no_children_left());
}

TEST(process_runner_test, stdin_is_the_null_device) {
  fake_cli cli;
  // `cat` would block for ever on an inherited terminal or pipe.
  std::string cat = script(cli.dir(), "cat-stdin", "exec cat");
  run_result result = run_process(cat, {}, quick(20s));
  EXPECT_TRUE(result.ok()) << result.reason;
  EXPECT_TRUE(result.out.empty());
}

TEST(process_runner_test, death_by_signal_is_reported) {
  fake_cli cli;
  std::string suicide = script(cli.dir(), "suicide", "kill -9 $$");
  run_result result = run_process(suicide, {}, quick());
  EXPECT_EQ(result.status, run_status::killed);
  EXPECT_EQ(result.signal, SIGKILL);
  EXPECT_FALSE(result.ok());
}

TEST(process_runner_test, arguments_are_passed_verbatim_without_a_shell) {
  fake_cli cli;
  std::string echo = script(cli.dir(), "echo-args",
                            "for a in \"$@\"; do printf '[%s]' \"$a\"; done");
  run_result result = run_process(echo, {"a b", "$HOME", "*", ""}, quick());
  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_EQ(result.out.view(), "[a b][$HOME][*][]");
}

#if defined(__linux__)
TEST(process_runner_test, child_starts_with_an_empty_signal_mask) {
  // grep is executed directly: a shell would clear the mask itself.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
  run_result result =
      run_process("grep", {"SigBlk", "/proc/self/status"}, quick());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_NE(result.out.view().find("0000000000000000"), std::string::npos)
      << result.out.str();
}

#endif

// Runs `body` in a forked child (it ends with _exit or a signal) and returns
// the child's wait status, or -1 when fork or waitpid failed.
int wait_status_of_forked(void (*body)()) {
  pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(100);
  }
  int status = -1;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return status;
}

// A disposition with an empty mask and no flags.
struct sigaction disposition(void (*handler)(int)) {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  sigemptyset(&action.sa_mask);
  action.sa_handler = handler;
  return action;
}

// The child's signal setup, run in a forked child of the test: a signal that
// is pending when the mask is emptied must meet the default disposition,
// never the handler inherited from the host (Go's, in CoreDNS).
TEST(process_runner_test, child_resets_handlers_before_unblocking_signals) {
  int status = wait_status_of_forked([] {
    struct sigaction host_handler = disposition([](int) { ::_exit(3); });
    ::sigaction(SIGUSR1, &host_handler, nullptr);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    ::sigprocmask(SIG_BLOCK, &usr1, nullptr);
    ::raise(SIGUSR1);  // pending until the mask is emptied
    detail::reset_child_signals();
    ::_exit(0);  // not reached: SIGUSR1's default action ends the process
  });
  ASSERT_NE(status, -1);
  ASSERT_FALSE(WIFEXITED(status))
      << "exit " << WEXITSTATUS(status) << " (3: the host's handler ran)";
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGUSR1);
}

// Every caught signal gets its default disposition back; SIGPIPE and SIGTERM
// also when ignored; other ignored signals stay ignored (as exec keeps them).
TEST(process_runner_test, child_gets_default_dispositions_for_caught_signals) {
  int status = wait_status_of_forked([] {
    struct sigaction action = disposition([](int) {});
    for (int sig : {SIGHUP, SIGINT, SIGCHLD, SIGURG, SIGWINCH})
      ::sigaction(sig, &action, nullptr);
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    action.sa_sigaction = [](int, siginfo_t*, void*) {};
    ::sigaction(SIGUSR2, &action, nullptr);
    ::sigaction(SIGPROF, &action, nullptr);
    action = disposition(SIG_IGN);
    for (int sig : {SIGPIPE, SIGTERM, SIGQUIT})
      ::sigaction(sig, &action, nullptr);
    detail::reset_child_signals();
    int wrong = 0;  // a bit per signal that is not as expected
    int bit = 0;
    for (int sig : {SIGHUP, SIGINT, SIGCHLD, SIGURG, SIGWINCH, SIGUSR2,
                    SIGPROF, SIGPIPE, SIGTERM}) {
      struct sigaction now;
      ::sigaction(sig, nullptr, &now);
      if ((now.sa_flags & SA_SIGINFO) || now.sa_handler != SIG_DFL)
        wrong |= 1 << bit;
      ++bit;
    }
    struct sigaction quit;
    ::sigaction(SIGQUIT, nullptr, &quit);
    if (quit.sa_handler != SIG_IGN) wrong |= 1 << bit;
    ::_exit(wrong);
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "bits of HUP INT CHLD URG WINCH USR2 PROF PIPE TERM, QUIT ignored";
}

#if defined(__linux__)
TEST(process_runner_test, deadline_works_while_the_caller_blocks_sigterm) {
  fake_cli cli;
  cli.set_mode("hang");
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
  run_result result = run_process(fake_cli::binary(), list_args, quick(300ms));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  EXPECT_EQ(result.status, run_status::timed_out);
  EXPECT_TRUE(no_children_left());
}

TEST(process_runner_test, no_descriptor_leaks_in_any_path) {
  fake_cli cli;
  size_t before = open_fds();
  for (const char* mode : {"ok", "no-daemon", "hang", "garbage", "empty"}) {
    cli.set_mode(mode);
    run_process(fake_cli::binary(), list_args, quick(200ms));
  }
  cli.set_mode("huge:1");
  run_options small = quick();
  small.max_output_bytes = 1024;
  run_process(fake_cli::binary(), list_args, small);
  run_process(cli.dir() + "/missing", list_args, quick());
  EXPECT_EQ(open_fds(), before);
  EXPECT_TRUE(no_children_left());
}

// What the parent's inheritable (not close-on-exec) descriptors point to.
std::set<std::string> inheritable_targets() {
  std::set<std::string> targets;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return targets;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    int fd = std::atoi(entry->d_name);
    int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || (flags & FD_CLOEXEC)) continue;
    char target[256];
    ssize_t n =
        ::readlink((std::string("/proc/self/fd/") + entry->d_name).c_str(),
                   target, sizeof target - 1);
    if (n > 0) targets.insert(std::string(target, static_cast<size_t>(n)));
  }
  ::closedir(dir);
  return targets;
}

TEST(process_runner_test, child_inherits_no_pipe_of_another_run) {
  fake_cli cli;
  std::set<std::string> allowed = inheritable_targets();
  // Run A hangs with its pipes open while run B starts: B must not get A's
  // pipe ends (they are close-on-exec), or A's EOF would wait for B.
  cli.set_mode("hang");
  std::atomic<bool> abort{false};
  run_options options = quick(60s);
  options.abort = &abort;
  auto hanging = std::async(std::launch::async, [&] {
    return run_process(fake_cli::binary(), list_args, options);
  });
  ASSERT_TRUE(
      testing_support::eventually([&] { return cli.run_count() == 1; }));
  // B prints what its descriptors other than stdio point to.
  std::string fds =
      script(cli.dir(), "fds",
             "for f in /proc/$$/fd/*; do case ${f##*/} in 0|1|2) ;; "
             "*) readlink \"$f\" ;; esac; done; true");
  run_result result = run_process(fds, {}, quick());
  abort = true;
  ASSERT_EQ(hanging.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(hanging.get().status, run_status::aborted);
  ASSERT_TRUE(result.ok()) << result.reason;
  std::istringstream lines(result.out.str());
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("pipe:", 0) == 0) {
      EXPECT_EQ(allowed.count(line), 1u) << line;
    }
  }
}
#endif

}  // namespace
}  // namespace multipass
