// The serial book: each zone's SOA serial, which moves only when the zone's
// content does, never backwards (RFC 1982), and, with a state folder,
// stays put across restarts. A zone is known by a key (its origin and what
// else shapes its content, see resolver); its entry holds the serial and a
// hash of the content that serial stands for.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace multipass {

namespace detail {

// RFC 1982: whether serial a is greater than b (undefined pairs, 2^31
// apart, count as not greater).
bool serial_greater(uint32_t a, uint32_t b);

}  // namespace detail

// Thread-safe. Shared by the resolvers of a source (blocks and reloads), so
// that every view of a zone numbers its changes on, whoever saw them first.
class serial_book {
 public:
  // Told once per file and text when a state file cannot be read or
  // written (the serial is kept in memory meanwhile).
  std::function<void(const std::string&)> on_error;

  // The serial of the zone `key` whose content hashes to `hash`. The first
  // time a key is asked: the serial in `file` (may be empty: none) when it
  // holds the same hash, else `floor`, or the file's serial + 1 when that
  // is greater. Later: the same serial while the hash stays, else the
  // greater (RFC 1982) of the last serial + 1 and `floor` (the source's
  // serial of the inventory: the Unix time of its change, or later). With
  // `commit` false nothing is recorded or written: what the serial would
  // be. A new serial is written to `file` (a temporary file renamed over
  // it; a symlink in its place is refused).
  uint32_t serial_for(const std::string& key, const std::string& file,
                      uint64_t hash, uint32_t floor, bool commit);

 private:
  struct entry {
    bool known = false;  // serial and hash are set
    uint32_t serial = 0;
    uint64_t hash = 0;
    std::string error;  // the last error told for its file
  };
  void load(const std::string& file, entry* e);
  void store(const std::string& file, entry* e);
  void tell(entry* e, const std::string& text);

  std::mutex mu_;
  std::unordered_map<std::string, entry> entries_;
};

}  // namespace multipass
