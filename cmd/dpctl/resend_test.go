package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// A stream that fails while the batches of the one before are sent again
// loses none of them: those not yet given to it go on the next stream too.
func TestIngestResendsEveryBatchAfterAFailedResend(t *testing.T) {
	// With 3 batches in flight, the first stream leaves 4 unanswered: 3
	// sent, 1 waiting for room. The second ends after the first of them,
	// and the client sends the second only once it has seen the end.
	p := &plannedEvents{plan: []streamPlan{{read: 3}, {read: 1, holdSend: 2}}}
	sum, err := ingest(context.Background(), dialPlanned(t, p), newEventReader(strings.NewReader(strings.Join(sends("acme", "e", 10, t0), "\n"))),
		1, 3, time.Hour, io.Discard)
	if err != nil {
		t.Fatalf("ingest: %v (summary %+v)", err, sum)
	}
	p.ackedOnce(t, sum, 10)
}

// A server that asked to be called again and refuses the connection
// meanwhile, restarting, is called again: the batches it acknowledged
// before are reported, and the others are sent.
func TestIngestReopensWhenTheServerRestarts(t *testing.T) {
	p := &plannedEvents{plan: []streamPlan{{read: 2, ack: 2, down: true}}}
	sum, err := ingest(context.Background(), dialPlanned(t, p), newEventReader(strings.NewReader(strings.Join(sends("acme", "e", 6, t0), "\n"))),
		1, 2, time.Hour, io.Discard)
	if err != nil {
		t.Fatalf("ingest: %v (summary %+v)", err, sum)
	}
	p.ackedOnce(t, sum, 6)
}

// plannedEvents is an EventService whose streams end as its plan says,
// with UNAVAILABLE and a RetryInfo of 1ms, as dpmon's do when it shuts
// down; the streams beyond the plan answer every batch. It commits a
// batch only when it answers it, so each event of an ingest that ends
// well is answered exactly once.
type plannedEvents struct {
	dpmonv1.UnimplementedEventServiceServer
	plan []streamPlan

	mu      sync.Mutex
	served  int            // streams the server has begun
	opened  int            // streams the client has opened
	answers map[string]int // times each event id was answered
	net     network
}

// streamPlan is how one stream ends. The server reads read batches,
// answers the first ack of them and ends the stream. holdSend, when not
// 0, is the client's send (counted from 1) that waits until the client
// has seen the stream end, as a slow client's would. down makes the
// server unreachable once the client has seen the end, until the client
// has failed to open a stream: a restart.
type streamPlan struct {
	read, ack int
	holdSend  int
	down      bool
}

func (p *plannedEvents) StreamEvents(stream grpc.BidiStreamingServer[dpmonv1.StreamEventsRequest, dpmonv1.StreamEventsResponse]) error {
	p.mu.Lock()
	n := p.served
	p.served++
	p.mu.Unlock()
	for read := 0; n >= len(p.plan) || read < p.plan[n].read; read++ {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if n < len(p.plan) && read >= p.plan[n].ack {
			continue
		}
		if err := stream.Send(p.commit(req)); err != nil {
			return err
		}
	}
	st, err := status.New(codes.Unavailable, "shutting down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Millisecond)})
	if err != nil {
		return err
	}
	return st.Err()
}

func (p *plannedEvents) commit(req *dpmonv1.StreamEventsRequest) *dpmonv1.StreamEventsResponse {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.answers == nil {
		p.answers = make(map[string]int)
	}
	resp := &dpmonv1.StreamEventsResponse{BatchId: req.GetBatchId()}
	for _, ev := range req.GetEvents() {
		p.answers[ev.GetEventId()]++
		if p.answers[ev.GetEventId()] == 1 {
			resp.Accepted++
		} else {
			resp.Duplicates++
		}
	}
	return resp
}

// ackedOnce fails the test unless events e-0 … e-(n-1) were each answered
// once, and sum says so.
func (p *plannedEvents) ackedOnce(t *testing.T, sum *ingestSummary, n int) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range n {
		if id := fmt.Sprint("e-", i); p.answers[id] != 1 {
			t.Errorf("event %s answered %d times, want once", id, p.answers[id])
		}
	}
	if len(p.answers) != n {
		t.Errorf("%d events answered, want %d", len(p.answers), n)
	}
	if sum == nil || sum.Events != n || sum.Accepted != n || sum.Duplicates != 0 {
		t.Errorf("summary: got %+v, want %d events, all accepted", sum, n)
	}
}

// dialPlanned serves p on loopback and returns a client whose streams
// also follow p's plan on the client's side.
func dialPlanned(t *testing.T, p *plannedEvents) dpmonv1.EventServiceClient {
	t.Helper()
	gs := grpc.NewServer()
	dpmonv1.RegisterEventServiceServer(gs, p)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(p.net.dial),
		grpc.WithStreamInterceptor(p.intercept),
		// Reconnect at once when the server is back. A connection attempt
		// is given max(MinConnectTimeout, backoff): left at zero, that is
		// the 1ms backoff, which a slow machine (or -race) misses.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: time.Millisecond, Multiplier: 1, MaxDelay: time.Millisecond},
			MinConnectTimeout: 10 * time.Second,
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
	})
	return dpmonv1.NewEventServiceClient(conn)
}

// intercept wraps each stream the client opens in its plan.
func (p *plannedEvents) intercept(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		p.net.up() // the client has found the server away: it is back
		return nil, err
	}
	p.mu.Lock()
	n := p.opened
	p.opened++
	p.mu.Unlock()
	if n >= len(p.plan) {
		return cs, nil
	}
	return &plannedStream{ClientStream: cs, plan: p.plan[n], cc: cc, net: &p.net, ended: make(chan struct{})}, nil
}

// plannedStream is a client stream that holds a send or takes the server
// away as its plan says.
type plannedStream struct {
	grpc.ClientStream
	plan  streamPlan
	cc    *grpc.ClientConn
	net   *network
	sends int
	ended chan struct{} // closed when RecvMsg has returned the stream's end
	once  sync.Once
}

func (s *plannedStream) SendMsg(m any) error {
	s.sends++
	if s.sends == s.plan.holdSend {
		<-s.ended
	}
	return s.ClientStream.SendMsg(m)
}

func (s *plannedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		if s.plan.down {
			s.net.down()
			// No new stream may find the closed connection still ready.
			for st := s.cc.GetState(); st == connectivity.Ready; st = s.cc.GetState() {
				s.cc.WaitForStateChange(context.Background(), st)
			}
		}
		s.once.Do(func() { close(s.ended) })
	}
	return err
}

// network is the client's way to the server; it can refuse connections
// and close those it made, as a server's restart does.
type network struct {
	mu      sync.Mutex
	refused bool
	conns   []net.Conn
}

func (n *network) dial(ctx context.Context, addr string) (net.Conn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.refused {
		return nil, errors.New("connection refused: the server is restarting")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err == nil {
		n.conns = append(n.conns, c)
	}
	return c, err
}

func (n *network) down() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.refused = true
	for _, c := range n.conns {
		c.Close()
	}
	n.conns = nil
}

func (n *network) up() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.refused = false
}
