package multipass

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
)

var log = clog.NewWithPlugin("multipass")

func init() { plugin.Register("multipass", setup) }

func setup(c *caddy.Controller) error {
	m, err := parse(c)
	if err != nil {
		return plugin.Error("multipass", err)
	}
	if err := checkCore(); err != nil {
		return plugin.Error("multipass", err)
	}

	m.instance = instanceOf(c)
	c.OnStartup(m.startup)
	c.OnShutdown(m.shutdown)

	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		m.Next = next
		return m
	})

	return nil
}

// newSourceOptions returns the defaults: a cheap listing every 5 s, a full
// listing at least every minute.
func newSourceOptions() sourceOptions {
	return sourceOptions{
		daemon:    daemon{binary: "multipass"},
		intervals: intervals{probe: defaultProbe, refresh: time.Minute, timeout: 10 * time.Second},
	}
}

// Bounds of the options.
const (
	maxTTL       = 86400
	defaultProbe = 5 * time.Second
	minProbe     = time.Second
	maxProbe     = time.Hour
	minRefresh   = time.Second
	maxRefresh   = 24 * time.Hour
	minTimeout   = 100 * time.Millisecond
	maxTimeout   = 5 * time.Minute
)

func parse(c *caddy.Controller) (*Multipass, error) {
	m := &Multipass{sourceOpts: newSourceOptions(), resolverOpts: resolverOptions{ttl: 10}}
	set := map[string]bool{}

	i := 0
	for c.Next() {
		if i > 0 {
			return nil, plugin.ErrOnce
		}
		i++

		args := c.RemainingArgs()
		for _, a := range args {
			if len(plugin.Host(a).NormalizeExact()) == 0 {
				return nil, c.Errf("invalid zone '%s'", a)
			}
		}
		m.Zones = plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys)
		if len(m.Zones) == 0 {
			return nil, c.Err("no zones: give ZONES or a server block with zones")
		}

		for c.NextBlock() {
			prop, args := c.Val(), c.RemainingArgs()
			var err error
			switch prop {
			case "networks":
				err = m.parseNetworks(c, args)
			case "wildcard":
				if len(args) != 0 {
					return nil, c.ArgErr()
				}
				m.resolverOpts.wildcard = true
			case "fallthrough":
				m.Fall.SetZonesFromArgs(args)
			case "binary", "server_address", "ttl", "probe", "refresh", "timeout", "addresses":
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				err = m.parseOption(c, prop, args[0])
			default:
				return nil, c.Errf("unknown property '%s'", prop)
			}
			if err != nil {
				return nil, err
			}
			set[prop] = true
		}
	}
	if err := checkProbe(c, &m.sourceOpts.intervals, set["probe"], set["refresh"]); err != nil {
		return nil, err
	}
	m.resolverOpts.zones = m.Zones
	return m, nil
}

// parseOption sets the property prop, which takes the one value v.
func (m *Multipass) parseOption(c *caddy.Controller, prop, v string) (err error) {
	o, r := &m.sourceOpts, &m.resolverOpts
	switch prop {
	case "binary":
		if v == "" {
			return c.Err("binary needs a non-empty path")
		}
		o.binary = v
	case "server_address":
		if !validServerAddress(v) {
			return c.Errf("invalid server_address '%s': want HOST:PORT or unix:PATH", v)
		}
		o.serverAddress = v
	case "ttl":
		t, err := strconv.Atoi(v)
		if err != nil || t < 0 || t > maxTTL {
			return c.Errf("ttl must be an integer in [0, %d]: '%s'", maxTTL, v)
		}
		r.ttl = uint32(t)
	case "probe":
		o.probe = 0
		if v != "off" {
			o.probe, err = duration(c, prop, v, minProbe, maxProbe)
		}
	case "refresh":
		o.refresh, err = duration(c, prop, v, minRefresh, maxRefresh)
	case "timeout":
		o.timeout, err = duration(c, prop, v, minTimeout, maxTimeout)
	case "addresses":
		if v != "first" && v != "all" {
			return c.Errf("addresses must be 'first' or 'all': '%s'", v)
		}
		r.addressesAll = v == "all"
	}
	return err
}

// parseNetworks adds the IPv4 networks cidrs.
func (m *Multipass) parseNetworks(c *caddy.Controller, cidrs []string) error {
	if len(cidrs) == 0 {
		return c.ArgErr()
	}
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return c.Errf("networks needs IPv4 CIDRs such as 10.110.24.0/24: '%s'", s)
		}
		m.resolverOpts.networks = append(m.resolverOpts.networks, p.Masked().String())
	}
	return nil
}

// checkProbe makes probe shorter than refresh. A block that sets only a
// refresh no longer than the default probe (an older Corefile's `refresh
// 1s`) gets no cheap listing: full listings every refresh, as it had.
func checkProbe(c *caddy.Controller, iv *intervals, probeSet, refreshSet bool) error {
	if iv.probe == 0 || iv.probe < iv.refresh {
		return nil
	}
	if refreshSet && !probeSet {
		iv.probe = 0
		return nil
	}
	return c.Errf("probe (%s) must be shorter than refresh (%s), or off", iv.probe, iv.refresh)
}

// duration parses v, the value of property prop, which must lie in [lo, hi].
func duration(c *caddy.Controller, prop, v string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, c.Errf("%s must be a duration in [%s, %s]: '%s'", prop, lo, hi, v)
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
	if err != nil || host == "" {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && p >= 1 && p <= 65535
}
