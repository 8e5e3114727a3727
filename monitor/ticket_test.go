package monitor

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// suspended returns an account suspended at t0 by its hard-bounce rate.
func suspended(t *testing.T, p Policy) *Account {
	t.Helper()
	a := NewAccount("acme", t0, p)
	feed(a, p, batch{sends: 1000, hard: 100})
	if a.State.Phase != PhaseSuspended {
		t.Fatalf("setup: got %s, want suspended", a.State.Phase)
	}
	return a
}

var fixed = Checklist{BouncedAddressesRemoved: true, ListSource: "Sign-up form only", OptInMethod: "Confirmed opt-in"}

func TestTicketApprovalReinstatesIntoProbation(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	if _, err := OpenTicket("t1", a, t0, "Fixed.", fixed, "platform-a", "", p); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("healthy account: got %v, want ErrFailedPrecondition", err)
	}
	a = suspended(t, p)
	var fe FieldErrors
	if _, err := OpenTicket("t1", a, t0, "", Checklist{ListSource: "bad\x00"}, "platform-a", "", p); !errors.As(err, &fe) || len(fe) != 2 {
		t.Fatalf("no description, bad checklist: got %v, want two field errors", err)
	}
	tk, err := OpenTicket("t1", a, t0, "Removed 4,000 bounced addresses.", fixed, "platform-a", "", p)
	if err != nil {
		t.Fatal(err)
	}
	if tk.State != TicketOpen || tk.RequiredApprovals != 1 || a.OpenTicket != "t1" {
		t.Fatalf("got %+v, account's open ticket %q", tk, a.OpenTicket)
	}
	if _, err := OpenTicket("t2", a, t0, "Again.", fixed, "platform-a", "", p); !errors.Is(err, ErrConflict) {
		t.Fatalf("second open ticket: got %v, want ErrConflict", err)
	}
	if err := tk.AddComment(t0.Add(time.Minute), "ops-alice", "admin", "Which list did they come from?"); err != nil {
		t.Fatal(err)
	}
	tr, reinstated, err := tk.Approve(t0.Add(time.Hour), "ops-alice", "Looks right.", a, p)
	if err != nil || !reinstated {
		t.Fatalf("approve: reinstated %v, %v", reinstated, err)
	}
	if tr.From != PhaseSuspended || tr.To != PhaseProbation || tr.Actor != "ops-alice" || a.State.Phase != PhaseProbation {
		t.Fatalf("got %+v, phase %s", tr, a.State.Phase)
	}
	if tk.State != TicketApproved || tk.ClosedBy != "ops-alice" || a.OpenTicket != "" || a.RecentReinstatements(t0.Add(time.Hour), p) != 1 {
		t.Fatalf("after approval: ticket %+v, open ticket %q", tk, a.OpenTicket)
	}
	if err := tk.AddComment(t0.Add(2*time.Hour), "platform-a", "sender", "Thanks"); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("comment on a closed ticket: got %v, want ErrFailedPrecondition", err)
	}
	if _, _, err := tk.Approve(t0.Add(2*time.Hour), "ops-bob", "", a, p); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("approving a closed ticket: got %v, want ErrFailedPrecondition", err)
	}
}

func TestTicketRejectionKeepsTheSuspension(t *testing.T) {
	p := DefaultPolicy()
	a := suspended(t, p)
	tk, err := OpenTicket("t1", a, t0, "Fixed.", fixed, "platform-a", "", p)
	if err != nil {
		t.Fatal(err)
	}
	var fe FieldErrors
	if err := tk.Reject(t0, "ops-alice", "", a); !errors.As(err, &fe) || fe[0].Field != "reason" {
		t.Fatalf("reject without a reason: got %v, want a reason field error", err)
	}
	if err := tk.Reject(t0.Add(time.Hour), "ops-alice", "The list is still bought.", a); err != nil {
		t.Fatal(err)
	}
	if tk.State != TicketRejected || tk.Resolution != "The list is still bought." || a.State.Phase != PhaseSuspended || a.OpenTicket != "" {
		t.Fatalf("after rejection: ticket %+v, phase %s, open ticket %q", tk, a.State.Phase, a.OpenTicket)
	}
	if _, err := OpenTicket("t2", a, t0.Add(2*time.Hour), "Now really fixed.", fixed, "platform-a", "", p); err != nil {
		t.Errorf("a new ticket after a rejection: %v", err)
	}
}

