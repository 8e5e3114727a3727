package monitor

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRetrySchedule(t *testing.T) {
	p := RetryPolicy{First: 10 * time.Second, Max: time.Minute, GiveUpAfter: 5 * time.Minute}
	n := Notification{State: NotificationPending, CreatedAt: t0, NextAttempt: t0, Deadline: t0.Add(p.GiveUpAfter)}
	down := errors.New("connection refused")
	now := t0
	// With jitter 0 the wait is half the backoff; with jitter near 1 almost
	// all of it.
	for i, want := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second, 30 * time.Second} {
		n.Attempted(now, down, true, p, 0)
		if n.State != NotificationPending || n.NextAttempt.Sub(now) != want || n.Attempts != i+1 || n.LastError != "connection refused" {
			t.Fatalf("attempt %d: %+v, want pending, next in %v", i+1, n, want)
		}
		now = n.NextAttempt
	}
	n.Attempted(now, down, true, p, 0.999)
	if got := n.NextAttempt.Sub(now); got <= 59*time.Second || got >= time.Minute {
		t.Fatalf("with jitter 0.999: next in %v, want just under a minute", got)
	}
	// The deadline passes: given up.
	now = t0.Add(4*time.Minute + 30*time.Second)
	n.Attempted(now, down, true, p, 0)
	if n.State != NotificationFailed {
		t.Fatalf("past the deadline: %s, want failed", n.State)
	}
	// An operator retries: due at once, with a new deadline; it goes through.
	later := t0.Add(time.Hour)
	n.Retry(later, p)
	if n.State != NotificationPending || !n.NextAttempt.Equal(later) || !n.Deadline.Equal(later.Add(p.GiveUpAfter)) {
		t.Fatalf("retry: %+v", n)
	}
	n.Attempted(later, nil, false, p, 0)
	if n.State != NotificationDelivered || !n.DeliveredAt.Equal(later) || n.LastError != "" {
		t.Fatalf("delivered: %+v", n)
	}
}

func TestAFailureNotWorthRetryingGivesUp(t *testing.T) {
	p := DefaultRetryPolicy()
	n := Notification{State: NotificationPending, CreatedAt: t0, Deadline: t0.Add(p.GiveUpAfter)}
	n.Attempted(t0, errors.New("404 Not Found"), false, p, 0.5)
	if n.State != NotificationFailed {
		t.Fatalf("got %s, want failed", n.State)
	}
}

// Whatever error a receiver returns, the attempt keeps no secret of its
// URL: the last error is read by viewers and stored.
func TestAnAttemptKeepsNoSecretOfTheURL(t *testing.T) {
	p := DefaultRetryPolicy()
	n := Notification{State: NotificationPending, CreatedAt: t0, Deadline: t0.Add(p.GiveUpAfter)}
	n.Attempted(t0, errors.New(`Post "https://user:hunter2@hooks.example.com/services/T000/B000/XXXXSECRET?token=s3cret": i/o timeout`), true, p, 0)
	if want := `Post "https://hooks.example.com": i/o timeout`; n.LastError != want {
		t.Errorf("last error %q, want %q", n.LastError, want)
	}
	for _, secret := range []string{"hunter2", "XXXXSECRET", "s3cret"} {
		if strings.Contains(n.LastError, secret) {
			t.Errorf("last error %q holds %q", n.LastError, secret)
		}
	}
}

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		from, to Phase
		want     NotificationKind
	}{
		{PhaseHealthy, PhaseWarning, KindWarningRaised},
		{PhaseWarning, PhaseHealthy, KindWarningCleared},
		{PhaseWarning, PhaseSuspended, KindSuspended},
		{PhaseHealthy, PhaseSuspended, KindSuspended},
		{PhaseProbation, PhaseSuspended, KindSuspendedAgain},
		{PhaseSuspended, PhaseProbation, KindReinstated},
		{PhaseProbation, PhaseHealthy, KindProbationPassed},
	} {
		if got := KindOf(Transition{From: tc.from, To: tc.to}); got != tc.want {
			t.Errorf("%s->%s: got %s, want %s", tc.from, tc.to, got, tc.want)
		}
	}
}
