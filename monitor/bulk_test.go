package monitor

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// bulkPolicy is the default policy with the bulk policy on for everyone.
func bulkPolicy() Policy {
	p := DefaultPolicy()
	p.Bulk.Enabled = true
	return p
}

// sendMail observes one send from sender to recipient at t.
func sendMail(a *Account, p Policy, sender, recipient string, t time.Time) {
	a.Observe(&Event{Type: EventSend, OccurredAt: t, Sender: sender, Recipient: recipient}, t, &p)
}

// hardBounce observes a hard bounce of sender's mail at t.
func hardBounce(a *Account, p Policy, sender string, t time.Time) {
	e := &Event{Type: EventBounce, OccurredAt: t, Sender: sender, Recipient: "gone@example.org",
		Bounce: &Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}}
	e.Decide()
	a.Observe(e, t, &p)
}

func TestSplittingAMailingDoesNotEvadeTheBulkLimit(t *testing.T) {
	p := bulkPolicy()
	cases := []struct {
		name string
		// send mails 60 recipients its way and judges the sender as the
		// store does, after each batch; it returns the blocks made.
		send func(a *Account) []Transition
	}{
		{"one message to 60 recipients", func(a *Account) []Transition {
			for i := range 60 {
				sendMail(a, p, "news@shop.example", fmt.Sprintf("r%d@example.com", i), t0)
			}
			return a.StepSenders(t0, &p, 0)
		}},
		{"60 one-recipient messages a minute apart", func(a *Account) []Transition {
			var made []Transition
			for i := range 60 {
				at := t0.Add(time.Duration(i) * 30 * time.Second)
				sendMail(a, p, "news@shop.example", fmt.Sprintf("r%d@example.com", i), at)
				made = append(made, a.StepSenders(at, &p, 0)...)
			}
			return made
		}},
		{"60 messages, sender spelt in two cases", func(a *Account) []Transition {
			var made []Transition
			for i := range 60 {
				sender := "news@shop.example"
				if i%2 == 1 {
					sender = "News@SHOP.example"
				}
				sendMail(a, p, sender, fmt.Sprintf("r%d@example.com", i), t0)
				made = append(made, a.StepSenders(t0, &p, 0)...)
			}
			return made
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := NewAccount("relay-1", t0, p)
			made := c.send(a)
			if len(made) != 1 {
				t.Fatalf("got %d blocks, want 1", len(made))
			}
			tr := made[0]
			if tr.Sender != "news@shop.example" || tr.Code != CodeBulkPolicyViolation || tr.To != PhaseSuspended {
				t.Errorf("got sender %q code %d to %s, want news@shop.example blocked for a bulk-policy violation", tr.Sender, tr.Code, tr.To)
			}
			if !strings.Contains(tr.Reason, "BULK_POLICY_VIOLATION") || !strings.Contains(tr.Reason, "limit of 40") {
				t.Errorf("reason %q does not name the violation and the limit", tr.Reason)
			}
			st := a.SenderStatus("news@shop.example", t0, p, 0)
			if !st.Blocked || st.Distinct != 41 || st.Limit != 40 {
				t.Errorf("got blocked %v, %d distinct of limit %d; want blocked, 41 (counted up to one past the base) of 40", st.Blocked, st.Distinct, st.Limit)
			}
			if a.State.Phase != PhaseHealthy {
				t.Errorf("account is %s: a sender's block must not touch the account's phase", a.State.Phase)
			}
		})
	}
}

