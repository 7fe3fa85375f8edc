// Indexes of the immutable inventory.
#include "inventory.h"

namespace multipass {

void inventory::index() {
  by_key.clear();
  by_address.clear();
  by_key.reserve(vms.size());
  for (size_t i = 0; i < vms.size(); ++i) {
    by_key.emplace(vms[i].key, i);  // emplace keeps the first of duplicates
    for (uint32_t address : vms[i].ipv4) by_address.emplace(address, i);
  }
  size_t capacity = 8;
  while (capacity < vms.size() * 2) capacity <<= 1;
  slots.assign(capacity, slot{0, 0});
  mask = static_cast<uint32_t>(capacity - 1);
  for (const auto& [key, i] : by_key) {  // first of duplicates only
    uint32_t h = slot_hash(key);
    uint32_t at = h & mask;
    while (slots[at].index != 0) at = (at + 1) & mask;
    slots[at] = slot{h, static_cast<uint32_t>(i + 1)};
  }
}

}  // namespace multipass
