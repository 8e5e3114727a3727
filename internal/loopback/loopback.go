// Package loopback tells whether a network address reaches this machine
// only: the server allows running without authentication there, and the
// client sends a token in plaintext only there.
package loopback

import (
	"net"
	"strings"
)

// Is reports whether addr (host:port) is a loopback address.
func Is(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && isHost(host)
}

// Host reports whether an HTTP Host (a name or an address, with a port or
// without) names this machine only: localhost or a loopback address.
func Host(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return isHost(strings.Trim(host, "[]"))
}

func isHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
