package monitor

import (
	"cmp"
	"fmt"
	"slices"
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

// Ring counts events in buckets over the longest window. An event is
// counted in the bucket of the time it occurred, so windows slide by one
// bucket. Besides the buckets, the ring keeps a running total for each
// window span, so that judging an account after every batch does not
// re-add every bucket of every window.
//
// Only the buckets with counts take memory: an account that sends a few
// times a day uses a handful of its 168 hourly buckets, and accounts like
// that are most of a platform's. A full week costs 20 bytes a bucket.
//
// Bucket numbers are kept in 32 bits: a bucket is at least a minute, and
// 2^31 minutes from 1970 reach past the year 6000. The methods take them in
// 64.
type Ring struct {
	// head is the absolute number of the newest bucket (time / bucket size);
	// 0 means nothing was added yet.
	head int32
	// n is how many buckets the ring covers: (head-n, head].
	n int32
	// spans are the window lengths in buckets, 0 past the last window;
	// totals[k] is the sum of the buckets (head-spans[k], head]. Both are
	// kept in the ring itself, not in slices of their own: every event
	// updates them, and one memory access less per event shows.
	spans  [MaxWindows]int32
	totals [MaxWindows]Totals
	// used are the buckets with counts, oldest first.
	used []bucketCounts
}

// bucketCounts are the counts of bucket b.
type bucketCounts struct {
	b int32
	c Counts
}

// MaxWindows is how many windows a policy may have.
const MaxWindows = 2

// NewRing returns a ring of n buckets that keeps running totals for the
// given window spans (each at most n buckets).
func NewRing(n int, spans []int) Ring {
	r := Ring{n: int32(n)}
	for k, s := range spans {
		r.spans[k] = int32(s)
	}
	return r
}

// Add counts c in the bucket with absolute number b. Buckets older than the
// ring holds are ignored; a newer bucket moves the ring forward.
func (r *Ring) Add(b int64, c Counts) {
	if r.head == 0 {
		r.head = int32(b)
	}
	if b > int64(r.head) {
		r.advance(b)
	}
	head := int64(r.head)
	if b <= head-int64(r.n) {
		return
	}
	r.bucket(b).add(c)
	for k, span := range r.spans {
		if span == 0 {
			break
		}
		if b > head-int64(span) {
			r.totals[k].add(c)
		}
	}
}

// bucket returns the counts of bucket b, adding it in its place if it has
// none yet. Events come mostly in time order: b is mostly the newest.
func (r *Ring) bucket(b int64) *Counts {
	last := len(r.used) - 1
	switch {
	case last >= 0 && int64(r.used[last].b) == b:
		return &r.used[last].c
	case last < 0 || int64(r.used[last].b) < b:
		r.used = append(r.used, bucketCounts{b: int32(b)})
		return &r.used[last+1].c
	}
	i, found := slices.BinarySearchFunc(r.used, b, func(e bucketCounts, b int64) int { return cmp.Compare(int64(e.b), b) })
	if !found {
		r.used = slices.Insert(r.used, i, bucketCounts{b: int32(b)})
	}
	return &r.used[i].c
}

// advance moves the head to bucket b: each bucket that slides out of a
// window leaves its total, and the buckets that leave the ring are dropped.
func (r *Ring) advance(b int64) {
	head := int64(r.head)
	if b-head >= int64(r.n) {
		r.reset()
		r.head = int32(b)
		return
	}
	for _, e := range r.used {
		for k, span := range r.spans {
			if span == 0 {
				break
			}
			// In the span before the move, not after it.
			if eb := int64(e.b); eb > head-int64(span) && eb <= b-int64(span) {
				r.totals[k].sub(e.c)
			}
		}
	}
	oldest := b - int64(r.n)
	drop := 0
	for drop < len(r.used) && int64(r.used[drop].b) <= oldest {
		drop++
	}
	if drop > 0 {
		// Moved down in place, so that the slice keeps its capacity.
		r.used = r.used[:copy(r.used, r.used[drop:])]
	}
	r.head = int32(b)
}

// reset empties the ring.
func (r *Ring) reset() {
	r.used = r.used[:0]
	r.totals = [MaxWindows]Totals{}
}

// Sum adds up the span buckets that end with bucket now (inclusive).
func (r *Ring) Sum(now int64, span int) Totals {
	var sum Totals
	if r.head == 0 {
		return sum
	}
	if now == int64(r.head) {
		for k, s := range r.spans {
			if int(s) == span {
				return r.totals[k]
			}
		}
	}
	lo, hi := r.bounds(now, span)
	for _, e := range r.used {
		if eb := int64(e.b); eb >= lo && eb <= hi {
			sum.add(e.c)
		}
	}
	return sum
}

// bounds are the first and last buckets the ring holds of the span
// buckets that end with bucket now.
func (r *Ring) bounds(now int64, span int) (lo, hi int64) {
	head := int64(r.head)
	return max(now-int64(span)+1, head-int64(r.n)+1), min(now, head)
}

// sendsBelow returns the bucket number from whose start the sends of the
// span buckets ending with bucket now stay below limit, as the oldest
// buckets leave the span. The caller knows they reach limit now.
func (r *Ring) sendsBelow(now int64, span int, limit uint64) int64 {
	lo, hi := r.bounds(now, span)
	total := r.Sum(now, span).Sends
	for _, e := range r.used {
		eb := int64(e.b)
		if eb < lo || eb > hi {
			continue
		}
		total -= uint64(e.c.Sends)
		if total < limit {
			return eb + int64(span)
		}
	}
	return now + 1
}

// empty reports whether nothing the ring counted is left at bucket now.
func (r *Ring) empty(now int64) bool {
	return r.head == 0 || now-int64(r.head) >= int64(r.n)
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

// Bucket is one bucket of an account's windows: what was counted from
// Start for one Policy.Bucket.
type Bucket struct {
	Start time.Time
	Counts
}

// Buckets returns the account's buckets that hold counts and lie within
// the longest window ending at now, oldest first: the history that charts
// of its rates are drawn from.
func (a *Account) Buckets(now time.Time, p Policy) []Bucket {
	r := &a.ring
	if r.head == 0 {
		return nil
	}
	lo, hi := r.bounds(bucketOf(now, p.Bucket), int(p.Longest()/p.Bucket))
	var out []Bucket
	for _, e := range r.used {
		if b := int64(e.b); b >= lo && b <= hi {
			out = append(out, Bucket{Start: time.Unix(0, b*int64(p.Bucket)).UTC(), Counts: e.c})
		}
	}
	return out
}
