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

	c.OnStartup(m.startup)
	c.OnShutdown(m.shutdown)

	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		m.Next = next
		return m
	})

	return nil
}

// sourceOptions say how to run the CLI. Blocks whose sourceOptions are equal
// share one source (see registry.go), so the type must stay comparable.
type sourceOptions struct {
	binary        string
	serverAddress string
	refresh       time.Duration
	timeout       time.Duration
}

// resolverOptions say how one block answers from the inventory.
type resolverOptions struct {
	zones        []string
	ttl          uint32
	addressesAll bool
	networks     []string
	wildcard     bool
}

func newSourceOptions() sourceOptions {
	return sourceOptions{binary: "multipass", refresh: 5 * time.Second, timeout: 10 * time.Second}
}

// Bounds of the options.
const (
	maxTTL     = 86400
	minRefresh = time.Second
	maxRefresh = 24 * time.Hour
	minTimeout = 100 * time.Millisecond
	maxTimeout = 5 * time.Minute
)

func parse(c *caddy.Controller) (*Multipass, error) {
	m := &Multipass{source: newSourceOptions(), resolver: resolverOptions{ttl: 10}}

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
				m.source.binary = v
			case "server_address":
				v, err := singleArg(c)
				if err != nil {
					return nil, err
				}
				if !validServerAddress(v) {
					return nil, c.Errf("invalid server_address '%s': want HOST:PORT or unix:PATH", v)
				}
				m.source.serverAddress = v
			case "ttl":
				v, err := singleArg(c)
				if err != nil {
					return nil, err
				}
				t, err := strconv.Atoi(v)
				if err != nil || t < 0 || t > maxTTL {
					return nil, c.Errf("ttl must be an integer in [0, %d]: '%s'", maxTTL, v)
				}
				m.resolver.ttl = uint32(t)
			case "refresh":
				d, err := durationArg(c, minRefresh, maxRefresh)
				if err != nil {
					return nil, err
				}
				m.source.refresh = d
			case "timeout":
				d, err := durationArg(c, minTimeout, maxTimeout)
				if err != nil {
					return nil, err
				}
				m.source.timeout = d
			case "addresses":
				v, err := singleArg(c)
				if err != nil {
					return nil, err
				}
				switch v {
				case "first":
					m.resolver.addressesAll = false
				case "all":
					m.resolver.addressesAll = true
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
					m.resolver.networks = append(m.resolver.networks, p.Masked().String())
				}
			case "wildcard":
				if len(c.RemainingArgs()) != 0 {
					return nil, c.ArgErr()
				}
				m.resolver.wildcard = true
			case "fallthrough":
				m.Fall.SetZonesFromArgs(c.RemainingArgs())
			default:
				return nil, c.Errf("unknown property '%s'", c.Val())
			}
		}
	}
	m.resolver.zones = m.Zones
	return m, nil
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
