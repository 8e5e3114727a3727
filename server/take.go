package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/store"
)

// TakeOptions say whose events Take commits and how.
type TakeOptions struct {
	// Source names the reader, "hook mailgun" or "lmtp", for the pace of
	// new accounts and the logs; Kept is its name in the unmapped record.
	Source, Kept string
	// Reason says why the result's unmapped events have no account.
	Reason string
	// MayCreate says whether an event may create the account it names;
	// nil lets none. The names a payload carries are anyone's who can
	// reach the provider or the mailbox: an account they name that does
	// not exist is kept as unmapped, not created.
	MayCreate func(account string) bool
	// Received dates the unmapped records.
	Received time.Time
}

// Taken is what Take made of a result.
type Taken struct {
	Accepted, Duplicates int
	// Unmapped counts the events kept for an operator: no account named,
	// or one that does not exist and may not be created.
	Unmapped int
	// Rejected are the events refused, by their id.
	Rejected []TakenRejection
}

// Results a source's events are counted under in the metrics: what Take
// did with them, and what the source held that was no event (ignored) or
// could not be read (rejected, with the events Take refused).
const (
	ResultAccepted  = "accepted"
	ResultDuplicate = "duplicate"
	ResultUnmapped  = "unmapped"
	ResultIgnored   = "ignored"
	ResultRejected  = "rejected"
)

// TakenResults are the results every source counts its events under.
var TakenResults = []string{ResultAccepted, ResultDuplicate, ResultUnmapped, ResultIgnored, ResultRejected}

// Count tells count how many of res's events came to each result.
func (t Taken) Count(res intake.Result, count func(result string, n int)) {
	count(ResultAccepted, t.Accepted)
	count(ResultDuplicate, t.Duplicates)
	count(ResultUnmapped, t.Unmapped)
	count(ResultIgnored, res.Ignored)
	count(ResultRejected, len(t.Rejected)+res.Malformed)
}

// TakenRejection is an event Take refused, and the field at fault.
type TakenRejection struct {
	EventID string
	monitor.FieldError
}

// RetryLater is returned by Take when nothing is lost by waiting: the
// server is starting, shutting down or busy. The caller asks its sender to
// come back After.
type RetryLater struct {
	After  time.Duration
	Reason string
}

func (e *RetryLater) Error() string { return e.Reason }

// Take commits what another adapter read (intake.Result): the events of
// accounts that exist, or that opts lets them create, through Ingest;
// then keeps the rest, and the events no mapping named, as unmapped, with
// why. It returns once all of it is durable, so that its caller may tell
// the sender it has the events; a retry of the same result commits
// nothing twice and keeps nothing twice. An error that is not a
// *RetryLater is the server's own trouble.
func (s *Server) Take(ctx context.Context, res intake.Result, opts TakeOptions) (Taken, error) {
	if !s.ready.Load() {
		return Taken{}, &RetryLater{After: retryStarting, Reason: "dpmon is starting"}
	}
	events, refused := s.knownAccounts(res.Events, opts.MayCreate)
	var out Taken
	if len(events) > 0 {
		got, err := s.ingestFrom(ctx, opts.Source, events)
		if err != nil {
			return Taken{}, retryOrNot(err)
		}
		out.Accepted, out.Duplicates = got.Accepted, got.Duplicates
		for _, r := range got.Rejected {
			out.Rejected = append(out.Rejected, TakenRejection{EventID: events[r.Index].ID, FieldError: r.FieldError})
		}
	}
	kept := make([]store.Unmapped, 0, len(res.Unmapped)+len(refused))
	for _, e := range res.Unmapped {
		kept = append(kept, store.Unmapped{Source: opts.Kept, Received: opts.Received, Reason: opts.Reason, Event: e})
	}
	for _, e := range refused {
		reason := fmt.Sprintf("account %q does not exist, and %s may not create accounts: create it, or let it", e.AccountID, opts.Kept)
		kept = append(kept, store.Unmapped{Source: opts.Kept, Received: opts.Received, Reason: reason, Event: e})
	}
	if len(kept) > 0 {
		if err := s.db.KeepUnmapped(ctx, kept); err != nil {
			if errors.Is(err, store.ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return out, &RetryLater{After: retryShutdown, Reason: "dpmon cannot store these events now"}
			}
			return out, fmt.Errorf("keep unmapped events: %w", err)
		}
	}
	out.Unmapped = len(kept)
	return out, nil
}

// knownAccounts splits events into those of accounts that exist or may
// be created, and the others.
func (s *Server) knownAccounts(events []monitor.Event, mayCreate func(string) bool) (known, refused []monitor.Event) {
	seen := make(map[string]struct{})
	var ids []string
	for i := range events {
		if _, dup := seen[events[i].AccountID]; !dup {
			seen[events[i].AccountID] = struct{}{}
			ids = append(ids, events[i].AccountID)
		}
	}
	unknown := s.db.Unknown(ids)
	if len(unknown) == 0 {
		return events, nil
	}
	no := make(map[string]struct{}, len(unknown))
	for _, id := range unknown {
		if mayCreate == nil || !mayCreate(id) {
			no[id] = struct{}{}
		}
	}
	if len(no) == 0 {
		return events, nil
	}
	for _, e := range events {
		if _, out := no[e.AccountID]; out {
			refused = append(refused, e)
		} else {
			known = append(known, e)
		}
	}
	return known, refused
}

// retryOrNot turns Ingest's status into a *RetryLater when waiting helps.
func retryOrNot(err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unavailable, codes.ResourceExhausted, codes.Canceled, codes.DeadlineExceeded:
		after := retryStorage
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				after = ri.GetRetryDelay().AsDuration()
			}
		}
		return &RetryLater{After: after, Reason: st.Message()}
	}
	return err
}
