package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestRunWatch(t *testing.T) {
	d := startDpmon(t, t0)
	d.suspend(t, "acme")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", d.addr, "watch", "--cursor", "0"}, pw, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	next := func() string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("watch ended: %v", lines.Err())
		}
		return lines.Text()
	}
	// Each line starts with its cursor, which is opaque.
	if cursor, got, _ := strings.Cut(next(), "  "); cursor == "" || !strings.HasPrefix(got, "2026-11-24T10:00:00Z  acme  healthy → suspended  Sending is suspended.") {
		t.Errorf("replayed: got %q", got)
	}
	d.suspend(t, "beta") // live, while watching
	if got := next(); !strings.Contains(got, "  beta  healthy → suspended  ") {
		t.Errorf("live: got %q", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("an interrupted watch: %v, want a clean end", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end when interrupted")
	}
}
