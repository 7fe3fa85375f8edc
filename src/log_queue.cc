// The bounded log queue between the core and the embedder's drainer.
#include "log_queue.h"

#include <utility>

#include "text_cut.h"

namespace multipass {

void log_queue::push(int level, std::string text) {
  detail::cut_text(text, max_line_bytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;  // the drainer has gone: nobody is left to tell
    if (lines_.size() >= capacity_) {
      ++dropped_;
      return;
    }
    lines_.push_back(log_line{level, std::move(text), dropped_});
    dropped_ = 0;
  }
  cv_.notify_one();
}

log_queue::pop_result log_queue::pop(std::chrono::milliseconds wait,
                                     log_line* out) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, wait, [this] { return !lines_.empty() || closed_; });
  if (!lines_.empty()) {
    *out = std::move(lines_.front());
    lines_.pop_front();
    return pop_result::line;
  }
  if (dropped_ > 0) {
    // Drops that no later line reported: an entry with no text carries them,
    // so that none is lost silently (also after close()).
    *out = log_line{MULTIPASS_LOG_WARNING, std::string(), dropped_};
    dropped_ = 0;
    return pop_result::line;
  }
  return closed_ ? pop_result::closed : pop_result::empty;
}

void log_queue::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace multipass
