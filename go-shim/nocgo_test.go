//go:build !cgo

package multipass

import (
	"testing"

	"github.com/coredns/caddy"
)

// A CoreDNS built without cgo (CoreDNS's Makefile does that) must say why
// the plugin cannot run, not silently lack it.
func TestNoCgo(t *testing.T) {
	err := setup(caddy.NewTestController("dns", "multipass vm.test"))
	want := "plugin/multipass: this CoreDNS was built with CGO_ENABLED=0; the multipass plugin needs cgo: rebuild with CGO_ENABLED=1"
	if err == nil || err.Error() != want {
		t.Errorf("expected %q, got %v", want, err)
	}
}
