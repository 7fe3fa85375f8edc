// thread_cached: reads see the newest value, a publication never waits for
// a read, and no thread (reading, parked or ended) keeps an old value alive
// past the next publication. Run under ASan/LSan and TSan by
// scripts/sanitize.sh.
#include "thread_cached.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace multipass {
namespace {

// A value that counts its live instances and checks itself on every read.
struct value {
  explicit value(int n, std::atomic<int>& live)
      : number(n), check(~n), live_(live) {
    ++live_;
  }
  ~value() { --live_; }
  value(const value&) = delete;
  value& operator=(const value&) = delete;

  bool intact() const { return check == ~number; }

  int number;
  int check;
  std::atomic<int>& live_;
};

using cell = thread_cached<value>;

std::shared_ptr<const value> make(int n, std::atomic<int>& live) {
  return std::make_shared<const value>(n, live);
}

// Runs `body` in a thread of its own and joins it.
template <typename Body>
void in_thread(Body body) {
  std::thread t(body);
  t.join();
}

TEST(thread_cached_test, a_read_sees_the_newest_value) {
  std::atomic<int> live{0};
  cell c(make(1, live));
  EXPECT_EQ(c.read()->number, 1);
  EXPECT_EQ(c.read()->number, 1);  // from the thread's slot now
  c.store(make(2, live));
  EXPECT_EQ(c.read()->number, 2);
  EXPECT_EQ(c.load()->number, 2);
  EXPECT_EQ(live.load(), 1);  // the first value went with the store
  in_thread([&] { EXPECT_EQ(c.read()->number, 2); });
}

TEST(thread_cached_test, a_default_cell_holds_nothing_until_a_store) {
  std::atomic<int> live{0};
  cell c;
  EXPECT_EQ(c.load(), nullptr);
  EXPECT_EQ(c.read().get(), nullptr);
  c.store(make(1, live));
  EXPECT_EQ(c.read()->number, 1);
}

TEST(thread_cached_test, a_store_does_not_wait_for_a_read_in_progress) {
  std::atomic<int> live{0};
  cell c(make(1, live));
  std::weak_ptr<const value> first = c.load();
  {
    const cell::read_guard reading = c.read();
    // Another thread publishes while this read is in progress: it returns
    // (the test would hang otherwise) and the read keeps its value.
    in_thread([&] { c.store(make(2, live)); });
    EXPECT_EQ(reading->number, 1);
    EXPECT_TRUE(reading->intact());
    EXPECT_FALSE(first.expired());
  }
  EXPECT_TRUE(first.expired());  // the read dropped it at its end
  EXPECT_EQ(c.read()->number, 2);
  EXPECT_EQ(live.load(), 1);
}

TEST(thread_cached_test, a_parked_thread_keeps_no_old_value_alive) {
  std::atomic<int> live{0};
  cell c(make(1, live));
  std::mutex mu;
  std::condition_variable cv;
  int step = 0;
  std::thread reader([&] {
    EXPECT_EQ(c.read()->number, 1);  // cached in this thread's slot
    std::unique_lock<std::mutex> lock(mu);
    step = 1;
    cv.notify_all();
    cv.wait(lock, [&] { return step == 2; });  // parked
    lock.unlock();
    EXPECT_EQ(c.read()->number, 2);
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return step == 1; });
  }
  std::weak_ptr<const value> first = c.load();
  c.store(make(2, live));
  // Freed although the parked thread read it last: the store took it back.
  EXPECT_TRUE(first.expired());
  EXPECT_EQ(live.load(), 1);
  {
    std::lock_guard<std::mutex> lock(mu);
    step = 2;
  }
  cv.notify_all();
  reader.join();
}

TEST(thread_cached_test, ended_threads_keep_nothing_after_the_next_store) {
  std::atomic<int> live{0};
  cell c(make(1, live));
  for (int i = 0; i < 20; ++i) {
    in_thread([&] { EXPECT_EQ(c.read()->number, 1); });
  }
  std::weak_ptr<const value> first = c.load();
  c.store(make(2, live));
  EXPECT_TRUE(first.expired());
  EXPECT_EQ(live.load(), 1);
}

TEST(thread_cached_test, a_nested_read_gets_the_value_too) {
  std::atomic<int> live{0};
  cell c(make(1, live));
  const cell::read_guard outer = c.read();
  {
    const cell::read_guard inner = c.read();  // the slot is in use: counted
    EXPECT_EQ(inner->number, 1);
    EXPECT_EQ(&*inner, &*outer);
  }
  EXPECT_EQ(outer->number, 1);
  c.store(make(2, live));
  EXPECT_EQ(outer->number, 1);
}

TEST(thread_cached_test, a_guard_shares_its_value_past_its_end) {
  std::atomic<int> live{0};
  cell c(make(1, live));
  std::shared_ptr<const value> kept;
  {
    const cell::read_guard reading = c.read();
    kept = reading.get();
  }
  c.store(make(2, live));
  EXPECT_EQ(kept->number, 1);
  EXPECT_EQ(live.load(), 2);
  kept.reset();
  EXPECT_EQ(live.load(), 1);
}

TEST(thread_cached_test, cells_come_and_go_while_threads_read_others) {
  std::atomic<int> live{0};
  cell steady(make(0, live));
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) EXPECT_TRUE(steady.read()->intact());
    });
  }
  for (int round = 0; round < 50; ++round) {
    auto passing = std::make_unique<cell>(make(round, live));
    std::vector<std::thread> users;
    for (int u = 0; u < 3; ++u) {
      users.emplace_back([&] {
        for (int k = 0; k < 100; ++k) EXPECT_TRUE(passing->read()->intact());
      });
    }
    passing->store(make(round + 1000, live));
    for (std::thread& t : users) t.join();
    passing.reset();  // no read in progress: its slots and values go
  }
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(live.load(), 1);  // only the steady cell's value
}

TEST(thread_cached_test, readers_and_a_publisher_at_once) {
  std::atomic<int> live{0};
  cell c(make(0, live));
  constexpr int stores = 2000;
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&] {
      int last = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const cell::read_guard reading = c.read();
        ASSERT_TRUE(reading->intact());
        // A thread never sees the values go backwards.
        ASSERT_GE(reading->number, last);
        last = reading->number;
      }
    });
  }
  for (int n = 1; n <= stores; ++n) c.store(make(n, live));
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(c.read()->number, stores);
  EXPECT_EQ(live.load(), 1);
}

}  // namespace
}  // namespace multipass