// After the third reinstatement within a year, two different admins must
// approve; a year later one is enough again.
func TestRepeatOffendersNeedTwoAdmins(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	reinstate := func(at time.Time, admins ...string) *Ticket {
		t.Helper()
		if _, err := a.Suspend(at, CategoryPolicyViolation, "Bought list.", "ops"); err != nil {
			t.Fatal(err)
		}
		tk, err := OpenTicket("t", a, at, "Fixed.", fixed, "platform-a", "", p)
		if err != nil {
			t.Fatal(err)
		}
		for i, admin := range admins {
			_, reinstated, err := tk.Approve(at.Add(time.Minute), admin, "", a, p)
			if err != nil {
				t.Fatal(err)
			}
			if last := i == len(admins)-1; reinstated != last {
				t.Fatalf("approval %d of %d: reinstated %v", i+1, len(admins), reinstated)
			}
		}
		return tk
	}
	for i := range 3 {
		if tk := reinstate(t0.Add(time.Duration(i)*30*24*time.Hour), "ops-alice"); tk.RequiredApprovals != 1 {
			t.Fatalf("reinstatement %d: %d approvals required, want 1", i+1, tk.RequiredApprovals)
		}
	}
	fourth := t0.Add(100 * 24 * time.Hour)
	if _, err := a.Suspend(fourth, CategoryPolicyViolation, "Again.", "ops"); err != nil {
		t.Fatal(err)
	}
	tk, err := OpenTicket("t4", a, fourth, "Fixed.", fixed, "platform-a", "", p)
	if err != nil || tk.RequiredApprovals != 2 || tk.RecentReinstatements != 3 {
		t.Fatalf("fourth ticket: %+v, %v; want 2 approvals required after 3 reinstatements", tk, err)
	}
	if _, reinstated, err := tk.Approve(fourth, "ops-alice", "", a, p); err != nil || reinstated {
		t.Fatalf("first approval: reinstated %v, %v; want still waiting", reinstated, err)
	}
	if _, _, err := tk.Approve(fourth, "ops-alice", "", a, p); !errors.Is(err, ErrConflict) {
		t.Fatalf("the same admin twice: got %v, want ErrConflict", err)
	}
	if _, reinstated, err := tk.Approve(fourth, "ops-bob", "", a, p); err != nil || !reinstated {
		t.Fatalf("second admin: reinstated %v, %v", reinstated, err)
	}
	if tk := reinstate(fourth.Add(400*24*time.Hour), "ops-alice"); tk.RequiredApprovals != 1 {
		t.Errorf("more than a year later: %d approvals required, want 1", tk.RequiredApprovals)
	}
}

func TestTicketRequestsAreValidatedAlone(t *testing.T) {
	long := strings.Repeat("x", MaxNoteLen+1)
	tests := []struct {
		name string
		errs FieldErrors
		want []string
	}{
		{"good ticket", ValidateTicket("Fixed.", fixed, "news@acme.example"), nil},
		{"bad ticket", ValidateTicket(" ", Checklist{Authentication: "dkim\x00"}, "news"), []string{"description", "checklist.authentication", "sender"}},
		{"comment", ValidateComment(""), []string{"text"}},
		{"approval without a note", ValidateApproval(""), nil},
		{"approval with a long note", ValidateApproval(long), []string{"note"}},
		{"rejection", ValidateRejection("\t"), []string{"reason"}},
	}
	for _, tt := range tests {
		var got []string
		for _, e := range tt.errs {
			got = append(got, e.Field)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want violations of %q", tt.name, tt.errs, tt.want)
		}
	}
	// The write path refuses what the handler would have.
	a := suspended(t, DefaultPolicy())
	var fe FieldErrors
	if _, err := OpenTicket("t1", a, t0, "Fixed.", fixed, "platform-a", "news", DefaultPolicy()); !errors.As(err, &fe) || fe[0].Field != "sender" {
		t.Errorf("a sender ticket for a malformed sender: got %v, want a sender field error", err)
	}
}
