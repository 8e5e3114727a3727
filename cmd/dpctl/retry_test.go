package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
	"github.com/dpmon/dpmon/server"
	"github.com/dpmon/dpmon/store"
)

// startingDpmon serves a dpmon whose store is still opening: calls are
// answered UNAVAILABLE with a retry hint until ready is called.
func startingDpmon(t *testing.T) (addr string, ready func()) {
	t.Helper()
	c := monitortest.New(t0)
	srv := server.Starting(server.Options{Clock: c.Now})
	gs := srv.GRPCServer()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	db, err := store.Open(t.TempDir(), store.Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Drain()
		gs.Stop()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return lis.Addr().String(), func() { srv.Ready(db) }
}

// dpctl waits as long as a server that is starting asks, then sends
// again: an ingest and a unary call both complete once it is ready.
func TestDpctlHonoursRetryInfo(t *testing.T) {
	input := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(input, []byte(`{"event_id":"s1","account_id":"acme","type":"EVENT_TYPE_SEND","occurred_at":"2026-11-24T10:00:00Z","recipient":"a@example.com"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ingest", input}, "accepted    1"},
		{[]string{"check-send", "acme"}, "allowed"},
	} {
		t.Run(c.args[0], func(t *testing.T) {
			addr, ready := startingDpmon(t)
			pr, pw := io.Pipe()
			var stdout strings.Builder
			done := make(chan error, 1)
			go func() {
				done <- run(context.Background(), append([]string{"--addr", addr, "--timeout", "30s"}, c.args...), &stdout, pw)
				pw.Close()
			}()
			// Once dpctl says it waits, the server becomes ready.
			sc := bufio.NewScanner(pr)
			waiting := false
			for !waiting && sc.Scan() {
				waiting = strings.Contains(sc.Text(), "retrying in 2s")
			}
			if !waiting {
				t.Fatalf("dpctl did not say it would retry; it ended with %v", <-done)
			}
			ready()
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			if err := <-done; err != nil {
				t.Fatalf("dpctl %v after the server became ready: %v", c.args, err)
			}
			if !strings.Contains(stdout.String(), c.want) {
				t.Errorf("dpctl %v printed %q, want %q in it", c.args, stdout.String(), c.want)
			}
		})
	}
}
