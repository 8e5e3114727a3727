package server

import (
	"slices"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/store"
)

// watchPage is how many transitions one read of the store returns.
const watchPage = 256

// cursorHeader carries the cursor a watch starts after.
const cursorHeader = "x-dpmon-cursor"

// WatchTransitions sends the committed transitions after the cursor that
// match the filter, then each new one as its commit becomes durable. A
// client that reconnects with the last cursor it got misses nothing. On
// Drain the stream ends with UNAVAILABLE.
func (s *Server) WatchTransitions(req *pb.WatchTransitionsRequest, stream grpc.ServerStreamingServer[pb.WatchTransitionsResponse]) error {
	ctx := stream.Context()
	match, err := s.watchFilter(req, identity(ctx))
	if err != nil {
		return err
	}
	var cursor uint64
	switch c := req.GetCursor(); c {
	case "":
		if cursor, err = s.db.LastTransition(); err != nil {
			return s.errorStatus(ctx, "WatchTransitions", err)
		}
	case "0":
	default:
		// Cursors are opaque: a sender must not read from them how many
		// transitions the whole platform makes.
		var ok bool
		if cursor, ok = s.db.CursorSeq(c); !ok {
			return invalidArgument(monitor.FieldError{Field: "cursor", Reason: "is not a cursor this service returned"})
		}
		// A cursor ahead of the log (a store restored from a backup) would
		// wait for numbers that mean other transitions: say so.
		last, err := s.db.LastTransition()
		if err != nil {
			return s.errorStatus(ctx, "WatchTransitions", err)
		}
		if cursor > last {
			return status.Error(codes.FailedPrecondition, "the cursor is ahead of this server's log (was its store restored from a backup?); watch from \"0\" or from now")
		}
	}
	// The starting cursor goes out at once in the header: a client that has
	// it knows the watch is in place, and where it started.
	if err := stream.SendHeader(metadata.Pairs(cursorHeader, s.db.Cursor(cursor))); err != nil {
		return err
	}
	for {
		committed := s.db.TransitionsCommitted() // before reading: no commit is missed
		page, err := s.db.TransitionsAfter(ctx, cursor, watchPage)
		if err != nil {
			return s.errorStatus(ctx, "WatchTransitions", err)
		}
		for _, t := range page {
			cursor = t.Seq
			if !match(t) {
				continue
			}
			if err := stream.Send(&pb.WatchTransitionsResponse{Transition: transitionToProto(t.Transition), Cursor: s.db.Cursor(t.Seq)}); err != nil {
				return err
			}
		}
		if len(page) == watchPage {
			continue // more may be waiting already
		}
		select {
		case <-committed:
		case <-ctx.Done():
			return s.errorStatus(ctx, "WatchTransitions", ctx.Err())
		case <-s.draining:
			return unavailable("server is shutting down; reconnect with the last cursor", retryShutdown)
		}
	}
}

// watchFilter validates the filter and returns it as a predicate; a sender
// sees only its own accounts.
func (s *Server) watchFilter(req *pb.WatchTransitionsRequest, id Identity) (func(store.RecordedTransition) bool, error) {
	phase := monitor.Phase(clampEnum(int32(req.GetPhase())))
	if phase != 0 && !phase.Valid() {
		return nil, invalidArgument(monitor.FieldError{Field: "phase", Reason: "unknown phase " + strconv.Itoa(int(req.GetPhase()))})
	}
	account := req.GetAccountId()
	if account != "" {
		if err := checkAccountID(account); err != nil {
			return nil, err
		}
		if !id.mayUse(account) {
			return nil, status.Errorf(codes.PermissionDenied, "%s may not use account %q", id.Name, account)
		}
	}
	// A phase filter asks about accounts' phases: a sender's block, which
	// is recorded as a move to suspended, is not one.
	return func(t store.RecordedTransition) bool {
		return (account == "" || t.AccountID == account) && (phase == 0 || t.To == phase && t.Sender == "") &&
			(id.accounts == nil || slices.Contains(id.accounts, t.AccountID))
	}, nil
}
