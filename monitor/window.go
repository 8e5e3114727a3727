package monitor

import (
	"fmt"
	"time"
)

// Counts are what one bucket of a window holds, and what an event adds.
type Counts struct {
	Sends       uint32
	HardBounces uint32
	Complaints  uint32
	// Blocks are bounces that refused the sender, not the address.
	Blocks uint32
}

func (c *Counts) add(o Counts) {
	c.Sends += o.Sends
	c.HardBounces += o.HardBounces
	c.Complaints += o.Complaints
	c.Blocks += o.Blocks
}

// Totals are counts summed over a window; wider than one bucket's.
type Totals struct {
	Sends       uint64
	HardBounces uint64
	Complaints  uint64
	Blocks      uint64
}

func (t *Totals) add(c Counts) {
	t.Sends += uint64(c.Sends)
	t.HardBounces += uint64(c.HardBounces)
	t.Complaints += uint64(c.Complaints)
	t.Blocks += uint64(c.Blocks)
}

func (t *Totals) sub(c Counts) {
	t.Sends -= uint64(c.Sends)
	t.HardBounces -= uint64(c.HardBounces)
	t.Complaints -= uint64(c.Complaints)
	t.Blocks -= uint64(c.Blocks)
}

// Window is one rolling window of the policy.
type Window struct {
	// Name is how the window is shown, e.g. "24h".
	Name   string
	Length time.Duration
	// MinSends is the volume below which the window cannot move a phase.
	MinSends uint64
}

// Ring is a fixed ring of count buckets that covers the longest window. An
// event is counted in the bucket of the time it occurred, so windows slide
// by one bucket. Besides the buckets, the ring keeps a running total for
// each window span, so that judging an account after every batch does not
// re-add every bucket of every window.
type Ring struct {
	// head is the absolute number of the newest bucket (time / bucket size);
	// 0 means nothing was added yet.
	head    int64
	buckets []Counts
	// spans are the window lengths in buckets, 0 past the last window;
	// totals[k] is the sum of the buckets (head-spans[k], head]. Both are
	// kept in the ring itself, not in slices of their own: every event
	// updates them, and one memory access less per event shows.
	spans  [MaxWindows]int32
	totals [MaxWindows]Totals
}

// MaxWindows is how many windows a policy may have.
const MaxWindows = 2

// NewRing returns a ring of n buckets that keeps running totals for the
// given window spans (each at most n buckets).
func NewRing(n int, spans []int) Ring {
	r := Ring{buckets: make([]Counts, n)}
	for k, s := range spans {
		r.spans[k] = int32(s)
	}
	return r
}

// Add counts c in the bucket with absolute number b. Buckets older than the
// ring holds are ignored; a newer bucket moves the ring forward.
func (r *Ring) Add(b int64, c Counts) {
	n := int64(len(r.buckets))
	if r.head == 0 {
		r.head = b
	}
	if b > r.head {
		r.advance(b)
	}
	if b <= r.head-n {
		return
	}
	r.buckets[b%n].add(c)
	for k, span := range r.spans {
		if span == 0 {
			break
		}
		if b > r.head-int64(span) {
			r.totals[k].add(c)
		}
	}
}

// advance moves the head to bucket b: each bucket that slides out of a
// window leaves its total, and each bucket passed starts empty.
func (r *Ring) advance(b int64) {
	n := int64(len(r.buckets))
	if b-r.head >= n {
		r.reset()
		r.head = b
		return
	}
	for i := r.head + 1; i <= b; i++ {
		for k, span := range r.spans {
			if span == 0 {
				break
			}
			r.totals[k].sub(r.buckets[(i-int64(span))%n])
		}
		r.buckets[i%n] = Counts{}
	}
	r.head = b
}

// reset empties the ring.
func (r *Ring) reset() {
	clear(r.buckets)
	r.totals = [MaxWindows]Totals{}
}

// Sum adds up the span buckets that end with bucket now (inclusive).
func (r *Ring) Sum(now int64, span int) Totals {
	var sum Totals
	if r.head == 0 {
		return sum
	}
	if now == r.head {
		for k, s := range r.spans {
			if int(s) == span {
				return r.totals[k]
			}
		}
	}
	n := int64(len(r.buckets))
	hi := min(now, r.head)
	lo := max(now-int64(span)+1, r.head-n+1)
	for b := lo; b <= hi; b++ {
		sum.add(r.buckets[b%n])
	}
	return sum
}

// sendsBelow returns the bucket number from whose start the sends of the
// span buckets ending with bucket now stay below limit, as the oldest
// buckets leave the span. The caller knows they reach limit now.
func (r *Ring) sendsBelow(now int64, span int, limit uint64) int64 {
	n := int64(len(r.buckets))
	hi := min(now, r.head)
	lo := max(now-int64(span)+1, r.head-n+1)
	total := r.Sum(now, span).Sends
	for b := lo; b <= hi; b++ {
		total -= uint64(r.buckets[b%n].Sends)
		if total < limit {
			return b + int64(span)
		}
	}
	return now + 1
}

// bucketOf returns the absolute number of the bucket that holds t.
func bucketOf(t time.Time, size time.Duration) int64 {
	return t.UnixNano() / int64(size)
}

// DurationLabel names a duration the way people say it: "24h", "7d", "90m".
func DurationLabel(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
