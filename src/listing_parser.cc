// A SAX handler over nlohmann_json: no DOM is built, so a 10,000-VM listing
// costs one pass over the text and one allocation per kept string.
#include "listing_parser.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <utility>

#include "text_cut.h"

namespace multipass {

namespace {

constexpr size_t max_warnings = 32;    // more are summarised in one line
constexpr size_t max_shown_name = 80;  // long names are cut in warnings
constexpr size_t max_error = 512;      // a longer error is cut (the parser's
                                       // message quotes the offending token)

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
  return '"' + detail::cut_copy(name, max_shown_name) + '"';
}

// 119968 -> "119,968".
std::string grouped(size_t number) {
  std::string digits = std::to_string(number);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// What a warning is about. Every kind counts against max_warnings; past it
// the warnings are counted per kind and summarised in one line.
enum class warning_kind {
  not_an_object,
  wrong_type,
  no_name,
  bad_name,
  unknown_state,
  duplicate_name,
};
constexpr size_t warning_kinds = 6;

struct warning_kind_words {
  const char* one;
  const char* many;
};

// Indexed by warning_kind, for the summary.
constexpr warning_kind_words warning_kind_names[warning_kinds] = {
    {"entry that is not an object", "entries that are not objects"},
    {"entry with a value of the wrong type",
     "entries with a value of the wrong type"},
    {"entry without a name", "entries without a name"},
    {"name that cannot be a DNS label", "names that cannot be DNS labels"},
    {"unknown state", "unknown states"},
    {"duplicate name", "duplicate names"},
};

// The warnings of one listing: the first max_warnings in full, the rest
// counted per kind.
class warning_list {
 public:
  explicit warning_list(std::vector<std::string>* kept) : kept_(kept) {}

  // Keeps the text that `make()` returns while there is room; past the cap
  // only counts it (make is not called: a hostile listing's millionth
  // warning costs an increment).
  template <class Make>
  void add(warning_kind kind, Make&& make) {
    if (kept_->size() < max_warnings) {
      kept_->push_back(make());
    } else {
      ++not_kept_[static_cast<size_t>(kind)];
    }
  }

  // Appends one line that counts the warnings past the cap, per kind
  // ("... and 3 more warnings: 2 duplicate names, 1 unknown state").
  void summarise() const {
    size_t total = 0;
    for (size_t count : not_kept_) total += count;
    if (total == 0) return;
    std::string line = "... and " + grouped(total) + " more warning" +
                       (total == 1 ? "" : "s") + ":";
    const char* separator = " ";
    for (size_t kind = 0; kind < warning_kinds; ++kind) {
      const size_t count = not_kept_[kind];
      if (count == 0) continue;
      const warning_kind_words& words = warning_kind_names[kind];
      line += separator + grouped(count) + " " +
              (count == 1 ? words.one : words.many);
      separator = ", ";
    }
    kept_->push_back(std::move(line));
  }

 private:
  std::vector<std::string>* kept_;
  std::array<size_t, warning_kinds> not_kept_{};
};

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
  listing_handler(parsed_listing* result, warning_list* warnings)
      : result_(result), warnings_(warnings) {}

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
    if (skip_depth_ > 0) return true;
    if (where_ == place::entry) {
      if (field_ == field::name) {
        name_ = std::move(value);
        has_name_ = true;
        return true;
      }
      if (field_ == field::state) {
        state_text_ = std::move(value);
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
    if (skip_depth_ > 0) return ++skip_depth_, true;
    switch (where_) {
      case place::top:
        where_ = place::root;
        return true;
      case place::root:
        if (field_ == field::list && !saw_list_)
          return fail("\"list\" is not an array");
        skip_depth_ = 1;
        return true;
      case place::list:
        begin_entry();
        where_ = place::entry;
        return true;
      case place::entry:
        if (field_ != field::other) wrong_type(field_, "an object");
        skip_depth_ = 1;
        return true;
      case place::ipv4:
        wrong_type(field::ipv4, "an object inside");
        skip_depth_ = 1;
        return true;
      case place::done:
        break;
    }
    return fail("unexpected object");
  }

  bool start_array(std::size_t) {
    if (skip_depth_ > 0) return ++skip_depth_, true;
    switch (where_) {
      case place::top:
        return fail("the output is not a JSON object");
      case place::root:
        if (field_ == field::list && !saw_list_) {
          saw_list_ = true;
          where_ = place::list;
        } else {
          skip_depth_ = 1;  // an unknown key, or a second "list"
        }
        return true;
      case place::list:
        ++entry_number_;
        warnings_->add(warning_kind::not_an_object, [&] {
          return "skipped entry #" + std::to_string(entry_number_) +
                 " of \"list\": not an object";
        });
        skip_depth_ = 1;
        return true;
      case place::entry:
        if (field_ == field::ipv4) {
          addresses_.clear();
          where_ = place::ipv4;
        } else {
          if (field_ != field::other) wrong_type(field_, "an array");
          skip_depth_ = 1;
        }
        return true;
      case place::ipv4:
        wrong_type(field::ipv4, "an array inside");
        skip_depth_ = 1;
        return true;
      case place::done:
        break;
    }
    return fail("unexpected array");
  }

  bool key(json::string_t& name) {
    if (skip_depth_ > 0) return true;
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
    if (skip_depth_ > 0) return --skip_depth_, true;
    if (where_ == place::entry) {
      end_entry();
      where_ = place::list;
    } else if (where_ == place::root) {
      where_ = place::done;
    }
    return true;
  }

  bool end_array() {
    if (skip_depth_ > 0) return --skip_depth_, true;
    if (where_ == place::ipv4) {
      where_ = place::entry;
    } else if (where_ == place::list) {
      where_ = place::root;
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const json::exception& ex) {
    // The message quotes the token it stopped in: all of an unterminated
    // 15 MB string. Only the start is worth keeping.
    std::string_view what = ex.what();
    result_->error = "not valid JSON: ";
    result_->error.append(what.substr(0, max_error));
    return false;
  }

 private:
  enum class place { top, root, list, entry, ipv4, done };
  enum class field { none, list, name, state, ipv4, other };

  bool scalar(const char* what) {
    if (skip_depth_ > 0) return true;
    switch (where_) {
      case place::top:
        return fail("the output is not a JSON object");
      case place::root:
        if (field_ == field::list && !saw_list_)
          return fail("\"list\" is not an array");
        return true;
      case place::list:
        ++entry_number_;
        warnings_->add(warning_kind::not_an_object, [&] {
          return "skipped entry #" + std::to_string(entry_number_) +
                 " of \"list\": not an object";
        });
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

  void wrong_type(field which, const std::string& what) {
    if (wrong_type_.empty()) {
      const char* key = which == field::name    ? "name"
                        : which == field::state ? "state"
                                                : "ipv4";
      wrong_type_ = std::string("\"") + key + "\" is " + what;
    }
  }

  void begin_entry() {
    ++entry_number_;
    name_.clear();
    state_text_.clear();
    addresses_.clear();
    wrong_type_.clear();
    has_name_ = has_state_ = false;
  }

  void end_entry() {
    if (has_name_) result_->listed.push_back({name_, state_text_});
    // Built only for a warning that is kept.
    auto label = [&] {
      return has_name_ ? shown(name_) : "#" + std::to_string(entry_number_);
    };
    if (!wrong_type_.empty()) {
      warnings_->add(warning_kind::wrong_type, [&] {
        return "skipped instance " + label() + ": " + wrong_type_;
      });
      return;
    }
    if (!has_name_) {
      warnings_->add(warning_kind::no_name, [&] {
        return "skipped instance " + label() + ": it has no \"name\"";
      });
      return;
    }
    if (const char* problem = dns_label_problem(name_)) {
      warnings_->add(warning_kind::bad_name, [&] {
        return "skipped instance " + label() +
               ": its name cannot be a DNS label (" + problem + ")";
      });
      return;
    }
    vm machine;
    bool known = true;
    machine.state =
        has_state_ ? parse_state(state_text_, &known) : vm_state::unknown;
    if (!known) {
      warnings_->add(warning_kind::unknown_state, [&] {
        return "instance " + label() + " has the unknown state " +
               shown(state_text_) + "; treated as Unknown";
      });
    }
    machine.key = lower(name_);
    machine.name = std::move(name_);
    machine.ipv4 = addresses_;
    result_->inv->vms.push_back(std::move(machine));
  }

  parsed_listing* result_;
  warning_list* warnings_;
  place where_ = place::top;
  field field_ = field::none;
  int skip_depth_ = 0;  // depth inside a value being skipped
  bool saw_list_ = false;
  size_t entry_number_ = 0;  // 1-based position in "list"

  // The entry being read. wrong_type_: why it is skipped, such as
  // "\"name\" is a number"; empty when its known keys have the right types.
  std::string name_, state_text_, wrong_type_;
  std::vector<uint32_t> addresses_;
  bool has_name_ = false, has_state_ = false;
};

// Drops later entries whose key repeats an earlier one, then re-indexes.
// Every lookup happens before any move: the index reads the keys in place.
void drop_duplicates(inventory& inv, warning_list& warnings) {
  std::vector<bool> keep(inv.vms.size());
  for (size_t i = 0; i < inv.vms.size(); ++i) {
    const vm* first = inv.find(inv.vms[i].key);
    keep[i] = first == &inv.vms[i];
    if (!keep[i]) {
      warnings.add(warning_kind::duplicate_name, [&] {
        return "skipped instance " + shown(inv.vms[i].name) +
               ": its name repeats " + shown(first->name);
      });
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
  warning_list warnings(&result.warnings);
  listing_handler handler(&result, &warnings);
  bool parsed = false;
  try {
    parsed = json::sax_parse(text.begin(), text.end(), &handler,
                             json::input_format_t::json,
                             /*strict=*/true);
  } catch (const std::exception& e) {
    if (result.error.empty()) {
      result.error = "invalid JSON: ";
      result.error.append(std::string_view(e.what()).substr(0, max_error));
    }
    parsed = false;
  }
  if (parsed && !handler.saw_list())
    result.error = "the output has no \"list\" array";
  if (!parsed && result.error.empty()) result.error = "invalid JSON";
  if (!result.error.empty()) {
    detail::cut_text(result.error, max_error);
    result.inv.reset();
    result.warnings.clear();
    result.listed.clear();
    return result;
  }
  std::sort(result.listed.begin(), result.listed.end());
  if (!result.inv->index()) drop_duplicates(*result.inv, warnings);
  warnings.summarise();
  return result;
}

}  // namespace multipass
