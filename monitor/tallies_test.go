package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// busyAccount returns an account that observed a week of mixed events
// under p, and the instant after the last of them.
func busyAccount(t *testing.T, p Policy, rng *rand.Rand) (*Account, time.Time) {
	t.Helper()
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	a := NewAccount("acme", start, p)
	a.Quota.PerSecond = 10
	now := start
	for i := range 5000 {
		now = now.Add(time.Duration(rng.IntN(240)) * time.Second)
		e := randomEvent(rng, i, now)
		a.Observe(e, now, &p)
		if i%100 == 0 {
			a.StepSenders(now, &p, 0)
		}
	}
	return a, now
}

func randomEvent(rng *rand.Rand, i int, at time.Time) *Event {
	e := &Event{ID: fmt.Sprint(i), AccountID: "acme", Type: EventSend, OccurredAt: at.Add(-time.Duration(rng.IntN(3600)) * time.Second),
		Sender: fmt.Sprintf("s%d@acme.example", rng.IntN(4)), Recipient: fmt.Sprintf("r%d@Gmail.com", rng.IntN(200))}
	switch x := rng.IntN(100); {
	case x < 3:
		e.Type = EventBounce
		e.Bounce = &Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}
	case x < 4:
		e.Type = EventComplaint
	case x < 5:
		e.Type = EventUnsubscribe
	case x < 6:
		e.Type = EventAuthFailure
	}
	e.Decide()
	return e
}

func TestTalliesRoundTrip(t *testing.T) {
	p := bulkPolicy()
	rng := rand.New(rand.NewPCG(1, 2))
	a, now := busyAccount(t, p, rng)
	if tracked(a) == 0 || a.rep.past == nil || a.ring.head == 0 {
		t.Fatal("the account counted too little to test the encoding")
	}
	enc := a.AppendTallies(nil)

	b := NewAccount("acme", a.CreatedAt, p)
	b.Quota = a.Quota
	if err := b.RestoreTallies(enc, p); err != nil {
		t.Fatalf("RestoreTallies: %v", err)
	}
	if got := b.AppendTallies(nil); !bytes.Equal(got, enc) {
		t.Fatalf("re-encoded tallies differ (%d bytes, want %d)", len(got), len(enc))
	}
	if !reflect.DeepEqual(b.ring, a.ring) {
		t.Errorf("ring: got %+v, want %+v", b.ring.totals, a.ring.totals)
	}
	if !reflect.DeepEqual(b.rep, a.rep) {
		t.Error("reputation days differ")
	}
	if !reflect.DeepEqual(b.Status(now, p), a.Status(now, p)) {
		t.Error("status differs")
	}
	if ra, rb := a.Reputation(now, p), b.Reputation(now, p); ra.Score != rb.Score || ra.AuthFailures != rb.AuthFailures || ra.AuthFailures == 0 {
		t.Errorf("reputation: score %d and %d, auth failures %d and %d", ra.Score, rb.Score, ra.AuthFailures, rb.AuthFailures)
	}
	// Both go on alike: the restored tallies count further events and
	// judge senders as the originals do.
	for i := range 2000 {
		now = now.Add(time.Duration(rng.IntN(60)) * time.Second)
		e := randomEvent(rng, 10000+i, now)
		a.Observe(e, now, &p)
		b.Observe(e, now, &p)
		if i%50 == 0 {
			ta := a.StepSenders(now, &p, 0)
			tb := b.StepSenders(now, &p, 0)
			if !reflect.DeepEqual(ta, tb) {
				t.Fatalf("event %d: sender judgements differ: %v and %v", i, ta, tb)
			}
		}
	}
	if !bytes.Equal(a.AppendTallies(nil), b.AppendTallies(nil)) {
		t.Error("tallies differ after counting the same events")
	}
}

func TestTalliesOfAnotherShapeAreRefused(t *testing.T) {
	p := bulkPolicy()
	a, _ := busyAccount(t, p, rand.New(rand.NewPCG(3, 4)))
	enc := a.AppendTallies(nil)

	// The reputation days are kept by day number, so they fit a window of
	// any length; the windows' ring does not.
	wider := p
	wider.Bucket *= 2
	for name, q := range map[string]Policy{"bucket": wider} {
		b := NewAccount("acme", a.CreatedAt, q)
		if err := b.RestoreTallies(enc, q); !errors.Is(err, ErrTalliesShape) {
			t.Errorf("%s changed: got %v, want ErrTalliesShape", name, err)
		}
		if b.ring.head != 0 || b.tracks != nil {
			t.Errorf("%s changed: a refused restore left tallies behind", name)
		}
	}
}

func TestTruncatedTalliesAreAnError(t *testing.T) {
	p := bulkPolicy()
	a, _ := busyAccount(t, p, rand.New(rand.NewPCG(5, 6)))
	enc := a.AppendTallies(nil)
	for n := 0; n < len(enc); n += 1 + n/50 {
		b := NewAccount("acme", a.CreatedAt, p)
		if err := b.RestoreTallies(enc[:n], p); err == nil {
			t.Fatalf("restoring %d of %d bytes: no error", n, len(enc))
		}
	}
}

func TestVolumeRoundTrip(t *testing.T) {
	p := DefaultBulkPolicy()
	var v Volume
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range 500 {
		v.Add(now.Add(time.Duration(i)*7*time.Second), uint64(i), p)
	}
	enc, _ := v.AppendBinary(nil)
	var w Volume
	if err := w.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	at := now.Add(3500 * time.Second)
	if got, want := w.Sum(at, p), v.Sum(at, p); got != want || want == 0 {
		t.Errorf("Sum: got %d, want %d", got, want)
	}
	if err := w.UnmarshalBinary(enc[:len(enc)-1]); err == nil {
		t.Error("a truncated volume: no error")
	}
}
