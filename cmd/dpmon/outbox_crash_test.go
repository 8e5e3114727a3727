package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// hookLog is a webhook receiver that refuses until accepting is set, and
// records what it was sent.
type hookLog struct {
	mu        sync.Mutex
	accepting bool
	attempts  int
	delivered map[string]int // by X-Dpmon-Delivery
	kinds     map[string]string
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p struct {
		Kind string `json:"kind"`
	}
	_ = json.Unmarshal(body, &p)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	if !h.accepting {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	id := r.Header.Get("X-Dpmon-Delivery")
	h.delivered[id]++
	h.kinds[id] = p.Kind
}

func (h *hookLog) wait(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		ok := done()
		h.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// A notification queued by a transition survives the process being
// killed before it could be delivered, and is delivered after the
// restart: the outbox is written with the transition, not after it.
func TestANotificationOutlivesAKill(t *testing.T) {
	hook := &hookLog{delivered: map[string]int{}, kinds: map[string]string{}}
	receiver := httptest.NewServer(hook)
	defer receiver.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dpmon.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`notify:
  webhooks: [{name: ops, url: %q, secret: s3cret}]
  retry: {first: 50ms, max: 200ms, give_up_after: 1h}
  poll: 50ms
`, receiver.URL+"/dpmon")), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	addr, cmd := startServer(t, data, "--config", cfg)
	events := pb.NewEventServiceClient(dial(t, addr))
	batch := warningBatch("acme")
	if _, err := events.IngestEvents(context.Background(), &pb.IngestEventsRequest{Events: batch}); err != nil {
		t.Fatal(err)
	}
	// The warning's notification is being tried; kill the process before
	// the receiver accepts any.
	hook.wait(t, "a first attempt", func() bool { return hook.attempts > 0 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	hook.mu.Lock()
	hook.accepting = true
	hook.mu.Unlock()
	startServer(t, data, "--config", cfg)
	hook.wait(t, "the delivery after the restart", func() bool { return len(hook.delivered) > 0 })
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.delivered) != 1 {
		t.Fatalf("delivered %v, want one notification", hook.delivered)
	}
	for id, kind := range hook.kinds {
		if kind != "warning_raised" {
			t.Errorf("%s: kind %q, want warning_raised", id, kind)
		}
	}
}
