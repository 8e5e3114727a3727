package server

import (
	"context"
	"regexp"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// A sender's page tokens and tickets' ids carry no count of the platform's
// transitions or tickets: a page token is a sealed position that serves
// only as a page token, and ticket ids are random.
func TestASenderSeesNoPlatformCounts(t *testing.T) {
	e := newEnvWith(t, testAuth(t))
	scene := authScene(t, e) // transitions and tickets of several accounts
	ctx := as("platform-a")

	// beta, warned in the scene, is suspended too: two transitions.
	if _, err := e.accounts.SuspendAccount(as("ops-alice"), &pb.SuspendAccountRequest{AccountId: "beta",
		Category: pb.SuspensionCategory_SUSPENSION_CATEGORY_POLICY_VIOLATION, Note: "Bought list."}); err != nil {
		t.Fatal(err)
	}
	list, err := e.accounts.ListAccountTransitions(ctx, &pb.ListAccountTransitionsRequest{AccountId: "beta", PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	tok := list.GetNextPageToken()
	if tok == "" {
		t.Fatal("no token for beta's second transition")
	}
	rest, err := e.accounts.ListAccountTransitions(ctx, &pb.ListAccountTransitionsRequest{AccountId: "beta", PageSize: 1, PageToken: tok})
	if err != nil || len(rest.GetTransitions()) != 1 || rest.GetTransitions()[0].GetTo() != pb.Phase_PHASE_WARNING {
		t.Errorf("the page after %q: got %v, %v; want beta's warning", tok, rest.GetTransitions(), err)
	}
	// A watch that takes its cursor sends the header at once; one that
	// refuses it ends without.
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := e.accounts.WatchTransitions(watchCtx, &pb.WatchTransitionsRequest{AccountId: "beta", Cursor: tok})
	if err != nil {
		t.Fatal(err)
	}
	if md, _ := watch.Header(); len(md.Get(cursorHeader)) > 0 {
		t.Errorf("a page token as a watch cursor: the watch started; want InvalidArgument")
	} else if _, err := watch.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a page token as a watch cursor: got %v, want InvalidArgument", err)
	}

	random := regexp.MustCompile(`^tkt-[a-z2-7]{13}$`)
	for _, id := range []string{scene.own, scene.other} {
		if !random.MatchString(id) {
			t.Errorf("ticket id %q: want tkt- and 13 random base32 characters", id)
		}
	}
	if _, err := e.tickets.GetTicket(ctx, &pb.GetTicketRequest{TicketId: scene.own}); err != nil {
		t.Errorf("the sender's own ticket %q: %v", scene.own, err)
	}
}

// A sender that opens a watch from now again and again learns nothing
// from the x-dpmon-cursor header: it differs each time, whether or not
// another account changed phase in between. It still resumes a watch at
// the point it names.
func TestWatchFromNowTellsNothing(t *testing.T) {
	e := newEnvWith(t, testAuth(t))
	authScene(t, e)

	quiet1 := fromNow(t, e)
	quiet2 := fromNow(t, e) // nothing happened in between
	// delta, which platform-a may not use, changes phase.
	if _, err := e.accounts.SuspendAccount(as("ops-alice"), &pb.SuspendAccountRequest{AccountId: "delta",
		Category: pb.SuspensionCategory_SUSPENSION_CATEGORY_POLICY_VIOLATION, Note: "Bought list."}); err != nil {
		t.Fatal(err)
	}
	after := fromNow(t, e)
	headers := []string{quiet1, quiet2, after}
	for i := range headers {
		for j := range i {
			if headers[i] == headers[j] {
				t.Errorf("the headers of watches %d and %d from now are both %q", j+1, i+1, headers[i])
			}
		}
	}

	// beta, the sender's own, changes phase after the last header: a
	// watch from that header receives it first, and nothing from before.
	if _, err := e.accounts.SuspendAccount(as("ops-alice"), &pb.SuspendAccountRequest{AccountId: "beta",
		Category: pb.SuspensionCategory_SUSPENSION_CATEGORY_POLICY_VIOLATION, Note: "Bought list."}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(as("platform-a"))
	defer cancel()
	stream, err := e.accounts.WatchTransitions(ctx, &pb.WatchTransitionsRequest{Cursor: after})
	if err != nil {
		t.Fatal(err)
	}
	if got := moved(recvTransition(t, stream)); got != "beta PHASE_WARNING->PHASE_SUSPENDED" {
		t.Errorf("resumed from the header %q: got %s, want beta's suspension", after, got)
	}
}

// fromNow opens a watch from now as platform-a and returns the cursor of
// its header.
func fromNow(t *testing.T, e *env) string {
	t.Helper()
	ctx, cancel := context.WithCancel(as("platform-a"))
	defer cancel()
	stream, err := e.accounts.WatchTransitions(ctx, &pb.WatchTransitionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	md, err := stream.Header()
	if err != nil || len(md.Get(cursorHeader)) != 1 {
		t.Fatalf("header: %v, %v; want one cursor", md, err)
	}
	return md.Get(cursorHeader)[0]
}
