// Indexes of the immutable inventory.
#include "inventory.h"

#include "names.h"

namespace multipass {

namespace {

hot_vm hot_fields(const vm& v) {
  hot_vm h;
  size_t servable = 0;
  for (uint32_t address : v.ipv4) {
    if (detail::host_only_address(address)) continue;
    if (servable++ == 0) h.first_ipv4 = address;
  }
  h.ipv4_count = static_cast<uint8_t>(servable < 255 ? servable : 255);
  h.state = v.state;
  h.key_size = static_cast<uint8_t>(v.key.size() < 255 ? v.key.size() : 255);
  std::memcpy(h.key, v.key.data(),
              v.key.size() < hot_vm::key_capacity ? v.key.size()
                                                  : hot_vm::key_capacity);
  return h;
}

}  // namespace

bool inventory::index() {
  hot.clear();
  hot.reserve(vms.size());
  for (const vm& v : vms) hot.push_back(hot_fields(v));
  by_address.clear();
  size_t capacity = 8;
  while (capacity < vms.size() * 2) capacity <<= 1;
  slots.assign(capacity, slot{0, 0});
  mask = static_cast<uint32_t>(capacity - 1);
  bool distinct = true;
  for (size_t i = 0; i < vms.size(); ++i) {
    for (uint32_t address : vms[i].ipv4) by_address.emplace(address, i);
    uint32_t h = slot_hash(vms[i].key);
    uint32_t at = h & mask;
    for (; slots[at].index != 0; at = (at + 1) & mask) {
      const slot& s = slots[at];
      if (s.hash == h && vms[s.index - 1].key == vms[i].key) break;
    }
    if (slots[at].index != 0) {
      distinct = false;  // the first of duplicates keeps the slot
      continue;
    }
    slots[at] = slot{h, static_cast<uint32_t>(i + 1)};
  }
  return distinct;
}

}  // namespace multipass
