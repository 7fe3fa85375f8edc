// A SAX handler over nlohmann_json: no DOM is built, so a 10,000-VM listing
// costs one pass over the text and one allocation per kept string.
#include "listing_parser.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <utility>

namespace multipass {

namespace {

constexpr size_t max_warnings = 32;    // more are summarised in one line
constexpr size_t max_shown_name = 80;  // long names are cut in warnings

struct state_name {
  std::string_view text;
  vm_state state;
};

constexpr state_name state_names[] = {
    {"Running", vm_state::running},
    {"Stopped", vm_state::stopped},
    {"Deleted", vm_state::deleted},
    {"Starting", vm_state::starting},
    {"Restarting", vm_state::restarting},
    {"Delayed Shutdown", vm_state::delayed_shutdown},
    {"Suspending", vm_state::suspending},
    {"Suspended", vm_state::suspended},
    {"Unknown", vm_state::unknown},
    {"Unavailable", vm_state::unavailable},
};

std::string shown(std::string_view name) {
  std::string text = "\"";
  if (name.size() > max_shown_name) {
    text.append(name.substr(0, max_shown_name));
    text += "...";
  } else {
    text.append(name);
  }
  text += '"';
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

using json = nlohmann::json;

// Walks the document with a small state machine; values of keys it does not
// know are skipped whatever their shape.
class listing_handler {
 public:
  explicit listing_handler(parsed_listing* result) : result_(result) {}

  bool saw_list() const { return saw_list_; }

  bool null() { return scalar("null"); }
  bool boolean(bool) { return scalar("a boolean"); }
  bool number_integer(json::number_integer_t) { return scalar("a number"); }
  bool number_unsigned(json::number_unsigned_t) { return scalar("a number"); }
  bool number_float(json::number_float_t, const json::string_t&) {
    return scalar("a number");
  }
  bool binary(json::binary_t&) { return scalar("binary"); }

  bool string(json::string_t& value) {
    if (skip_ > 0) return true;
    if (where_ == place::entry) {
      if (field_ == field::name) {
        name_ = std::move(value);
        has_name_ = true;
        return true;
      }
      if (field_ == field::state) {
        state_ = std::move(value);
        has_state_ = true;
        return true;
      }
    } else if (where_ == place::ipv4) {
      uint32_t address;
      if (parse_ipv4(value, &address)) addresses_.push_back(address);
      return true;
    }
    return scalar("a string");
  }

  bool start_object(std::size_t) {
    if (skip_ > 0) return ++skip_, true;
    switch (where_) {
      case place::top:
        where_ = place::root;
        return true;
      case place::root:
        if (field_ == field::list && !saw_list_)
          return fail("\"list\" is not an array");
        skip_ = 1;
        return true;
      case place::list:
        begin_entry();
        where_ = place::entry;
        return true;
      case place::entry:
        if (field_ != field::other) wrong_type(field_, "an object");
        skip_ = 1;
        return true;
      case place::ipv4:
        wrong_type(field::ipv4, "an object inside");
        skip_ = 1;
        return true;
      case place::done:
        break;
    }
    return fail("unexpected object");
  }

  bool start_array(std::size_t) {
    if (skip_ > 0) return ++skip_, true;
    switch (where_) {
      case place::top:
        return fail("the output is not a JSON object");
      case place::root:
        if (field_ == field::list && !saw_list_) {
          saw_list_ = true;
          where_ = place::list;
        } else {
          skip_ = 1;  // an unknown key, or a second "list"
        }
        return true;
      case place::list:
        ++index_;
        warn("skipped entry #" + std::to_string(index_) +
             " of \"list\": not an object");
        skip_ = 1;
        return true;
      case place::entry:
        if (field_ == field::ipv4) {
          addresses_.clear();
          where_ = place::ipv4;
        } else {
          if (field_ != field::other) wrong_type(field_, "an array");
          skip_ = 1;
        }
        return true;
      case place::ipv4:
        wrong_type(field::ipv4, "an array inside");
        skip_ = 1;
        return true;
      case place::done:
        break;
    }
    return fail("unexpected array");
  }

  bool key(json::string_t& name) {
    if (skip_ > 0) return true;
    if (where_ == place::root) {
      field_ = name == "list" ? field::list : field::other;
    } else if (where_ == place::entry) {
      if (name == "name") {
        field_ = field::name;
      } else if (name == "state") {
        field_ = field::state;
      } else if (name == "ipv4") {
        field_ = field::ipv4;
      } else {
        field_ = field::other;
      }
    }
    return true;
  }

  bool end_object() {
    if (skip_ > 0) return --skip_, true;
    if (where_ == place::entry) {
      end_entry();
      where_ = place::list;
    } else if (where_ == place::root) {
      where_ = place::done;
    }
    return true;
  }

  bool end_array() {
    if (skip_ > 0) return --skip_, true;
    if (where_ == place::ipv4) {
      where_ = place::entry;
    } else if (where_ == place::list) {
      where_ = place::root;
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const json::exception& ex) {
    result_->error = std::string("not valid JSON: ") + ex.what();
    return false;
  }

  // Warnings beyond max_warnings, for the summary line.
  size_t extra_warnings() const { return extra_warnings_; }

 private:
  enum class place { top, root, list, entry, ipv4, done };
  enum class field { none, list, name, state, ipv4, other };

  bool scalar(const char* what) {
    if (skip_ > 0) return true;
    switch (where_) {
      case place::top:
        return fail("the output is not a JSON object");
      case place::root:
        if (field_ == field::list && !saw_list_)
          return fail("\"list\" is not an array");
        return true;
      case place::list:
        ++index_;
        warn("skipped entry #" + std::to_string(index_) +
             " of \"list\": not an object");
        return true;
      case place::entry:
        if (field_ != field::other) wrong_type(field_, what);
        return true;
      case place::ipv4:
        wrong_type(field::ipv4, std::string(what) + " inside");
        return true;
      case place::done:
        break;
    }
    return true;
  }

  bool fail(std::string why) {
    result_->error = std::move(why);
    return false;
  }

  void warn(std::string text) {
    if (result_->warnings.size() < max_warnings) {
      result_->warnings.push_back(std::move(text));
    } else {
      ++extra_warnings_;
    }
  }

  void wrong_type(field which, const std::string& what) {
    if (bad_type_.empty()) {
      const char* key = which == field::name    ? "name"
                        : which == field::state ? "state"
                                                : "ipv4";
      bad_type_ = std::string("\"") + key + "\" is " + what;
    }
  }

  void begin_entry() {
    ++index_;
    name_.clear();
    state_.clear();
    addresses_.clear();
    bad_type_.clear();
    has_name_ = has_state_ = false;
  }

  void end_entry() {
    if (has_name_) result_->listed.push_back({name_, state_});
    std::string label = has_name_ ? shown(name_) : "#" + std::to_string(index_);
    if (!bad_type_.empty()) {
      warn("skipped instance " + label + ": " + bad_type_);
      return;
    }
    if (!has_name_) {
      warn("skipped instance " + label + ": it has no \"name\"");
      return;
    }
    if (const char* problem = dns_label_problem(name_)) {
      warn("skipped instance " + label + ": its name cannot be a DNS label (" +
           problem + ")");
      return;
    }
    vm machine;
    bool known = true;
    machine.state =
        has_state_ ? parse_state(state_, &known) : vm_state::unknown;
    if (!known)
      warn("instance " + label + " has the unknown state " + shown(state_) +
           "; treated as Unknown");
    machine.key = lower(name_);
    machine.name = std::move(name_);
    machine.ipv4 = addresses_;
    result_->inv->vms.push_back(std::move(machine));
  }

  parsed_listing* result_;
  place where_ = place::top;
  field field_ = field::none;
  int skip_ = 0;  // depth inside a value being skipped
  bool saw_list_ = false;
  size_t index_ = 0;  // 1-based position in "list"
  size_t extra_warnings_ = 0;

  // The entry being read.
  std::string name_, state_, bad_type_;
  std::vector<uint32_t> addresses_;
  bool has_name_ = false, has_state_ = false;
};

// Drops later entries whose key repeats an earlier one, then re-indexes.
// Every lookup happens before any move: the index reads the keys in place.
void drop_duplicates(parsed_listing* result) {
  inventory& inv = *result->inv;
  std::vector<bool> keep(inv.vms.size());
  for (size_t i = 0; i < inv.vms.size(); ++i) {
    const vm* first = inv.find(inv.vms[i].key);
    keep[i] = first == &inv.vms[i];
    if (!keep[i]) {
      result->warnings.push_back("skipped instance " + shown(inv.vms[i].name) +
                                 ": its name repeats " + shown(first->name));
    }
  }
  inv.slots.clear();
  inv.by_address.clear();
  std::vector<vm> kept;
  kept.reserve(inv.vms.size());
  for (size_t i = 0; i < inv.vms.size(); ++i) {
    if (keep[i]) kept.push_back(std::move(inv.vms[i]));
  }
  inv.vms = std::move(kept);
  inv.index();
}

}  // namespace

vm_state parse_state(std::string_view text, bool* known) {
  for (const auto& entry : state_names) {
    if (entry.text == text) {
      if (known) *known = true;
      return entry.state;
    }
  }
  if (known) *known = false;
  return vm_state::unknown;
}

bool parse_ipv4(std::string_view text, uint32_t* out) {
  uint32_t address = 0;
  size_t pos = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= text.size() || text[pos] != '.') return false;
      ++pos;
    }
    size_t start = pos;
    uint32_t value = 0;
    while (pos < text.size() && pos - start < 4 && text[pos] >= '0' &&
           text[pos] <= '9') {
      value = value * 10 + static_cast<uint32_t>(text[pos] - '0');
      ++pos;
    }
    size_t digits = pos - start;
    if (digits == 0 || digits > 3 || value > 255) return false;
    if (digits > 1 && text[start] == '0') return false;  // no octal look-alikes
    address = (address << 8) | value;
  }
  if (pos != text.size()) return false;
  *out = address;
  return true;
}

