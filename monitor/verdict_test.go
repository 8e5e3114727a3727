package monitor

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestVerdict(t *testing.T) {
	const sender = "news@shop.example"
	off := false
	cases := []struct {
		name string
		// make builds the account the verdict is asked of, at t0.
		make        func(p Policy) *Account
		sender      string
		wantAllowed bool
		wantPhase   Phase
		// wantReason is part of a reason, or "" for none at all.
		wantReason string
		// wantRecommendation is part of the last recommendation.
		wantRecommendation string
		wantExhausted      bool
		// wantFindings asks for the breaches measured.
		wantFindings bool
		// after is how long after t0 the verdict is asked.
		after time.Duration
	}{
		{name: "healthy", make: func(p Policy) *Account { return NewAccount("a", t0, p) },
			wantAllowed: true, wantPhase: PhaseHealthy},
		{name: "warned, still sending", make: func(p Policy) *Account {
			a := NewAccount("a", t0, p)
			feed(a, p, batch{sends: 1000, hard: 25})
			return a
		}, wantAllowed: true, wantPhase: PhaseWarning, wantFindings: true, wantRecommendation: "AcknowledgeWarning"},
		{name: "suspended by its bounces", make: func(p Policy) *Account {
			a := NewAccount("a", t0, p)
			feed(a, p, batch{sends: 1000, hard: 100})
			return a
		}, wantPhase: PhaseSuspended, wantReason: "hard-bounce", wantFindings: true},
		{name: "suspended by its bounces, windows drained since", make: func(p Policy) *Account {
			a := NewAccount("a", t0, p)
			feed(a, p, batch{sends: 1000, hard: 100})
			return a
		}, after: 60 * 24 * time.Hour, wantPhase: PhaseSuspended, wantReason: "hard-bounce", wantFindings: true},
		{name: "suspended by hand, windows empty", make: func(p Policy) *Account {
			a := NewAccount("a", t0, p)
			if _, err := a.Suspend(t0, CategoryFraud, "Phishing.", "ops"); err != nil {
				t.Fatal(err)
			}
			return a
		}, wantPhase: PhaseSuspended, wantReason: "Phishing."},
		{name: "blocked sender", sender: sender, make: blockedSender(sender, nil),
			wantPhase: PhaseHealthy, wantReason: "distinct recipients", wantRecommendation: "UnblockSender"},
		{name: "blocked sender, another asked", sender: "billing@shop.example", make: blockedSender(sender, nil),
			wantAllowed: true, wantPhase: PhaseHealthy},
		{name: "blocked sender, bulk policy turned off", sender: sender, make: blockedSender(sender, &off),
			wantAllowed: true, wantPhase: PhaseHealthy},
		{name: "daily quota used up", make: func(p Policy) *Account {
			a := NewAccount("a", t0, p)
			a.Quota.PerDay = 10
			feed(a, p, batch{sends: 10})
			return a
		}, wantAllowed: true, wantPhase: PhaseHealthy, wantExhausted: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := bulkPolicy()
			v := c.make(p).Verdict(t0.Add(c.after), p, c.sender, 0)
			if v.Allowed != c.wantAllowed || v.Phase != c.wantPhase || v.QuotaExhausted() != c.wantExhausted {
				t.Fatalf("got allowed %v, phase %s, exhausted %v; want %v, %s, %v",
					v.Allowed, v.Phase, v.QuotaExhausted(), c.wantAllowed, c.wantPhase, c.wantExhausted)
			}
			reasons := strings.Join(v.Reasons, " | ")
			if c.wantReason == "" && reasons != "" || !strings.Contains(reasons, c.wantReason) {
				t.Errorf("got reasons %q, want one with %q", reasons, c.wantReason)
			}
			if (len(v.Findings) > 0) != c.wantFindings {
				t.Errorf("got findings %+v, want some: %v", v.Findings, c.wantFindings)
			}
			if c.wantRecommendation != "" {
				if len(v.Recommendations) == 0 || !strings.Contains(v.Recommendations[len(v.Recommendations)-1], c.wantRecommendation) {
					t.Errorf("got recommendations %q, want the last with %q", v.Recommendations, c.wantRecommendation)
				}
			}
			if (c.sender != "") != (v.Sender != nil) {
				t.Errorf("asked about sender %q, got sender status %+v", c.sender, v.Sender)
			}
		})
	}
}

// blockedSender makes an account whose sender the bulk policy blocked, with
// the bulk policy set to bulk afterwards (nil: the default).
func blockedSender(sender string, bulk *bool) func(p Policy) *Account {
	return func(p Policy) *Account {
		a := NewAccount("a", t0, p)
		for i := range 60 {
			sendMail(a, p, sender, fmt.Sprintf("r%d@example.com", i), t0)
		}
		if len(a.StepSenders(t0, &p, 0)) != 1 {
			panic("the sender was not blocked")
		}
		a.Bulk = BulkChoiceOf(bulk)
		return a
	}
}

func TestVerdictTakesRecipientsIntoAccount(t *testing.T) {
	now := t0.Add(time.Hour)
	blocked := Recipient{Status: RecipientBlocked, Until: now.Add(time.Minute)}
	cases := []struct {
		name    string
		allowed bool
		r       Recipient
		want    bool
	}{
		{"never seen", true, Recipient{}, true},
		{"temporarily blocked", true, blocked, false},
		{"block ended", true, Recipient{Status: RecipientBlocked, Until: now}, true},
		{"suppressed", true, Recipient{Status: RecipientSuppressed}, false},
		{"account refused", false, Recipient{}, false},
	}
	for _, c := range cases {
		if got := (SendVerdict{Allowed: c.allowed}).MaySendTo(c.r, now); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	if v := UnknownAccountVerdict(); !v.Allowed || v.Phase != PhaseHealthy {
		t.Errorf("unknown account: got %+v, want allowed and healthy", v)
	}
}
