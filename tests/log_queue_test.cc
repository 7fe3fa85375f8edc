// The bounded log queue between the core and its drainer.
#include "log_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "multipass/multipass.h"
#include "utf8.h"

namespace multipass {
namespace {

using namespace std::chrono_literals;

TEST(log_queue_test, lines_come_out_in_order_with_their_levels) {
  log_queue queue;
  queue.push(MULTIPASS_LOG_INFO, "one");
  queue.push(MULTIPASS_LOG_ERROR, "two");
  log_line line;
  ASSERT_EQ(queue.pop(0ms, &line), log_queue::pop_result::line);
  EXPECT_EQ(line.level, MULTIPASS_LOG_INFO);
  EXPECT_EQ(line.text, "one");
  EXPECT_EQ(line.dropped, 0u);
  ASSERT_EQ(queue.pop(0ms, &line), log_queue::pop_result::line);
  EXPECT_EQ(line.level, MULTIPASS_LOG_ERROR);
  EXPECT_EQ(line.text, "two");
  EXPECT_EQ(queue.pop(0ms, &line), log_queue::pop_result::empty);
}

TEST(log_queue_test, long_lines_are_cut_to_what_an_entry_holds_with_a_marker) {
  const std::string ellipsis = "\xE2\x80\xA6";
  // The C ABI hands out every line whole: the text and its NUL fit.
  static_assert(log_queue::max_line_bytes + 1 ==
                sizeof(multipass_log_entry_t::text));
  log_queue queue;
  const std::string fits(log_queue::max_line_bytes, 'a');
  queue.push(MULTIPASS_LOG_ERROR, fits);
  queue.push(MULTIPASS_LOG_ERROR, fits + "b");
  queue.push(MULTIPASS_LOG_ERROR, std::string(15u << 20, 'c'));
  log_line line;
  ASSERT_EQ(queue.pop(0ms, &line), log_queue::pop_result::line);
  EXPECT_EQ(line.text, fits);  // at the limit: whole
  ASSERT_EQ(queue.pop(0ms, &line), log_queue::pop_result::line);
  EXPECT_EQ(line.text, std::string(1020, 'a') + ellipsis);
  ASSERT_EQ(queue.pop(0ms, &line), log_queue::pop_result::line);
  EXPECT_EQ(line.text, std::string(1020, 'c') + ellipsis);
  EXPECT_EQ(line.text.size(), log_queue::max_line_bytes);
}

TEST(log_queue_test, a_cut_never_splits_a_utf8_sequence) {
  std::string accents;  // "é" is two octets: 0xC3 0xA9
  while (accents.size() < 2000) accents += "\xC3\xA9";
  // 1,020 octets end inside an "é" after one octet, on a boundary after two:
  // either way only whole ones are kept.
  for (const std::string& before : {std::string("x"), std::string("xy")}) {
    log_queue queue;
    queue.push(MULTIPASS_LOG_WARNING, before + accents);
    log_line line;
    ASSERT_EQ(queue.pop(0ms, &line), log_queue::pop_result::line);
    const size_t whole = (1020 - before.size()) / 2 * 2;
    EXPECT_EQ(line.text, before + accents.substr(0, whole) + "\xE2\x80\xA6");
    EXPECT_TRUE(testing_support::valid_utf8(line.text));
  }
}

TEST(log_queue_test, overflow_drops_new_lines_and_counts_them) {
  log_queue queue(3);
  for (int i = 0; i < 5; ++i)
    queue.push(MULTIPASS_LOG_DEBUG, "line " + std::to_string(i));
  log_line line;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(queue.pop(0ms, &line), log_queue::pop_result::line);
    EXPECT_EQ(line.text, "line " + std::to_string(i));  // the oldest are kept
    EXPECT_EQ(line.dropped, 0u);
  }
  queue.push(MULTIPASS_LOG_WARNING, "after");
  ASSERT_EQ(queue.pop(0ms, &line), log_queue::pop_result::line);
  EXPECT_EQ(line.text, "after");
  EXPECT_EQ(line.dropped, 2u);  // reported once, with the next line
  queue.push(MULTIPASS_LOG_WARNING, "later");
  ASSERT_EQ(queue.pop(0ms, &line), log_queue::pop_result::line);
  EXPECT_EQ(line.dropped, 0u);
  EXPECT_EQ(queue.pop(0ms, &line), log_queue::pop_result::empty);
}

TEST(log_queue_test, drops_with_no_later_line_come_out_on_their_own) {
  log_queue queue(1);
  queue.push(MULTIPASS_LOG_INFO, "kept");
  queue.push(MULTIPASS_LOG_INFO, "dropped");
  queue.push(MULTIPASS_LOG_INFO, "dropped too");
  log_line line;
  ASSERT_EQ(queue.pop(0ms, &line), log_queue::pop_result::line);
  EXPECT_EQ(line.text, "kept");
  ASSERT_EQ(queue.pop(0ms, &line), log_queue::pop_result::line);
  EXPECT_EQ(line.text, "");
  EXPECT_EQ(line.dropped, 2u);
  EXPECT_EQ(queue.pop(0ms, &line), log_queue::pop_result::empty);
}

TEST(log_queue_test, pop_waits_for_a_line_from_another_thread) {
  log_queue queue;
  auto waiting = std::async(std::launch::async, [&] {
    log_line line;
    auto result = queue.pop(30s, &line);
    return result == log_queue::pop_result::line ? line.text
                                                 : std::string("nothing");
  });
  std::this_thread::sleep_for(20ms);
  queue.push(MULTIPASS_LOG_INFO, "hello");
  ASSERT_EQ(waiting.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(waiting.get(), "hello");
}

TEST(log_queue_test, close_drains_then_says_closed_and_drops_new_lines) {
  log_queue queue;
  queue.push(MULTIPASS_LOG_INFO, "kept");
  queue.close();
  queue.push(MULTIPASS_LOG_INFO, "dropped");
  log_line line;
  ASSERT_EQ(queue.pop(0ms, &line), log_queue::pop_result::line);
  EXPECT_EQ(line.text, "kept");
  EXPECT_EQ(queue.pop(0ms, &line), log_queue::pop_result::closed);
  EXPECT_EQ(queue.pop(10s, &line), log_queue::pop_result::closed);
}

TEST(log_queue_test, close_wakes_a_waiting_pop) {
  log_queue queue;
  auto waiting = std::async(std::launch::async, [&] {
    log_line line;
    return queue.pop(60s, &line);
  });
  std::this_thread::sleep_for(20ms);
  queue.close();
  ASSERT_EQ(waiting.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(waiting.get(), log_queue::pop_result::closed);
}

TEST(log_queue_test, concurrent_pushes_lose_nothing_below_capacity) {
  log_queue queue(4000);
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&queue] {
      for (int i = 0; i < 1000; ++i) queue.push(MULTIPASS_LOG_DEBUG, "x");
    });
  }
  for (auto& w : writers) w.join();
  log_line line;
  int count = 0;
  while (queue.pop(0ms, &line) == log_queue::pop_result::line) {
    EXPECT_EQ(line.dropped, 0u);
    ++count;
  }
  EXPECT_EQ(count, 4000);
}

}  // namespace
}  // namespace multipass
