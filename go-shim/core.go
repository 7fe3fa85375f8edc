//go:build cgo

package multipass

/*
// The coredns-multipass core, found through pkg-config: core_dynamic.go links
// the shared library, core_static.go (build tag multipass_static) the static
// archive. scripts/go-env.sh puts -DMULTIPASS_CORE_HASH=<hash of the
// installed library and headers> in CGO_CFLAGS: unused here, it keys Go's
// build cache to the installed core.
#include <stdlib.h>
#include <multipass/multipass.h>

// The per-query call: the core keeps no pointer it is given and never calls
// into Go, so the answer can live on the goroutine's stack and the call
// skips the runtime's callback bookkeeping.
#cgo noescape multipass_resolve_flags
#cgo nocallback multipass_resolve_flags

#if MULTIPASS_ABI_VERSION != 1 || MULTIPASS_ABI_REVISION < 5
#error "go-shim speaks MULTIPASS_ABI_VERSION 1, revision 5 or later: update core.go for the installed multipass.h"
#endif
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/miekg/dns"
)

// No Go code blocks in a call of this file: a goroutine blocked in cgo keeps
// its OS thread and, until the scheduler's monitor takes it back (up to
// 10 ms on a busy server), its P, which stalls every question of a
// GOMAXPROCS=1 CoreDNS. The core wakes Go through a pipe instead (events).

// The bucket count of listingCounts is the core's.
var _ [durationBuckets]struct{} = [C.MULTIPASS_DURATION_BUCKETS]struct{}{}

// errCap is the size of the buffers the core writes its errors into.
const errCap = 512

// check returns nil for MULTIPASS_OK, else the reason the core wrote.
func check(rc C.int, buf *[errCap]C.char) error {
	if rc == C.MULTIPASS_OK {
		return nil
	} else if buf[0] == 0 {
		return errors.New("unknown error in the multipass core")
	}
	return errors.New(C.GoString(&buf[0]))
}

// checkCore fails when the loaded library speaks another ABI than the header
// this package was compiled with, or an older revision of it.
func checkCore() error {
	if v, r := C.multipass_abi_version(), C.multipass_abi_revision(); v != C.MULTIPASS_ABI_VERSION || r < C.MULTIPASS_ABI_REVISION {
		return fmt.Errorf("libcoredns-multipass %s has ABI %d revision %d, this CoreDNS was built for ABI %d revision %d or later: rebuild CoreDNS against the installed library",
			C.GoString(C.multipass_version()), int(v), int(r), int(C.MULTIPASS_ABI_VERSION), int(C.MULTIPASS_ABI_REVISION))
	}
	return nil
}

// checkZone fails for a zone the core would refuse (its reason names it).
func checkZone(zone string) error {
	z := C.CString(zone)
	defer C.free(unsafe.Pointer(z))
	var buf [errCap]C.char
	return check(C.multipass_zone_check(z, &buf[0], errCap), &buf)
}

// coreDefaults returns the core's defaults for what a Corefile may set:
// those of multipass_source_options_init and
// multipass_resolver_options_init, the one place they are written.
func coreDefaults() (sourceOptions, resolverOptions) {
	var so C.multipass_source_options_t
	C.multipass_source_options_init(&so)
	var ro C.multipass_resolver_options_t
	C.multipass_resolver_options_init(&ro)
	millis := func(n C.uint32_t) time.Duration { return time.Duration(n) * time.Millisecond }
	return sourceOptions{
			daemon:    daemon{binary: C.GoString(so.binary)},
			intervals: intervals{probe: millis(so.probe_ms), refresh: millis(so.refresh_ms), timeout: millis(so.timeout_ms)},
		},
		resolverOptions{ttl: uint32(ro.ttl)}
}

// source wraps a multipass_source_t. No call may follow destroy: the
// registry destroys a source only once no block, query or goroutine uses it.
type source struct {
	p     *C.multipass_source_t
	entry C.multipass_log_entry_t // reused by nextLog: one drainer per source
}

// openSource creates (but does not start) a source running the CLI as o says.
func openSource(o sourceOptions) (coreSource, error) {
	if err := checkCore(); err != nil {
		return nil, err
	}
	var opts C.multipass_source_options_t
	if C.multipass_source_options_init_sized(&opts, C.size_t(unsafe.Sizeof(opts))) != C.MULTIPASS_OK {
		return nil, errors.New("the multipass core refused its own source options")
	}
	opts.binary = C.CString(o.binary)
	defer C.free(unsafe.Pointer(opts.binary))
	if o.serverAddress != "" {
		opts.server_address = C.CString(o.serverAddress)
		defer C.free(unsafe.Pointer(opts.server_address))
	}
	opts.probe_ms, opts.refresh_ms, opts.timeout_ms = ms(o.probe), ms(o.refresh), ms(o.timeout)

	var buf [errCap]C.char
	p := C.multipass_source_create(&opts, &buf[0], errCap)
	if p == nil {
		return nil, check(C.MULTIPASS_ERROR, &buf)
	}
	s := &source{p: p}
	s.entry.struct_size = C.size_t(unsafe.Sizeof(s.entry))
	return s, nil
}

func ms(d time.Duration) C.uint32_t { return C.uint32_t(d.Milliseconds()) }

func (s *source) start() error {
	var buf [errCap]C.char
	return check(C.multipass_source_start(s.p, &buf[0], errCap), &buf)
}

func (s *source) setIntervals(iv intervals) error {
	var buf [errCap]C.char
	return check(C.multipass_source_set_intervals(s.p, ms(iv.probe), ms(iv.refresh), ms(iv.timeout), &buf[0], errCap), &buf)
}

func (s *source) events() (io.ReadCloser, error) {
	var buf [errCap]C.char
	fd := C.multipass_source_event_fd(s.p, &buf[0], errCap)
	if fd < 0 {
		return nil, check(C.MULTIPASS_ERROR, &buf)
	}
	// Non-blocking, so os.NewFile reads it through the netpoller.
	return os.NewFile(uintptr(fd), "multipass-events"), nil
}

func (s *source) stop()       { C.multipass_source_stop(s.p) }
func (s *source) destroy()    { C.multipass_source_destroy(s.p); s.p = nil }
func (s *source) ready() bool { return C.multipass_source_ready(s.p) == 1 }

func (s *source) unitsFinished() uint64 {
	return uint64(C.multipass_source_units_finished(s.p))
}

func (s *source) stats() sourceStats {
	var st C.multipass_source_stats_t
	st.struct_size = C.size_t(unsafe.Sizeof(st))
	if C.multipass_source_stats(s.p, &st) != C.MULTIPASS_OK {
		return sourceStats{}
	}
	out := sourceStats{full: listingStats(&st.full, st.full_failing_seconds), probe: listingStats(&st.probe, st.probe_failing_seconds),
		instances:   make(map[string]uint32, len(st.instances)),
		fullBackoff: time.Duration(st.full_backoff_ms) * time.Millisecond}
	if st.last_success_unix_ms > 0 {
		out.lastSuccess = time.UnixMilli(int64(st.last_success_unix_ms))
	}
	for i, n := range st.instances {
		out.instances[C.GoString(C.multipass_state_name(C.int(i)))] = uint32(n)
	}
	return out
}

func listingStats(c *C.multipass_listing_stats_t, failingSeconds C.double) listingCounts {
	l := listingCounts{ok: uint64(c.ok), failed: uint64(c.failed), seconds: float64(c.seconds_sum),
		failing: time.Duration(float64(failingSeconds) * float64(time.Second))}
	for i := range l.buckets {
		l.buckets[i] = uint64(c.buckets[i])
	}
	return l
}

func (s *source) nextLog() (logLine, bool) {
	if C.multipass_log_next(s.p, 0, &s.entry) != C.MULTIPASS_LOG_ENTRY {
		return logLine{}, false
	}
	n := min(int(s.entry.len), len(s.entry.text)-1)
	return logLine{level: logLevel(s.entry.level), text: C.GoStringN(&s.entry.text[0], C.int(n)), dropped: uint64(s.entry.dropped)}, true
}

// resolver wraps a multipass_resolver_t. resolve is safe concurrently with
// itself and with destroy; afterwards it answers serverFailure.
type resolver struct {
	mu    sync.RWMutex // Lock for destroy, RLock for every other use of p
	p     *C.multipass_resolver_t
	await waitFunc // parks a question until a look has ended

	waitsMu sync.Mutex
	noWaits chan struct{} // closed while questions must not wait (stopWaiting)
}

func (s *source) newResolver(o resolverOptions, await waitFunc) (coreResolver, error) {
	var opts C.multipass_resolver_options_t
	if C.multipass_resolver_options_init_sized(&opts, C.size_t(unsafe.Sizeof(opts))) != C.MULTIPASS_OK {
		return nil, errors.New("the multipass core refused its own resolver options")
	}

	zones, free := cStrings(o.zones)
	defer free()
	networks, free := cStrings(o.networks)
	defer free()
	opts.zones, opts.zone_count = zones, C.size_t(len(o.zones))
	opts.networks, opts.network_count = networks, C.size_t(len(o.networks))
	opts.ttl = C.uint32_t(o.ttl)
	opts.addresses_all = cBool(o.addressesAll)
	opts.wildcard = cBool(o.wildcard)
	for _, f := range []struct {
		field **C.char
		value string
	}{{&opts.nameserver, o.nameserver}, {&opts.nameserver_address, o.nameserverAddress}, {&opts.state_dir, o.stateDir}} {
		if f.value != "" {
			*f.field = C.CString(f.value)
			defer C.free(unsafe.Pointer(*f.field))
		}
	}

	var buf [errCap]C.char
	p := C.multipass_resolver_create(s.p, &opts, &buf[0], errCap)
	if p == nil {
		return nil, check(C.MULTIPASS_ERROR, &buf)
	}
	return &resolver{p: p, await: await, noWaits: make(chan struct{})}, nil
}

func (r *resolver) resolve(qname string, qtype uint16) answer {
	var out C.multipass_answer_t
	out.struct_size = C.size_t(unsafe.Sizeof(out))

	// The RLock spans a wait too: destroy wakes the question, then waits
	// for it to end.
	r.mu.RLock()
	rc := r.ask(qname, qtype, C.MULTIPASS_RESOLVE_NO_WAIT, &out)
	if rc == C.MULTIPASS_OK && out.outcome == C.MULTIPASS_WAIT {
		// A question that waits for a look (a name the inventory lacks, an
		// A question for a VM without an address, any question before the
		// first load): park this goroutine until the look the core asked
		// for has ended, then ask again with the same answer, whose
		// wait_seq tells the core which look that was.
		r.await(uint64(out.wait_seq), time.Duration(out.wait_ms)*time.Millisecond, r.cancelWaits())
		rc = r.ask(qname, qtype, C.MULTIPASS_RESOLVE_WAITED, &out)
	}
	r.mu.RUnlock()
	if rc != C.MULTIPASS_OK {
		return answer{outcome: serverFailure}
	}

	a := answer{outcome: outcome(out.outcome), rcode: int(out.rcode), zone: int(out.zone), rrtype: uint16(out.rrtype), ttl: uint32(out.ttl),
		soa: soaValues{uint32(out.soa.serial), uint32(out.soa.refresh), uint32(out.soa.retry),
			uint32(out.soa.expire), uint32(out.soa.minimum), uint32(out.soa.ttl)}}
	// Copied with Go's copy and string conversion rather than C.GoBytes and
	// C.GoString, which would move out to the heap.
	switch a.rrtype {
	case dns.TypeA:
		n := min(int(out.count), C.MULTIPASS_MAX_ADDRESSES)
		a.addrs = make([]byte, 4*n)
		copy(a.addrs, unsafe.Slice((*byte)(unsafe.Pointer(&out.addresses[0])), 4*n))
	case dns.TypePTR, dns.TypeNS:
		target := unsafe.Slice((*byte)(unsafe.Pointer(&out.target[0])), len(out.target))
		if end := bytes.IndexByte(target, 0); end >= 0 {
			target = target[:end]
		}
		a.target = string(target)
	}
	return a
}

// ask is one call of the core, which never blocks with these flags. Call
// with r.mu held for reading.
func (r *resolver) ask(qname string, qtype uint16, flags C.uint32_t, out *C.multipass_answer_t) C.int {
	if r.p == nil || qname == "" {
		return C.MULTIPASS_ERROR
	}
	// The core reads qname during the call only: no copy.
	return C.multipass_resolve_flags(r.p, (*C.char)(unsafe.Pointer(unsafe.StringData(qname))),
		C.size_t(len(qname)), C.uint16_t(qtype), flags, out)
}

func (r *resolver) zone(i int) (origin, mname, rname string, err error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.p == nil {
		return "", "", "", errors.New("resolver destroyed")
	}
	var o, m, n [C.MULTIPASS_NAME_CAP]C.char
	if C.multipass_resolver_zone_names(r.p, C.int32_t(i), &o[0], C.size_t(len(o)), &m[0], C.size_t(len(m)), &n[0], C.size_t(len(n))) != C.MULTIPASS_OK {
		return "", "", "", fmt.Errorf("the core has no zone %d", i)
	}
	return C.GoString(&o[0]), C.GoString(&m[0]), C.GoString(&n[0]), nil
}

func (r *resolver) transfer(i int) (zoneContent, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.p == nil {
		return zoneContent{}, errors.New("resolver destroyed")
	}
	var z *C.multipass_zone_t
	var buf [errCap]C.char
	if err := check(C.multipass_resolver_transfer(r.p, C.int32_t(i), &z, &buf[0], errCap), &buf); err != nil {
		return zoneContent{}, err
	}
	defer C.multipass_free(unsafe.Pointer(z))
	out := zoneContent{soa: soaValues{uint32(z.soa.serial), uint32(z.soa.refresh), uint32(z.soa.retry),
		uint32(z.soa.expire), uint32(z.soa.minimum), uint32(z.soa.ttl)}}
	out.records = make([]zoneRecord, int(z.count))
	for i, rec := range unsafe.Slice(z.records, int(z.count)) {
		out.records[i] = zoneRecord{owner: C.GoString(rec.owner), rrtype: uint16(rec.rrtype), ttl: uint32(rec.ttl),
			addr: [4]byte{byte(rec.address[0]), byte(rec.address[1]), byte(rec.address[2]), byte(rec.address[3])}}
		if rec.target != nil {
			out.records[i].target = C.GoString(rec.target)
		}
	}
	return out, nil
}

// cancelWaits returns what a question's wait also ends on: closed while
// questions must not wait.
func (r *resolver) cancelWaits() <-chan struct{} {
	r.waitsMu.Lock()
	defer r.waitsMu.Unlock()
	return r.noWaits
}

func (r *resolver) stopWaiting() {
	r.waitsMu.Lock()
	defer r.waitsMu.Unlock()
	select {
	case <-r.noWaits:
	default:
		close(r.noWaits)
	}
}

func (r *resolver) resumeWaiting() {
	r.waitsMu.Lock()
	defer r.waitsMu.Unlock()
	select {
	case <-r.noWaits:
		r.noWaits = make(chan struct{})
	default:
	}
}

func (r *resolver) destroy() {
	// Questions parked on this resolver wake at once; the core answers
	// them from the newest snapshot.
	r.stopWaiting()
	r.mu.Lock()
	defer r.mu.Unlock()
	C.multipass_resolver_destroy(r.p) // NULL-safe
	r.p = nil
}

// cStrings copies ss into a C array of C strings (nil when ss is empty):
// the core reads it during a call, and free frees it all.
func cStrings(ss []string) (array **C.char, free func()) {
	if len(ss) == 0 {
		return nil, func() {}
	}
	cs := unsafe.Slice((**C.char)(C.calloc(C.size_t(len(ss)), C.size_t(unsafe.Sizeof(array)))), len(ss))
	for i, s := range ss {
		cs[i] = C.CString(s)
	}
	return &cs[0], func() {
		for _, c := range cs {
			C.free(unsafe.Pointer(c))
		}
		C.free(unsafe.Pointer(&cs[0]))
	}
}

func cBool(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}