const char* dns_label_problem(std::string_view name) {
  if (name.empty()) return "empty";
  if (name.size() > 63) return "longer than 63 octets";
  if (name.front() == '-' || name.back() == '-')
    return "it starts or ends with a hyphen";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-';
    if (!ok) return "a character outside A-Z, a-z, 0-9 and '-'";
  }
  return nullptr;
}

parsed_listing parse_listing(std::string_view text) {
  parsed_listing result;
  result.inv = std::make_unique<inventory>();
  bool blank = std::all_of(text.begin(), text.end(), [](char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
  });
  if (blank) {
    result.error = "the output is empty";
    result.inv.reset();
    return result;
  }
  listing_handler handler(&result);
  bool parsed = false;
  try {
    parsed = json::sax_parse(text.begin(), text.end(), &handler,
                             json::input_format_t::json,
                             /*strict=*/true);
  } catch (const std::exception& e) {
    if (result.error.empty())
      result.error = std::string("invalid JSON: ") + e.what();
    parsed = false;
  }
  if (parsed && !handler.saw_list())
    result.error = "the output has no \"list\" array";
  if (!parsed && result.error.empty()) result.error = "invalid JSON";
  if (!result.error.empty()) {
    result.inv.reset();
    result.warnings.clear();
    result.listed.clear();
    return result;
  }
  std::sort(result.listed.begin(), result.listed.end());
  if (handler.extra_warnings() > 0) {
    result.warnings.push_back("... and " +
                              std::to_string(handler.extra_warnings()) +
                              " more problems in the listing");
  }
  if (!result.inv->index()) drop_duplicates(&result);
  return result;
}

}  // namespace multipass
