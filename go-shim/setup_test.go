package multipass

import (
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
	defaultSource := src("multipass", "", 5*time.Second, time.Minute, 10*time.Second)

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
		// probe: a duration, or off; shorter than refresh.
		{input: block("probe 1s\nrefresh 2s"), zones: []string{"vm.test."},
			source: src("multipass", "", time.Second, 2*time.Second, 10*time.Second), resolver: resolverOptions{ttl: 10}},
		{input: block("probe 1h"), zones: []string{"vm.test."}, shouldErr: "probe (1h0m0s) must be shorter than refresh (1m0s), or off"},
		{input: block("probe 59s"), zones: []string{"vm.test."},
			source: src("multipass", "", 59*time.Second, time.Minute, 10*time.Second), resolver: resolverOptions{ttl: 10}},
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
		{input: block(`server_address`), shouldErr: "Wrong argument count"},
		{input: block(`server_address localhost`), shouldErr: "invalid server_address 'localhost'"},
		{input: block(`server_address :50051`), shouldErr: "invalid server_address ':50051'"},
		{input: block(`server_address host:0`), shouldErr: "invalid server_address 'host:0'"},
		{input: block(`server_address host:65536`), shouldErr: "invalid server_address 'host:65536'"},
		{input: block(`server_address host:http`), shouldErr: "invalid server_address 'host:http'"},
		{input: block(`server_address unix:`), shouldErr: "invalid server_address 'unix:'"},
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
		{input: block(`server_address host`), shouldErr: "invalid server_address 'host'"},
		{input: block(`server_address host:`), shouldErr: "invalid server_address 'host:'"},
		{input: block(`server_address host:-1`), shouldErr: "invalid server_address 'host:-1'"},
		{input: block(`server_address [fd00::1]`), shouldErr: "invalid server_address '[fd00::1]'"},
		{input: block(`server_address fd00::1:50051`), shouldErr: "invalid server_address 'fd00::1:50051'"},
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

// An error of the Corefile names its file and line, as CoreDNS's own do.
func TestSetupErrorNamesLine(t *testing.T) {
	c := caddy.NewTestController("dns", "multipass vm.test {\n  ttl 10\n  ttl forever\n}")
	err := setup(c)
	if err == nil {
		t.Fatal("expected an error")
	}
	for _, want := range []string{"plugin/multipass:", "Testfile:3", "ttl must be an integer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("expected %q in the error, got %q", want, err)
		}
	}
}
