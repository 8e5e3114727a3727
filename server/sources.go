package server

import (
	"context"

	"github.com/dpmon/dpmon/monitor"
)

// ingested is what ingestFrom made of a batch.
type ingested struct {
	Accepted, Duplicates int
	// Rejected are the events refused, in batch order.
	Rejected []rejectedEvent
}

// rejectedEvent is an event a batch had refused: its index in the batch
// and the field at fault.
type rejectedEvent struct {
	Index int
	monitor.FieldError
}

// ingestFrom commits events that another adapter read on behalf of source
// (see Take): the same validation, pace of new accounts and bound on
// pending events as IngestEvents, and it returns once the valid events are
// durable. Source is the caller's name for the pace and the logs ("hook
// mailgun"); Take has already set aside the events of accounts it may not
// create. Its errors are gRPC statuses, as IngestEvents would return them
// (the one error table); Take reads them.
func (s *Server) ingestFrom(ctx context.Context, source string, events []monitor.Event) (ingested, error) {
	if !s.ready.Load() {
		return ingested{}, unavailable("dpmon is starting: it is rebuilding its state from disk", retryStarting)
	}
	select {
	case <-s.draining:
		return ingested{}, unavailable("server is shutting down; retry later", retryShutdown)
	default:
	}
	ctx = context.WithValue(ctx, identityKey{}, Identity{Name: source, Role: RoleSender, mayCreate: true})
	var out ingested
	for start := 0; start < len(events); start += MaxBatchEvents {
		chunk := events[start:min(start+MaxBatchEvents, len(events))]
		if err := s.ingestChunk(ctx, chunk, start, &out); err != nil {
			return out, s.errorStatus(ctx, "Ingest "+source, err)
		}
	}
	return out, nil
}

// ingestChunk commits one batch's worth of events, whose first is the
// start'th of the whole, adding the outcome to out.
func (s *Server) ingestChunk(ctx context.Context, events []monitor.Event, start int, out *ingested) error {
	n := int64(len(events))
	waitCtx, cancel := context.WithTimeout(ctx, admissionWait)
	err := s.pending.Acquire(waitCtx, n)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return resourceExhausted("too many events are waiting to be committed; retry later", admissionWait)
	}
	defer s.pending.Release(n)

	res, rejected, err := s.commitBatch(ctx, len(events), func(i int) (monitor.Event, monitor.EventType, error) {
		return events[i], events[i].Type, nil
	})
	if err != nil {
		return err
	}
	for _, rej := range rejected {
		rej.Index += start
		out.Rejected = append(out.Rejected, rej)
	}
	out.Accepted += res.Accepted
	out.Duplicates += res.Duplicates
	return nil
}
