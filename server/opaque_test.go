package server

import (
	"encoding/base64"
	"encoding/binary"
	"regexp"
	"testing"

	"google.golang.org/grpc/metadata"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// A sender learns nothing of the platform's activity from what it is
// given: its watch's cursors, its page tokens and its tickets' ids carry
// no count of the transitions or tickets of all accounts.
func TestASenderSeesNoPlatformCounts(t *testing.T) {
	e := newEnvWith(t, testAuth(t))
	scene := authScene(t, e) // transitions and tickets of several accounts
	counter := regexp.MustCompile(`^[0-9]+$|[0-9]{4,}`)
	ctx := as("platform-a")

	stream, err := e.accounts.WatchTransitions(ctx, &pb.WatchTransitionsRequest{AccountId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	header, err := stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	replay, err := e.accounts.WatchTransitions(ctx, &pb.WatchTransitionsRequest{Cursor: "0", AccountId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := replay.Recv()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append(metadata.MD(header).Get("x-dpmon-cursor"), first.GetCursor()) {
		if counter.MatchString(c) {
			t.Errorf("cursor %q reads as a count", c)
		}
	}
	// beta, warned in the scene, is suspended too: two transitions.
	if _, err := e.accounts.SuspendAccount(as("ops-alice"), &pb.SuspendAccountRequest{AccountId: "beta",
		Category: pb.SuspensionCategory_SUSPENSION_CATEGORY_POLICY_VIOLATION, Note: "Bought list."}); err != nil {
		t.Fatal(err)
	}
	list, err := e.accounts.ListAccountTransitions(ctx, &pb.ListAccountTransitionsRequest{AccountId: "beta", PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	// A token that decodes to a small number is a count in disguise.
	tok := list.GetNextPageToken()
	if b, err := base64.RawURLEncoding.DecodeString(tok); tok == "" || counter.MatchString(tok) || err == nil && len(b) == 8 && binary.BigEndian.Uint64(b) < 1<<32 {
		t.Errorf("page token %q: want an opaque token", tok)
	}
	if counter.MatchString(scene.own) {
		t.Errorf("ticket id %q reads as a count", scene.own)
	}
	if _, err := e.tickets.GetTicket(ctx, &pb.GetTicketRequest{TicketId: scene.own}); err != nil {
		t.Errorf("the sender's own ticket %q: %v", scene.own, err)
	}
}