func TestTheBulkLimitCountsDistinctRecipientsInTheWindow(t *testing.T) {
	p := bulkPolicy()
	cases := []struct {
		name    string
		mail    func(a *Account) time.Time // returns when to judge
		blocked bool
	}{
		{"40 recipients: at the limit", func(a *Account) time.Time {
			for i := range 40 {
				sendMail(a, p, "s@x.example", fmt.Sprintf("r%d@example.com", i), t0)
			}
			return t0
		}, false},
		{"41 recipients: over it", func(a *Account) time.Time {
			for i := range 41 {
				sendMail(a, p, "s@x.example", fmt.Sprintf("r%d@example.com", i), t0)
			}
			return t0
		}, true},
		{"200 messages to the same 10 recipients", func(a *Account) time.Time {
			for i := range 200 {
				sendMail(a, p, "s@x.example", fmt.Sprintf("r%d@example.com", i%10), t0)
			}
			return t0
		}, false},
		{"recipient domains differing in case are one recipient", func(a *Account) time.Time {
			for i := range 30 {
				sendMail(a, p, "s@x.example", fmt.Sprintf("r%d@example.com", i), t0)
				sendMail(a, p, "s@x.example", fmt.Sprintf("r%d@EXAMPLE.com", i), t0)
			}
			return t0
		}, false},
		{"30 now, 30 more after the window slid", func(a *Account) time.Time {
			for i := range 30 {
				sendMail(a, p, "s@x.example", fmt.Sprintf("r%d@example.com", i), t0)
			}
			later := t0.Add(61 * time.Minute)
			for i := range 30 {
				sendMail(a, p, "s@x.example", fmt.Sprintf("q%d@example.com", i), later)
			}
			return later
		}, false},
		{"25 each from two senders", func(a *Account) time.Time {
			for i := range 25 {
				sendMail(a, p, "a@x.example", fmt.Sprintf("r%d@example.com", i), t0)
				sendMail(a, p, "b@x.example", fmt.Sprintf("q%d@example.com", i), t0)
			}
			return t0
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := NewAccount("relay-1", t0, p)
			now := c.mail(a)
			made := a.StepSenders(now, &p, 0)
			if got := len(made) > 0; got != c.blocked {
				t.Errorf("got blocked %v, want %v", got, c.blocked)
			}
		})
	}
}

func TestTheBulkLimitFalls(t *testing.T) {
	p := DefaultBulkPolicy()
	cases := []struct {
		sends, bounces, platform uint64
		want                     int
	}{
		{100, 0, 0, 40},
		{100, 5, 0, 32},         // 5 % bounces: 1 - 4*0.05 = 0.8
		{100, 10, 0, 24},        // 10 %
		{100, 20, 0, 10},        // 20 %: 0.2 of the base, 8, but never below the minimum
		{2, 1, 0, 24},           // one bounce in two sends counts as one in ShareFloor (10)
		{100, 0, 500_000, 40},   // a platform at its busy volume
		{100, 0, 1_000_000, 20}, // twice as busy: half
		{100, 0, 4_000_000, 20}, // never below half
		{100, 10, 1_000_000, 12},
	}
	prev := p.BaseLimit
	for _, c := range cases[:5] {
		got, _ := p.Limit(c.sends, c.bounces, c.platform)
		if c.sends == 100 && got > prev {
			t.Errorf("limit rose from %d to %d as bounces rose to %d", prev, got, c.bounces)
		}
		prev = got
	}
	for _, c := range cases {
		if got, _ := p.Limit(c.sends, c.bounces, c.platform); got != c.want {
			t.Errorf("Limit(%d sends, %d bounces, platform %d) = %d, want %d", c.sends, c.bounces, c.platform, got, c.want)
		}
	}
}

func TestASenderThatBouncesIsBlockedSooner(t *testing.T) {
	p := bulkPolicy()
	a := NewAccount("relay-1", t0, p)
	for i := range 20 {
		sendMail(a, p, "s@x.example", fmt.Sprintf("r%d@example.com", i), t0)
	}
	if made := a.StepSenders(t0, &p, 0); len(made) != 0 {
		t.Fatalf("20 recipients without bounces blocked the sender")
	}
	for range 3 {
		hardBounce(a, p, "s@x.example", t0.Add(time.Minute))
	}
	// 3 bounces of 20 sends: 15 %, so the limit is 40 * 0.4 = 16 < 20.
	made := a.StepSenders(t0.Add(time.Minute), &p, 0)
	if len(made) != 1 {
		t.Fatalf("got %d blocks after the bounces, want 1", len(made))
	}
	if !strings.Contains(made[0].Reason, "limit of 16") || !strings.Contains(made[0].Reason, "lowered from 40") {
		t.Errorf("reason %q does not explain the lowered limit", made[0].Reason)
	}
}

