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
}

}  // namespace multipass
