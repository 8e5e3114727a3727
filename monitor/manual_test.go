package monitor

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAcknowledgeErrors(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	if err := a.Acknowledge(t0, "ok", p); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("healthy: got %v, want ErrFailedPrecondition", err)
	}
	feed(a, p, batch{sends: 1000, hard: 25})
	var fe FieldErrors
	if err := a.Acknowledge(t0, " ", p); !errors.As(err, &fe) || fe[0].Field != "note" {
		t.Errorf("blank note: got %v, want a note field error", err)
	}
	if err := a.Acknowledge(t0, "Line one.\nLine two.", p); err != nil {
		t.Fatal(err)
	}
	if err := a.Acknowledge(t0, "again", p); !errors.Is(err, ErrConflict) {
		t.Errorf("twice: got %v, want ErrConflict", err)
	}
}

func TestManualSuspension(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	var fe FieldErrors
	if _, err := a.Suspend(t0, 0, "", "ops"); !errors.As(err, &fe) || len(fe) != 2 {
		t.Fatalf("no category, no note: got %v, want two field errors", err)
	}
	tr, err := a.Suspend(t0, CategoryFraud, "Phishing pages linked from the campaign.", "ops-alice")
	if err != nil {
		t.Fatal(err)
	}
	if tr.From != PhaseHealthy || tr.To != PhaseSuspended || tr.Actor != "ops-alice" || a.State.Category != CategoryFraud {
		t.Fatalf("got %+v, category %d", tr, a.State.Category)
	}
	if !strings.Contains(tr.Reason, "fraudulent activity") || !strings.Contains(tr.Reason, "Phishing pages") ||
		len(tr.Recommendations) < 2 || !strings.Contains(tr.Recommendations[0], "reviewed by a person") {
		t.Errorf("the banner does not explain: %q %q", tr.Reason, tr.Recommendations)
	}
	if _, err := a.Suspend(t0, CategoryFraud, "again", "ops"); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("suspending twice: got %v, want ErrFailedPrecondition", err)
	}
	// Clean sending does not lift it; only a reinstatement does.
	feed(a, p, batch{at: 30 * 24 * time.Hour, sends: 100000})
	if a.State.Phase != PhaseSuspended {
		t.Fatalf("clean sending lifted a manual suspension: %s", a.State.Phase)
	}
}
