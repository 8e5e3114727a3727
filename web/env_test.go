package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
	"github.com/dpmon/dpmon/server"
	"github.com/dpmon/dpmon/store"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// env is a real store and server behind the hooks, served over loopback.
type env struct {
	db    *store.DB
	srv   *server.Server
	clock *monitortest.Clock
	url   string

	mu     sync.Mutex
	counts map[string]int // "provider/result"
}

// newEnv serves the hooks opts configures, over a store in a fresh
// directory, at clock time now.
func newEnv(t testing.TB, now time.Time, configure func(*Options)) *env {
	t.Helper()
	return newEnvAt(t, t.TempDir(), now, configure)
}

func newEnvAt(t testing.TB, dir string, now time.Time, configure func(*Options)) *env {
	t.Helper()
	c := monitortest.New(now)
	db, err := store.Open(dir, store.Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(),
		Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(db, server.Options{Clock: c.Now})
	e := &env{db: db, srv: srv, clock: c, counts: make(map[string]int)}
	opts := Options{Take: srv, Clock: c.Now, Count: e.count, Log: slog.New(slog.DiscardHandler)}
	configure(&opts)
	hs := httptest.NewServer(New(opts))
	e.url = hs.URL
	t.Cleanup(func() {
		hs.Close()
		srv.Drain()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

func (e *env) count(provider, result string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.counts[provider+"/"+result] += n
}

func (e *env) counted(provider, result string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[provider+"/"+result]
}

// post sends body to the provider's endpoint with the headers given and
// returns the status and the decoded reply (zero unless 200).
func (e *env) post(t testing.TB, provider string, body []byte, header http.Header) (int, reply) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/v1/hooks/"+provider, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r reply
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("reply %q: %v", data, err)
		}
	}
	return resp.StatusCode, r
}

// windowCounts are an account's counts in its first window at the clock's
// time: what the events committed amount to.
func (e *env) windowCounts(t testing.TB, account string) monitor.WindowStats {
	t.Helper()
	a, err := e.db.Account(context.Background(), account)
	if err != nil {
		t.Fatalf("account %s: %v", account, err)
	}
	return a.Status(e.clock.Now(), monitor.DefaultPolicy()).Windows[0]
}

// recipient is the state of one recipient of account at the clock's time.
func (e *env) recipient(t testing.TB, account, addr string) monitor.RecipientStatus {
	t.Helper()
	rs, err := e.db.CheckRecipients(context.Background(), account, []string{monitor.RecipientKey(addr)})
	if err != nil {
		t.Fatal(err)
	}
	return rs[0].At(e.clock.Now()).Status
}

// webhookSample reads a webhook payload of the shared corpus.
func webhookSample(t testing.TB, name string) []byte {
	t.Helper()
	f := monitortest.OpenCorpus(t, "samples", "webhooks", name)
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// webhookSamples lists the corpus's webhook payloads of a provider, by
// the prefixes of their names.
func webhookSamples(t testing.TB, prefixes ...string) []string {
	t.Helper()
	dir := filepath.Join(monitortest.CorpusDir, "samples", "webhooks")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("corpus samples are absent: %v", err)
	}
	var names []string
	for _, e := range entries {
		for _, p := range prefixes {
			if len(e.Name()) > len(p) && e.Name()[:len(p)] == p && filepath.Ext(e.Name()) == ".json" {
				names = append(names, e.Name())
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("no samples named %v in %s", prefixes, dir)
	}
	return names
}

// eventsTime is the instant to serve a sample at: a minute after its
// latest event, so that events of years ago are not refused as too old.
func eventsTime(res intake.Result) time.Time {
	latest := time.Time{}
	for _, e := range append(res.Events, res.Unmapped...) {
		if e.OccurredAt.After(latest) {
			latest = e.OccurredAt
		}
	}
	if latest.IsZero() {
		return t0
	}
	return latest.Add(time.Minute)
}
