package monitor

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAnUnansweredWarningSuspends(t *testing.T) {
	p := DefaultPolicy()
	for _, tc := range []struct {
		name  string
		ack   bool
		after time.Duration
		want  Phase
	}{
		{"before the deadline", false, 72*time.Hour - time.Minute, PhaseWarning},
		{"at the deadline", false, 72 * time.Hour, PhaseSuspended},
		{"acknowledged", true, 100 * time.Hour, PhaseWarning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAccount("acme", t0, p)
			feed(a, p, batch{sends: 10000, hard: 250}) // 2.5 % in both windows for a week
			if tc.ack {
				if err := a.Acknowledge(t0.Add(time.Hour), "Cleaning the list.", p); err != nil {
					t.Fatal(err)
				}
			}
			tr, moved := a.Step(t0.Add(tc.after), &p)
			if a.State.Phase != tc.want {
				t.Fatalf("got %s, want %s", a.State.Phase, tc.want)
			}
			if moved && !strings.Contains(tr.Reason, "not acknowledged within 3d") {
				t.Errorf("reason %q does not say the warning went unanswered", tr.Reason)
			}
			if moved && len(tr.Findings) == 0 {
				t.Errorf("the suspension lost the warning's findings")
			}
		})
	}
}

// An answer after the deadline is too late: the warning suspends.
func TestALateAcknowledgementIsRefused(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	feed(a, p, batch{sends: 10000, hard: 250})
	if err := a.Acknowledge(t0.Add(100*time.Hour), "Sorry, we were away.", p); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("got %v, want ErrFailedPrecondition", err)
	}
	if tr, moved := a.Step(t0.Add(100*time.Hour), &p); !moved || tr.To != PhaseSuspended {
		t.Fatalf("after the deadline: %s, want suspended", a.State.Phase)
	}
}

// A reinstated account starts afresh: warnings from before its suspension
// do not count toward repeated warnings.
func TestReinstatementForgetsEarlierWarnings(t *testing.T) {
	p := DefaultPolicy()
	p.CoolDown = time.Hour
	p.Windows = []Window{{Name: "1h", Length: time.Hour, MinSends: 100}, {Name: "2h", Length: 2 * time.Hour, MinSends: 100}}
	a := NewAccount("acme", t0, p)
	for i := range 2 {
		at := time.Duration(i) * 24 * time.Hour
		feed(a, p, batch{at: at, sends: 1000, hard: 25})
		feed(a, p, batch{at: at + 3*time.Hour, ack: true})
		feed(a, p, batch{at: at + 4*time.Hour})
	}
	if _, err := a.Suspend(t0.Add(3*24*time.Hour), CategoryPolicyViolation, "Bought list.", "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reinstate(t0.Add(4*24*time.Hour), "", "ops", p); err != nil {
		t.Fatal(err)
	}
	feed(a, p, batch{at: 19 * 24 * time.Hour}) // a clean probation of 14 days
	if a.State.Phase != PhaseHealthy {
		t.Fatalf("after probation: %s, want healthy", a.State.Phase)
	}
	if tr, _ := feed(a, p, batch{at: 20 * 24 * time.Hour, sends: 1000, hard: 25}); tr.To != PhaseWarning {
		t.Fatalf("the first warning after reinstatement: moved to %s, want warning", tr.To)
	}
}

func TestTheThirdWarningWithinAMonthSuspends(t *testing.T) {
	p := DefaultPolicy()
	p.CoolDown = time.Hour
	p.Windows = []Window{{Name: "1h", Length: time.Hour, MinSends: 100}, {Name: "2h", Length: 2 * time.Hour, MinSends: 100}}
	for _, tc := range []struct {
		name string
		gap  time.Duration // between the warnings
		want Phase
	}{
		{"three within 30 days", 10 * 24 * time.Hour, PhaseSuspended},
		{"spread over more than 30 days", 16 * 24 * time.Hour, PhaseWarning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAccount("acme", t0, p)
			var tr Transition
			for i := range 3 {
				at := time.Duration(i) * tc.gap
				if tr, _ = feed(a, p, batch{at: at, sends: 1000, hard: 25}); i == 2 {
					break
				}
				feed(a, p, batch{at: at + 3*time.Hour, ack: true})
				if _, moved := feed(a, p, batch{at: at + 4*time.Hour}); !moved || a.State.Phase != PhaseHealthy {
					t.Fatalf("warning %d did not clear: %s", i+1, a.State.Phase)
				}
			}
			if a.State.Phase != tc.want {
				t.Fatalf("got %s, want %s", a.State.Phase, tc.want)
			}
			if tc.want == PhaseSuspended && !strings.Contains(tr.Reason, "warning 3 within 30d") {
				t.Errorf("reason %q does not say the warnings repeated", tr.Reason)
			}
		})
	}
}

// An event stamped a little in the future and accepted before a
// reinstatement does not count after it, also when a replay observes it
// again with its acceptance time.
func TestEventsAcceptedBeforeAReinstatementNoLongerCount(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	feed(a, p, batch{sends: 1000, hard: 100})
	if _, err := a.Reinstate(t0.Add(time.Minute), "", "ops", p); err != nil {
		t.Fatal(err)
	}
	early := &Event{Type: EventBounce, OccurredAt: t0.Add(10 * time.Minute), Bounce: &Bounce{EnhancedStatus: "5.1.1"}}
	early.Decide()
	a.Observe(early, t0, &p) // accepted at t0, before the reinstatement
	if st := a.Status(t0.Add(time.Hour), p); st.Windows[0].HardBounces != 0 {
		t.Fatalf("got %d hard bounces, want 0", st.Windows[0].HardBounces)
	}
}
