package multipass

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

func init() {
	plugin.Register("multipass", setup)
	prometheus.MustRegister(collector{})
}

func setup(c *caddy.Controller) error {
	// First: parse asks the core, which must be the one it was built for.
	if err := checkCore(); err != nil {
		return plugin.Error("multipass", err)
	}
	m, err := parse(c)
	if err != nil {
		return plugin.Error("multipass", err)
	}

	mark := instanceOf(c)
	c.OnStartup(func() error {
		// The block's transfer plugin, found once the chain is built (as
		// plugin/file does): it sends the NOTIFYs.
		var notify func(string) error
		if t, ok := dnsserver.GetConfig(c).Handler("transfer").(*transfer.Transfer); ok {
			notify = t.Notify
		}
		return m.startup(mark, notify)
	})
	c.OnRestart(m.restarting)
	c.OnRestartFailed(m.restartFailed)
	c.OnShutdown(m.shutdown)

	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		m.Next = next
		return m
	})

	return nil
}

// newSourceOptions returns the core's defaults (coreDefaults): a cheap
// listing every 5 s, a full listing at least every 10 minutes.
func newSourceOptions() sourceOptions {
	o, _ := coreDefaults()
	return o
}

// A property is an option of the block: how many values it takes (max -1:
// no limit) and what they set. Its errors follow the property's name.
type property struct {
	min, max int
	set      func(m *Multipass, v []string) error
}

// properties are the options of the block, the one list of them: the parser
// knows these names and no other (go-shim/README.md's Syntax shows them).
var properties = map[string]property{
	"binary": {1, 1, func(m *Multipass, v []string) error {
		if v[0] == "" {
			return errors.New("needs a non-empty path")
		}
		// As Go's exec.LookPath: a path that names a folder is absolute; a
		// relative one would depend on the folder CoreDNS started in.
		if strings.Contains(v[0], "/") && !strings.HasPrefix(v[0], "/") {
			return fmt.Errorf("must be an absolute path, or a name looked up in PATH: '%s' is relative", v[0])
		}
		m.sourceOpts.binary = v[0]
		return nil
	}},
	"server_address": {1, 1, func(m *Multipass, v []string) error {
		if !validServerAddress(v[0]) {
			return fmt.Errorf("must be HOST:PORT or unix:PATH: '%s'", v[0])
		}
		m.sourceOpts.serverAddress = v[0]
		return nil
	}},
	"ttl": {1, 1, func(m *Multipass, v []string) error {
		t, err := strconv.Atoi(v[0])
		if err != nil || t < 0 || t > 86400 {
			return fmt.Errorf("must be an integer in [0, 86400]: '%s'", v[0])
		}
		m.resolverOpts.ttl = uint32(t)
		return nil
	}},
	"probe": {1, 1, func(m *Multipass, v []string) (err error) {
		m.sourceOpts.probe = 0
		if v[0] != "off" {
			m.sourceOpts.probe, err = duration(v[0], time.Second, time.Hour)
		}
		return err
	}},
	"refresh": {1, 1, func(m *Multipass, v []string) (err error) {
		m.sourceOpts.refresh, err = duration(v[0], time.Second, 24*time.Hour)
		return err
	}},
	"timeout": {1, 1, func(m *Multipass, v []string) (err error) {
		m.sourceOpts.timeout, err = duration(v[0], 100*time.Millisecond, 5*time.Minute)
		return err
	}},
	"addresses": {1, 1, func(m *Multipass, v []string) error {
		if v[0] != "first" && v[0] != "all" {
			return fmt.Errorf("must be 'first' or 'all': '%s'", v[0])
		}
		m.resolverOpts.addressesAll = v[0] == "all"
		return nil
	}},
	"networks": {1, -1, func(m *Multipass, v []string) error {
		for _, s := range v {
			p, err := netip.ParsePrefix(s)
			if err != nil || !p.Addr().Is4() {
				return fmt.Errorf("needs IPv4 CIDRs such as 10.110.24.0/24: '%s'", s)
			}
			m.resolverOpts.networks = append(m.resolverOpts.networks, p.Masked().String())
		}
		return nil
	}},
	"wildcard": {0, 0, func(m *Multipass, _ []string) error {
		m.resolverOpts.wildcard = true
		return nil
	}},
	"nameserver": {1, 2, func(m *Multipass, v []string) error {
		if len(plugin.Host(v[0]).NormalizeExact()) == 0 || strings.Contains(v[0], "/") {
			return fmt.Errorf("needs a domain name: '%s'", v[0])
		}
		m.resolverOpts.nameserver = v[0]
		if len(v) == 2 {
			a, err := netip.ParseAddr(v[1])
			if err != nil || !a.Is4() {
				return fmt.Errorf("needs an IPv4 address after the name: '%s'", v[1])
			}
			m.resolverOpts.nameserverAddress = a.String()
		}
		return nil
	}},
	"state": {1, 1, func(m *Multipass, v []string) error {
		if !strings.HasPrefix(v[0], "/") {
			return fmt.Errorf("needs an absolute folder: '%s'", v[0])
		}
		if fi, err := os.Stat(v[0]); err != nil || !fi.IsDir() {
			return fmt.Errorf("needs an existing folder: '%s'", v[0])
		}
		m.resolverOpts.stateDir = v[0]
		return nil
	}},
	"fallthrough": {0, -1, func(m *Multipass, v []string) error {
		m.Fall.SetZonesFromArgs(v)
		return nil
	}},
}

