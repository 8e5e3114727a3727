package loopback

import "testing"

func TestIs(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7411": true, "[::1]:7411": true, "localhost:7411": true, "127.8.9.10:1": true,
		"0.0.0.0:7411": false, ":7411": false, "[::]:7411": false, "192.0.2.1:7411": false,
		"dpmon.example.com:7411": false, "127.0.0.1": false,
	} {
		if got := Is(addr); got != want {
			t.Errorf("Is(%q): got %v, want %v", addr, got, want)
		}
	}
}

func TestHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost:7412": true, "127.0.0.1": true, "127.0.0.1:7412": true, "[::1]:7412": true, "[::1]": true,
		"attacker.example": false, "attacker.example:80": false, "0.0.0.0": false, "": false,
	} {
		if got := Host(host); got != want {
			t.Errorf("Host(%q): got %v, want %v", host, got, want)
		}
	}
}
