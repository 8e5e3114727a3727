package monitor

import (
	"errors"
	"testing"
	"time"
)

const day = 24 * time.Hour

// rstep is one event for the recipient in a suppression scenario.
type rstep struct {
	at   time.Duration // after t0
	kind EventType
	// class is the bounce verdict of a bounce.
	class BounceClass
	// Expected afterwards, read at the event's instant.
	status  RecipientStatus
	reason  SuppressionReason
	until   time.Duration // after t0; 0 for none
	changed bool
}

func observeStep(r *Recipient, domain string, p SuppressionPolicy, s rstep) (RecipientChange, bool) {
	e := &Event{ID: "ev", Type: s.kind, OccurredAt: t0.Add(s.at), Recipient: "jane@" + domain}
	if s.kind == EventBounce {
		e.Bounce = &Bounce{SMTPCode: 550, Diagnostic: "reply", Verdict: s.class}
		if s.class == BounceSoft {
			e.Bounce.SMTPCode = 452
		}
	}
	return r.Observe(e, p)
}

func TestRecipientScenarios(t *testing.T) {
	p := DefaultSuppressionPolicy()
	hard := func(at time.Duration, st RecipientStatus, reason SuppressionReason, changed bool) rstep {
		return rstep{at: at, kind: EventBounce, class: BounceHard, status: st, reason: reason, changed: changed}
	}
	soft := func(at, until time.Duration, st RecipientStatus, reason SuppressionReason, changed bool) rstep {
		return rstep{at: at, kind: EventBounce, class: BounceSoft, status: st, reason: reason, until: until, changed: changed}
	}
	deliver := func(at time.Duration, st RecipientStatus, changed bool) rstep {
		return rstep{at: at, kind: EventDelivery, status: st, changed: changed}
	}
	const (
		active     = RecipientActive
		blocked    = RecipientBlocked
		suppressed = RecipientSuppressed
	)
	tests := []struct {
		name   string
		domain string
		steps  []rstep
	}{
		{"one hard bounce at a large provider suppresses", "gmail.com", []rstep{
			hard(0, suppressed, SuppressedHardBounce, true),
		}},
		{"a smaller domain needs a second hard bounce within 30 days", "example.org", []rstep{
			hard(0, active, 0, true),
			hard(29*day, suppressed, SuppressedHardBounce, true),
		}},
		{"hard bounces 30 days apart do not add up", "example.org", []rstep{
			hard(0, active, 0, true),
			hard(30*day, active, 0, true),
			hard(45*day, suppressed, SuppressedHardBounce, true),
		}},
		{"a delivery forgets the pending hard bounce", "example.org", []rstep{
			hard(0, active, 0, true),
			deliver(time.Hour, active, true),
			hard(2*day, active, 0, true),
		}},
		{"soft bounces block for 72h, then longer, capped at 75 days, and the fifth suppresses", "example.org", []rstep{
			soft(0, 72*time.Hour, blocked, SuppressedSoftBounce, true),
			soft(3*day, 3*day+9*day, blocked, SuppressedSoftBounce, true),
			soft(12*day, 12*day+27*day, blocked, SuppressedSoftBounce, true),
			soft(39*day, 39*day+75*day, blocked, SuppressedSoftBounce, true),
			soft(114*day, 0, suppressed, SuppressedRepeatedSoftBounces, true),
		}},
		{"a soft bounce during a block is a retry and changes nothing", "example.org", []rstep{
			soft(0, 72*time.Hour, blocked, SuppressedSoftBounce, true),
			soft(time.Hour, 72*time.Hour, blocked, SuppressedSoftBounce, false),
		}},
		{"a delivery ends the streak and lifts the block", "example.org", []rstep{
			soft(0, 72*time.Hour, blocked, SuppressedSoftBounce, true),
			soft(3*day, 12*day, blocked, SuppressedSoftBounce, true),
			deliver(4*day, active, true),
			soft(5*day, 5*day+72*time.Hour, blocked, SuppressedSoftBounce, true),
		}},
		{"a delivery older than the soft bounce does not end the streak", "example.org", []rstep{
			soft(time.Hour, time.Hour+72*time.Hour, blocked, SuppressedSoftBounce, true),
			{at: 0, kind: EventDelivery, status: blocked, reason: SuppressedSoftBounce, until: time.Hour + 72*time.Hour},
		}},
		{"a delivery does not lift a suppression", "gmail.com", []rstep{
			hard(0, suppressed, SuppressedHardBounce, true),
			{at: time.Hour, kind: EventDelivery, status: suppressed, reason: SuppressedHardBounce},
		}},
		{"a complaint suppresses for good and outweighs a hard bounce", "gmail.com", []rstep{
			hard(0, suppressed, SuppressedHardBounce, true),
			{at: time.Hour, kind: EventComplaint, status: suppressed, reason: SuppressedComplaint, changed: true},
			{at: 2 * time.Hour, kind: EventUnsubscribe, status: suppressed, reason: SuppressedComplaint, changed: false},
			hard(3*time.Hour, suppressed, SuppressedComplaint, false),
		}},
		{"an unsubscribe suppresses at once", "example.org", []rstep{
			{at: 0, kind: EventUnsubscribe, status: suppressed, reason: SuppressedUnsubscribed, changed: true},
			soft(time.Hour, 0, suppressed, SuppressedUnsubscribed, false),
		}},
		{"block and undetermined bounces and sends leave the address alone", "gmail.com", []rstep{
			{at: 0, kind: EventBounce, class: BounceBlock, status: active},
			{at: time.Hour, kind: EventBounce, class: BounceUndetermined, status: active},
			{at: 2 * time.Hour, kind: EventSend, status: active},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Recipient
			for i, s := range tt.steps {
				c, changed := observeStep(&r, tt.domain, p, s)
				now := t0.Add(s.at)
				got := r.At(now)
				var until time.Time
				if s.until != 0 {
					until = t0.Add(s.until)
				}
				if got.Status != s.status || got.Reason != s.reason || !got.Until.Equal(until) || changed != s.changed {
					t.Fatalf("step %d: got %s/%s until %v changed %v, want %s/%s until %v changed %v",
						i, got.Status, got.Reason, got.Until, changed, s.status, s.reason, until, s.changed)
				}
				if changed && (c.Description == "" || c.Status != r.Status || !c.At.Equal(now)) {
					t.Fatalf("step %d: change %+v does not describe the new state %+v", i, c, r)
				}
			}
		})
	}
}

