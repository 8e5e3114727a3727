package monitor

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

// batch is what an account sends in one instant of a scenario.
type batch struct {
	at                      time.Duration // after t0
	sends, hard, complaints int
	blocks                  int  // bounces that refused the sender
	ack                     bool // the account acknowledges its warning first
}

// feed decides a batch as the store does, in one Decider: the
// acknowledgement, the events, then the judgement. It returns the
// account's move, if any.
func feed(a *Account, p Policy, b batch) (Transition, bool) {
	now := t0.Add(b.at)
	d := NewDecider(now, &p, &Volume{})
	if b.ack {
		if err := d.Acknowledge(a, Actor{Name: a.ID, Role: "sender"}, "Removing the bounced addresses."); err != nil {
			panic(err)
		}
	}
	for i := 0; i < b.sends; i++ {
		d.Count(a, &Event{Type: EventSend, OccurredAt: now})
	}
	for i := 0; i < b.hard; i++ {
		e := &Event{Type: EventBounce, OccurredAt: now, Bounce: &Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}}
		e.Decide()
		d.Count(a, e)
	}
	for i := 0; i < b.complaints; i++ {
		d.Count(a, &Event{Type: EventComplaint, OccurredAt: now})
	}
	for i := 0; i < b.blocks; i++ {
		e := &Event{Type: EventBounce, OccurredAt: now, Bounce: &Bounce{SMTPCode: 554, EnhancedStatus: "5.7.1", Diagnostic: "Service unavailable; client host blocked using zen.spamhaus.org"}}
		e.Decide()
		d.Count(a, e)
	}
	if !d.Judge(a, false).Moved {
		return Transition{}, false
	}
	return d.Transitions[len(d.Transitions)-1], true
}

