// A cheap listing applied to the inventory (see listing_merge.h).
#include "listing_merge.h"

#include <utility>

namespace multipass::detail {

std::unique_ptr<inventory> apply_cheap_listing(
    const inventory& full, std::unique_ptr<inventory> cheap) {
  for (vm& v : cheap->vms) {
    v.ipv4.clear();
    const vm* before = full.find(v.key);
    if (before && serves_addresses(before->state) &&
        serves_addresses(v.state))
      v.ipv4 = before->ipv4;
  }
  cheap->index();
  return cheap;
}

}  // namespace multipass::detail
