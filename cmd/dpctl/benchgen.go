package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// The synthetic traffic is mostly sends, with hard bounces and complaints
// at rates a healthy sender might see.
const (
	bounceShare    = 0.01
	complaintShare = 0.0005
	recipients     = 1_000_000
)

// benchBatch is a pre-generated batch that is sent again and again, with
// fresh event IDs, accounts and time each time, so generating events does
// not compete with sending them and every account gets traffic.
type benchBatch struct {
	events []*dpmonv1.Event
	// at is every event's occurred_at: one message shared by the batch,
	// so stamping the time is one write. With spread, each event has
	// its own instead, drawn at random over the spread before now.
	at     *timestamppb.Timestamp
	spread time.Duration
}

// newBenchPool returns n batches of size events each for accounts
// "bench-0" to "bench-(accounts-1)". With spread, each event has a time of
// its own (see stamp).
func newBenchPool(rng *rand.Rand, n, size, accounts int, spread time.Duration) []*benchBatch {
	pool := make([]*benchBatch, n)
	for i := range pool {
		b := &benchBatch{events: make([]*dpmonv1.Event, size), at: timestamppb.Now(), spread: spread}
		for j := range b.events {
			at := b.at
			if spread > 0 {
				at = timestamppb.Now()
			}
			b.events[j] = newBenchEvent(rng, accounts, at)
		}
		pool[i] = b
	}
	return pool
}

// newBenchEvent returns a random event occurring at at; its event_id is
// set when its batch is stamped.
func newBenchEvent(rng *rand.Rand, accounts int, at *timestamppb.Timestamp) *dpmonv1.Event {
	ev := &dpmonv1.Event{
		AccountId:  fmt.Sprintf("bench-%d", rng.IntN(accounts)),
		Type:       dpmonv1.EventType_EVENT_TYPE_SEND,
		OccurredAt: at,
		Recipient:  fmt.Sprintf("r%d@example.com", rng.IntN(recipients)),
	}
	switch x := rng.Float64(); {
	case x < complaintShare:
		ev.Type = dpmonv1.EventType_EVENT_TYPE_COMPLAINT
		ev.Complaint = &dpmonv1.Complaint{FeedbackType: "abuse", Source: "dpctl bench"}
	case x < complaintShare+bounceShare:
		ev.Type = dpmonv1.EventType_EVENT_TYPE_BOUNCE
		ev.Bounce = &dpmonv1.Bounce{
			SmtpCode:       550,
			EnhancedStatus: "5.1.1",
			Diagnostic:     "550 5.1.1 user unknown",
			Class:          dpmonv1.BounceClass_BOUNCE_CLASS_HARD,
		}
	}
	return ev
}

// stamp readies b to be sent again: every event gets a new ID from ids and
// an account drawn from accounts, and occurs at now (with a spread, at a
// time drawn over the spread before now). It must not be called while b
// is in flight.
func (b *benchBatch) stamp(ids *idSource, rng *rand.Rand, accounts []string, now time.Time) {
	b.at.Seconds, b.at.Nanos = now.Unix(), int32(now.Nanosecond())
	for _, ev := range b.events {
		ev.EventId = ids.next()
		ev.AccountId = accounts[rng.IntN(len(accounts))]
		if b.spread > 0 {
			at := now.Add(-time.Duration(rng.Int64N(int64(b.spread))))
			ev.OccurredAt.Seconds, ev.OccurredAt.Nanos = at.Unix(), int32(at.Nanosecond())
		}
	}
}

// benchAccounts returns the account ids "bench-0" to "bench-(n-1)", built
// once so that stamping a batch allocates nothing for them.
func benchAccounts(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "bench-" + strconv.Itoa(i)
	}
	return ids
}

// idSource hands out event IDs unique to one run and one worker:
// a prefix followed by a counter.
type idSource struct {
	buf    []byte
	prefix int
	n      uint64
}

// newIDSource returns an idSource whose IDs start with prefix.
func newIDSource(prefix string) *idSource {
	return &idSource{buf: []byte(prefix), prefix: len(prefix)}
}

// next returns a new ID.
func (s *idSource) next() string {
	s.n++
	s.buf = strconv.AppendUint(s.buf[:s.prefix], s.n, 36)
	return string(s.buf)
}

// runPrefix returns an event ID prefix that differs from one run to the
// next, so a second run is not taken for duplicates of the first.
func runPrefix(now time.Time) string {
	return "bench-" + strconv.FormatInt(now.UnixNano(), 36) + "-"
}
