package monitor

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	admin  = Actor{Name: "ops-alice", Role: "admin"}
	admin2 = Actor{Name: "ops-bob", Role: "admin"}
	owner  = Actor{Name: "acme", Role: "sender"}
)

// bounces counts sends and hard bounces of a at d's instant.
func bounces(d *Decider, a *Account, sends, hard int) {
	for range sends {
		d.Count(a, &Event{Type: EventSend, OccurredAt: d.Now, Recipient: "r@example.com"})
	}
	for range hard {
		e := &Event{Type: EventBounce, OccurredAt: d.Now, Recipient: "gone@example.com", Bounce: &Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}}
		e.Decide()
		d.Count(a, e)
	}
}

// kinds lists the kinds of the notifications an outcome tells.
func kinds(o Outcome) []NotificationKind {
	var out []NotificationKind
	for _, n := range o.Notifications {
		out = append(out, n.Kind)
	}
	return out
}

// actions lists the audited calls of an outcome as "Action before>after".
func actions(o Outcome) []string {
	var out []string
	for _, e := range o.Audit {
		out = append(out, e.Action+" "+e.Before+">"+e.After)
	}
	return out
}

// TestWhyAnAccountWasSuspendedAndWhoWasTold follows one account through
// the Decider alone: suspended by its bounces, a ticket, a reinstatement.
// Each step's outcome says what moved, why, who is told and what is
// audited.
func TestWhyAnAccountWasSuspendedAndWhoWasTold(t *testing.T) {
	p := DefaultPolicy()
	vol := &Volume{}
	a := NewAccount("acme", t0, p)
	a.AdminEmails = []string{"postmaster@acme.example"}

	d := NewDecider(t0, &p, vol)
	bounces(d, a, 1000, 100)
	if j := d.Judge(a, false); !j.Moved || !j.Changed {
		t.Fatalf("10%% hard bounces: got %+v, want a move that changes the record", j)
	}
	if len(d.Transitions) != 1 || d.Transitions[0].To != PhaseSuspended {
		t.Fatalf("got transitions %+v, want one into suspended", d.Transitions)
	}
	tr := d.Transitions[0]
	if !strings.Contains(tr.Reason, "hard-bounce") || len(tr.Findings) == 0 || len(tr.Recommendations) == 0 {
		t.Errorf("the suspension does not say why: reason %q, %d findings, %d recommendations", tr.Reason, len(tr.Findings), len(tr.Recommendations))
	}
	if got := kinds(d.Outcome); !slices.Equal(got, []NotificationKind{KindSuspended}) {
		t.Fatalf("got notifications %v, want one of the suspension", got)
	}
	if n := d.Notifications[0]; !slices.Equal(n.Recipients, a.AdminEmails) || n.Transition.Reason != tr.Reason || !n.CreatedAt.Equal(t0) {
		t.Errorf("the account's admins are not told what happened: %+v", n)
	}
	if len(d.Audit) != 0 {
		t.Errorf("nobody called, yet got audit %v", actions(d.Outcome))
	}

	// The account opens a ticket; two approvals are not needed, one is.
	at := t0.Add(time.Hour)
	d = NewDecider(at, &p, vol)
	tk, err := d.OpenTicket(a, owner, "t1", "", "We removed the bought list.", Checklist{BouncedAddressesRemoved: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(d.Outcome); !slices.Equal(got, []NotificationKind{KindTicketOpened}) || d.Notifications[0].TicketID != "t1" ||
		!strings.Contains(d.Notifications[0].Transition.Reason, "We removed the bought list.") {
		t.Errorf("got notifications %+v, want the ticket's opening", d.Notifications)
	}
	if err := d.ApproveTicket(a, tk, admin, "Checked the list source."); err != nil {
		t.Fatal(err)
	}
	d.Judge(a, false)
	if got, want := kinds(d.Outcome), []NotificationKind{KindTicketOpened, KindReinstated}; !slices.Equal(got, want) {
		t.Errorf("got notifications %v, want %v", got, want)
	}
	if got, want := actions(d.Outcome), []string{"CreateTicket >open", "ApproveTicket suspended>probation"}; !slices.Equal(got, want) {
		t.Errorf("got audit %q, want %q", got, want)
	}
	if e := d.Audit[1]; e.Actor != admin || e.TicketID != "t1" || e.AccountID != "acme" || !e.At.Equal(at) || e.Detail != "Checked the list source." {
		t.Errorf("the approval's audit entry says too little: %+v", e)
	}
	if a.State.Phase != PhaseProbation || a.OpenTicket != "" || tk.State != TicketApproved {
		t.Errorf("got phase %s, open ticket %q, ticket %s; want probation, none, approved", a.State.Phase, a.OpenTicket, tk.State)
	}
}

// TestAFailedCallDecidesNothing: a call the domain refuses adds nothing to
// the outcome, so the store has nothing to write.
func TestAFailedCallDecidesNothing(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	d := NewDecider(t0, &p, &Volume{})
	calls := map[string]func() error{
		"acknowledge a healthy account": func() error { return d.Acknowledge(a, owner, "ok") },
		"suspend without a note":        func() error { return d.Suspend(a, admin, CategoryFraud, "") },
		"unblock a sender never blocked": func() error {
			_, err := d.UnblockSender(a, admin, "news@acme.example", "why")
			return err
		},
		"ticket for a healthy account": func() error {
			_, err := d.OpenTicket(a, owner, "t1", "", "Fixed.", Checklist{})
			return err
		},
		"update refused": func() error {
			return d.Update(a, admin, func(*Account) error { return ErrInvalid })
		},
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if len(d.Transitions)+len(d.Notifications)+len(d.Audit) != 0 {
		t.Errorf("refused calls decided %+v", d.Outcome)
	}
}

func TestAdminCallsAreAudited(t *testing.T) {
	p := bulkPolicy()
	a := NewAccount("acme", t0, p)
	a.AdminEmails = []string{"postmaster@acme.example"}
	d := NewDecider(t0, &p, &Volume{})
	for i := range 60 {
		d.Count(a, &Event{Type: EventSend, OccurredAt: t0, Sender: "news@acme.example", Recipient: fmt.Sprintf("r%d@example.com", i)})
	}
	d.Judge(a, false)
	if _, err := d.UnblockSender(a, admin, "News@ACME.example", "Receipts, not news."); err != nil {
		t.Fatal(err)
	}
	if err := d.Suspend(a, admin2, CategoryFraud, "Phishing pages."); err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(d.Outcome), []NotificationKind{KindSenderBlocked, KindSenderUnblocked, KindSuspended}; !slices.Equal(got, want) {
		t.Errorf("got notifications %v, want %v", got, want)
	}
	want := []string{"UnblockSender sender news@acme.example blocked>sender news@acme.example unblocked", "SuspendAccount healthy>suspended"}
	if got := actions(d.Outcome); !slices.Equal(got, want) {
		t.Errorf("got audit %q, want %q", got, want)
	}
	if d.Audit[1].Actor != admin2 || !strings.Contains(d.Audit[1].Detail, "Phishing pages.") {
		t.Errorf("the suspension's entry: %+v", d.Audit[1])
	}
}

// TestTurningTheBulkPolicyOnCountsFromThen: sends from before the policy
// applied to the account must not count against its senders.
func TestTurningTheBulkPolicyOnCountsFromThen(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	at := t0.Add(time.Minute)
	d := NewDecider(at, &p, &Volume{})
	if err := d.Update(a, admin, func(a *Account) error { a.Bulk = BulkOn; return nil }); err != nil {
		t.Fatal(err)
	}
	if !a.BulkSince.Equal(at) {
		t.Errorf("got bulk since %v, want %v", a.BulkSince, at)
	}
	if got := actions(d.Outcome); !slices.Equal(got, []string{"UpdateAccount >"}) {
		t.Errorf("got audit %q", got)
	}
	// Updating it again while on keeps the start.
	d = NewDecider(at.Add(time.Hour), &p, &Volume{})
	if err := d.Update(a, admin, func(a *Account) error { a.DisplayName = "Acme"; return nil }); err != nil {
		t.Fatal(err)
	}
	if !a.BulkSince.Equal(at) {
		t.Errorf("an unrelated update moved bulk since to %v", a.BulkSince)
	}
}

func TestASweepAlertsOnTheReputationScore(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	a.AdminEmails = []string{"postmaster@acme.example"}
	d := NewDecider(t0, &p, &Volume{})
	// 8 % hard bounces and 0.3 % complaints score 45, below 50.
	bounces(d, a, 1000, 80)
	for range 3 {
		d.Count(a, &Event{Type: EventComplaint, OccurredAt: t0, Recipient: "angry@example.com"})
	}
	if d.Judge(a, false); slices.Contains(kinds(d.Outcome), KindReputationLow) {
		t.Fatal("the score was judged outside a sweep")
	}
	if j := d.Judge(a, true); !j.Changed || !a.ReputationLow {
		t.Fatalf("got %+v, low %v; want the low mark set", j, a.ReputationLow)
	}
	if !slices.Contains(kinds(d.Outcome), KindReputationLow) {
		t.Errorf("got notifications %v, want a low-score alert", kinds(d.Outcome))
	}
	n := len(d.Notifications)
	d.Judge(a, true)
	if len(d.Notifications) != n {
		t.Error("a score still low alerted twice")
	}
}

func TestCountSaysWhichEventsConcernTheirRecipient(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	d := NewDecider(t0, &p, &Volume{})
	hard := &Event{Type: EventBounce, OccurredAt: t0, Bounce: &Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}}
	block := &Event{Type: EventBounce, OccurredAt: t0, Bounce: &Bounce{SMTPCode: 554, EnhancedStatus: "5.7.1", Diagnostic: "client host blocked using zen.spamhaus.org"}}
	hard.Decide()
	block.Decide()
	cases := []struct {
		e    *Event
		want bool
	}{
		{&Event{Type: EventSend, OccurredAt: t0}, false},
		{&Event{Type: EventDelivery, OccurredAt: t0}, true},
		{hard, true},
		{block, false}, // a block speaks of the sender, not the address
		{&Event{Type: EventComplaint, OccurredAt: t0}, true},
		{&Event{Type: EventUnsubscribe, OccurredAt: t0}, true},
		{&Event{Type: EventOpen, OccurredAt: t0}, false},
	}
	for _, c := range cases {
		if got := d.Count(a, c.e); got != c.want {
			t.Errorf("event type %d: got %v, want %v", c.e.Type, got, c.want)
		}
	}
	if got := d.volume.Sum(t0, p.Bulk); got != 1 {
		t.Errorf("the platform's volume counted %d sends, want 1", got)
	}
}
