package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/store"
)

// IngestEvents validates a batch, commits its valid events and reports the
// others one by one.
func (s *Server) IngestEvents(ctx context.Context, req *pb.IngestEventsRequest) (*pb.IngestEventsResponse, error) {
	if err := checkBatchSize(req.GetEvents()); err != nil {
		return nil, err
	}
	if err := checkEventScopes(ctx, req.GetEvents()); err != nil {
		return nil, err
	}
	n := int64(len(req.GetEvents()))
	waitCtx, cancel := context.WithTimeout(ctx, admissionWait)
	err := s.pending.Acquire(waitCtx, n)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, s.errorStatus(ctx, "IngestEvents", ctx.Err())
		}
		return nil, resourceExhausted("too many events are waiting to be committed; retry later", admissionWait)
	}
	defer s.pending.Release(n)
	r, err := s.ingest(ctx, req.GetEvents())
	if err != nil {
		return nil, s.errorStatus(ctx, "IngestEvents", err)
	}
	return &pb.IngestEventsResponse{Accepted: r.accepted, Duplicates: r.duplicates, Rejected: r.rejected}, nil
}

func checkBatchSize(events []*pb.Event) error {
	if len(events) > MaxBatchEvents {
		return invalidArgument(monitor.FieldError{
			Field: "events",
			// Not how many: the codec decodes one more than allowed at most.
			Reason: "at most " + strconv.Itoa(MaxBatchEvents) + " events per batch",
		})
	}
	return nil
}

type batchResult struct {
	accepted, duplicates uint32
	rejected             []*pb.EventError
}

// ingest validates every event at one instant and commits the valid ones.
func (s *Server) ingest(ctx context.Context, events []*pb.Event) (batchResult, error) {
	var r batchResult
	res, rejected, err := s.commitBatch(ctx, len(events), func(i int) (monitor.Event, monitor.EventType, error) {
		e, err := eventFromProto(events[i])
		return e, monitor.EventType(events[i].GetType()), err
	})
	if err != nil {
		return r, err
	}
	for _, rej := range rejected {
		r.rejected = append(r.rejected, &pb.EventError{Index: uint32(rej.Index), Field: rej.Field, Reason: rej.Reason})
	}
	r.accepted, r.duplicates = uint32(res.Accepted), uint32(res.Duplicates)
	return r, nil
}

// commitBatch validates the n events of a batch at one instant and commits
// the valid ones; event gives the i'th, its type as sent, and an error of
// its conversion (a monitor.FieldError). rejected are the others, in
// batch order, with the field at fault. It counts the batch by type.
func (s *Server) commitBatch(ctx context.Context, n int, event func(i int) (monitor.Event, monitor.EventType, error)) (res store.IngestResult, rejected []rejectedEvent, err error) {
	now := s.clock()
	limits := s.db.Limits()
	valid := s.eventBuf(n)
	defer s.putEventBuf(valid)
	at := make([]int, 0, n) // each valid event's index in the batch
	var byType [monitor.MaxEventType + 1]int
	for i := range n {
		e, typ, err := event(i)
		if err == nil {
			err = e.Validate(now, limits)
		}
		if err != nil {
			var fe monitor.FieldError
			if !errors.As(err, &fe) {
				return res, nil, err
			}
			rejected = append(rejected, rejectedEvent{Index: i, FieldError: fe})
			if !typ.Valid() {
				typ = 0
			}
			byType[typ]++
			continue
		}
		valid = append(valid, e)
		at = append(at, i)
	}
	if len(valid) > 0 {
		// The pace of new accounts counts only valid events, and only
		// those that are committed.
		undo, err := s.checkNewAccounts(ctx, valid)
		if err != nil {
			return res, nil, err
		}
		if res, err = s.db.Ingest(ctx, valid); err != nil {
			undo()
			return res, nil, err
		}
		// The dedupe floor rose between the validation and the commit:
		// the store refused these.
		if len(res.TooOld) > 0 {
			fe := s.db.Limits().FloorViolation()
			for _, i := range res.TooOld {
				rejected = append(rejected, rejectedEvent{Index: at[i], FieldError: fe})
				byType[valid[i].Type]++
			}
			slices.SortFunc(rejected, func(a, b rejectedEvent) int { return cmp.Compare(a.Index, b.Index) })
		}
	}
	if s.count != nil {
		for t := range byType {
			typ := monitor.EventType(t)
			s.count(typ, "accepted", res.ByType[t].Accepted)
			s.count(typ, "duplicate", res.ByType[t].Duplicates)
			s.count(typ, "rejected", byType[t])
		}
	}
	return res, rejected, nil
}

// eventBuf returns an empty buffer for n converted events. A batch of a
// thousand events converts into 136 KB; taken afresh for each batch, that
// was a third of what ingest allocated, and each append copied pointers
// under the collector's write barrier into memory just mapped.
func (s *Server) eventBuf(n int) []monitor.Event {
	if b, ok := s.eventBufs.Get().(*[]monitor.Event); ok && cap(*b) >= n {
		return (*b)[:0]
	}
	return make([]monitor.Event, 0, n)
}

