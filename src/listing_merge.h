// What a cheap listing says, applied to the inventory while full listings
// fail: names and states from the cheap listing, addresses from the last
// full listing that loaded, kept only where they still apply.
#pragma once

#include <memory>

#include "inventory.h"

namespace multipass::detail {

// Fills the addresses of `cheap` (an inventory parsed from `list
// --no-ipv4`, so without any) from `full`: a VM keeps the addresses it has
// in `full` when it serves addresses in both (Running, Delayed Shutdown);
// any other VM, and one `full` lacks, has none. VMs `cheap` lacks are
// gone. Re-indexes `cheap` and returns it.
std::unique_ptr<inventory> apply_cheap_listing(
    const inventory& full, std::unique_ptr<inventory> cheap);

}  // namespace multipass::detail
