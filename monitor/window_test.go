package monitor

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestRingSumsBucketsInsideTheSpan(t *testing.T) {
	r := NewRing(4, []int{2, 4})
	r.Add(100, Counts{Sends: 1})
	r.Add(101, Counts{Sends: 2})
	r.Add(102, Counts{Sends: 4, HardBounces: 1})
	r.Add(103, Counts{Sends: 8, Complaints: 1})
	tests := []struct {
		name      string
		now       int64
		span      int
		wantSends uint64
	}{
		{"whole ring", 103, 4, 15},
		{"last two", 103, 2, 12},
		{"one bucket", 103, 1, 8},
		{"span longer than ring", 103, 10, 15},
		{"now ahead of head slides the window", 105, 4, 12},
		{"now far ahead sees nothing", 200, 4, 0},
		{"now behind head ignores newer buckets", 101, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Sum(tt.now, tt.span).Sends; got != tt.wantSends {
				t.Errorf("Sum(%d, %d).Sends = %d, want %d", tt.now, tt.span, got, tt.wantSends)
			}
		})
	}
}

func TestRingAdvanceClearsPassedBuckets(t *testing.T) {
	r := NewRing(3, []int{1, 3})
	r.Add(10, Counts{Sends: 1})
	r.Add(11, Counts{Sends: 1})
	r.Add(12, Counts{Sends: 1})
	r.Add(14, Counts{Sends: 5}) // the ring now holds 12, 13 (cleared) and 14
	if got := r.Sum(14, 3).Sends; got != 6 {
		t.Errorf("after advancing by 2, sum = %d, want 6", got)
	}
	r.Add(12, Counts{Sends: 1}) // still inside the ring
	if got := r.Sum(14, 3).Sends; got != 7 {
		t.Errorf("late event inside the ring: sum = %d, want 7", got)
	}
	r.Add(11, Counts{Sends: 100}) // older than the ring holds
	if got := r.Sum(14, 3).Sends; got != 7 {
		t.Errorf("event older than the ring was counted: sum = %d, want 7", got)
	}
	r.Add(100, Counts{Sends: 7}) // jump past the whole ring
	if got := r.Sum(100, 3).Sends; got != 7 {
		t.Errorf("after a jump past the ring, sum = %d, want 7", got)
	}
}

// TestRingTotalsMatchTheBuckets checks the running totals against sums
// made bucket by bucket, over random adds, late events and jumps.
func TestRingTotalsMatchTheBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	spans := []int{3, 24}
	r := NewRing(24, spans)
	now := int64(1000)
	model := map[int64]Counts{}
	head := int64(0)
	for step := range 20000 {
		switch x := rng.IntN(100); {
		case x < 5:
			now += int64(rng.IntN(30)) // sometimes past the whole ring
		case x < 30:
			now++
		}
		b := now - int64(rng.IntN(30)) // late events, some too late
		c := Counts{Sends: uint32(rng.IntN(5)), HardBounces: uint32(rng.IntN(2)), Complaints: uint32(rng.IntN(2))}
		r.Add(b, c)
		// The model: every add in a map, the ring's window computed apart.
		if b > head {
			head = b
		}
		if b > head-24 {
			model[b] = addCounts(model[b], c)
		}
		for _, span := range spans {
			fast := r.Sum(int64(r.head), span)
			var slow Totals
			for mb, mc := range model {
				if mb > head-int64(span) && mb <= head {
					slow.add(mc)
				}
			}
			if fast != slow {
				t.Fatalf("step %d, span %d: running total %+v, bucket sum %+v", step, span, fast, slow)
			}
			// A sum that is not the head's walks the buckets.
			at := head - int64(rng.IntN(5))
			var slowAt Totals
			for mb, mc := range model {
				if mb > at-int64(span) && mb <= at && mb > head-24 {
					slowAt.add(mc)
				}
			}
			if got := r.Sum(at, span); got != slowAt {
				t.Fatalf("step %d, span %d at %d: sum %+v, want %+v", step, span, at, got, slowAt)
			}
		}
		if len(r.used) > 24 {
			t.Fatalf("step %d: %d buckets kept, more than the ring covers", step, len(r.used))
		}
	}
}

func addCounts(a, b Counts) Counts { a.add(b); return a }

func TestDurationLabel(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour:          "24h",
		7 * 24 * time.Hour:      "7d",
		90 * time.Minute:        "90m",
		36 * time.Hour:          "36h",
		1500 * time.Millisecond: "1.5s",
	} {
		if got := DurationLabel(d); got != want {
			t.Errorf("DurationLabel(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestNewRate(t *testing.T) {
	tests := []struct {
		k, n             uint64
		value, low, high float64
	}{
		{0, 0, 0, 0, 1},
		{0, 100, 0, 0, 0.037},
		{10, 100, 0.10, 0.055, 0.174},
		{2, 1000, 0.002, 0.00055, 0.0073},
		{5, 3, 1, 0.4385, 1}, // more bounces than sends: capped
	}
	for _, tt := range tests {
		r := NewRate(tt.k, tt.n)
		if !near(r.Value, tt.value, 1e-9) || !near(r.Lower, tt.low, 0.001) || !near(r.Upper, tt.high, 0.001) {
			t.Errorf("NewRate(%d, %d) = %+v, want value %v in [%v, %v]", tt.k, tt.n, r, tt.value, tt.low, tt.high)
		}
		if r.Lower > r.Value || r.Value > r.Upper {
			t.Errorf("NewRate(%d, %d) = %+v: value outside its interval", tt.k, tt.n, r)
		}
	}
}

func near(a, b, eps float64) bool { return a-b < eps && b-a < eps }

func TestAccountBucketsAreTheLongestWindowsOldestFirst(t *testing.T) {
	p := DefaultPolicy()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := NewAccount("acme", t0, p)
	send := Event{Type: EventSend, Recipient: "a@example.com"}
	hard := Event{Type: EventBounce, Recipient: "a@example.com", Bounce: &Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Class: BounceHard}}
	for _, at := range []time.Time{t0.Add(-8 * 24 * time.Hour), t0.Add(-3 * time.Hour), t0.Add(-3*time.Hour + time.Minute), t0.Add(30 * time.Minute)} {
		e := send
		e.OccurredAt = at
		a.Observe(&e, at, &p)
	}
	hard.OccurredAt = t0.Add(31 * time.Minute)
	a.Observe(&hard, hard.OccurredAt, &p)

	got := a.Buckets(t0.Add(time.Hour-time.Second), p)
	want := []Bucket{
		{Start: t0.Add(-3 * time.Hour), Counts: Counts{Sends: 2}},
		{Start: t0, Counts: Counts{Sends: 1, HardBounces: 1}},
	}
	if len(got) != len(want) {
		t.Fatalf("Buckets = %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || got[i].Counts != want[i].Counts {
			t.Errorf("Buckets[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	// A week later only what is still inside the longest window is left.
	if got := a.Buckets(t0.Add(p.Longest()-2*time.Hour), p); len(got) != 1 || !got[0].Start.Equal(t0) {
		t.Errorf("Buckets a week on = %+v, want only the bucket at %s", got, t0)
	}
	if got := NewAccount("new", t0, p).Buckets(t0, p); got != nil {
		t.Errorf("Buckets of a new account = %+v, want none", got)
	}
}
