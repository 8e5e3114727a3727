// Package testnet has the network helpers tests share.
package testnet

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback address that was free a moment ago, for a
// process a test starts to listen on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
