package store

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// TestReadsShowOnlyWhatIsDurable holds the writer before a commit: what the
// committer has already decided (an account suspended, an account created)
// must not be read until that commit is durable, since a crash would take
// it back.
func TestReadsShowOnlyWhatIsDurable(t *testing.T) {
	c := monitortest.New(t0)
	release := make(chan struct{})
	var hold atomic.Bool
	db, err := Open(t.TempDir(), Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(),
		Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now,
		beforePut: func() {
			if hold.Load() {
				<-release
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheck(t, db) })
	// Cleanups run last first: a failing test lets the writer go on, so
	// that the store can close.
	var releaseOnce sync.Once
	let := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(let)
	ctx := context.Background()
	ingest(t, db, events("acme", "s", monitor.EventSend, 10, t0))

	hold.Store(true)
	suspended := make(chan error, 1)
	go func() {
		_, err := db.SuspendAccount(ctx, "acme", monitor.CategoryFraud, "test", admin)
		suspended <- err
	}()
	created := make(chan error, 1)
	go func() {
		_, err := db.Ingest(ctx, events("newco", "s", monitor.EventSend, 1, t0))
		created <- err
	}()
	// Wait until the committer has decided both.
	for {
		db.mu.RLock()
		decided := db.pendingSeq(unsettledAccount("acme")) != 0 && db.pendingSeq(unsettledAccount("newco")) != 0
		db.mu.RUnlock()
		if decided {
			break
		}
		time.Sleep(time.Millisecond)
	}

	if got := db.Unknown([]string{"acme", "newco"}); !slices.Equal(got, []string{"newco"}) {
		t.Errorf("Unknown before the commit: %v, want [newco]: it is not durable yet", got)
	}
	read := make(chan *monitor.Account, 1)
	go func() {
		a, err := db.Account(ctx, "acme")
		if err != nil {
			t.Error(err)
		}
		read <- a
	}()
	select {
	case a := <-read:
		t.Fatalf("read the account as %s before its commit was durable", a.State.Phase)
	case <-time.After(100 * time.Millisecond):
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := db.Account(short, "acme"); err == nil {
		t.Error("a read with a deadline returned before the commit")
	}

	let()
	if a := <-read; a == nil || a.State.Phase != monitor.PhaseSuspended {
		t.Errorf("after the commit: %+v, want suspended", a)
	}
	if err := <-suspended; err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if got := db.Unknown([]string{"acme", "newco"}); len(got) != 0 {
		t.Errorf("Unknown after the commits: %v, want none", got)
	}
}
