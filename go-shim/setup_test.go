//go:build cgo

// The defaults these tests parse come from the core (coreDefaults).

package multipass

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

func TestSetupParse(t *testing.T) {
	src := func(binary, serverAddress string, probe, refresh, timeout time.Duration) sourceOptions {
		return sourceOptions{daemon{binary, serverAddress}, intervals{probe, refresh, timeout}}
	}
	defaultSource := src("multipass", "", 5*time.Second, 10*time.Minute, 10*time.Second)

	tests := []struct {
		input     string
		keys      []string // server block keys
		shouldErr string   // substring of the error; "" for none
		zones     []string
		fall      []string
		source    sourceOptions
		resolver  resolverOptions // zones are checked through zones
	}{
		// Defaults, zones from the server block.
		{input: `multipass`, keys: []string{"vm.test.:1053"},
			zones: []string{"vm.test."}, source: defaultSource, resolver: resolverOptions{ttl: 10}},
		{input: `multipass {
			}`, keys: []string{"VM.Internal"},
			zones: []string{"vm.internal."}, source: defaultSource, resolver: resolverOptions{ttl: 10}},
		// Zones from the arguments win; reverse zones and CIDRs.
		{input: `multipass vm.test 24.110.10.in-addr.arpa`, keys: []string{"."},
			zones: []string{"vm.test.", "24.110.10.in-addr.arpa."}, source: defaultSource, resolver: resolverOptions{ttl: 10}},
		{input: `multipass vm.test 10.110.24.0/24`,
			zones: []string{"vm.test.", "24.110.10.in-addr.arpa."}, source: defaultSource, resolver: resolverOptions{ttl: 10}},
		// Every option.
		{input: `multipass vm.test {
				binary /opt/bin/multipass
				server_address 192.168.64.1:50051
				ttl 60
				refresh 30s
				timeout 2s
				addresses all
				networks 10.110.24.0/24 192.168.64.9/24
				networks 172.16.0.0/12
				wildcard
				fallthrough vm.test other.test
			}`,
			zones: []string{"vm.test."}, fall: []string{"vm.test.", "other.test."},
			source: src("/opt/bin/multipass", "192.168.64.1:50051", 5*time.Second, 30*time.Second, 2*time.Second),
			resolver: resolverOptions{ttl: 60, addressesAll: true, wildcard: true,
				networks: []string{"10.110.24.0/24", "192.168.64.0/24", "172.16.0.0/12"}}},
		{input: `multipass vm.test {
				server_address unix:/var/snap/multipass/common/multipass_socket
				ttl 0
				refresh 1s
				timeout 100ms
				addresses first
				fallthrough
			}`,
			zones: []string{"vm.test."}, fall: []string{"."},
			// refresh alone, no longer than the default probe: no cheap listing.
			source:   src("multipass", "unix:/var/snap/multipass/common/multipass_socket", 0, time.Second, 100*time.Millisecond),
			resolver: resolverOptions{ttl: 0}},
		{input: `multipass vm.test {
				ttl 86400
				refresh 24h
				timeout 5m
				server_address [fd00::1]:50051
			}`,
			zones:    []string{"vm.test."},
			source:   src("multipass", "[fd00::1]:50051", 5*time.Second, 24*time.Hour, 5*time.Minute),
			resolver: resolverOptions{ttl: 86400}},
		// The nameserver, with an address or with the core's default.
		{input: block("nameserver DNS.vm.test 192.168.1.20"), zones: []string{"vm.test."}, source: defaultSource,
			resolver: resolverOptions{ttl: 10, nameserver: "DNS.vm.test", nameserverAddress: "192.168.1.20"}},
		{input: block("nameserver ns.example.net."), zones: []string{"vm.test."}, source: defaultSource,
			resolver: resolverOptions{ttl: 10, nameserver: "ns.example.net."}},
		// probe: a duration, or off; shorter than refresh.
		{input: block("probe 1s\nrefresh 2s"), zones: []string{"vm.test."},
			source: src("multipass", "", time.Second, 2*time.Second, 10*time.Second), resolver: resolverOptions{ttl: 10}},
		{input: block("probe 1h"), zones: []string{"vm.test."}, shouldErr: "probe (1h0m0s) must be shorter than refresh (10m0s), or off"},
		{input: block("probe 59s"), zones: []string{"vm.test."},
			source: src("multipass", "", 59*time.Second, 10*time.Minute, 10*time.Second), resolver: resolverOptions{ttl: 10}},
		{input: block("probe off\nrefresh 5s"), zones: []string{"vm.test."},
			source: src("multipass", "", 0, 5*time.Second, 10*time.Second), resolver: resolverOptions{ttl: 10}},
		{input: block("refresh 6s"), zones: []string{"vm.test."},
			source: src("multipass", "", 5*time.Second, 6*time.Second, 10*time.Second), resolver: resolverOptions{ttl: 10}},
		{input: block("probe 10s\nrefresh 10s"), shouldErr: "probe (10s) must be shorter than refresh (10s), or off"},
		{input: block("refresh 5s\nprobe 5s"), shouldErr: "probe (5s) must be shorter than refresh (5s), or off"},
		{input: block("probe"), shouldErr: "Wrong argument count"},
		{input: block("probe 1s 2s"), shouldErr: "Wrong argument count"},
		{input: block("probe 999ms"), shouldErr: "probe must be a duration in [1s, 1h0m0s]: '999ms'"},
		{input: block("probe 2h"), shouldErr: "probe must be a duration in [1s, 1h0m0s]: '2h'"},
		{input: block("probe Off"), shouldErr: "probe must be a duration in [1s, 1h0m0s]: 'Off'"},

		// Errors.
		{input: `multipass`, shouldErr: "no zones"},
		{input: `multipass vm..test`, shouldErr: "invalid zone 'vm..test'"},
		{input: "multipass vm.test\nmultipass other.test", shouldErr: "only be used once per Server Block"},
		{input: block(`bogus`), shouldErr: "unknown property 'bogus'"},
		{input: block(`binary`), shouldErr: "Wrong argument count"},
		{input: block(`binary a b`), shouldErr: "Wrong argument count"},
		{input: block(`binary ""`), shouldErr: "binary needs a non-empty path"},
		{input: block(`binary ./multipass`), shouldErr: "binary must be an absolute path, or a name looked up in PATH: './multipass' is relative"},
		{input: block(`binary bin/multipass`), shouldErr: "binary must be an absolute path, or a name looked up in PATH: 'bin/multipass' is relative"},
		{input: block(`binary ../multipass`), shouldErr: "is relative"},
		{input: block(`server_address`), shouldErr: "Wrong argument count"},
		{input: block(`server_address localhost`), shouldErr: "server_address must be HOST:PORT or unix:PATH: 'localhost'"},
		{input: block(`server_address :50051`), shouldErr: "server_address must be HOST:PORT or unix:PATH: ':50051'"},
		{input: block(`server_address host:0`), shouldErr: "server_address must be HOST:PORT or unix:PATH: 'host:0'"},
		{input: block(`server_address host:65536`), shouldErr: "server_address must be HOST:PORT or unix:PATH: 'host:65536'"},
		{input: block(`server_address host:http`), shouldErr: "server_address must be HOST:PORT or unix:PATH: 'host:http'"},
		{input: block(`server_address unix:`), shouldErr: "server_address must be HOST:PORT or unix:PATH: 'unix:'"},
		{input: block(`ttl`), shouldErr: "Wrong argument count"},
		{input: block(`ttl -1`), shouldErr: "ttl must be an integer in [0, 86400]: '-1'"},
		{input: block(`ttl 86401`), shouldErr: "ttl must be an integer in [0, 86400]: '86401'"},
		{input: block(`ttl 10s`), shouldErr: "ttl must be an integer"},
		{input: block(`refresh`), shouldErr: "Wrong argument count"},
		{input: block(`refresh 5`), shouldErr: "refresh must be a duration in [1s, 24h0m0s]: '5'"},
		{input: block(`refresh 999ms`), shouldErr: "refresh must be a duration"},
		{input: block(`refresh 25h`), shouldErr: "refresh must be a duration"},
		{input: block(`timeout 99ms`), shouldErr: "timeout must be a duration in [100ms, 5m0s]: '99ms'"},
		{input: block(`timeout 301s`), shouldErr: "timeout must be a duration"},
		{input: block(`timeout soon`), shouldErr: "timeout must be a duration"},
		{input: block(`addresses`), shouldErr: "Wrong argument count"},
		{input: block(`addresses some`), shouldErr: "addresses must be 'first' or 'all': 'some'"},
		{input: block(`networks`), shouldErr: "Wrong argument count"},
		{input: block(`networks 10.0.0.0`), shouldErr: "networks needs IPv4 CIDRs such as 10.110.24.0/24: '10.0.0.0'"},
		{input: block(`networks 10.0.0.0/33`), shouldErr: "networks needs IPv4 CIDRs"},
		{input: block(`networks fd00::/8`), shouldErr: "networks needs IPv4 CIDRs"},
		{input: block(`networks ::ffff:10.0.0.0/104`), shouldErr: "networks needs IPv4 CIDRs"},
		{input: block(`wildcard yes`), shouldErr: "Wrong argument count"},
		{input: block(`nameserver`), shouldErr: "Wrong argument count"},
		{input: block(`nameserver ns1.vm.test 10.0.0.1 x`), shouldErr: "Wrong argument count"},
		{input: block(`nameserver ns1..vm.test`), shouldErr: "nameserver needs a domain name: 'ns1..vm.test'"},
		{input: block(`nameserver ns1.vm.test 10.0.0`), shouldErr: "nameserver needs an IPv4 address after the name: '10.0.0'"},
		{input: block(`nameserver ns1.vm.test fd00::53`), shouldErr: "nameserver needs an IPv4 address after the name: 'fd00::53'"},
		{input: block(`nameserver a.b.vm.test`), shouldErr: "nameserver a.b.vm.test must be one label below the zone vm.test., or outside it"},
		{input: block(`nameserver VM.test.`), shouldErr: "nameserver VM.test. must be one label below the zone vm.test., or outside it"},
		{input: block(`state`), shouldErr: "Wrong argument count"},
		{input: block(`state var/lib/coredns`), shouldErr: "state needs an absolute folder: 'var/lib/coredns'"},
		{input: block(`state /nonexistent/coredns-multipass`), shouldErr: "state needs an existing folder: '/nonexistent/coredns-multipass'"},

		// More start-up validation, one option at a time.
		{input: block(`ttl -10`), shouldErr: "ttl must be an integer in [0, 86400]: '-10'"},
		{input: block(`ttl 1.5`), shouldErr: "ttl must be an integer"},
		{input: block(`ttl 10 20`), shouldErr: "Wrong argument count"},
		{input: block(`refresh 0`), shouldErr: "refresh must be a duration in [1s, 24h0m0s]: '0'"},
		{input: block(`refresh 0s`), shouldErr: "refresh must be a duration in [1s, 24h0m0s]: '0s'"},
		{input: block(`refresh -1s`), shouldErr: "refresh must be a duration in [1s, 24h0m0s]: '-1s'"},
		{input: block(`refresh 1s 2s`), shouldErr: "Wrong argument count"},
		{input: block(`timeout`), shouldErr: "Wrong argument count"},
		{input: block(`timeout 0s`), shouldErr: "timeout must be a duration in [100ms, 5m0s]: '0s'"},
		{input: block(`timeout -1s`), shouldErr: "timeout must be a duration in [100ms, 5m0s]: '-1s'"},
		{input: block(`timeout 1h`), shouldErr: "timeout must be a duration in [100ms, 5m0s]: '1h'"},
		{input: block(`networks 10.0.0.0/8 bogus`), shouldErr: "networks needs IPv4 CIDRs such as 10.110.24.0/24: 'bogus'"},
		{input: block(`networks 10.0.0.0/-1`), shouldErr: "networks needs IPv4 CIDRs"},
		{input: block(`networks 10.0.0/24`), shouldErr: "networks needs IPv4 CIDRs"},
		{input: block(`networks 256.0.0.0/8`), shouldErr: "networks needs IPv4 CIDRs"},
		{input: block(`networks 10.0.0.0/8/8`), shouldErr: "networks needs IPv4 CIDRs"},
		{input: block(`networks 2001:db8::/32`), shouldErr: "networks needs IPv4 CIDRs such as 10.110.24.0/24: '2001:db8::/32'"},
		{input: block(`networks ::/0`), shouldErr: "networks needs IPv4 CIDRs"},
		{input: block(`server_address host`), shouldErr: "server_address must be HOST:PORT or unix:PATH: 'host'"},
		{input: block(`server_address host:`), shouldErr: "server_address must be HOST:PORT or unix:PATH: 'host:'"},
		{input: block(`server_address host:-1`), shouldErr: "server_address must be HOST:PORT or unix:PATH: 'host:-1'"},
		{input: block(`server_address [fd00::1]`), shouldErr: "server_address must be HOST:PORT or unix:PATH: '[fd00::1]'"},
		{input: block(`server_address fd00::1:50051`), shouldErr: "server_address must be HOST:PORT or unix:PATH: 'fd00::1:50051'"},
		{input: block(`server_address a:1 b:2`), shouldErr: "Wrong argument count"},
		{input: block(`addresses First`), shouldErr: "addresses must be 'first' or 'all': 'First'"},
		{input: block(`addresses ALL`), shouldErr: "addresses must be 'first' or 'all': 'ALL'"},
		{input: block(`addresses every`), shouldErr: "addresses must be 'first' or 'all': 'every'"},
		{input: block(`addresses first all`), shouldErr: "Wrong argument count"},
	}

	for i, test := range tests {
		c := caddy.NewTestController("dns", test.input)
		c.ServerBlockKeys = test.keys
		m, err := parse(c)

		if test.shouldErr != "" {
			if err == nil {
				t.Errorf("Test %d: expected error %q, got none for %s", i, test.shouldErr, test.input)
			} else if !strings.Contains(err.Error(), test.shouldErr) {
				t.Errorf("Test %d: expected error %q, got %q", i, test.shouldErr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Test %d: expected no error, got %q", i, err)
			continue
		}
		if !reflect.DeepEqual(m.Zones, test.zones) {
			t.Errorf("Test %d: expected zones %q, got %q", i, test.zones, m.Zones)
		}
		if !reflect.DeepEqual(m.resolverOpts.zones, test.zones) {
			t.Errorf("Test %d: expected resolver zones %q, got %q", i, test.zones, m.resolverOpts.zones)
		}
		if !reflect.DeepEqual(m.Fall.Zones, test.fall) {
			t.Errorf("Test %d: expected fallthrough zones %q, got %q", i, test.fall, m.Fall.Zones)
		}
		if m.sourceOpts != test.source {
			t.Errorf("Test %d: expected source options %+v, got %+v", i, test.source, m.sourceOpts)
		}
		want := test.resolver
		want.zones = test.zones
		if !reflect.DeepEqual(m.resolverOpts, want) {
			t.Errorf("Test %d: expected resolver options %+v, got %+v", i, want, m.resolverOpts)
		}
	}
}

// block returns a multipass block for zone vm.test holding the one line prop.
func block(prop string) string { return "multipass vm.test {\n" + prop + "\n}" }

// Every error of the Corefile names its file, the line of the zone or the
// property at fault, and the zone or the property, as CoreDNS's own do;
// the core's own checks of a zone too, at setup.
func TestSetupErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		input string
		keys  []string // server block keys
		want  []string // in the error
		core  bool     // the core's check: needs cgo
	}{
		{input: "multipass vm.test {\n  ttl 10\n  ttl forever\n}", want: []string{"Testfile:3", "ttl must be an integer"}},
		// probe against refresh: the line of the probe, not of the }.
		{input: "multipass vm.test {\n  ttl 10\n  probe 30s\n  refresh 10s\n}", want: []string{"Testfile:3", "probe (30s) must be shorter than refresh (10s)"}},
		{input: "multipass vm.test {\n  refresh 10s\n  probe 30s\n}", want: []string{"Testfile:3", "probe (30s)"}},
		{input: "multipass vm.test {\n  probe 2h\n}", want: []string{"Testfile:2", "probe must be a duration"}},
		{input: "multipass vm.test {\n  ttl 10 20\n}", want: []string{"Testfile:2", "Wrong argument count", "'ttl'"}},
		{input: "multipass vm.test {\n  wildcard yes\n}", want: []string{"Testfile:2", "Wrong argument count", "'wildcard'"}},
		{input: "multipass vm.test {\n\n  bogus 1\n}", want: []string{"Testfile:3", "unknown property 'bogus'"}},
		{input: "multipass vm.test {\n  ttl 10\n  binary ./multipass\n}", want: []string{"Testfile:3", "binary must be an absolute path", "'./multipass'"}},
		{input: "multipass vm.test\nmultipass other.test", want: []string{"Testfile:2", "only be used once per Server Block"}},
		{input: "multipass vm..test", want: []string{"Testfile:1", "invalid zone 'vm..test'"}},
		// Zones the core refuses, found at setup: an RFC 2317 zone, a
		// zone too long for its SOA's mailbox, a backslash.
		{input: "\nmultipass vm.test 0-25.24.110.10.in-addr.arpa", core: true,
			want: []string{"Testfile:2", "invalid zone '0-25.24.110.10.in-addr.arpa.'", "decimal octets"}},
		{input: "multipass " + strings.Repeat(strings.Repeat("a", 60)+".", 4), core: true,
			want: []string{"Testfile:1", "invalid zone", "zone too long"}},
		{input: `multipass a\b.test`, core: true, want: []string{"Testfile:1", "invalid zone", "invalid character"}},
		{input: "\n\nmultipass", keys: []string{"0-25.24.110.10.in-addr.arpa."}, core: true,
			want: []string{"Testfile:3", "invalid zone '0-25.24.110.10.in-addr.arpa.'"}},
	}
	for i, test := range tests {
		if err := checkCore(); err != nil && test.core {
			continue // without cgo, setup fails before it parses
		}
		c := caddy.NewTestController("dns", test.input)
		c.ServerBlockKeys = test.keys
		_, err := parse(c)
		if err == nil {
			t.Errorf("Test %d: expected an error for %q", i, test.input)
			continue
		}
		for _, want := range test.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Test %d: expected %q in the error, got %q", i, want, err)
			}
		}
	}
}