// A 4xx reply that reads like an unknown user is classified hard, but a
// temporary code is not the provider's final word: it counts like a small
// server's bounce.
func TestATemporaryHardBounceIsNotSuppressedAtOnce(t *testing.T) {
	p := DefaultSuppressionPolicy()
	var r Recipient
	e := &Event{ID: "b1", Type: EventBounce, OccurredAt: t0, Recipient: "jane@gmail.com",
		Bounce: &Bounce{SMTPCode: 451, EnhancedStatus: "4.1.1", Diagnostic: "451 4.1.1 User unknown (directory lookup failed)"}}
	e.Decide()
	if e.Bounce.Verdict != BounceHard {
		t.Fatalf("setup: verdict %d, want hard", e.Bounce.Verdict)
	}
	r.Observe(e, p)
	if r.Status != RecipientActive || len(r.HardBounces) != 1 {
		t.Fatalf("got %+v, want active with one pending hard bounce", r)
	}
}

func TestALiftIgnoresLateReportsOfWhatItLifted(t *testing.T) {
	p := DefaultSuppressionPolicy()
	var r Recipient
	observeStep(&r, "gmail.com", p, rstep{at: 0, kind: EventBounce, class: BounceHard})
	if _, err := r.Lift(t0.Add(time.Hour), "ops", "The owner says it works."); err != nil {
		t.Fatal(err)
	}
	// A bounce from before the lift, reported late, changes nothing.
	if _, changed := observeStep(&r, "gmail.com", p, rstep{at: 30 * time.Minute, kind: EventBounce, class: BounceHard}); changed || r.Status != RecipientActive {
		t.Fatalf("late report: changed %v, %+v", changed, r)
	}
	// One after it counts.
	if _, changed := observeStep(&r, "gmail.com", p, rstep{at: 2 * time.Hour, kind: EventBounce, class: BounceHard}); !changed || r.Status != RecipientSuppressed {
		t.Fatalf("new bounce: changed %v, %+v", changed, r)
	}
}

func TestALiftForgetsAStreak(t *testing.T) {
	p := DefaultSuppressionPolicy()
	var r Recipient
	observeStep(&r, "example.org", p, rstep{at: 0, kind: EventBounce, class: BounceSoft})
	later := t0.Add(100 * time.Hour) // the block has run out, the streak stays
	c, err := r.Lift(later, "ops", "Mailbox fixed.")
	if err != nil || r.SoftBlocks != 0 || c.Description != "Bounce streak forgotten by ops." {
		t.Fatalf("lift after the block ran out: %+v, %+v, %v", c, r, err)
	}
}

