package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc/stats"
)

// decodeGate is the stats handler that holds a call back until its request
// fits in its budget. Its Begin runs on the call's goroutine just before
// grpc reads the request, so waiting there is back-pressure on that call
// only, never on its connection. A request counts RequestCopies times: a
// call reserves that for the largest message before its request is read,
// and once it is decoded keeps it for the message's actual size until the
// call ends, since the decoded request lives as long as its handler. A
// request that does not arrive in time cuts the call off, so that a
// stalled client does not keep its reservation.
//
// Client streams (StreamEvents, reflection) are not gated here: their
// messages come when their clients send them, maybe long after the stream
// opened, and a reservation made in advance would be held by an idle
// stream. StreamEvents reserves each batch once read (events.go).
type decodeGate struct {
	largest int64 // RequestCopies × the largest message
}

type callKey struct{}

// call is what one call admitted by the tap holds: its budget and
// reservation, and the means to cut it off.
type call struct {
	budget  *semaphore.Weighted
	timeout time.Duration
	cancel  context.CancelCauseFunc

	// read is the size of the request last read, as grpc reported it.
	read atomic.Int64

	mu    sync.Mutex
	held  int64
	timer *time.Timer
}

// lastRead returns the size of the request the call behind ctx last read:
// grpc reports it to the gate as it arrives, which saves walking the
// decoded message again. It is 0 for a call the tap did not admit.
func lastRead(ctx context.Context) int64 {
	if c, _ := ctx.Value(callKey{}).(*call); c != nil {
		return c.read.Load()
	}
	return 0
}

func (g *decodeGate) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (g *decodeGate) HandleRPC(ctx context.Context, st stats.RPCStats) {
	c, _ := ctx.Value(callKey{}).(*call)
	if c == nil {
		return // not admitted by the tap (e.g. served through ServeHTTP)
	}
	switch st := st.(type) {
	case *stats.Begin:
		if !st.IsClientStream {
			g.reserve(ctx, c)
		}
	case *stats.InPayload:
		c.read.Store(int64(st.Length))
		c.keep(min(RequestCopies*int64(st.Length), g.largest))
	case *stats.End:
		c.keep(0)
	}
}

// reserve waits until the largest request fits in the call's budget, then
// gives the request its time to arrive.
func (g *decodeGate) reserve(ctx context.Context, c *call) {
	if c.budget.Acquire(ctx, g.largest) != nil {
		return // the call has ended
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = g.largest
	c.timer = time.AfterFunc(c.timeout, func() { c.cancel(errSlowRequest) })
}

// keep lowers the call's reservation to n bytes: the request has arrived.
func (c *call) keep(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if c.held > n {
		c.budget.Release(c.held - n)
		c.held = n
	}
}

func (g *decodeGate) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (g *decodeGate) HandleConn(context.Context, stats.ConnStats) {}
