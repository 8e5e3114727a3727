package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// reconnectDelay is how long watch waits before resuming a stream the
// server ended (a restart, a lost connection).
const reconnectDelay = time.Second

// runWatch implements "dpctl watch": phase changes as they happen, one a
// line, until interrupted. When the server goes away it reconnects with
// the last cursor, so nothing is missed.
func runWatch(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "watch", "")
	account := fs.String("account", "", "only this account's transitions")
	phaseFlag := fs.String("phase", "", "only transitions into this `phase`")
	cursor := fs.String("cursor", "", "resume after this cursor; 0 replays every transition kept; empty starts now")
	if _, err := fs.parseN(args, 0, 0); err != nil {
		return err
	}
	phase, err := parsePhase(*phaseFlag)
	if err != nil {
		return fs.usageErr(err.Error())
	}
	conn, err := e.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	client := dpmonv1.NewAccountServiceClient(conn)
	req := &dpmonv1.WatchTransitionsRequest{AccountId: *account, Phase: phase, Cursor: *cursor}
	for {
		err := watchOnce(ctx, e, client, req)
		switch {
		case ctx.Err() != nil:
			return nil // interrupted: the normal end of a watch
		case status.Code(err) != codes.Unavailable:
			return err
		}
		delay := reconnectDelay
		if d, ok := retryAfter(err); ok {
			delay = d // what the server asks for
		}
		fmt.Fprintf(e.stderr, "watch: %v; resuming after cursor %q in %v\n", err, req.Cursor, delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

// watchOnce follows one stream, printing each transition and keeping the
// last cursor in req.
func watchOnce(ctx context.Context, e *env, client dpmonv1.AccountServiceClient, req *dpmonv1.WatchTransitionsRequest) error {
	stream, err := client.WatchTransitions(ctx, req)
	if err != nil {
		return err
	}
	// Started "from now": remember where now was, so that a reconnection
	// before the first transition misses nothing either.
	if req.Cursor == "" {
		md, err := stream.Header()
		if err != nil {
			return err
		}
		if c := md.Get("x-dpmon-cursor"); len(c) == 1 {
			req.Cursor = c[0]
		}
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return status.Error(codes.Unavailable, "the server ended the stream")
		}
		if err != nil {
			return err
		}
		if err := printWatched(e, resp); err != nil {
			return err
		}
		req.Cursor = resp.GetCursor()
	}
}

func printWatched(e *env, resp *dpmonv1.WatchTransitionsResponse) error {
	if e.output == formatJSON {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(resp)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}
	t := resp.GetTransition()
	_, err := fmt.Fprintf(e.stdout, "%s  %s  %s  %s → %s  %s\n", resp.GetCursor(), formatTime(t.GetOccurredAt()), t.GetAccountId(),
		phaseName(t.GetFrom()), phaseName(t.GetTo()), t.GetReason())
	return err
}
