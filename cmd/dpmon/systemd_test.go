package main

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// Under systemd (Type=notify) dpmon says READY=1 once it serves, and
// STOPPING=1 when it begins to shut down, on the socket systemd names.
func TestTellsSystemdWhenReadyAndStopping(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", socket)
	read := func() string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 256)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("nothing from dpmon on NOTIFY_SOCKET: %v", err)
		}
		return string(buf[:n])
	}
	srv := startRun(t, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, func(string) string { return "" })
	if got := read(); got != "READY=1" {
		t.Errorf("first notification: %q, want READY=1", got)
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "STOPPING=1" {
		t.Errorf("at shutdown: %q, want STOPPING=1", got)
	}
}