func TestStepScenarios(t *testing.T) {
	confident := DefaultPolicy()
	confident.Decision = DecisionConfident
	quickCoolDown := DefaultPolicy()
	quickCoolDown.CoolDown = 2 * time.Hour
	blockSuspends := DefaultPolicy()
	blockSuspends.Block.Suspend = 0.2
	blockOff := DefaultPolicy()
	blockOff.Block = Thresholds{}

	type want struct {
		phase Phase
		moved string // "from->to" of the transition made by this batch, or ""
	}
	tests := []struct {
		name    string
		policy  Policy
		batches []batch
		want    []want
	}{
		{
			name:    "below every warn threshold stays healthy",
			policy:  DefaultPolicy(),
			batches: []batch{{sends: 1000, hard: 19, complaints: 0}},
			want:    []want{{PhaseHealthy, ""}},
		},
		{
			name:    "hard-bounce rate at 2% warns",
			policy:  DefaultPolicy(),
			batches: []batch{{sends: 1000, hard: 20}},
			want:    []want{{PhaseWarning, "healthy->warning"}},
		},
		{
			name:    "hard-bounce rate at 8% suspends directly",
			policy:  DefaultPolicy(),
			batches: []batch{{sends: 1000, hard: 80}},
			want:    []want{{PhaseSuspended, "healthy->suspended"}},
		},
		{
			name:    "complaint rate at 0.1% warns",
			policy:  DefaultPolicy(),
			batches: []batch{{sends: 1000, complaints: 1}},
			want:    []want{{PhaseWarning, "healthy->warning"}},
		},
		{
			name:    "blocks count apart from hard bounces and only warn by default",
			policy:  DefaultPolicy(),
			batches: []batch{{sends: 1000, blocks: 500}},
			want:    []want{{PhaseWarning, "healthy->warning"}},
		},
		{
			name:    "a block suspend threshold, when set, suspends",
			policy:  blockSuspends,
			batches: []batch{{sends: 1000, blocks: 200}},
			want:    []want{{PhaseSuspended, "healthy->suspended"}},
		},
		{
			name:    "a zero block threshold is off",
			policy:  blockOff,
			batches: []batch{{sends: 1000, blocks: 500}},
			want:    []want{{PhaseHealthy, ""}},
		},
		{
			name:    "complaint rate at 0.3% suspends",
			policy:  DefaultPolicy(),
			batches: []batch{{sends: 1000, complaints: 3}},
			want:    []want{{PhaseSuspended, "healthy->suspended"}},
		},
		{
			name:    "below the minimum volume nothing moves",
			policy:  DefaultPolicy(),
			batches: []batch{{sends: 499, hard: 200, complaints: 50}},
			want:    []want{{PhaseHealthy, ""}},
		},
		{
			name:   "slow decline is caught by the long window alone",
			policy: DefaultPolicy(),
			batches: []batch{
				{at: 0, sends: 300, hard: 8},
				{at: 24 * time.Hour, sends: 300, hard: 8},
				{at: 48 * time.Hour, sends: 300, hard: 8},
				{at: 72 * time.Hour, sends: 300, hard: 8},
			},
			want: []want{{PhaseHealthy, ""}, {PhaseHealthy, ""}, {PhaseHealthy, ""}, {PhaseWarning, "healthy->warning"}},
		},
		{
			name:   "warning escalates to suspension",
			policy: DefaultPolicy(),
			batches: []batch{
				{sends: 1000, hard: 30},
				{at: time.Hour, sends: 0, hard: 60},
			},
			want: []want{{PhaseWarning, "healthy->warning"}, {PhaseSuspended, "warning->suspended"}},
		},
		{
			name:   "warning clears only after a whole clean cool-down",
			policy: quickCoolDown,
			batches: []batch{
				{sends: 1000, hard: 25},
				{at: 1 * time.Hour, sends: 1000},          // 1.25 %: clean from here
				{at: 2 * time.Hour},                       // clean for 1h
				{at: 3 * time.Hour},                       // clean for 2h: cleared
				{at: 4 * time.Hour, sends: 100, hard: 30}, // back over 2 %
			},
			want: []want{
				{PhaseWarning, "healthy->warning"},
				{PhaseWarning, ""},
				{PhaseWarning, ""},
				{PhaseHealthy, "warning->healthy"},
				{PhaseWarning, "healthy->warning"},
			},
		},
		{
			name:   "a breach during the cool-down starts it again",
			policy: quickCoolDown,
			batches: []batch{
				{sends: 1000, hard: 25},
				{at: 1 * time.Hour, sends: 1000},        // clean from 1h
				{at: 2 * time.Hour, sends: 0, hard: 20}, // 2.25 %: breach
				{at: 3 * time.Hour, sends: 2000},        // clean from 3h
				{at: 4 * time.Hour},                     // clean for 1h only
				{at: 5 * time.Hour},                     // 2h: cleared
			},
			want: []want{
				{PhaseWarning, "healthy->warning"},
				{PhaseWarning, ""},
				{PhaseWarning, ""},
				{PhaseWarning, ""},
				{PhaseWarning, ""},
				{PhaseHealthy, "warning->healthy"},
			},
		},
		{
			name:   "a warning clears when an account stops sending and its windows drain",
			policy: DefaultPolicy(),
			batches: []batch{
				{sends: 1000, hard: 25},
				{at: 24 * time.Hour, ack: true}, // short window empty; 7d still breaches
				{at: 8 * 24 * time.Hour},        // both windows empty: clean from here
				{at: 9*24*time.Hour - time.Minute},
				{at: 9 * 24 * time.Hour},
			},
			want: []want{
				{PhaseWarning, "healthy->warning"},
				{PhaseWarning, ""},
				{PhaseWarning, ""},
				{PhaseWarning, ""},
				{PhaseHealthy, "warning->healthy"},
			},
		},
		{
			name:   "suspension is never lifted by good rates",
			policy: DefaultPolicy(),
			batches: []batch{
				{sends: 1000, hard: 100},
				{at: 30 * 24 * time.Hour, sends: 100000},
			},
			want: []want{{PhaseSuspended, "healthy->suspended"}, {PhaseSuspended, ""}},
		},
		{
			name:    "confident decision ignores a small sender's noise",
			policy:  confident,
			batches: []batch{{sends: 600, hard: 14}}, // 2.33 %, lower bound 1.4 %
			want:    []want{{PhaseHealthy, ""}},
		},
		{
			name:    "confident decision still catches a clear breach",
			policy:  confident,
			batches: []batch{{sends: 20000, hard: 600}}, // 3 %, lower bound 2.77 %
			want:    []want{{PhaseWarning, "healthy->warning"}},
		},
		{
			name:    "confident decision suspends only when even the lower bound reaches 8%",
			policy:  confident,
			batches: []batch{{sends: 1000, hard: 85}, {at: time.Hour, sends: 19000, hard: 1715}}, // 8.5 % (lower 6.9 %), then 9 % of 20,000 (lower 8.6 %)
			want:    []want{{PhaseWarning, "healthy->warning"}, {PhaseSuspended, "warning->suspended"}},
		},
		{
			name:    "measured decision judges the same small sender",
			policy:  DefaultPolicy(),
			batches: []batch{{sends: 600, hard: 14}},
			want:    []want{{PhaseWarning, "healthy->warning"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAccount("acme", t0, tt.policy)
			for i, b := range tt.batches {
				tr, moved := feed(a, tt.policy, b)
				got := ""
				if moved {
					got = fmt.Sprintf("%s->%s", tr.From, tr.To)
				}
				if got != tt.want[i].moved || a.State.Phase != tt.want[i].phase {
					t.Fatalf("batch %d: transition %q, phase %s; want %q, %s", i, got, a.State.Phase, tt.want[i].moved, tt.want[i].phase)
				}
				if moved && (tr.AccountID != "acme" || tr.Reason == "" || !tr.At.Equal(t0.Add(b.at))) {
					t.Errorf("batch %d: transition %+v lacks account, reason or time", i, tr)
				}
			}
		})
	}
}

func TestTransitionRecordsTheMeasurement(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	tr, ok := feed(a, p, batch{sends: 1000, hard: 90, complaints: 1})
	if !ok {
		t.Fatal("no transition, want healthy->suspended")
	}
	var hard *Finding
	for i, f := range tr.Findings {
		if f.Metric == MetricHardBounceRate && f.Window == "24h" {
			hard = &tr.Findings[i]
		}
	}
	if hard == nil {
		t.Fatalf("findings %+v lack the 24h hard-bounce rate", tr.Findings)
	}
	if hard.Severity != SeverityCritical || hard.Threshold != 0.08 || !near(hard.Rate.Value, 0.09, 1e-9) || hard.Sends != 1000 {
		t.Errorf("finding = %+v, want critical, threshold 0.08, value 0.09, 1000 sends", *hard)
	}
	if len(hard.Recommendations) == 0 || hard.Message == "" {
		t.Errorf("finding has no message or recommendations: %+v", *hard)
	}
	if a.State.Reason != tr.Reason {
		t.Errorf("state reason %q, want the transition's %q", a.State.Reason, tr.Reason)
	}
}

func TestReinstateAndProbation(t *testing.T) {
	p := DefaultPolicy()
	p.ProbationPeriod = 48 * time.Hour
	a := NewAccount("acme", t0, p)
	if _, err := a.Reinstate(t0, "", "ops", p); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("reinstating a healthy account: err = %v, want ErrFailedPrecondition", err)
	}
	feed(a, p, batch{sends: 1000, hard: 100})
	tr, err := a.Reinstate(t0.Add(time.Hour), "removed bounced addresses", "ops", p)
	if err != nil || tr.From != PhaseSuspended || tr.To != PhaseProbation {
		t.Fatalf("Reinstate = %+v, %v; want suspended->probation", tr, err)
	}
	// The bad events before the reinstatement no longer count, even if
	// some of them arrive late.
	late := &Event{Type: EventBounce, OccurredAt: t0, Bounce: &Bounce{EnhancedStatus: "5.1.1"}}
	late.Decide()
	a.Observe(late, t0.Add(2*time.Hour), &p)
	if st := a.Status(t0.Add(2*time.Hour), p); st.Windows[0].HardBounces != 0 {
		t.Fatalf("hard bounces after reinstatement = %d, want 0", st.Windows[0].HardBounces)
	}
	// Clean sending for the whole period returns the account to healthy.
	if _, moved := feed(a, p, batch{at: 2 * time.Hour, sends: 1000, hard: 5}); moved {
		t.Fatalf("clean probation moved to %s", a.State.Phase)
	}
	if tr, moved := feed(a, p, batch{at: 49 * time.Hour}); !moved || tr.To != PhaseHealthy {
		t.Fatalf("after the probation period: phase %s, want healthy", a.State.Phase)
	}

	// A warn-level breach during probation suspends at once.
	b := NewAccount("beta", t0, p)
	feed(b, p, batch{sends: 1000, hard: 100})
	if _, err := b.Reinstate(t0.Add(time.Hour), "", "ops", p); err != nil {
		t.Fatal(err)
	}
	// The block rate has no suspend threshold by default: it only warns,
	// in probation too.
	if tr, moved := feed(b, p, batch{at: 2 * time.Hour, sends: 1000, blocks: 100}); moved {
		t.Fatalf("block-rate breach during probation moved %s->%s, want no move", tr.From, tr.To)
	}
	if tr, moved := feed(b, p, batch{at: 2 * time.Hour, hard: 25}); !moved || tr.From != PhaseProbation || tr.To != PhaseSuspended {
		t.Fatalf("warn breach during probation: phase %s, want suspended", b.State.Phase)
	}
	for _, f := range b.State.Findings {
		if f.Metric == MetricBlockRate {
			t.Errorf("the suspension lists the block rate, which cannot suspend: %+v", f)
		}
	}
}

