package multipass

// Ready implements the ready.Readiness interface: true once the block's
// source has loaded a listing. It never runs the CLI.
func (m *Multipass) Ready() bool {
	l := m.lease.Load()
	return l != nil && l.src.loaded.Load()
}
