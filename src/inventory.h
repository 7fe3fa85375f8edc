// The VM inventory: one immutable snapshot of what `multipass list` said.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
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

// True for the states whose VMs' addresses are served (running, and
// running until a delayed shutdown).
inline bool serves_addresses(vm_state state) {
  return state == vm_state::running || state == vm_state::delayed_shutdown;
}

// What a forward lookup reads of one VM, in one 32-byte record (aligned to
// 32 bytes, so never across two cache lines): the key (inline when it fits),
// the state and the first servable address (the first outside the host-only
// blocks of detail::host_only_address: what is served without `networks`).
// A hit on a key of at most key_capacity octets reads the slots it probes
// and this record, not the 96-byte vm nor the heap block of its ipv4 vector;
// the resolver's common case (the first address, no `networks`) answers from
// it alone.
struct alignas(32) hot_vm {
  static constexpr size_t key_capacity = 25;
  uint32_t first_ipv4 = 0;   // the first of vm::ipv4 outside the host-only
                             // blocks; 0 when there is none
  uint8_t ipv4_count = 0;    // how many of vm::ipv4 lie outside them,
                             // capped at 255
  vm_state state = vm_state::unknown;  // vm::state
  uint8_t key_size = 0;      // vm::key.size(), capped at 255
  char key[key_capacity] = {};  // vm::key's first key_capacity octets,
                                // zero-filled after a shorter key
};
static_assert(sizeof(hot_vm) == 32, "hot_vm is one 32-byte record");

// An immutable inventory. Built once by the parser, then only read.
struct inventory {
  std::vector<vm> vms;  // in the CLI's order, first of duplicate names kept
  // hot[i] mirrors the hot fields of vms[i] (see hot_vm).
  std::vector<hot_vm> hot;
  // The lookup index: open addressing, linear probing, at most half full.
  // A slot holds the key's hash and index + 1 (0: empty), so that a probe
  // touches one contiguous array of 8-byte slots and then, for a slot whose
  // hash matches, hot[index]; vms[index].key only when the key is longer
  // than hot_vm::key_capacity and its inline octets match.
  struct slot {
    uint32_t hash;
    uint32_t index;
  };
  std::vector<slot> slots;
  uint32_t mask = 0;
  // IPv4 (host order) -> index into vms of the first VM listing it.
  std::unordered_map<uint32_t, size_t> by_address;
  uint32_t serial = 0;  // the source's serial: set when it publishes; grows
                        // with every change (the zones' serials start from it)
  bool before_first_load = false;  // the empty inventory a source serves
                                   // until its first listing loads

  static constexpr size_t npos = static_cast<size_t>(-1);

  inventory() = default;
  inventory(const inventory&) = delete;
  inventory& operator=(const inventory&) = delete;

  // The index into vms (and hot) of the VM named `key` (already
  // lower-case), or npos.
  size_t locate(std::string_view key) const {
    if (slots.empty()) return npos;
    uint32_t h = slot_hash(key);
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
      const slot& s = slots[i];
      if (s.index == 0) return npos;
      if (s.hash == h && has_key(s.index - 1, key)) return s.index - 1;
    }
  }
  // The VM named `key` (already lower-case), or nullptr.
  const vm* find(std::string_view key) const {
    size_t i = locate(key);
    return i == npos ? nullptr : &vms[i];
  }
  // The hot record of `v`, which must be an element of vms.
  const hot_vm& hot_of(const vm& v) const {
    return hot[static_cast<size_t>(&v - vms.data())];
  }
  // Whether vms[i] has the key `key`, read from hot[i] when it fits there.
  bool has_key(size_t i, std::string_view key) const {
    const hot_vm& h = hot[i];
    size_t size = key.size();
    if (h.key_size != (size < 255 ? size : 255)) return false;
    if (size <= hot_vm::key_capacity) {
      return size == 0 || std::memcmp(h.key, key.data(), size) == 0;
    }
    return std::memcmp(h.key, key.data(), hot_vm::key_capacity) == 0 &&
           vms[i].key == key;
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
  // Fills hot, slots and by_address from vms (the first of duplicate keys
  // wins). Call once after filling vms. False when some keys repeat.
  bool index();
};

using snapshot = std::shared_ptr<const inventory>;

}  // namespace multipass