// parse reads the block. Every error names the file and the line of the
// zone or the property at fault.
func parse(c *caddy.Controller) (*Multipass, error) {
	m := new(Multipass)
	m.sourceOpts, m.resolverOpts = coreDefaults()
	set := map[string]caddyfile.Dispenser{} // where each property was last set

	for i := 0; c.Next(); i++ {
		if i > 0 {
			return nil, c.Err(plugin.ErrOnce.Error())
		}
		var err error
		if m.Zones, err = parseZones(c); err != nil {
			return nil, err
		}
		for c.NextBlock() {
			prop, at := c.Val(), c.Dispenser
			opt, ok := properties[prop]
			if !ok {
				return nil, c.Errf("unknown property '%s'", prop)
			}
			args := c.RemainingArgs()
			if len(args) < opt.min || (opt.max >= 0 && len(args) > opt.max) {
				return nil, at.ArgErr()
			}
			if err := opt.set(m, args); err != nil {
				return nil, at.Errf("%s %s", prop, err)
			}
			set[prop] = at
		}
	}
	if err := checkProbe(&m.sourceOpts.intervals, set); err != nil {
		return nil, err
	}
	m.resolverOpts.zones = m.Zones
	if at, ok := set["nameserver"]; ok {
		if err := checkNameserver(m.resolverOpts.nameserver, m.Zones); err != nil {
			return nil, at.Errf("nameserver %s", err)
		}
	}
	if m.resolverOpts.nameserverAddress == "" {
		m.resolverOpts.nameserverAddress = listenAddress(dnsserver.GetConfig(c).ListenHosts)
	}
	return m, nil
}

// checkNameserver refuses a nameserver name that lies in a zone of the
// block (the longest that holds it) but not one label below it: the core
// answers A at that one name, and a deeper name would need names between.
func checkNameserver(name string, zones []string) error {
	ns := strings.ToLower(dns.Fqdn(name))
	zone := plugin.Zones(zones).Matches(ns)
	if zone == "" {
		return nil
	}
	if rest := strings.TrimSuffix(ns, zone); rest == "" || strings.Count(rest, ".") != 1 {
		return fmt.Errorf("%s must be one label below the zone %s, or outside it", name, zone)
	}
	return nil
}

// listenAddress is the nameserver's address when the block does not say: the
// IPv4 address the server block binds, when it binds exactly one (`bind
// 192.168.1.20`), else "" (the core's 127.0.0.1): where this server is
// asked is where its zones say their nameserver is.
func listenAddress(hosts []string) string {
	var found string
	for _, h := range hosts {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is4() || a.IsUnspecified() || (found != "" && found != a.String()) {
			return ""
		}
		found = a.String()
	}
	return found
}

// parseZones reads the zones after the directive (on its line), or else
// takes the server block's, and has the core check each.
func parseZones(c *caddy.Controller) ([]string, error) {
	args := c.RemainingArgs()
	for _, a := range args {
		if len(plugin.Host(a).NormalizeExact()) == 0 {
			return nil, c.Errf("invalid zone '%s'", a)
		}
	}
	zones := plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys)
	for _, z := range zones {
		if err := checkZone(z); err != nil {
			return nil, c.Errf("invalid zone '%s': %s", z, err)
		}
	}
	if len(zones) == 0 {
		return nil, c.Err("no zones: give ZONES or a server block with zones")
	}
	return zones, nil
}

// checkProbe makes probe shorter than refresh. A block that sets only a
// refresh no longer than the default probe (an older Corefile's `refresh
// 1s`) gets no cheap listing: full listings every refresh, as it had. Only
// a probe written in the block can be too long: the error names its line.
func checkProbe(iv *intervals, set map[string]caddyfile.Dispenser) error {
	if iv.probe < iv.refresh { // so is a probe off
		return nil
	} else if at, ok := set["probe"]; ok {
		return at.Errf("probe (%s) must be shorter than refresh (%s), or off", iv.probe, iv.refresh)
	}
	iv.probe = 0 // only a refresh no longer than the default probe was written
	return nil
}

// duration parses v, which must lie in [lo, hi].
func duration(v string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, fmt.Errorf("must be a duration in [%s, %s]: '%s'", lo, hi, v)
	}
	return d, nil
}

// validServerAddress accepts what the multipass CLI takes in
// MULTIPASS_SERVER_ADDRESS: HOST:PORT or unix:PATH.
func validServerAddress(s string) bool {
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		return path != ""
	}
	host, port, err := net.SplitHostPort(s)
	p, perr := strconv.ParseUint(port, 10, 16)
	return err == nil && host != "" && perr == nil && p > 0
}