func TestOverridesChangeTheThresholds(t *testing.T) {
	p := DefaultPolicy()
	strict := 0.01
	a := NewAccount("acme", t0, p)
	a.Overrides = Overrides{HardBounceWarn: &strict, MinSends: map[string]uint64{"24h": 100}}
	if err := a.Overrides.Validate(p); err != nil {
		t.Fatal(err)
	}
	if tr, moved := feed(a, p, batch{sends: 100, hard: 1}); !moved || tr.To != PhaseWarning {
		t.Fatalf("1%% over 100 sends with warn 1%% and min 100: phase %s, want warning", a.State.Phase)
	}
	if p.Windows[0].MinSends != 500 {
		t.Errorf("overrides changed the global policy: min sends %d", p.Windows[0].MinSends)
	}
}

func TestOverridesValidate(t *testing.T) {
	p := DefaultPolicy()
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name   string
		o      Overrides
		field  string
		reason []string // words the reason must say
	}{
		{"fraction above one", Overrides{HardBounceWarn: f(1.5)}, "policy_overrides.hard_bounce_warn", nil},
		{"zero threshold", Overrides{ComplaintSuspend: f(0)}, "policy_overrides.complaint_suspend", nil},
		{"warn above global suspend", Overrides{HardBounceWarn: f(0.09)}, "policy_overrides.hard_bounce_warn", nil},
		{"unknown window", Overrides{MinSends: map[string]uint64{"1y": 5}}, "policy_overrides.min_sends", []string{`"1y"`, `"24h" and "7d"`}},
		// The configuration's key is not the window's name.
		{"window by its configuration key", Overrides{MinSends: map[string]uint64{"short": 10}}, "policy_overrides.min_sends", []string{`"short"`, `"24h" and "7d"`}},
		{"no minimum", Overrides{MinSends: map[string]uint64{"24h": 0}}, "policy_overrides.min_sends", []string{`"24h"`, "from 1 to 10000000"}},
		{"minimum above the bound", Overrides{MinSends: map[string]uint64{"7d": MaxMinSends + 1}}, "policy_overrides.min_sends", []string{`"7d"`, "from 1 to 10000000"}},
		{"minimum of -1 as uint64", Overrides{MinSends: map[string]uint64{"24h": math.MaxUint64}}, "policy_overrides.min_sends", []string{"from 1 to 10000000"}},
		{"unknown decision", Overrides{Decision: 9}, "policy_overrides.decision", nil},
		{"negative cool-down", Overrides{CoolDown: -time.Hour}, "policy_overrides.cool_down", []string{"positive", "30d"}},
		{"cool-down above the bound", Overrides{CoolDown: MaxCoolDown + time.Nanosecond}, "policy_overrides.cool_down", []string{"at most 30d"}},
		{"cool-down saturated from the wire", Overrides{CoolDown: math.MaxInt64}, "policy_overrides.cool_down", []string{"at most 30d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate(p)
			var fe FieldErrors
			if !errors.As(err, &fe) || fe[0].Field != tt.field || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want a field error on %s", err, tt.field)
			}
			for _, w := range tt.reason {
				if !strings.Contains(fe[0].Reason, w) {
					t.Errorf("reason %q does not say %q", fe[0].Reason, w)
				}
			}
		})
	}
	for _, o := range []Overrides{
		{HardBounceWarn: f(0.03), HardBounceSuspend: f(0.05)},
		{MinSends: map[string]uint64{"24h": 1, "7d": MaxMinSends}},
		{CoolDown: time.Nanosecond},
		{CoolDown: MaxCoolDown},
	} {
		if err := o.Validate(p); err != nil {
			t.Errorf("valid overrides %+v: %v", o, err)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	bad := DefaultPolicy()
	bad.Windows = []Window{{Name: "7d", Length: 7 * 24 * time.Hour}, {Name: "90m", Length: 90 * time.Minute}}
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("windows not shortest first, not multiples of the bucket: err = %v", err)
	}
	bad = DefaultPolicy()
	bad.Complaint = Thresholds{Warn: 0.01, Suspend: 0.005}
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("warn above suspend: err = %v", err)
	}
}

func TestFindingMessages(t *testing.T) {
	f := Finding{Metric: MetricComplaintRate, Window: "24h", Rate: Rate{Value: 0.004, Lower: 0.0032}, Threshold: 0.003,
		Severity: SeverityCritical, Decision: DecisionMeasured, Sends: 1000}
	if got, want := findingMessage(f), "Your complaint rate over the last 24h is 0.400% of 1000 sends, at or above the suspend threshold of 0.300%."; got != want {
		t.Errorf("measured: got %q, want %q", got, want)
	}
	f.Decision, f.Severity, f.Threshold = DecisionConfident, SeverityWarning, 0.001
	if got, want := findingMessage(f), "Your complaint rate over the last 24h is 0.400% of 1000 sends; even the low end of its 95% confidence interval, 0.320%, is at or above the warn threshold of 0.100%."; got != want {
		t.Errorf("confident: got %q, want %q", got, want)
	}
}
