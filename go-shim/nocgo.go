//go:build !cgo

package multipass

import "errors"

// errNoCgo explains why a CoreDNS built without cgo cannot run this plugin:
// every answer comes from the C++ core, reached through cgo.
var errNoCgo = errors.New("this CoreDNS was built with CGO_ENABLED=0; the multipass plugin needs cgo: rebuild with CGO_ENABLED=1")

// checkCore makes setup fail: without cgo there is no core.
func checkCore() error { return errNoCgo }

// checkZone accepts every zone: setup has failed before it parses.
func checkZone(string) error { return nil }

func openSource(sourceOptions) (coreSource, error) { return nil, errNoCgo }

// coreDefaults has no core to ask: setup has failed before it parses.
func coreDefaults() (sourceOptions, resolverOptions) { return sourceOptions{}, resolverOptions{} }
