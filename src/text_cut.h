// Cuts text that may come from outside (CLI output, names, parse errors) to a
// bounded size, visibly: a cut text ends in "…" so a reader sees it was cut.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace multipass::detail {

constexpr std::string_view cut_marker = "\xE2\x80\xA6";  // "…" in UTF-8

// Leaves `text` alone when it has at most `max_bytes` octets; otherwise keeps
// a prefix that ends on a UTF-8 sequence boundary and appends cut_marker, so
// that the result has at most `max_bytes` octets (max_bytes >= 3).
inline void cut_text(std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return;
  size_t keep = max_bytes - cut_marker.size();
  // Never keep the lead octets of a sequence whose tail would be cut off (a
  // sequence has at most three continuation octets; invalid text loses no
  // more than that).
  const size_t lowest = keep > 3 ? keep - 3 : 0;
  while (keep > lowest &&
         (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80)
    --keep;
  text.resize(keep);
  text.append(cut_marker);
}

}  // namespace multipass::detail
