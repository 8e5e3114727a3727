package monitor

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestScoreBounds(t *testing.T) {
	if got, _ := Score(Totals{}, Signals{}, true); got != 100 {
		t.Errorf("nothing sent, nothing wrong: got %d, want 100", got)
	}
	if got, _ := Score(Totals{Sends: 1000}, Signals{}, false); got != 100 {
		t.Errorf("clean sending: got %d, want 100", got)
	}
	worst := Totals{Sends: 1000, HardBounces: 1000, Complaints: 1000, Blocks: 1000}
	if got, _ := Score(worst, Signals{Unsubscribes: 100, TrapHits: 10, Listings: 10, Opens: 1}, true); got != 0 {
		t.Errorf("everything wrong: got %d, want 0", got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		tot := Totals{Sends: r.Uint64N(1e6), HardBounces: r.Uint64N(1e5), Complaints: r.Uint64N(1e4), Blocks: r.Uint64N(1e5)}
		sig := Signals{Unsubscribes: r.Uint32N(1e4), TrapHits: r.Uint32N(5), Listings: r.Uint32N(4), Opens: r.Uint32N(1e5), Clicks: r.Uint32N(1e4)}
		got, comps := Score(tot, sig, r.IntN(2) == 0)
		if got < 0 || got > 100 {
			t.Fatalf("Score(%+v, %+v) = %d, out of 0-100", tot, sig, got)
		}
		sum := 0.0
		for _, c := range comps {
			if c.Penalty < 0 || c.Penalty > c.Weight {
				t.Fatalf("component %d takes %v of its weight %v", c.Factor, c.Penalty, c.Weight)
			}
			sum += c.Weight
		}
		if sum != 100 {
			t.Fatalf("weights sum to %v, want 100", sum)
		}
	}
}

func TestMoreBadEventsNeverRaiseTheScore(t *testing.T) {
	base := Totals{Sends: 5000, HardBounces: 20, Complaints: 2, Blocks: 30}
	sig := Signals{Unsubscribes: 10, Opens: 400, Clicks: 50}
	more := []struct {
		name string
		add  func(*Totals, *Signals)
	}{
		{"complaint", func(t *Totals, _ *Signals) { t.Complaints++ }},
		{"hard bounce", func(t *Totals, _ *Signals) { t.HardBounces++ }},
		{"block", func(t *Totals, _ *Signals) { t.Blocks++ }},
		{"spam-trap hit", func(_ *Totals, s *Signals) { s.TrapHits++ }},
		{"listing", func(_ *Totals, s *Signals) { s.Listings++ }},
		{"unsubscribe", func(_ *Totals, s *Signals) { s.Unsubscribes++ }},
	}
	for _, m := range more {
		tot, s := base, sig
		prev, _ := Score(tot, s, true)
		fell := false
		for range 5000 {
			m.add(&tot, &s)
			got, _ := Score(tot, s, true)
			if got > prev {
				t.Fatalf("one more %s raised the score from %d to %d", m.name, prev, got)
			}
			fell = fell || got < prev
			prev = got
		}
		if !fell {
			t.Errorf("5000 more of %s never lowered the score", m.name)
		}
	}
	// And engagement the other way: more opens never lower it, starting
	// from none (an account cannot gain by reporting no opens).
	for _, engagement := range []bool{true, false} {
		tot, s := base, Signals{}
		prev, _ := Score(tot, s, engagement)
		for range 1000 {
			s.Opens++
			got, _ := Score(tot, s, engagement)
			if got < prev {
				t.Fatalf("engagement %v: one more open lowered the score from %d to %d", engagement, prev, got)
			}
			prev = got
		}
	}
}

func TestScoreExplainsItself(t *testing.T) {
	got, comps := Score(Totals{Sends: 1000, Complaints: 3}, Signals{}, false)
	if got != 70 {
		t.Errorf("0.3 %% complaints: got %d, want 70 (the whole complaint weight, 30)", got)
	}
	for _, c := range comps {
		if c.Explanation == "" {
			t.Errorf("component %d has no explanation", c.Factor)
		}
		if c.Factor == FactorEngagement && (c.Reported || c.Penalty != 0) {
			t.Errorf("engagement on a platform that does not report it: reported %v, penalty %v; want unreported and nothing off", c.Reported, c.Penalty)
		}
	}
}

func TestProviderBreakdown(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	for _, r := range []string{"a@gmail.com", "b@GoogleMail.com", "c@outlook.com", "d@hotmail.co.uk", "e@yahoo.com", "f@aol.com",
		"g@icloud.com", "h@example.org", "i@gmx.de"} {
		a.Observe(&Event{Type: EventSend, OccurredAt: t0, Recipient: r}, t0, &p)
	}
	hard := &Event{Type: EventBounce, OccurredAt: t0, Recipient: "c@outlook.com", Bounce: &Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}}
	hard.Decide()
	a.Observe(hard, t0, &p)
	a.Observe(&Event{Type: EventComplaint, OccurredAt: t0, Recipient: "e@yahoo.com"}, t0, &p)

	want := map[string]Totals{
		"gmail":     {Sends: 2},
		"microsoft": {Sends: 2, HardBounces: 1},
		"yahoo":     {Sends: 2, Complaints: 1},
		"apple":     {Sends: 1},
		"other":     {Sends: 2},
	}
	r := a.Reputation(t0.Add(time.Hour), p)
	if len(r.Providers) != len(want) {
		t.Fatalf("got %d providers, want %d", len(r.Providers), len(want))
	}
	for _, pr := range r.Providers {
		if pr.Totals != want[pr.Name] {
			t.Errorf("%s: got %+v, want %+v", pr.Name, pr.Totals, want[pr.Name])
		}
	}
	if r.Providers[len(r.Providers)-1].Name != OtherProvider {
		t.Errorf("the last provider is %q, want other", r.Providers[len(r.Providers)-1].Name)
	}

	// The window slides by days.
	if got := a.Reputation(t0.Add(8*24*time.Hour), p); got.Providers[0].Sends != 0 || got.Score != 100 {
		t.Errorf("8 days later: %d gmail sends, score %d; want none and 100", got.Providers[0].Sends, got.Score)
	}
}

