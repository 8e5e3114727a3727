package main

import "testing"

func TestHealth(t *testing.T) {
	d := startDpmon(t, t0)
	if stdout, _, err := runDpctl(t, "--addr", d.addr, "health"); err != nil || stdout != "SERVING\n" {
		t.Errorf("health: %q, %v; want SERVING", stdout, err)
	}
	if _, _, err := runDpctl(t, "--addr", "127.0.0.1:1", "--timeout", "2s", "health"); err == nil {
		t.Error("health of nothing listening: no error")
	}
}