// putEventBuf gives back a buffer of eventBuf once its batch is committed
// or refused: the store keeps no pointer into it after Ingest returns. It
// is cleared, so that it holds no strings of the batch while it waits.
func (s *Server) putEventBuf(b []monitor.Event) {
	if cap(b) > MaxBatchEvents {
		return
	}
	b = b[:cap(b)]
	clear(b)
	s.eventBufs.Put(&b)
}

// streamBatch is one batch of a stream on its way to the disk.
type streamBatch struct {
	id     string
	result batchResult
	err    error
	done   chan struct{}
}

// StreamEvents takes batches as they come and answers each, in order, once
// it is durably committed. Up to streamInflight batches are committed
// concurrently; beyond that the stream stops reading, which pushes back on
// the client. On Drain the stream stops taking batches, answers the ones it
// has, and ends with UNAVAILABLE.
func (s *Server) StreamEvents(stream grpc.BidiStreamingServer[pb.StreamEventsRequest, pb.StreamEventsResponse]) error {
	ctx := stream.Context()
	reqs := make(chan received)
	recvErr := make(chan error, 1)
	go s.receiveBatches(stream, reqs, recvErr)

	inflight := make(chan *streamBatch, streamInflight)
	sendErr := make(chan error, 1)
	go func() { sendErr <- s.sendAcks(stream, inflight) }()

	var end error
loop:
	for {
		select {
		case in := <-reqs:
			req := in.req
			if err := checkBatchSize(req.GetEvents()); err != nil {
				in.release()
				end = err
				break loop
			}
			if err := checkEventScopes(ctx, req.GetEvents()); err != nil {
				in.release()
				end = err
				break loop
			}
			b := &streamBatch{id: req.GetBatchId(), done: make(chan struct{})}
			select {
			case inflight <- b:
			case err := <-sendErr:
				in.release()
				return err
			}
			// Waiting for room here stops the stream from reading: the
			// client feels the push back instead of an error.
			n := int64(len(req.GetEvents()))
			if err := s.pending.Acquire(ctx, n); err != nil {
				in.release()
				b.err = err
				close(b.done)
				continue
			}
			go func() {
				defer close(b.done)
				defer in.release()
				defer s.pending.Release(n)
				// Interceptors do not reach this goroutine: a panic here is
				// turned into an error that ends the stream.
				defer func() {
					if p := recover(); p != nil {
						b.err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
					}
				}()
				b.result, b.err = s.ingest(ctx, req.GetEvents())
			}()
		case err := <-recvErr:
			if !errors.Is(err, io.EOF) {
				end = err // the client went away; its context is done too
			}
			break loop
		case <-s.draining:
			end = unavailable("server is shutting down; reconnect and resend the batches not acknowledged", retryShutdown)
			break loop
		case err := <-sendErr:
			return err
		}
	}
	close(inflight)
	if err := <-sendErr; err != nil {
		return err
	}
	return end
}

// received is a batch read from a stream, with what it holds of the
// decoding budget until it is committed.
type received struct {
	req     *pb.StreamEventsRequest
	release func()
}

// receiveBatches reads the stream's batches and hands them on. Each batch
// read is reserved in the decoding budget until it is done with, and the
// next is read only once there is room: a stream holds at most one batch
// beyond the budget, the one it is reading.
func (s *Server) receiveBatches(stream grpc.BidiStreamingServer[pb.StreamEventsRequest, pb.StreamEventsResponse], reqs chan<- received, recvErr chan<- error) {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if err != nil {
			recvErr <- err
			return
		}
		size := lastRead(ctx)
		if size == 0 {
			size = int64(proto.Size(req))
		}
		n := min(RequestCopies*size, s.limits.MaxDecodingBytes)
		if err := s.admit.decoding.Acquire(ctx, n); err != nil {
			return // the stream has ended
		}
		var once sync.Once
		in := received{req: req, release: func() { once.Do(func() { s.admit.decoding.Release(n) }) }}
		select {
		case reqs <- in:
		case <-ctx.Done():
			in.release()
			return
		}
	}
}

// sendAcks answers the batches in the order they arrived.
func (s *Server) sendAcks(stream grpc.BidiStreamingServer[pb.StreamEventsRequest, pb.StreamEventsResponse], inflight <-chan *streamBatch) error {
	for b := range inflight {
		<-b.done
		if b.err != nil {
			return s.errorStatus(stream.Context(), "StreamEvents", b.err)
		}
		err := stream.Send(&pb.StreamEventsResponse{
			BatchId:    b.id,
			Accepted:   b.result.accepted,
			Duplicates: b.result.duplicates,
			Rejected:   b.result.rejected,
		})
		if err != nil {
			return err
		}
	}
	return nil
}
