// The VM inventory: one immutable snapshot of what `multipass list` said.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "multipass/multipass.h"

namespace multipass {

// VM states; values match enum multipass_vm_state of the C ABI.
enum class vm_state : uint8_t {
  running = MULTIPASS_STATE_RUNNING,
  stopped = MULTIPASS_STATE_STOPPED,
  deleted = MULTIPASS_STATE_DELETED,
  starting = MULTIPASS_STATE_STARTING,
  restarting = MULTIPASS_STATE_RESTARTING,
  delayed_shutdown = MULTIPASS_STATE_DELAYED_SHUTDOWN,
  suspending = MULTIPASS_STATE_SUSPENDING,
  suspended = MULTIPASS_STATE_SUSPENDED,
  unknown = MULTIPASS_STATE_UNKNOWN,
  unavailable = MULTIPASS_STATE_UNAVAILABLE,
};

// One VM as listed. Only names that can be a DNS label get here.
struct vm {
  std::string name;             // as multipass spells it
  std::string key;              // lower-cased name: the lookup key
  vm_state state = vm_state::unknown;
  std::vector<uint32_t> ipv4;   // usable IPv4 addresses in the CLI's order,
                                // host byte order ("N/A" etc. left out)
};

// An immutable inventory. Built once by the parser, then only read.
struct inventory {
  std::vector<vm> vms;  // in the CLI's order, first of duplicate names kept
  // The lookup index: open addressing, linear probing, at most half full.
  // A slot holds the key's hash and index + 1 (0: empty), so that a probe
  // touches one contiguous array and then only the VM it finds.
  struct slot {
    uint32_t hash;
    uint32_t index;
  };
  std::vector<slot> slots;
  uint32_t mask = 0;
  // IPv4 (host order) -> index into vms of the first VM listing it.
  std::unordered_map<uint32_t, size_t> by_address;
  uint32_t serial = 0;  // SOA serial; set by the source when it publishes

  inventory() = default;
  inventory(const inventory&) = delete;
  inventory& operator=(const inventory&) = delete;

  // The VM named `key` (already lower-case), or nullptr.
  const vm* find(std::string_view key) const {
    if (slots.empty()) return nullptr;
    uint32_t h = slot_hash(key);
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
      const slot& s = slots[i];
      if (s.index == 0) return nullptr;
      if (s.hash == h && vms[s.index - 1].key == key) return &vms[s.index - 1];
    }
  }
  // FNV-1a, folded to 32 bits: keys are short DNS labels.
  static uint32_t slot_hash(std::string_view key) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : key) {
      h ^= c;
      h *= 1099511628211ull;
    }
    return static_cast<uint32_t>(h ^ (h >> 32));
  }
  // Fills slots and by_address from vms (the first of duplicate keys wins).
  // Call once after filling vms. False when some keys repeat.
  bool index();
};

using snapshot = std::shared_ptr<const inventory>;

}  // namespace multipass
