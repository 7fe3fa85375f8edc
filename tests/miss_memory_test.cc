// The memory of names recently confirmed missing: the window, the bound on
// its size, and concurrent use. Times are handed in, so nothing sleeps.
#include "miss_memory.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace multipass::detail {
namespace {

using std::chrono::milliseconds;
using clock = miss_memory::clock;

TEST(miss_memory_test, remembers_a_name_for_the_window) {
  miss_memory memory(milliseconds(5000));
  const clock::time_point t0 = clock::now();
  EXPECT_FALSE(memory.contains("nosuch", t0));
  memory.remember("nosuch", t0);
  EXPECT_TRUE(memory.contains("nosuch", t0));
  EXPECT_TRUE(memory.contains("nosuch", t0 + milliseconds(4999)));
  EXPECT_FALSE(memory.contains("nosuch", t0 + milliseconds(5000)));
  EXPECT_FALSE(memory.contains("other", t0));
  EXPECT_FALSE(memory.contains("nosuc", t0));
  EXPECT_FALSE(memory.contains("nosuch2", t0));
}

TEST(miss_memory_test, remembering_again_restarts_the_window) {
  miss_memory memory(milliseconds(1000));
  const clock::time_point t0 = clock::now();
  memory.remember("a", t0);
  memory.remember("a", t0 + milliseconds(800));
  EXPECT_TRUE(memory.contains("a", t0 + milliseconds(1500)));
  EXPECT_FALSE(memory.contains("a", t0 + milliseconds(1800)));
  EXPECT_EQ(memory.size(), 1u);
}

TEST(miss_memory_test, expired_names_are_dropped) {
  miss_memory memory(milliseconds(1000));
  const clock::time_point t0 = clock::now();
  memory.remember("a", t0);
  memory.remember("b", t0 + milliseconds(500));
  memory.remember("c", t0 + milliseconds(1200));  // a's window has passed
  EXPECT_EQ(memory.size(), 2u);
  EXPECT_FALSE(memory.contains("a", t0 + milliseconds(1200)));
  EXPECT_TRUE(memory.contains("b", t0 + milliseconds(1200)));
  memory.remember("d", t0 + milliseconds(5000));  // all others passed
  EXPECT_EQ(memory.size(), 1u);
}

TEST(miss_memory_test, holds_at_most_capacity_names_oldest_forgotten_first) {
  miss_memory memory(milliseconds(60000), 3);
  const clock::time_point t0 = clock::now();
  memory.remember("a", t0);
  memory.remember("b", t0);
  memory.remember("c", t0);
  memory.remember("a", t0);  // a is the newest now
  memory.remember("d", t0);  // b, the oldest, goes
  EXPECT_EQ(memory.size(), 3u);
  EXPECT_FALSE(memory.contains("b", t0));
  for (const char* name : {"a", "c", "d"}) {
    EXPECT_TRUE(memory.contains(name, t0)) << name;
  }
}

TEST(miss_memory_test, default_capacity_bounds_a_flood_of_names) {
  miss_memory memory(milliseconds(60000));
  const clock::time_point t0 = clock::now();
  for (size_t i = 0; i < 3 * miss_memory::default_capacity; ++i) {
    memory.remember("typo-" + std::to_string(i), t0);
  }
  EXPECT_EQ(memory.size(), miss_memory::default_capacity);
  EXPECT_FALSE(memory.contains("typo-0", t0));
  EXPECT_TRUE(memory.contains(
      "typo-" + std::to_string(3 * miss_memory::default_capacity - 1), t0));
}

TEST(miss_memory_test, zero_window_remembers_nothing) {
  miss_memory memory(milliseconds(0));
  const clock::time_point t0 = clock::now();
  memory.remember("a", t0);
  EXPECT_FALSE(memory.contains("a", t0));
  EXPECT_EQ(memory.size(), 0u);
  miss_memory no_room(milliseconds(1000), 0);
  no_room.remember("a", t0);
  EXPECT_FALSE(no_room.contains("a", t0));
}

TEST(miss_memory_test, long_names_are_kept_whole) {
  // Names longer than a short-string buffer live on the heap; the index
  // must still find them after more names arrive.
  miss_memory memory(milliseconds(60000));
  const clock::time_point t0 = clock::now();
  std::string long_name(200, 'x');
  memory.remember(long_name, t0);
  for (int i = 0; i < 100; ++i) {
    memory.remember(std::string(40, 'a') + std::to_string(i), t0);
  }
  EXPECT_TRUE(memory.contains(long_name, t0));
  EXPECT_FALSE(memory.contains(std::string(199, 'x'), t0));
}

TEST(miss_memory_test, concurrent_use_keeps_the_bound) {
  miss_memory memory(milliseconds(60000), 64);
  std::atomic<int> lost{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&memory, &lost, t] {
      for (int i = 0; i < 5000; ++i) {
        std::string name = "n" + std::to_string(t) + "-" + std::to_string(i);
        const clock::time_point now = clock::now();
        memory.remember(name, now);
        memory.contains("n0-0", now);
        if (memory.size() > 64) ++lost;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(lost.load(), 0);
  EXPECT_EQ(memory.size(), 64u);
  // Still consistent: 64 more names replace every earlier one.
  const clock::time_point now = clock::now();
  for (int i = 0; i < 64; ++i) memory.remember("m" + std::to_string(i), now);
  EXPECT_EQ(memory.size(), 64u);
  for (int i = 0; i < 64; ++i) {
    EXPECT_TRUE(memory.contains("m" + std::to_string(i), now)) << i;
  }
  EXPECT_FALSE(memory.contains("n0-4999", now));
}

}  // namespace
}  // namespace multipass::detail

namespace multipass::detail {
namespace {

TEST(miss_memory_test, remaining_counts_down_to_zero) {
  miss_memory memory(std::chrono::milliseconds(5000));
  const auto t0 = miss_memory::clock::now();
  EXPECT_EQ(memory.remaining("a", t0).count(), 0);
  memory.remember("a", t0);
  EXPECT_EQ(memory.remaining("a", t0).count(), 5000);
  EXPECT_EQ(memory.remaining("a", t0 + std::chrono::milliseconds(3000)).count(),
            2000);
  EXPECT_EQ(
      memory.remaining("a", t0 + std::chrono::microseconds(4999500)).count(),
      1);  // never zero while remembered
  EXPECT_EQ(memory.remaining("a", t0 + std::chrono::milliseconds(5000)).count(),
            0);
  EXPECT_EQ(memory.remaining("b", t0).count(), 0);
}

}  // namespace
}  // namespace multipass::detail