func TestAnAccountOutsideTheBulkPolicyIsNotCounted(t *testing.T) {
	p := DefaultPolicy() // bulk off by default
	a := NewAccount("marketing", t0, p)
	for i := range 500 {
		sendMail(a, p, "news@shop.example", fmt.Sprintf("r%d@example.com", i), t0)
	}
	if made := a.StepSenders(t0, &p, 0); len(made) != 0 || tracked(a) != 0 {
		t.Errorf("got %d blocks and %d tracked senders for an account outside the bulk policy", len(made), tracked(a))
	}
	a.Bulk = BulkOn // the account's own choice beats the default
	for i := range 50 {
		sendMail(a, p, "news@shop.example", fmt.Sprintf("q%d@example.com", i), t0)
	}
	if made := a.StepSenders(t0, &p, 0); len(made) != 1 {
		t.Errorf("got %d blocks once the account chose the bulk policy, want 1", len(made))
	}
}

func TestUnblockingASender(t *testing.T) {
	p := bulkPolicy()
	a := NewAccount("relay-1", t0, p)
	for i := range 50 {
		sendMail(a, p, "s@x.example", fmt.Sprintf("r%d@example.com", i), t0)
	}
	if len(a.StepSenders(t0, &p, 0)) != 1 {
		t.Fatal("the sender was not blocked")
	}
	if _, err := a.UnblockSender(t0, "other@x.example", "Reviewed.", "ops"); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("unblocking a sender that is not blocked: got %v, want a failed precondition", err)
	}
	if _, err := a.UnblockSender(t0, "s@x.example", "", "ops"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unblocking without a note: got %v, want invalid", err)
	}

	// A ticket for the sender holds the block until it is decided.
	tk, err := OpenTicket("t1", a, t0, "These were receipts, not a newsletter.", Checklist{}, "relay-1", "S@x.example", p)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Sender != "s@x.example" || tk.RequiredApprovals != 1 {
		t.Errorf("got ticket for %q needing %d approvals", tk.Sender, tk.RequiredApprovals)
	}
	if _, err := OpenTicket("t2", a, t0, "Again.", Checklist{}, "relay-1", "s@x.example", p); !errors.Is(err, ErrConflict) {
		t.Errorf("a second ticket for the sender: got %v, want a conflict", err)
	}
	if _, err := a.UnblockSender(t0, "s@x.example", "Reviewed.", "ops"); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("unblocking by hand past an open ticket: got %v, want a failed precondition", err)
	}
	at := t0.Add(10 * time.Minute)
	tr, done, err := tk.Approve(at, "ops-alice", "Transactional mail; fine.", a, p)
	if err != nil || !done {
		t.Fatalf("approve: done %v, err %v", done, err)
	}
	if tr.Sender != "s@x.example" || tr.Code != CodeSenderUnblocked || tr.To != PhaseHealthy || tr.Actor != "ops-alice" {
		t.Errorf("got transition %+v, want the sender unblocked by ops-alice", tr)
	}
	if a.State.Phase != PhaseHealthy || a.OpenTicket != "" {
		t.Errorf("the account changed: %s, open ticket %q", a.State.Phase, a.OpenTicket)
	}
	st := a.SenderStatus("s@x.example", at, p, 0)
	if st.Blocked || st.Distinct != 0 {
		t.Errorf("after unblocking: blocked %v with %d recipients, want unblocked and counting afresh", st.Blocked, st.Distinct)
	}

	// A replay passes the events from before the unblocking again: they
	// no longer count.
	for i := range 50 {
		a.Observe(&Event{Type: EventSend, OccurredAt: t0, Sender: "s@x.example", Recipient: fmt.Sprintf("r%d@example.com", i)}, t0, &p)
	}
	if made := a.StepSenders(at, &p, 0); len(made) != 0 {
		t.Errorf("events from before the unblocking blocked the sender again")
	}
	// New bulk mail after it does.
	for i := range 41 {
		sendMail(a, p, "s@x.example", fmt.Sprintf("n%d@example.com", i), at.Add(time.Minute))
	}
	if made := a.StepSenders(at.Add(time.Minute), &p, 0); len(made) != 1 {
		t.Errorf("got %d blocks for new bulk mail after the unblocking, want 1", len(made))
	}
}

