// Cuts text that may come from outside (CLI output, names, parse errors) to a
// bounded size, visibly: a cut text ends in "…" so a reader sees it was cut.
// Every cut ends on a UTF-8 sequence boundary.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace multipass::detail {

constexpr std::string_view cut_marker = "\xE2\x80\xA6";  // "…" in UTF-8

// The length of the longest prefix of `text` with at most `max_bytes` octets
// that keeps no lead octets of a sequence whose tail it would cut off (a
// sequence has at most three continuation octets; invalid text loses no
// more than that).
inline size_t utf8_prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text.size();
  size_t keep = max_bytes;
  const size_t lowest = keep > 3 ? keep - 3 : 0;
  while (keep > lowest &&
         (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80)
    --keep;
  return keep;
}

// Leaves `text` alone when it has at most `max_bytes` octets; otherwise keeps
// a prefix that ends on a UTF-8 sequence boundary and appends cut_marker, so
// that the result has at most `max_bytes` octets (max_bytes >= 3).
inline void cut_text(std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return;
  text.resize(utf8_prefix(text, max_bytes - cut_marker.size()));
  text.append(cut_marker);
}

// cut_text on a copy of at most max_bytes + 1 octets of `text` (enough to
// tell whether it must be cut), for text that may be huge.
inline std::string cut_copy(std::string_view text, size_t max_bytes) {
  std::string copy(text.substr(0, max_bytes + 1));
  cut_text(copy, max_bytes);
  return copy;
}

}  // namespace multipass::detail
