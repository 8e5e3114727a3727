package server

import (
	"context"

	"github.com/dpmon/dpmon/monitor"
)

// Ingested is what Ingest made of a batch.
type Ingested struct {
	Accepted, Duplicates int
	// Rejected are the events refused, in batch order.
	Rejected []Rejected
}

// Rejected is an event Ingest refused: its index in the batch and the
// field at fault.
type Rejected struct {
	Index int
	monitor.FieldError
}

// Ingest commits events that another adapter read on behalf of source (a
// provider's webhook, a bounce or feedback report): the same validation,
// pace of new accounts and bound on pending events as IngestEvents, and it
// returns once the valid events are durable. Source is the caller's name
// for the pace and the logs ("hook mailgun"); it may create accounts, as
// the platform's mapping names them.
//
// Its errors are gRPC statuses, as IngestEvents would return them (the
// one error table), for the caller to map onto its own protocol:
// UNAVAILABLE and RESOURCE_EXHAUSTED say to come back later.
func (s *Server) Ingest(ctx context.Context, source string, events []monitor.Event) (Ingested, error) {
	if !s.ready.Load() {
		return Ingested{}, unavailable("dpmon is starting: it is rebuilding its state from disk", retryStarting)
	}
	select {
	case <-s.draining:
		return Ingested{}, unavailable("server is shutting down; retry later", retryShutdown)
	default:
	}
	ctx = context.WithValue(ctx, identityKey{}, Identity{Name: source, Role: RoleSender, mayCreate: true})
	var out Ingested
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
func (s *Server) ingestChunk(ctx context.Context, events []monitor.Event, start int, out *Ingested) error {
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
