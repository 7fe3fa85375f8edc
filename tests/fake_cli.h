// Test helpers around the stand-in CLI (tests/fake-multipass/multipass):
// a private control directory, its mode and listing, its run log, a check
// that a process is gone, and a hostile listing to serve.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace multipass {
namespace testing_support {

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

inline std::string fixture(const std::string& name) {
  return read_text(std::string(FIXTURES_DIR) + "/" + name);
}

// Writes atomically (temporary file + rename): a running CLI never sees half.
inline void write_text(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("rename " + path);
}

// The hostile listing of issue 10: `names` running VMs "vm-0", "vm-1", ...,
// each followed by its name again in upper case ("VM-0", no address). About
// 100 octets per name: 120,000 names make 12 MB, under the 16 MiB cap.
inline std::string listing_with_case_duplicates(size_t names) {
  std::string text = "{\"list\": [\n";
  for (size_t i = 0; i < names; ++i) {
    const std::string number = std::to_string(i);
    const std::string address = "10." + std::to_string(i >> 16) + "." +
                                std::to_string((i >> 8) & 255) + "." +
                                std::to_string(i & 255);
    text += i == 0 ? "" : ",\n";
    text += "{\"ipv4\":[\"" + address + "\"],\"name\":\"vm-" + number +
            "\",\"state\":\"Running\"},\n";
    text += "{\"name\":\"VM-" + number + "\",\"state\":\"Running\"}";
  }
  return text + "\n]}\n";
}

// Polls `done` every 10 ms for up to `limit` (a liveness bound, not a timing
// assertion). Returns its last value.
inline bool eventually(
    const std::function<bool()>& done,
    std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// True when `pid` no longer runs: it does not exist, or it is a zombie
// waiting for a reaper that is not us (in containers PID 1 may never reap).
inline bool process_gone(pid_t pid) {
  if (pid <= 0) return true;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
#if defined(__linux__)
  std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  size_t paren = stat.rfind(')');
  if (paren != std::string::npos && paren + 2 < stat.size()) {
    char state = stat[paren + 2];
    return state == 'Z' || state == 'X';
  }
#endif
  return false;
}

// A listing as multipass prints it, for tests that build their own.
inline std::string vm_json(const std::string& name, const std::string& state,
                           const std::string& address) {
  std::string ipv4 =
      address.empty() ? "[\n            ]"
                      : "[\n                \"" + address + "\"\n            ]";
  return "        {\n            \"ipv4\": " + ipv4 +
         ",\n            \"name\": \"" + name +
         "\",\n            \"release\": \"Ubuntu 24.04 LTS\",\n            "
         "\"state\": \"" +
         state + "\"\n        }";
}

inline std::string listing(const std::vector<std::string>& vms) {
  std::string out = "{\n    \"list\": [\n";
  for (size_t i = 0; i < vms.size(); ++i) out += (i ? ",\n" : "") + vms[i];
  return out + "\n    ]\n}\n";
}

// A private control directory for the stand-in; sets MULTIPASS_FAKE_DIR for
// every CLI this process starts while it lives.
class fake_cli {
 public:
  fake_cli() {
    char tmpl[] = "/tmp/multipass-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
    ::setenv("MULTIPASS_FAKE_DIR", dir_.c_str(), 1);
  }
  ~fake_cli() {
    ::unsetenv("MULTIPASS_FAKE_DIR");
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (std::system(cmd.c_str()) != 0)
      std::fprintf(stderr, "could not remove %s\n", dir_.c_str());
  }
  fake_cli(const fake_cli&) = delete;
  fake_cli& operator=(const fake_cli&) = delete;

  static std::string binary() { return FAKE_MULTIPASS; }
  const std::string& dir() const { return dir_; }

  void set_mode(const std::string& mode) const {
    write_text(dir_ + "/mode", mode + "\n");
  }
  void set_listing(const std::string& json) const {
    write_text(dir_ + "/list.json", json);
  }
  void set_fixture(const std::string& name) const {
    set_listing(fixture(name));
  }
  // Plays a lifecycle instead of list.json (see the stand-in's README,
  // "Timeline"); its clock starts now, at the file's modification.
  void set_timeline(const std::string& text) const {
    write_text(dir_ + "/timeline", text);
  }

  // The lines of runs.log: one per CLI run.
  std::vector<std::string> runs() const {
    std::vector<std::string> lines;
    std::istringstream in(read_text(dir_ + "/runs.log"));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) lines.push_back(line);
    }
    return lines;
  }
  size_t run_count() const { return runs().size(); }
  // The kind of each run, in order: "full" (`list --format=json`) or
  // "probe" (the cheap listing, `--no-ipv4`), from the run log's `kind=`.
  std::vector<std::string> kinds() const {
    std::vector<std::string> out;
    for (const std::string& line : runs()) out.push_back(field(line, "kind"));
    return out;
  }
  // Runs of one kind.
  size_t run_count(const std::string& kind) const {
    const std::vector<std::string> all = kinds();
    return static_cast<size_t>(std::count(all.begin(), all.end(), kind));
  }

  // What each guest session of a full listing costs the stand-in (the
  // listing sleeps that long per Running VM before it prints).
  void set_guest_delay_ms(double ms) const {
    write_text(dir_ + "/guest-delay-ms", std::to_string(ms) + "\n");
  }

  // Makes the stand-in a CLI older than --no-ipv4 (or a current one again).
  void set_old_cli(bool old) const {
    if (old) {
      write_text(dir_ + "/old-cli", "1\n");
    } else {
      std::remove((dir_ + "/old-cli").c_str());
    }
  }

  // The value of `key=` in a run-log line ("pid", "pgid", "server_address").
  static std::string field(const std::string& line, const std::string& key) {
    std::string needle = key + "=";
    size_t at = line.find(needle);
    if (at == std::string::npos) return {};
    at += needle.size();
    size_t end = line.find(' ', at);
    return line.substr(at,
                       end == std::string::npos ? std::string::npos : end - at);
  }

  // The pid the stand-in wrote in mode hang-child, or 0.
  pid_t child_pid() const {
    std::string text = read_text(dir_ + "/child.pid");
    return text.empty() ? 0 : static_cast<pid_t>(std::stol(text));
  }

 private:
  std::string dir_;
};

}  // namespace testing_support
}  // namespace multipass
