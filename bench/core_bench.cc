// Core microbenchmarks: resolve at 10, 1,000 and 10,000 VMs (hit, miss,
// first-time miss, AAAA, mixed case; internal resolver and the C ABI),
// parsing a 10,000-VM listing, releasing an inventory, a full refresh, and
// snapshot swaps under concurrent readers.
//
// Fleets come from a real `source` whose CLI is a two-line shell script that
// prints a generated listing (the layout of `multipass list --format=json`,
// as tests/fixtures/make_fleet.py writes it), loaded by its first unit.
// Nothing runs in the background afterwards (no cheap listing, the next
// unit an hour away), and the unknown names of BM_resolve_miss are
// remembered as missing before it runs, as a look that ended after them
// leaves them, so that a miss measures the lookup, not a wait for the CLI.
// See bench/README.md for how to run and read the numbers.
#include <benchmark/benchmark.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "listing_parser.h"
#include "multipass/multipass.h"
#include "resolver.h"
#include "source.h"

namespace {

constexpr uint16_t type_a = 1;
constexpr uint16_t type_aaaa = 28;
constexpr const char* zone_name = "vm.test";

std::string vm_name(size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "vm-%05zu", n);
  return buf;
}

// 10.0.0.0 + n, dotted.
std::string vm_address(size_t n) {
  uint32_t a = (10u << 24) + static_cast<uint32_t>(n);
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) +
         "." + std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

// `count` running VMs vm-00001.. with 10.0.0.1.., in the CLI's layout. The
// variant differs only in the last VM's address, so that publishing it
// replaces the snapshot (the source keeps a snapshot whose content did not
// change).
std::string render_listing(size_t count, bool variant = false) {
  std::string out = "{\n    \"list\": [\n";
  for (size_t n = 1; n <= count; ++n) {
    out += "        {\n            \"ipv4\": [\n                \"";
    out += variant && n == count ? std::string("10.255.255.254") : vm_address(n);
    out += "\"\n            ],\n            \"name\": \"";
    out += vm_name(n);
    out += "\",\n            \"release\": \"Ubuntu 24.04 LTS\",\n"
           "            \"state\": \"Running\"\n        }";
    out += n < count ? ",\n" : "\n";
  }
  out += "    ]\n}\n";
  return out;
}

// A directory under /tmp, removed with everything in it on destruction.
class temp_dir {
 public:
  temp_dir() {
    char pattern[] = "/tmp/core_bench.XXXXXX";
    if (!mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& text, int mode) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f || chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    throw std::runtime_error("cannot write " + path);
  }
}

// Query names packed back to back in one buffer, in visiting order. Reading
// the next name then streams through memory, as a server reads the name from
// the packet it just received, instead of chasing one heap block per name
// (which would add a cache miss of the benchmark's own to every lookup).
class name_list {
 public:
  explicit name_list(const std::vector<std::string>& names) {
    for (const std::string& n : names) arena_ += n;
    size_t offset = 0;
    for (const std::string& n : names) {
      views_.emplace_back(arena_.data() + offset, n.size());
      offset += n.size();
    }
  }
  size_t size() const { return views_.size(); }
  std::string_view operator[](size_t i) const { return views_[i]; }

 private:
  std::string arena_;
  std::vector<std::string_view> views_;
};

