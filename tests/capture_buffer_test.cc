// capture_buffer: the CLI's stdout up to a cap, in memory unmapped on clear.
#include "capture_buffer.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace multipass {
namespace {

TEST(capture_buffer_test, appends_up_to_the_capacity_and_not_beyond) {
  capture_buffer buffer(10);
  EXPECT_TRUE(buffer.empty());
  EXPECT_TRUE(buffer.append("hello", 5));
  EXPECT_TRUE(buffer.append(" you", 4));
  EXPECT_EQ(buffer.view(), "hello you");
  // One byte left: two do not fit, and nothing of them is kept.
  EXPECT_FALSE(buffer.append("!!", 2));
  EXPECT_EQ(buffer.view(), "hello you");
  EXPECT_TRUE(buffer.append("!", 1));
  EXPECT_EQ(buffer.str(), "hello you!");
  EXPECT_EQ(buffer.size(), 10u);
  EXPECT_FALSE(buffer.append("x", 1));
  EXPECT_TRUE(buffer.append("", 0));
}

TEST(capture_buffer_test, clear_empties_and_keeps_the_capacity) {
  capture_buffer buffer(4);
  ASSERT_TRUE(buffer.append("abcd", 4));
  buffer.clear();
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.view(), "");
  EXPECT_EQ(buffer.capacity(), 4u);
  EXPECT_TRUE(buffer.append("wxyz", 4));
  EXPECT_EQ(buffer.view(), "wxyz");
}

TEST(capture_buffer_test, zero_capacity_holds_nothing) {
  capture_buffer none;
  EXPECT_FALSE(none.append("a", 1));
  EXPECT_TRUE(none.append("", 0));
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.view(), "");
}

TEST(capture_buffer_test, moves_hand_over_the_bytes) {
  capture_buffer a(8);
  ASSERT_TRUE(a.append("data", 4));
  capture_buffer b(std::move(a));
  EXPECT_EQ(b.view(), "data");
  EXPECT_TRUE(a.empty());  // a moved-from buffer is empty (documented)
  capture_buffer c(2);
  c = std::move(b);
  EXPECT_EQ(c.view(), "data");
  EXPECT_EQ(c.capacity(), 8u);
  EXPECT_TRUE(c.append("more", 4));
  EXPECT_EQ(c.view(), "datamore");
}

TEST(capture_buffer_test, a_16_mib_capture_fits_its_cap_exactly) {
  const size_t cap = size_t{16} << 20;
  capture_buffer buffer(cap);
  std::string chunk(64 * 1024, ' ');
  size_t appended = 0;
  while (buffer.append(chunk.data(), chunk.size())) appended += chunk.size();
  EXPECT_EQ(appended, cap);
  EXPECT_EQ(buffer.size(), cap);
  EXPECT_EQ(buffer.view().back(), ' ');
  buffer.clear();
  EXPECT_TRUE(buffer.empty());
}

}  // namespace
}  // namespace multipass
