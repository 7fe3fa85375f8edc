// What the source says about its listings, and how it says it once: a
// private spdlog logger whose lines go into the source's log queue (and wake
// the embedder), with the rules that keep a flapping or failing CLI from
// flooding the log: a failure is logged once per kind (at ERROR, or at
// WARNING while cheap listings keep names and states current), again only
// after a quiet period; its recovery once at INFO; a listing's warnings once
// per change; what the CLI wrote on stderr when it changes; the old-CLI
// state once at INFO. No decision of the source depends on this state.
// Not thread-safe: the refresher (under the source's run_mu) calls it.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "inventory.h"
#include "listing_parser.h"
#include "log_queue.h"
#include "process_runner.h"
#include "wakeup_pipe.h"

namespace spdlog {
class logger;
}

namespace multipass::detail {

class listing_log {
 public:
  using clock = std::chrono::steady_clock;

  // A failure of a kind already logged less than this long ago (a CLI that
  // flaps between working and failing) is logged at DEBUG, and so is its
  // recovery: at most one such line per kind per quiet period.
  static constexpr std::chrono::minutes repeat_quiet{5};
  static constexpr size_t kinds_remembered = 16;  // kinds kept for that

  // Lines go into `queue`, each followed by a wake-up through `wake`.
  listing_log(log_queue& queue, wakeup_pipe& wake);
  ~listing_log();
  listing_log(const listing_log&) = delete;
  listing_log& operator=(const listing_log&) = delete;

  // A full listing loaded (`first`: the first ever; `now`: the inventory
  // served after it, `changed` when its content changed): the first load, a
  // recovery, or a change; then the listing's new warnings and a changed
  // stderr line.
  void loaded(bool first, const std::string& binary, const parsed_listing& parsed,
              const run_result& run, const inventory& now, bool changed);
  // A listing failed. `kind` tells failures apart (see failure_kind);
  // `loaded`: an inventory is served (`instances` VMs); `cheap_keeps_up`:
  // a full listing failed while cheap listings work.
  void failed(const std::string& kind, const std::string& text, bool loaded,
              bool cheap_keeps_up, size_t instances);
  // A cheap listing was applied while full listings fail or before the
  // full listing that follows it.
  void applied(const inventory& now);
  // The CLI rejected --no-ipv4 (the old-CLI state): INFO the first time,
  // DEBUG at every later check.
  void old_cli(const std::string& binary, const std::string& err_line);
  // It took the flag again (an upgrade): cheap listings resume.
  void new_cli(const std::string& binary);
  // An old CLI is asked for the flag again.
  void asking_again(const std::string& binary);

  // What tells two failures of a run apart for the rules above.
  static std::string failure_kind(const run_result& run);

 private:
  struct reported_kind {
    std::string kind;
    clock::time_point at;  // last logged at ERROR/WARNING
    uint64_t quiet = 0;    // failures of the kind since, at DEBUG
  };

  std::shared_ptr<spdlog::logger> log_;
  std::string failure_;  // kind of the failure in progress; empty when fine
  clock::time_point failing_since_;
  bool announced_ = false;  // the failure in progress was logged above DEBUG
  std::vector<reported_kind> reported_;  // most recently reported last
  // The last loaded listing's warnings, all logged: a warning that comes
  // again in the next listing is not logged again.
  std::unordered_set<std::string> last_warnings_;
  std::string last_stderr_;
  bool told_old_cli_ = false;
};

}  // namespace multipass::detail
