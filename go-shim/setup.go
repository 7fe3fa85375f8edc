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
	probeSet, refreshSet := false, false

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
			switch c.Val() {
			case "binary":
				v, err := singleArg(c)
				if err != nil {
					return nil, err
				}
				if v == "" {
					return nil, c.Err("binary needs a non-empty path")
				}
				m.sourceOpts.binary = v
			case "server_address":
				v, err := singleArg(c)
				if err != nil {
					return nil, err
				}
				if !validServerAddress(v) {
					return nil, c.Errf("invalid server_address '%s': want HOST:PORT or unix:PATH", v)
				}
				m.sourceOpts.serverAddress = v
			case "ttl":
				v, err := singleArg(c)
				if err != nil {
					return nil, err
				}
				t, err := strconv.Atoi(v)
				if err != nil || t < 0 || t > maxTTL {
					return nil, c.Errf("ttl must be an integer in [0, %d]: '%s'", maxTTL, v)
				}
				m.resolverOpts.ttl = uint32(t)
			case "probe":
				v, err := singleArg(c)
				if err != nil {
					return nil, err
				}
				probeSet = true
				if v == "off" {
					m.sourceOpts.probe = 0
					continue
				}
				if m.sourceOpts.probe, err = durationValue(c, "probe", v, minProbe, maxProbe); err != nil {
					return nil, err
				}
			case "refresh":
				d, err := durationArg(c, minRefresh, maxRefresh)
				if err != nil {
					return nil, err
				}
				m.sourceOpts.refresh, refreshSet = d, true
			case "timeout":
				d, err := durationArg(c, minTimeout, maxTimeout)
				if err != nil {
					return nil, err
				}
				m.sourceOpts.timeout = d
			case "addresses":
				v, err := singleArg(c)
				if err != nil {
					return nil, err
				}
				switch v {
				case "first":
					m.resolverOpts.addressesAll = false
				case "all":
					m.resolverOpts.addressesAll = true
				default:
					return nil, c.Errf("addresses must be 'first' or 'all': '%s'", v)
				}
			case "networks":
				cidrs := c.RemainingArgs()
				if len(cidrs) == 0 {
					return nil, c.ArgErr()
				}
				for _, s := range cidrs {
					p, err := netip.ParsePrefix(s)
					if err != nil || !p.Addr().Is4() {
						return nil, c.Errf("networks needs IPv4 CIDRs such as 10.110.24.0/24: '%s'", s)
					}
					m.resolverOpts.networks = append(m.resolverOpts.networks, p.Masked().String())
				}
			case "wildcard":
				if len(c.RemainingArgs()) != 0 {
					return nil, c.ArgErr()
				}
				m.resolverOpts.wildcard = true
			case "fallthrough":
				m.Fall.SetZonesFromArgs(c.RemainingArgs())
			default:
				return nil, c.Errf("unknown property '%s'", c.Val())
			}
		}
	}
	if err := checkProbe(c, &m.sourceOpts.intervals, probeSet, refreshSet); err != nil {
		return nil, err
	}
	m.resolverOpts.zones = m.Zones
	return m, nil
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

// singleArg returns the one argument of the current property.
func singleArg(c *caddy.Controller) (string, error) {
	args := c.RemainingArgs()
	if len(args) != 1 {
		return "", c.ArgErr()
	}
	return args[0], nil
}

// durationArg returns the one duration argument of the current property,
// which must lie in [lo, hi].
func durationArg(c *caddy.Controller, lo, hi time.Duration) (time.Duration, error) {
	name := c.Val()
	v, err := singleArg(c)
	if err != nil {
		return 0, err
	}
	return durationValue(c, name, v, lo, hi)
}

// durationValue parses v, the value of property name, which must lie in
// [lo, hi].
func durationValue(c *caddy.Controller, name, v string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, c.Errf("%s must be a duration in [%s, %s]: '%s'", name, lo, hi, v)
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