func TestTemporaryBlockRunsOut(t *testing.T) {
	var r Recipient
	observeStep(&r, "example.org", DefaultSuppressionPolicy(), rstep{kind: EventBounce, class: BounceSoft})
	if r.Allowed(t0.Add(72*time.Hour - time.Second)) {
		t.Errorf("allowed before the 72h block ran out")
	}
	if !r.Allowed(t0.Add(72 * time.Hour)) {
		t.Errorf("not allowed once the 72h block ran out")
	}
	if got := r.At(t0.Add(80 * time.Hour)); got.Status != RecipientActive || !got.Since.Equal(t0.Add(72*time.Hour)) || got.SoftBlocks != 1 {
		t.Errorf("after the block: got %+v, want active since it ran out, the streak kept", got)
	}
}

func TestManualSuppression(t *testing.T) {
	var r Recipient
	if _, err := r.Lift(t0, "ops", "why"); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("lifting an active address: got %v, want ErrFailedPrecondition", err)
	}
	c, err := r.Suppress(t0, "ops", "asked by phone")
	if err != nil || c.Kind != ChangeManualAdd || r.Status != RecipientSuppressed || r.Reason != SuppressedManual || c.Note != "asked by phone" {
		t.Fatalf("suppress: got %+v, %+v, %v", c, r, err)
	}
	if _, err := r.Suppress(t0, "ops", ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("suppressing twice: got %v, want ErrConflict", err)
	}
	c, err = r.Lift(t0.Add(time.Hour), "ops", "typo fixed")
	if err != nil || c.Kind != ChangeManualDelete || !r.Allowed(t0.Add(time.Hour)) || c.Actor != "ops" {
		t.Fatalf("lift: got %+v, %+v, %v", c, r, err)
	}
}

func TestBlockPeriod(t *testing.T) {
	p := DefaultSuppressionPolicy()
	want := []time.Duration{72 * time.Hour, 9 * day, 27 * day, 75 * day, 75 * day}
	for i, w := range want {
		if got := p.BlockPeriod(i + 1); got != w {
			t.Errorf("block %d: got %v, want %v", i+1, got, w)
		}
	}
}

func TestSuppressionPolicyValidate(t *testing.T) {
	if err := DefaultSuppressionPolicy().Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	p := DefaultSuppressionPolicy()
	p.ProviderDomains = append(p.ProviderDomains, "Gmail.com")
	p.BlockGrowth = 0.5
	var errs FieldErrors
	if !errors.As(p.Validate(), &errs) || len(errs) != 2 || errs[0].Field != "suppression.provider_domains" || errs[1].Field != "suppression.block_growth" {
		t.Fatalf("got %v, want provider_domains and block_growth errors", p.Validate())
	}
}

func TestRecipientKey(t *testing.T) {
	for in, want := range map[string]string{
		"Jane.Doe@Example.COM": "Jane.Doe@example.com",
		"jane@example.com":     "jane@example.com",
		"ÜBER@BÜCHER.DE":       "ÜBER@bücher.de",
	} {
		if got := RecipientKey(in); got != want {
			t.Errorf("RecipientKey(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestImportSuppressesOnceAndKeepsTheStrongerReason(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	since := now.Add(-30 * 24 * time.Hour)
	var r Recipient
	c, changed := r.Import(now, Imported{Key: "a@example.com", Reason: SuppressedUnsubscribed, Since: since}, "ops")
	if !changed || r.Status != RecipientSuppressed || r.Reason != SuppressedUnsubscribed || !r.Since.Equal(since) || c.Kind != ChangeManualAdd {
		t.Fatalf("import: %+v, %+v, %v", r, c, changed)
	}
	if _, changed := r.Import(now, Imported{Reason: SuppressedUnsubscribed, Since: since}, "ops"); changed {
		t.Error("importing the same suppression again changed the record")
	}
	if _, changed := r.Import(now, Imported{Reason: SuppressedComplaint}, "ops"); !changed || r.Reason != SuppressedComplaint || !r.Since.Equal(now) {
		t.Errorf("a complaint over an unsubscribe: %+v, %v; want the complaint, since now", r, changed)
	}
	if errs := CheckImported(Imported{Reason: SuppressedSoftBounce, Since: now.Add(time.Hour), Note: "x\x00"}, now); len(errs) != 3 {
		t.Errorf("CheckImported of a soft bounce from the future with a bad note: %v, want 3 errors", errs)
	}
}