func TestIdleSendersAreForgotten(t *testing.T) {
	p := bulkPolicy()
	a := NewAccount("relay-1", t0, p)
	for s := range 100 {
		sendMail(a, p, fmt.Sprintf("s%d@x.example", s), "r@example.com", t0)
	}
	a.StepSenders(t0, &p, 0)
	a.ForgetIdleSenders(t0.Add(30*time.Minute), p)
	if tracked(a) != 100 {
		t.Fatalf("got %d senders within the window, want 100", tracked(a))
	}
	a.ForgetIdleSenders(t0.Add(2*time.Hour), p)
	if tracked(a) != 0 {
		t.Errorf("got %d senders two hours later, want none", tracked(a))
	}
}

func TestPlatformVolume(t *testing.T) {
	p := DefaultBulkPolicy()
	var v Volume
	v.Add(t0, 300_000, p)
	v.Add(t0.Add(30*time.Minute), 700_000, p)
	if got := v.Sum(t0.Add(30*time.Minute), p); got != 1_000_000 {
		t.Errorf("got %d sends in the window, want 1000000", got)
	}
	if got := p.VolumeFactor(v.Sum(t0.Add(30*time.Minute), p)); got != 0.5 {
		t.Errorf("got volume factor %v, want 0.5", got)
	}
	if got := v.Sum(t0.Add(65*time.Minute), p); got != 700_000 {
		t.Errorf("got %d sends after the first left the window, want 700000", got)
	}
}

// A send reported late counts in the window it belongs to: recipients that
// expired before the newest send do not make the set look full.
func TestALateSendStillCounts(t *testing.T) {
	p := bulkPolicy()
	a := NewAccount("relay", t0, p)
	mailAt := func(prefix string, n int, at time.Time) {
		for i := range n {
			sendMail(a, p, "s@x.example", fmt.Sprintf("%s%d@example.com", prefix, i), at)
		}
	}
	mailAt("a", 30, t0)
	mailAt("b", 11, t0.Add(3000*time.Second))
	// A send of 3,500 s reported at 3,700 s, when the a's have expired,
	// then 29 more: at 3,700 s, 11 + 1 + 29 = 41 recipients are live.
	now := t0.Add(3700 * time.Second)
	a.Observe(&Event{Type: EventSend, OccurredAt: t0.Add(3500 * time.Second), Sender: "s@x.example", Recipient: "late@example.com"}, now, &p)
	mailAt("d", 29, now)
	if made := a.StepSenders(now, &p, 0); len(made) != 1 {
		t.Errorf("got %d blocks, want 1", len(made))
	}
}

// Senders counted before the bulk policy was turned off for the account
// are not judged after it.
func TestTurningTheBulkPolicyOffStopsJudging(t *testing.T) {
	p := bulkPolicy()
	a := NewAccount("relay", t0, p)
	for i := range 50 {
		sendMail(a, p, "s@x.example", fmt.Sprintf("r%d@example.com", i), t0)
	}
	a.Bulk = BulkOff
	if made := a.StepSenders(t0, &p, 0); len(made) != 0 || a.HasSendersToJudge() {
		t.Errorf("got %d blocks after the policy was turned off", len(made))
	}
}

// tracked counts the sender addresses a tracks.
func tracked(a *Account) int {
	if a.tracks == nil {
		return 0
	}
	return len(a.tracks.byKey)
}