// setup reports parse errors as CoreDNS's plugins do.
func TestSetupError(t *testing.T) {
	if err := checkCore(); err != nil {
		t.Skip(err) // nocgo_test.go
	}
	err := setup(caddy.NewTestController("dns", "multipass vm.test {\n  ttl forever\n}"))
	if err == nil || !strings.HasPrefix(err.Error(), "plugin/multipass: Testfile:2 - Error during parsing: ttl must be") {
		t.Errorf("expected the plugin's parse error, got %v", err)
	}
}

// propertySamples hold a value for each property that is not its default.
var propertySamples = map[string]string{"binary": "/snap/bin/multipass", "server_address": "unix:/run/m.sock",
	"ttl": "60", "probe": "off", "refresh": "2m", "timeout": "30s", "addresses": "all",
	"networks": "10.110.24.0/24", "wildcard": "", "fallthrough": "", "nameserver": "dns.vm.test 192.168.1.20",
	"state": os.TempDir()}

// Without an address for the nameserver, the one IPv4 address the block
// binds is it; none, several or a wildcard leave it to the core (127.0.0.1).
func TestListenAddressIsTheNameserversByDefault(t *testing.T) {
	for _, tc := range []struct {
		hosts []string
		want  string
	}{
		{[]string{"192.168.1.20"}, "192.168.1.20"},
		{[]string{"127.0.0.1"}, "127.0.0.1"},
		{[]string{""}, ""},
		{[]string{"0.0.0.0"}, ""},
		{[]string{"::1"}, ""},
		{[]string{"192.168.1.20", "127.0.0.1"}, ""},
		{nil, ""},
	} {
		if got := listenAddress(tc.hosts); got != tc.want {
			t.Errorf("listenAddress(%q) = %q, want %q", tc.hosts, got, tc.want)
		}
	}
}

// Each property of the table sets something: a block that writes it parses
// to other options than the defaults.
func TestEveryPropertySetsSomething(t *testing.T) {
	plain, err := parse(caddy.NewTestController("dns", block("")))
	if err != nil {
		t.Fatal(err)
	}
	for name := range properties {
		value, ok := propertySamples[name]
		if !ok {
			t.Errorf("no sample value for property %s", name)
			continue
		}
		m, err := parse(caddy.NewTestController("dns", block(name+" "+value)))
		if err != nil {
			t.Errorf("%s %s: %v", name, value, err)
			continue
		}
		if reflect.DeepEqual(m.sourceOpts, plain.sourceOpts) && reflect.DeepEqual(m.resolverOpts, plain.resolverOpts) &&
			reflect.DeepEqual(m.Fall, plain.Fall) {
			t.Errorf("%s %s: parsed to the defaults", name, value)
		}
	}
}