// One fleet: its listing, a CLI that prints it, a loaded source and a
// resolver for vm.test over it.
struct fleet {
  explicit fleet(size_t count) : size(count) {
    listing = render_listing(count);
    const std::string& d = dir.path();
    write_file(d + "/list-a.json", listing, 0644);
    write_file(d + "/list-b.json", render_listing(count, true), 0644);
    // Prints list-a and list-b in turn: every refresh publishes a new
    // snapshot.
    cli = d + "/multipass";
    write_file(cli,
               "#!/bin/sh\ncd '" + d + "' || exit 1\n"
               "if [ -e flip ]; then rm -f flip; exec cat list-b.json; fi\n"
               ": > flip\nexec cat list-a.json\n",
               0755);

    multipass::source_options so;
    so.binary = cli;
    so.probe = std::chrono::milliseconds(0);
    so.refresh = std::chrono::hours(1);
    so.demand_interval = std::chrono::hours(1);  // looks: refresh_now only
    src = std::make_shared<multipass::source>(so);
    src->start();  // its first unit loads the listing
    for (int i = 0; i < 6000 && !src->ready(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!src->ready()) throw std::runtime_error("the first listing failed");
    multipass::resolver_options ro;
    ro.zones = {zone_name};
    ro.negative_ttl = 3600;  // misses stay remembered through every run
    res = std::make_unique<multipass::resolver>(src, ro);

    std::mt19937 rng(42);
    std::vector<std::string> hit_names, mixed_names, miss_names;
    // The same 1,000 unknown names at every fleet size: after the first
    // pass the resolver's memory of missing names knows them all.
    for (size_t n = 1; n <= 1000; ++n) {
      miss_names.push_back("nosuch-" + vm_name(n) + "." + zone_name + ".");
    }
    for (size_t n = 1; n <= count; ++n) {
      std::string q = vm_name(n) + "." + zone_name + ".";
      hit_names.push_back(q);
      std::string mixed = q;
      for (char& c : mixed) {
        if (c >= 'a' && c <= 'z' && (rng() & 1)) c = static_cast<char>(c - 32);
      }
      mixed_names.push_back(mixed);
    }
    // Visit names in a shuffled order: a real client does not walk the
    // table in insertion order.
    std::shuffle(hit_names.begin(), hit_names.end(), rng);
    std::shuffle(mixed_names.begin(), mixed_names.end(), rng);
    std::shuffle(miss_names.begin(), miss_names.end(), rng);
    hits = std::make_unique<name_list>(hit_names);
    mixed_case = std::make_unique<name_list>(mixed_names);
    misses = std::make_unique<name_list>(miss_names);
    remember_missing(miss_names);
  }

  // Each name asks for a look (and is told to wait), one unit ends after
  // them all, and each is asked again: the resolver remembers them.
  void remember_missing(const std::vector<std::string>& names) {
    std::vector<multipass_answer_t> waits(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      waits[i].struct_size = sizeof waits[i];
      res->resolve(names[i], type_a, &waits[i], multipass::resolve_no_wait);
    }
    std::string error;
    if (!src->refresh_now(&error))
      throw std::runtime_error("refresh failed: " + error);
    for (size_t i = 0; i < names.size(); ++i)
      res->resolve(names[i], type_a, &waits[i], multipass::resolve_waited);
  }

  size_t size;
  temp_dir dir;
  std::string listing;
  std::string cli;
  std::shared_ptr<multipass::source> src;
  std::unique_ptr<multipass::resolver> res;
  std::unique_ptr<name_list> hits, mixed_case, misses;
};

fleet& get_fleet(size_t count) {
  static std::mutex mu;
  static std::map<size_t, std::unique_ptr<fleet>> fleets;
  std::lock_guard<std::mutex> lock(mu);
  auto& f = fleets[count];
  if (!f) f = std::make_unique<fleet>(count);
  return *f;
}

// Checks once that a question gets the expected outcome, so that a broken
// setup cannot produce a fast but meaningless number.
bool expect_outcome(benchmark::State& state, const multipass::resolver& res,
                    std::string_view qname, uint16_t qtype,
                    int32_t outcome) {
  multipass_answer_t answer{};
  answer.struct_size = sizeof answer;
  if (!res.resolve(qname, qtype, &answer) || answer.outcome != outcome) {
    state.SkipWithError(("unexpected outcome for " + std::string(qname)).c_str());
    return false;
  }
  return true;
}

enum class query_kind { hit, miss, aaaa, mixed_case };

void resolve_loop(benchmark::State& state, query_kind kind) {
  fleet& f = get_fleet(static_cast<size_t>(state.range(0)));
  const name_list& names = kind == query_kind::miss         ? *f.misses
                          : kind == query_kind::mixed_case ? *f.mixed_case
                                                           : *f.hits;
  uint16_t qtype = kind == query_kind::aaaa ? type_aaaa : type_a;
  int32_t outcome = kind == query_kind::miss   ? MULTIPASS_NXDOMAIN
                    : kind == query_kind::aaaa ? MULTIPASS_NODATA
                                               : MULTIPASS_ANSWER;
  if (!expect_outcome(state, *f.res, names[0], qtype, outcome)) return;

  multipass_answer_t answer{};
  answer.struct_size = sizeof answer;
  size_t i = static_cast<size_t>(state.thread_index()) * 997 % names.size();
  for (auto _ : state) {
    f.res->resolve(names[i], qtype, &answer);
    benchmark::DoNotOptimize(answer.outcome);
    if (++i == names.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_resolve_hit(benchmark::State& s) { resolve_loop(s, query_kind::hit); }
void BM_resolve_miss(benchmark::State& s) { resolve_loop(s, query_kind::miss); }

// A name never asked before at every iteration ("n0000000001.vm.test.",
// counting up in place): the first half of the first-miss path as the Go
// shim takes it (snapshot lookup, the memory of missing names, the request
// for a look, the MULTIPASS_WAIT answer), without the wait and the second
// half (the same question asked again once the look has ended).
void BM_resolve_new_miss(benchmark::State& state) {
  fleet& f = get_fleet(static_cast<size_t>(state.range(0)));
  std::string name = std::string("n0000000000.") + zone_name + ".";
  const size_t last_digit = 10;
  auto next = [&] {
    for (size_t d = last_digit; d > 0; --d) {
      if (++name[d] <= '9') return;
      name[d] = '0';
    }
  };
  multipass_answer_t answer{};
  answer.struct_size = sizeof answer;
  next();
  if (!f.res->resolve(name, type_a, &answer, multipass::resolve_no_wait) ||
      answer.outcome != MULTIPASS_WAIT) {
    state.SkipWithError("a new name is not told to wait");
    return;
  }
  for (auto _ : state) {
    next();
    f.res->resolve(name, type_a, &answer, multipass::resolve_no_wait);
    benchmark::DoNotOptimize(answer.outcome);
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_resolve_aaaa(benchmark::State& s) { resolve_loop(s, query_kind::aaaa); }
void BM_resolve_mixed_case(benchmark::State& s) {
  resolve_loop(s, query_kind::mixed_case);
}

// The same hit through the C ABI, as the Go shim calls it.
void BM_c_api_resolve_hit(benchmark::State& state) {
  fleet& f = get_fleet(static_cast<size_t>(state.range(0)));
  multipass_source_options_t so;
  multipass_source_options_init_sized(&so, sizeof so);
  so.binary = f.cli.c_str();
  so.miss_wait_ms = 0;
  so.refresh_ms = 3600 * 1000;
  char err[256];
  multipass_source_t* src = multipass_source_create(&so, err, sizeof err);
  if (!src || multipass_source_refresh(src, err, sizeof err) != MULTIPASS_OK) {
    state.SkipWithError(err);
    multipass_source_destroy(src);
    return;
  }
  multipass_resolver_options_t ro;
  multipass_resolver_options_init_sized(&ro, sizeof ro);
  const char* zones[] = {zone_name};
  ro.zones = zones;
  ro.zone_count = 1;
  multipass_resolver_t* res = multipass_resolver_create(src, &ro, err, sizeof err);
  if (!res) {
    state.SkipWithError(err);
    multipass_source_destroy(src);
    return;
  }
  multipass_answer_t answer{};
  answer.struct_size = sizeof answer;
  const name_list& hits = *f.hits;
  multipass_resolve(res, hits[0].data(), hits[0].size(), type_a, &answer);
  if (answer.outcome != MULTIPASS_ANSWER) state.SkipWithError("no answer");

  size_t i = 0;
  for (auto _ : state) {
    std::string_view q = hits[i];
    multipass_resolve(res, q.data(), q.size(), type_a, &answer);
    benchmark::DoNotOptimize(answer.outcome);
    if (++i == hits.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  multipass_resolver_destroy(res);
  multipass_source_destroy(src);
}

// Parsing a listing into an indexed inventory (no process).
void BM_parse(benchmark::State& state) {
  fleet& f = get_fleet(static_cast<size_t>(state.range(0)));
  multipass::parsed_listing check = multipass::parse_listing(f.listing);
  if (!check.inv || check.inv->vms.size() != f.size) {
    state.SkipWithError(("parse failed: " + check.error).c_str());
    return;
  }
  for (auto _ : state) {
    multipass::parsed_listing parsed = multipass::parse_listing(f.listing);
    benchmark::DoNotOptimize(parsed.inv.get());
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(f.listing.size()));
}

// Destroying a parsed inventory: what the thread that drops the last
// reference to a replaced snapshot pays (the refresher, or a reader whose
// resolve still held it).
void BM_inventory_release(benchmark::State& state) {
  fleet& f = get_fleet(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    state.PauseTiming();
    multipass::parsed_listing parsed = multipass::parse_listing(f.listing);
    state.ResumeTiming();
    parsed.inv.reset();
  }
}

// A whole refresh in the calling thread: run the CLI (a shell script that
// cats the listing), read its output, parse, index, publish.
void BM_refresh_now(benchmark::State& state) {
  fleet& f = get_fleet(static_cast<size_t>(state.range(0)));
  std::string error;
  for (auto _ : state) {
    if (!f.src->refresh_now(&error)) {
      state.SkipWithError(error.c_str());
      break;
    }
  }
}

// Reader side of a snapshot swap: batches of 64 hits at 10,000 VMs, with
// (range(0) == 1) or without (0) a second thread publishing a new snapshot
// by refresh_now() in a loop. Counters: ns per resolve, the slowest batch,
// and how many snapshots were published meanwhile.
void BM_resolve_during_swaps(benchmark::State& state) {
  fleet& f = get_fleet(10000);
  const bool swapping = state.range(0) == 1;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> swaps{0};
  std::thread writer;
  if (swapping) {
    writer = std::thread([&] {
      std::string error;
      while (!stop.load(std::memory_order_relaxed)) {
        if (f.src->refresh_now(&error)) swaps.fetch_add(1);
      }
    });
  }
  using clock = std::chrono::steady_clock;
  multipass_answer_t answer{};
  answer.struct_size = sizeof answer;
  size_t i = 0;
  int64_t slowest_ns = 0;
  for (auto _ : state) {
    auto start = clock::now();
    for (int k = 0; k < 64; ++k) {
      f.res->resolve((*f.hits)[i], type_a, &answer);
      benchmark::DoNotOptimize(answer.outcome);
      if (++i == f.hits->size()) i = 0;
    }
    int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     clock::now() - start).count();
    slowest_ns = std::max(slowest_ns, ns);
  }
  stop = true;
  if (writer.joinable()) writer.join();
  state.counters["ns_per_resolve"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * 64,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["slowest_batch_us"] = static_cast<double>(slowest_ns) / 1e3;
  state.counters["swaps"] = static_cast<double>(swaps.load());
  state.SetItemsProcessed(state.iterations() * 64);
}

// Writer side: refresh_now() at 10,000 VMs while range(0) reader threads
// resolve hits without pause. Counter: resolves per second the readers
// managed meanwhile.
void BM_swap_under_readers(benchmark::State& state) {
  fleet& f = get_fleet(10000);
  const int readers = static_cast<int>(state.range(0));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> resolves{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      multipass_answer_t answer{};
      answer.struct_size = sizeof answer;
      size_t i = static_cast<size_t>(r) * 997 % f.hits->size();
      uint64_t done = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        f.res->resolve((*f.hits)[i], type_a, &answer);
        benchmark::DoNotOptimize(answer.outcome);
        if (++i == f.hits->size()) i = 0;
        ++done;
      }
      resolves.fetch_add(done);
    });
  }
  std::string error;
  auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (!f.src->refresh_now(&error)) {
      state.SkipWithError(error.c_str());
      break;
    }
  }
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start).count();
  stop = true;
  for (auto& t : threads) t.join();
  state.counters["reader_resolves_per_s"] =
      seconds > 0 ? static_cast<double>(resolves.load()) / seconds : 0;
}

const std::vector<int64_t> sizes = {10, 1000, 10000};

void size_args(benchmark::internal::Benchmark* b) {
  for (int64_t n : sizes) b->Arg(n);
  b->ArgName("vms");
}

}  // namespace

BENCHMARK(BM_resolve_hit)->Apply(size_args);
BENCHMARK(BM_resolve_miss)->Apply(size_args);
BENCHMARK(BM_resolve_new_miss)->Apply(size_args);
BENCHMARK(BM_resolve_aaaa)->Apply(size_args);
BENCHMARK(BM_resolve_mixed_case)->Apply(size_args);
BENCHMARK(BM_c_api_resolve_hit)->Apply(size_args);
// 1, 2 and 4 reader threads at once, each resolving hits without pause: a
// query shares no lock and no counter with the others, so on a machine with
// at least 2 cores the time per resolve at 2 threads stays that at 1.
BENCHMARK(BM_resolve_hit)->Arg(10000)->ArgName("vms")->ThreadRange(1, 4)->UseRealTime();
BENCHMARK(BM_parse)->Arg(1000)->Arg(10000)->ArgName("vms")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_inventory_release)->Arg(10000)->ArgName("vms")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_refresh_now)->Arg(10000)->ArgName("vms")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_resolve_during_swaps)->Arg(0)->Arg(1)->ArgName("swapping")->UseRealTime();
BENCHMARK(BM_swap_under_readers)->Arg(0)->Arg(1)->ArgName("readers")->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