func TestReputationOutlivesAReinstatement(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	sends(a, p, 1000, t0)
	for range 3 {
		a.Observe(&Event{Type: EventSpamTrapHit, OccurredAt: t0, Recipient: "trap@example.net"}, t0, &p)
	}
	before := a.Reputation(t0, p).Score
	a.State.Phase = PhaseSuspended
	if _, err := a.Reinstate(t0.Add(time.Hour), "", "ops", p); err != nil {
		t.Fatal(err)
	}
	if got := a.Reputation(t0.Add(time.Hour), p).Score; got != before || got != 90 {
		t.Errorf("got score %d after the reinstatement, want it kept at %d (90: three trap hits)", got, before)
	}
}

func TestReputationAlertHasHysteresis(t *testing.T) {
	p := DefaultPolicy() // alert below 50
	a := NewAccount("acme", t0, p)
	sends(a, p, 1000, t0)
	if _, ok := a.JudgeReputation(t0, p); ok {
		t.Fatal("a clean account alerted")
	}
	// 8 % hard bounces and 0.3 % complaints: 100 - 25 - 30 = 45.
	for range 80 {
		hardBounce(a, p, "", t0)
	}
	for range 3 {
		a.Observe(&Event{Type: EventComplaint, OccurredAt: t0, Recipient: "r@example.com"}, t0, &p)
	}
	alert, ok := a.JudgeReputation(t0, p)
	if !ok || !alert.Low || alert.Score != 45 || alert.Message == "" {
		t.Fatalf("got alert %+v (%v), want a fall to 45", alert, ok)
	}
	if _, ok := a.JudgeReputation(t0, p); ok {
		t.Error("the same fall alerted twice")
	}
	// Sends dilute the rates back to 52: above 50 but within the hysteresis.
	sends(a, p, 200, t0) // 80/1200 = 6.7 % -> 20.8; 3/1200 = 0.25 % -> 25: 54
	if alert, ok := a.JudgeReputation(t0, p); ok {
		t.Errorf("a recovery within the hysteresis alerted: %+v", alert)
	}
	sends(a, p, 4000, t0)
	alert, ok = a.JudgeReputation(t0, p)
	if !ok || alert.Low {
		t.Errorf("got %+v (%v), want a recovery", alert, ok)
	}
}

// An event of an earlier day that arrives before the account's days ever
// rolled still counts.
func TestALateEventOfYesterdayCounts(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	today := t0.Truncate(24 * time.Hour).Add(time.Hour)
	sends(a, p, 10, today)
	yesterday := today.Add(-3 * time.Hour)
	a.Observe(&Event{Type: EventSend, OccurredAt: yesterday, Recipient: "r@gmail.com"}, today, &p)
	hardBounce(a, p, "", yesterday)
	r := a.Reputation(today, p)
	var total Totals
	for _, pr := range r.Providers {
		total.Sends += pr.Sends
		total.HardBounces += pr.HardBounces
	}
	if total.Sends != 11 || total.HardBounces != 1 {
		t.Errorf("got %+v, want 11 sends and the hard bounce of yesterday", total)
	}
}

// A handful of sends with one complaint makes a low score, but not an
// alert: below AlertMinSends the score says little.
func TestALowScoreOnLittleVolumeDoesNotAlert(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	sends(a, p, 10, t0)
	a.Observe(&Event{Type: EventComplaint, OccurredAt: t0, Recipient: "r@example.com"}, t0, &p)
	hardBounce(a, p, "", t0)
	if score := a.ReputationScore(t0, &p); score >= p.Reputation.AlertBelow {
		t.Fatalf("score %d is not low", score)
	}
	if alert, ok := a.JudgeReputation(t0, p); ok {
		t.Errorf("10 sends alerted: %+v", alert)
	}
}

func TestAuthFailuresAreCountedApart(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	for i := range 100 {
		a.Observe(&Event{Type: EventSend, OccurredAt: t0, Recipient: fmt.Sprintf("r%d@example.org", i)}, t0, &p)
	}
	before := a.Reputation(t0.Add(time.Hour), p)
	// With a recipient, and without one: a report may not name it.
	for _, r := range []string{"r1@example.org", ""} {
		e := &Event{ID: "af" + r, AccountID: "acme", Type: EventAuthFailure, OccurredAt: t0, Recipient: r}
		if err := e.Validate(t0, DefaultLimits()); err != nil {
			t.Fatalf("auth failure to %q: %v", r, err)
		}
		a.Observe(e, t0, &p)
	}
	after := a.Reputation(t0.Add(time.Hour), p)
	if after.AuthFailures != 2 || after.Score != before.Score {
		t.Errorf("got %d auth failures and score %d, want 2 and the score unchanged at %d", after.AuthFailures, after.Score, before.Score)
	}
	if w := a.Status(t0.Add(time.Hour), p).Windows[0]; w.HardBounces+w.Complaints+w.Blocks != 0 {
		t.Errorf("auth failures counted in the window: %+v", w)
	}
	if got := a.Reputation(t0.Add(time.Duration(p.Reputation.Days+1)*24*time.Hour), p).AuthFailures; got != 0 {
		t.Errorf("past the window: %d auth failures, want none", got)
	}
}
