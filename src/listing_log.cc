// What the source says about its listings (see listing_log.h).
#include "listing_log.h"

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "multipass/multipass.h"

namespace multipass::detail {
namespace {

// Pushes the bare message (no time, no level prefix) into the log queue and
// wakes the embedder.
class queue_sink final
    : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  queue_sink(log_queue& queue, wakeup_pipe& wake)
      : queue_(queue), wake_(wake) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    queue_.push(level_of(msg.level),
                std::string(msg.payload.data(), msg.payload.size()));
    wake_.notify();
  }
  void flush_() override {}

 private:
  static int level_of(spdlog::level::level_enum level) {
    switch (level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        return MULTIPASS_LOG_DEBUG;
      case spdlog::level::info:
        return MULTIPASS_LOG_INFO;
      case spdlog::level::warn:
        return MULTIPASS_LOG_WARNING;
      default:
        return MULTIPASS_LOG_ERROR;
    }
  }

  log_queue& queue_;
  wakeup_pipe& wake_;
};

double seconds_between(listing_log::clock::time_point from,
                       listing_log::clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

constexpr std::chrono::minutes listing_log::repeat_quiet;
constexpr size_t listing_log::kinds_remembered;

listing_log::listing_log(log_queue& queue, wakeup_pipe& wake)
    : log_(std::make_shared<spdlog::logger>(
          "multipass", std::make_shared<queue_sink>(queue, wake))) {
  log_->set_level(spdlog::level::debug);
}

listing_log::~listing_log() = default;

std::string listing_log::failure_kind(const run_result& run) {
  std::string kind = std::to_string(static_cast<int>(run.status));
  if (run.status == run_status::exited)
    kind += " " + std::to_string(run.exit_code) + " " + run.err_line;
  if (run.status == run_status::killed)
    kind += " " + std::to_string(run.signal);
  return kind;
}

void listing_log::loaded(bool first, const std::string& binary,
                         const parsed_listing& parsed, const run_result& run,
                         const inventory& now, bool changed) {
  if (first) {
    log_->info("loaded {} instances from {}", now.vms.size(), binary);
  } else if (!failure_.empty()) {
    char lasted[32];
    std::snprintf(lasted, sizeof lasted, "%.1f",
                  seconds_between(failing_since_, clock::now()));
    log_->log(announced_ ? spdlog::level::info : spdlog::level::debug,
              "multipass list works again after {} s of failures; {} "
              "instances listed",
              lasted, now.vms.size());
  } else if (changed) {
    log_->debug("inventory changed: {} instances, serial {}", now.vms.size(),
                now.serial);
  }
  failure_.clear();
  std::unordered_set<std::string> warnings;
  warnings.reserve(parsed.warnings.size());
  for (const std::string& warning : parsed.warnings) {
    const bool first_in_listing = warnings.insert(warning).second;
    if (first_in_listing && last_warnings_.count(warning) == 0)
      log_->warn("{}", warning);
  }
  last_warnings_ = std::move(warnings);
  if (run.err_line != last_stderr_) {
    if (!run.err_line.empty())
      log_->debug("multipass list wrote to stderr: {}", run.err_line);
    last_stderr_ = run.err_line;
  }
}

void listing_log::failed(const std::string& kind, const std::string& text,
                         bool loaded, bool cheap_keeps_up, size_t instances) {
  if (kind == failure_) {
    log_->debug("{} (again)", text);
    return;
  }
  const auto now = clock::now();
  if (failure_.empty()) {
    failing_since_ = now;
    announced_ = false;
  }
  failure_ = kind;
  auto seen = std::find_if(reported_.begin(), reported_.end(),
                           [&](const reported_kind& r) { return r.kind == kind; });
  if (seen != reported_.end() && now - seen->at < repeat_quiet) {
    ++seen->quiet;
    log_->debug("{} (again; reported {:.0f} s ago)", text,
                seconds_between(seen->at, now));
    return;
  }
  std::string since;
  if (seen != reported_.end()) {
    if (seen->quiet > 0) {
      since = "; it failed this way " + std::to_string(seen->quiet) +
              " more times since it was last reported";
    }
    reported_.erase(seen);
  } else if (reported_.size() >= kinds_remembered) {
    reported_.erase(reported_.begin());
  }
  reported_.push_back({kind, now, 0});
  announced_ = true;
  if (loaded && cheap_keeps_up) {
    // Names and states stay current: a warning, not an error.
    log_->warn(
        "{}; names and states stay current through list --no-ipv4, "
        "addresses are those of the last listing that worked; full listings "
        "back off, every probe interval doubling up to the refresh "
        "interval{}",
        text, since);
  } else if (loaded) {
    log_->error("{}; serving the last good inventory of {} instances{}", text,
                instances, since);
  } else {
    log_->error("{}; no inventory has loaded yet{}", text, since);
  }
}

void listing_log::applied(const inventory& now) {
  log_->debug("names and states from list --no-ipv4 applied: {} instances, "
              "serial {}",
              now.vms.size(), now.serial);
}

void listing_log::old_cli(const std::string& binary,
                          const std::string& err_line) {
  log_->log(told_old_cli_ ? spdlog::level::debug : spdlog::level::info,
            "{} does not know list --no-ipv4 (\"{}\"): an older multipass; "
            "using full listings instead, every probe interval (at least "
            "5 s); asking again after an upgrade or an hour",
            binary, err_line);
  told_old_cli_ = true;
}

void listing_log::new_cli(const std::string& binary) {
  log_->info("{} now takes list --no-ipv4: cheap listings resume", binary);
}

void listing_log::asking_again(const std::string& binary) {
  log_->debug("asking {} for list --no-ipv4 again", binary);
}

}  // namespace multipass::detail
