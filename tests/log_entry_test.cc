// multipass_log_next hands out the core's log lines whole: a line the queue
// cut fits the entry with its NUL and ends on a UTF-8 boundary, in "…".
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "fake_cli.h"
#include "multipass/multipass.h"
#include "utf8.h"

namespace multipass {
namespace {

using testing_support::fake_cli;
using testing_support::valid_utf8;

const std::string ellipsis = "\xE2\x80\xA6";

bool ends_with(const std::string& text, const std::string& end) {
  return text.size() >= end.size() &&
         text.compare(text.size() - end.size(), end.size(), end) == 0;
}

// The stand-in under a path of about 1,100 octets, most of them "é" (two
// octets each), after `odd`: the first listing's "loaded N instances from
// PATH" line is longer than an entry holds, and where the line must be cut
// falls inside an "é" for one of "x" and "xy".
std::string long_binary(const fake_cli& cli, const std::string& odd) {
  std::string path = cli.dir() + "/" + odd;
  if (::mkdir(path.c_str(), 0700) != 0) return {};
  for (int level = 0; level < 5; ++level) {
    path += "/";
    for (int i = 0; i < 100; ++i) path += "\xC3\xA9";
    if (::mkdir(path.c_str(), 0700) != 0) return {};
  }
  path += "/multipass";
  if (::symlink(FAKE_MULTIPASS, path.c_str()) != 0) return {};
  return path;
}

multipass_source_t* source_of(const std::string& binary) {
  multipass_source_options_t opts;
  multipass_source_options_init_sized(&opts, sizeof opts);
  opts.binary = binary.c_str();
  char err[256];
  multipass_source_t* src = multipass_source_create(&opts, err, sizeof err);
  EXPECT_NE(src, nullptr) << err;
  return src;
}

TEST(log_entry_test, a_line_longer_than_an_entry_comes_out_cut_on_a_utf8_boundary) {
  fake_cli cli;
  cli.set_fixture("list-mixed.json");
  for (const std::string odd : {"x", "xy"}) {
    const std::string binary = long_binary(cli, odd);
    ASSERT_FALSE(binary.empty());
    multipass_source_t* src = source_of(binary);
    ASSERT_NE(src, nullptr);
    char err[256];
    ASSERT_EQ(multipass_source_refresh(src, err, sizeof err), MULTIPASS_OK) << err;

    multipass_log_entry_t entry;
    std::memset(&entry, 0, sizeof entry);
    entry.struct_size = sizeof entry;
    std::string loaded;
    while (multipass_log_next(src, 0, &entry) == MULTIPASS_LOG_ENTRY) {
      const std::string text(entry.text, entry.len);
      EXPECT_EQ(entry.len, std::strlen(entry.text));
      EXPECT_TRUE(valid_utf8(text)) << text;
      if (text.rfind("loaded ", 0) == 0) loaded = text;
    }
    ASSERT_FALSE(loaded.empty());
    // Cut: as long as an entry holds before its NUL, less at most the octet
    // of an "é" that did not fit, and what is kept is the start of the path.
    EXPECT_LE(loaded.size(), sizeof entry.text - 1);
    EXPECT_GE(loaded.size(), sizeof entry.text - 2);
    ASSERT_TRUE(ends_with(loaded, ellipsis)) << loaded;
    const std::string kept = loaded.substr(0, loaded.size() - ellipsis.size());
    EXPECT_EQ(binary.rfind(kept.substr(kept.find(" from ") + 6), 0), 0u);
    multipass_source_destroy(src);
  }
}

// The reason written into a caller's buffer is cut on a UTF-8 boundary too.
TEST(log_entry_test, an_error_cut_to_the_callers_buffer_keeps_whole_characters) {
  fake_cli cli;
  std::string missing = cli.dir() + "/";
  for (int i = 0; i < 100; ++i) missing += "\xC3\xA9";
  multipass_source_t* src = source_of(missing);
  ASSERT_NE(src, nullptr);
  for (size_t cap : {size_t{60}, size_t{61}}) {  // one of them ends inside an "é"
    char err[61];
    ASSERT_EQ(multipass_source_refresh(src, err, cap), MULTIPASS_ERROR);
    const std::string text(err);
    EXPECT_TRUE(valid_utf8(text)) << text;
    EXPECT_GE(text.size(), cap - 2) << text;  // only the cut character is lost
    EXPECT_LT(text.size(), cap);
  }
  multipass_source_destroy(src);
}

}  // namespace
}  // namespace multipass
