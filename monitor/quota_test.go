package monitor

import (
	"math"
	"testing"
	"time"
)

// sends observes n sends at t.
func sends(a *Account, p Policy, n int, t time.Time) {
	for range n {
		a.Observe(&Event{Type: EventSend, OccurredAt: t, Recipient: "r@example.com"}, t, &p)
	}
}

func TestDailyQuota(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	a.Quota = Quota{PerDay: 100}
	start := t0.Truncate(time.Hour)
	sends(a, p, 30, start)                   // bucket 09:00
	sends(a, p, 50, start.Add(5*time.Hour))  // 14:00
	sends(a, p, 19, start.Add(10*time.Hour)) // 19:00

	cases := []struct {
		name   string
		now    time.Time
		used   uint64
		resume time.Time // zero: not exhausted
	}{
		{"one under the quota", start.Add(10*time.Hour + 30*time.Minute), 99, time.Time{}},
		// One more reaches it: sending resumes once the 09:00 bucket, the
		// oldest, leaves the 24 hours (99+1-30 < 100).
		{"at the quota", start.Add(10*time.Hour + 30*time.Minute), 100, start.Add(24 * time.Hour)},
		{"a day after the first sends", start.Add(24 * time.Hour), 70, time.Time{}},
	}
	for i, c := range cases {
		if i == 1 {
			sends(a, p, 1, start.Add(10*time.Hour))
		}
		q := a.QuotaStatus(c.now, p)
		if q.SendsDay != c.used || !q.ResumesAt.Equal(c.resume) {
			t.Errorf("%s: got %d used, resume %v; want %d, %v", c.name, q.SendsDay, q.ResumesAt, c.used, c.resume)
		}
		if q.Exhausted() != !c.resume.IsZero() || q.Exhausted() == (q.Reason == "") {
			t.Errorf("%s: exhausted %v with reason %q", c.name, q.Exhausted(), q.Reason)
		}
	}
}

func TestDailyQuotaResumesWhenEnoughSendsLeave(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	a.Quota = Quota{PerDay: 100}
	start := t0.Truncate(time.Hour)
	sends(a, p, 10, start)
	sends(a, p, 10, start.Add(time.Hour))
	sends(a, p, 90, start.Add(2*time.Hour))
	// 110 sent: the first two buckets must both leave (110-10-10 = 90 < 100).
	q := a.QuotaStatus(start.Add(3*time.Hour), p)
	if want := start.Add(25 * time.Hour); !q.ResumesAt.Equal(want) {
		t.Errorf("got resume at %v, want %v", q.ResumesAt, want)
	}
}

func TestPerSecondQuota(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	a.Quota = Quota{PerSecond: 5}
	now := t0.Add(300 * time.Millisecond)
	sends(a, p, 4, now)
	if q := a.QuotaStatus(now, p); q.Exhausted() || q.SendsSecond != 4 {
		t.Fatalf("4 of 5 this second: exhausted %v, %d counted", q.Exhausted(), q.SendsSecond)
	}
	sends(a, p, 1, now)
	q := a.QuotaStatus(now, p)
	if want := t0.Add(time.Second); !q.ResumesAt.Equal(want) {
		t.Errorf("got resume at %v, want the next second %v", q.ResumesAt, want)
	}
	if q := a.QuotaStatus(t0.Add(time.Second), p); q.Exhausted() || q.SendsSecond != 0 {
		t.Errorf("the next second: exhausted %v, %d counted", q.Exhausted(), q.SendsSecond)
	}
}

func TestAWarnedAccountHasALowerQuota(t *testing.T) {
	p := DefaultPolicy()
	for _, c := range []struct {
		phase   Phase
		day     uint64
		second  uint32
		reduced bool
	}{
		{PhaseHealthy, 1000, 9, false},
		{PhaseWarning, 500, 4, true},
		{PhaseProbation, 500, 4, true},
	} {
		a := NewAccount("acme", t0, p)
		a.Quota = Quota{PerDay: 1000, PerSecond: 9}
		a.State.Phase = c.phase
		q := a.QuotaStatus(t0, p)
		if q.Effective.PerDay != c.day || q.Effective.PerSecond != c.second || q.Reduced != c.reduced {
			t.Errorf("%s: got %d/day %d/s reduced %v, want %d, %d, %v", c.phase, q.Effective.PerDay, q.Effective.PerSecond, q.Reduced, c.day, c.second, c.reduced)
		}
	}
	one := DefaultPolicy()
	one.Quota.ReducedFactor = 0.5
	a := NewAccount("acme", t0, one)
	a.Quota = Quota{PerSecond: 1}
	a.State.Phase = PhaseWarning
	if got := a.QuotaStatus(t0, one).Effective.PerSecond; got != 1 {
		t.Errorf("half of 1 per second is %d, want 1: a reduced quota stays a quota", got)
	}
}

func TestNoQuotaIsNeverExhausted(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	sends(a, p, 10000, t0)
	if q := a.QuotaStatus(t0, p); q.Exhausted() {
		t.Errorf("an account without quota is exhausted: %s", q.Reason)
	}
}

// Sends are reported after they happen: the per-second quota counts them
// in the second dpmon learns of them, the one CheckSend asks about.
func TestPerSecondQuotaCountsLateReports(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	a.Quota = Quota{PerSecond: 5}
	received := t0.Add(1500 * time.Millisecond)
	for range 5 {
		a.Observe(&Event{Type: EventSend, OccurredAt: t0, Recipient: "r@example.com"}, received, &p)
	}
	if q := a.QuotaStatus(received, p); !q.Exhausted() {
		t.Errorf("5 sends reported this second: %d counted, not exhausted", q.SendsSecond)
	}
}

func TestQuotaValidate(t *testing.T) {
	for _, q := range []Quota{{}, {PerDay: 1, PerSecond: 1}, {PerDay: MaxSendsPerDay, PerSecond: MaxSendsPerSecond}} {
		if errs := q.Validate(); errs != nil {
			t.Errorf("%+v: got %v, want valid", q, errs)
		}
	}
	tests := []struct {
		q      Quota
		field  string
		reason string
	}{
		{Quota{PerDay: MaxSendsPerDay + 1}, "max_sends_per_day", "must be 0 (no limit) or from 1 to 10000000000"},
		{Quota{PerDay: math.MaxUint64}, "max_sends_per_day", "must be 0 (no limit) or from 1 to 10000000000"},
		{Quota{PerSecond: MaxSendsPerSecond + 1}, "max_sends_per_second", "must be 0 (no limit) or from 1 to 100000"},
		{Quota{PerSecond: math.MaxUint32}, "max_sends_per_second", "must be 0 (no limit) or from 1 to 100000"},
	}
	for _, tt := range tests {
		if errs := tt.q.Validate(); len(errs) != 1 || errs[0] != (FieldError{tt.field, tt.reason}) {
			t.Errorf("%+v: got %v, want %s: %s", tt.q, errs, tt.field, tt.reason)
		}
	}
}
