package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"google.golang.org/grpc"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// flight is one batch sent on a batchStream and not yet acknowledged.
type flight struct {
	id   string
	size int
	sent time.Time
	// lines are the input lines of the batch's events, for ingest; nil
	// for generated events.
	lines []int
	// events are kept until the batch is acknowledged, to be sent again
	// on a new stream should this one fail.
	events []*dpmonv1.Event
}

// ackFunc is called, on the receiving goroutine, with each acknowledged
// batch and the server's answer to it.
type ackFunc func(f flight, resp *dpmonv1.StreamEventsResponse)

// batchStream keeps up to a fixed number of event batches in flight on one
// StreamEvents call. One goroutine sends; another receives the answers,
// which the server gives in order, and matches each to its batch.
//
// A batch's events must not be modified until the batch is acknowledged:
// gRPC may still read a message after Send returns.
type batchStream struct {
	stream  grpc.BidiStreamingClient[dpmonv1.StreamEventsRequest, dpmonv1.StreamEventsResponse]
	cancel  context.CancelFunc
	onAck   ackFunc
	seq     uint64
	slots   chan struct{} // one token per batch in flight
	pending chan flight   // batches in flight, oldest first
	done    chan struct{} // closed when the receiver stops
	err     error         // why the receiver stopped; read after done
	// unsent is the batch Send was given after the stream had ended.
	unsent []flight
}

// openBatchStream starts a StreamEvents call that allows inflight batches
// without an answer and calls onAck for each answer.
func openBatchStream(ctx context.Context, client dpmonv1.EventServiceClient, inflight int, onAck ackFunc) (*batchStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := client.StreamEvents(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &batchStream{
		stream:  stream,
		cancel:  cancel,
		onAck:   onAck,
		slots:   make(chan struct{}, inflight),
		pending: make(chan flight, inflight),
		done:    make(chan struct{}),
	}
	go s.receive()
	return s, nil
}

// Send sends events as the next batch, first waiting until fewer than the
// allowed number of batches are in flight. lines, if not nil, gives each
// event's input line. Waiting ends early when ctx is done.
func (s *batchStream) Send(ctx context.Context, events []*dpmonv1.Event, lines []int) error {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		s.unsent = append(s.unsent, flight{size: len(events), lines: lines, events: events})
		return s.receiveErr()
	}
	s.seq++
	f := flight{id: strconv.FormatUint(s.seq, 10), size: len(events), sent: time.Now(), lines: lines, events: events}
	s.pending <- f // never blocks: pending has as much room as slots
	err := s.stream.Send(&dpmonv1.StreamEventsRequest{BatchId: f.id, Events: events})
	if errors.Is(err, io.EOF) {
		// The stream has ended; the receiver learns why.
		<-s.done
		return s.receiveErr()
	}
	return err
}

// Close tells the server no more batches follow and waits for the answers
// to those in flight, for at most wait when wait is positive. It returns
// the first error of the stream, if any.
func (s *batchStream) Close(wait time.Duration) error {
	defer s.cancel()
	if err := s.stream.CloseSend(); err != nil {
		return err
	}
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-s.done:
		return s.err
	case <-timeout:
		n := len(s.pending)
		s.cancel()
		<-s.done
		return fmt.Errorf("%d batches not acknowledged within %v", n, wait)
	}
}

// unacknowledged returns, once the stream has ended, the batches given to
// Send that were not answered, oldest first.
func (s *batchStream) unacknowledged() []flight {
	<-s.done
	var out []flight
	for {
		select {
		case f := <-s.pending:
			out = append(out, f)
		default:
			return append(out, s.unsent...)
		}
	}
}

// receiveErr returns why the receiver stopped, never nil.
func (s *batchStream) receiveErr() error {
	if s.err != nil {
		return s.err
	}
	return errors.New("event stream closed by the server")
}

// receive matches answers to batches until the stream ends.
func (s *batchStream) receive() {
	defer close(s.done)
	for {
		resp, err := s.stream.Recv()
		if errors.Is(err, io.EOF) {
			if n := len(s.pending); n > 0 {
				s.err = fmt.Errorf("event stream ended with %d batches not acknowledged", n)
			}
			return
		}
		if err != nil {
			s.err = err
			return
		}
		var f flight
		select {
		case f = <-s.pending:
		default:
			s.err = fmt.Errorf("answer for batch %q, which is not in flight", resp.GetBatchId())
			return
		}
		if resp.GetBatchId() != f.id {
			s.err = fmt.Errorf("answer for batch %q, want %q", resp.GetBatchId(), f.id)
			return
		}
		s.onAck(f, resp)
		<-s.slots
	}
}
