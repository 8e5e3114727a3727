// Package loopback tells whether a network address reaches this machine
// only: the server allows running without authentication there, and the
// client sends a token in plaintext only there.
package loopback

import "net"

// Is reports whether addr (host:port) is a loopback address.
func Is(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
