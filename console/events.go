package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// Timings of the live stream.
const (
	// rateEvery is how often an operator's stream tells the ingest rate.
	rateEvery = 5 * time.Second
	// keepAliveEvery sends a comment line so that proxies keep an idle
	// stream open.
	keepAliveEvery = 20 * time.Second
)

// liveTransition is what the overview's script shows of a transition: it
// sets each field as text, never as markup.
type liveTransition struct {
	Account    string `json:"account"`
	From       string `json:"from"`
	To         string `json:"to"`
	Reason     string `json:"reason"`
	Sender     string `json:"sender,omitempty"`
	OccurredAt string `json:"occurred_at"`
}

// events streams transitions as server-sent events, from the same watch
// as WatchTransitions (its handler, run as the session's identity, so a
// sender sees only its accounts), and the ingest rate to operators.
func (c *Console) events(w http.ResponseWriter, r *http.Request, sess *session) {
	rc := http.NewResponseController(w)
	// The listener's write timeout is for pages; a stream lives longer.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		c.log.Warn("console: stream without its write deadline lifted", "err", err)
	}
	// Returning cancels the watch.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")

	// A browser that reconnects says the last cursor it got: it misses
	// nothing in between. A cursor this server does not take (another
	// server's, a restored store's) starts from now instead.
	cursor := r.Header.Get("Last-Event-ID")
	if len(cursor) > 256 {
		cursor = ""
	}
	out := make(chan sseMessage, 64)
	started := make(chan string, 2)
	watchDone := make(chan error, 1)
	go func() {
		watch := func(cursor string) error {
			ctx, err := c.api.As(ctx, sess.id, pb.AccountService_WatchTransitions_FullMethodName)
			if err != nil {
				return err
			}
			return recovered(c, func() error {
				return c.api.WatchTransitions(&pb.WatchTransitionsRequest{Cursor: cursor}, &sseStream{ctx: ctx, out: out, started: started})
			})
		}
		err := watch(cursor)
		if code := status.Code(err); cursor != "" && (code == codes.InvalidArgument || code == codes.FailedPrecondition) {
			err = watch("")
		}
		watchDone <- err
	}()
	// The page is told the stream is open only once the watch is in
	// place, with the cursor it starts after: a transition committed in
	// between is neither missed nor, after a reconnect, sent twice.
	select {
	case cursor = <-started:
	case err := <-watchDone:
		c.fail(w, r, sess, err)
		return
	case <-ctx.Done():
		return
	case <-c.stop:
		return
	}
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 3000\nid: %s\n\n", cursor)
	rc.Flush()

	operator := view{id: sess.id, Signed: true}.Operator()
	rate := time.NewTicker(rateEvery)
	defer rate.Stop()
	alive := time.NewTicker(keepAliveEvery)
	defer alive.Stop()
	if operator {
		c.sendRate(w)
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-c.stop:
			return
		case err = <-watchDone:
			if err != nil && ctx.Err() == nil {
				c.log.Info("console: live stream ended", "who", sess.id.Name, "err", err)
			}
			return
		case msg := <-out:
			_, err = fmt.Fprintf(w, "id: %s\nevent: transition\ndata: %s\n\n", msg.cursor, msg.data)
		case <-rate.C:
			if operator {
				c.sendRate(w)
			}
		case <-alive.C:
			// A session that ended (signed out, expired) ends its stream.
			if _, live := c.sessions.find(sess.key); !live {
				return
			}
			_, err = fmt.Fprint(w, ": alive\n\n")
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
}

func (c *Console) sendRate(w http.ResponseWriter) {
	if perSecond, ok := c.rate.PerSecond(); ok {
		fmt.Fprintf(w, "event: rate\ndata: {\"events_per_second\":%.0f}\n\n", perSecond)
	}
}

// sseStream is the WatchTransitions stream of a console page: each
// response becomes a JSON line for the page's script.
type sseStream struct {
	grpc.ServerStream
	ctx context.Context
	out chan<- sseMessage
	// started gets the cursor the watch starts after, from its header.
	started chan<- string
}

// sseMessage is one transition for the page, and the cursor after it.
type sseMessage struct {
	cursor string
	data   []byte
}

func (s *sseStream) Context() context.Context { return s.ctx }

func (s *sseStream) SetHeader(metadata.MD) error { return nil }
func (s *sseStream) SetTrailer(metadata.MD)      {}

// SendHeader takes the cursor the watch sends first.
func (s *sseStream) SendHeader(md metadata.MD) error {
	cursor := ""
	if v := md.Get("x-dpmon-cursor"); len(v) > 0 {
		cursor = v[0]
	}
	s.started <- cursor
	return nil
}

// SendMsg and RecvMsg are not used by the watch; they fail rather than
// reach the nil stream embedded.
func (s *sseStream) SendMsg(any) error { return errors.New("console: SendMsg on a live stream") }
func (s *sseStream) RecvMsg(any) error { return errors.New("console: RecvMsg on a live stream") }

func (s *sseStream) Send(resp *pb.WatchTransitionsResponse) error {
	t := resp.GetTransition()
	msg, err := json.Marshal(liveTransition{
		Account: t.GetAccountId(), From: enumLabel(t.GetFrom()), To: enumLabel(t.GetTo()),
		Reason: t.GetReason(), Sender: t.GetSender(), OccurredAt: t.GetOccurredAt().AsTime().UTC().Format(time.RFC3339),
	})
	if err != nil {
		return err
	}
	select {
	case s.out <- sseMessage{cursor: resp.GetCursor(), data: msg}:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}
