// Whether text is well-formed UTF-8, for tests of text the core cuts.
#pragma once

#include <cstddef>
#include <string_view>

namespace multipass {
namespace testing_support {

// True when every lead octet is followed by as many continuation octets as
// it announces (overlong forms and surrogates are not told apart: the core
// only ever cuts, it never makes sequences).
inline bool valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    size_t tail = 0;
    if (lead < 0x80) {
      tail = 0;
    } else if ((lead & 0xE0) == 0xC0) {
      tail = 1;
    } else if ((lead & 0xF0) == 0xE0) {
      tail = 2;
    } else if ((lead & 0xF8) == 0xF0) {
      tail = 3;
    } else {
      return false;  // a continuation octet without its lead, or no UTF-8
    }
    for (size_t k = 1; k <= tail; ++k) {
      if (i + k >= text.size() ||
          (static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80)
        return false;
    }
    i += tail + 1;
  }
  return true;
}

}  // namespace testing_support
}  // namespace multipass
