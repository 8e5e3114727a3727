package monitor

import (
	"testing"
	"time"
)

func TestDormantOnceNothingIsLeftToAgeOut(t *testing.T) {
	p := bulkPolicy()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	a := NewAccount("acme", t0, p)
	if !a.Dormant(t0, p) {
		t.Error("a new account without events: not dormant")
	}
	sendMail(a, p, "news@acme.example", "r@example.com", t0)
	a.StepSenders(t0, &p, 0)
	for _, tc := range []struct {
		at     time.Duration
		forget bool
		want   bool
	}{
		{time.Hour, false, false},          // counts in every window
		{8 * 24 * time.Hour, false, false}, // the sender's track is still kept
		{8 * 24 * time.Hour, true, true},   // forgotten on a sweep: nothing left
	} {
		now := t0.Add(tc.at)
		if tc.forget {
			a.ForgetIdleSenders(now, p)
		}
		if got := a.Dormant(now, p); got != tc.want {
			t.Errorf("after %s (senders forgotten: %v): dormant %v, want %v", tc.at, tc.forget, got, tc.want)
		}
	}

	// A warning waits for its cool-down: never dormant.
	w := NewAccount("warned", t0, p)
	w.State.Phase = PhaseWarning
	if w.Dormant(t0.Add(30*24*time.Hour), p) {
		t.Error("an account in warning: dormant")
	}
	// Nor is an account whose reputation alert is raised.
	r := NewAccount("low", t0, p)
	r.ReputationLow = true
	if r.Dormant(t0.Add(30*24*time.Hour), p) {
		t.Error("an account with a low reputation alert: dormant")
	}
	// Reputation days outlast the windows when the policy says so.
	long := p
	long.Reputation.Days = 10
	b := NewAccount("beta", t0, long)
	b.Observe(&Event{Type: EventSend, OccurredAt: t0, Recipient: "r@example.com"}, t0, &long)
	if b.Dormant(t0.Add(9*24*time.Hour), long) {
		t.Error("counts in the reputation days still: dormant")
	}
	if !b.Dormant(t0.Add(11*24*time.Hour), long) {
		t.Error("after the reputation days: not dormant")
	}
}
