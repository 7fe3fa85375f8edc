//go:build cgo && !multipass_static

package multipass

// #cgo pkg-config: coredns-multipass
import "C"
