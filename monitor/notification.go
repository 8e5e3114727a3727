package monitor

import (
	"time"
)

// NotificationKind names what a notification is about; receivers filter
// on it.
type NotificationKind string

// The kinds.
const (
	KindWarningRaised   NotificationKind = "warning_raised"
	KindWarningCleared  NotificationKind = "warning_cleared"
	KindSuspended       NotificationKind = "suspended"
	KindSuspendedAgain  NotificationKind = "suspended_again"
	KindReinstated      NotificationKind = "reinstated"
	KindProbationPassed NotificationKind = "probation_passed"
	KindTicketOpened    NotificationKind = "ticket_opened"
	// A sender address was blocked by the bulk policy, or unblocked.
	KindSenderBlocked   NotificationKind = "sender_blocked"
	KindSenderUnblocked NotificationKind = "sender_unblocked"
	// The reputation score fell below the alert level, or recovered.
	KindReputationLow       NotificationKind = "reputation_low"
	KindReputationRecovered NotificationKind = "reputation_recovered"
)

// Kinds are every kind, for validating filters.
var Kinds = []NotificationKind{KindWarningRaised, KindWarningCleared, KindSuspended, KindSuspendedAgain,
	KindReinstated, KindProbationPassed, KindTicketOpened, KindSenderBlocked, KindSenderUnblocked,
	KindReputationLow, KindReputationRecovered}

// KindOf names a transition.
func KindOf(t Transition) NotificationKind {
	switch {
	case t.Sender != "" && t.To == PhaseSuspended:
		return KindSenderBlocked
	case t.Sender != "":
		return KindSenderUnblocked
	case t.To == PhaseWarning:
		return KindWarningRaised
	case t.From == PhaseWarning && t.To == PhaseHealthy:
		return KindWarningCleared
	case t.From == PhaseProbation && t.To == PhaseSuspended:
		return KindSuspendedAgain
	case t.To == PhaseSuspended:
		return KindSuspended
	case t.To == PhaseProbation:
		return KindReinstated
	}
	// The one move left: probation passed.
	return KindProbationPassed
}

// Severity of a kind, for receivers that want only the serious ones:
// critical for suspensions, warning for warnings, else info (0).
func (k NotificationKind) Severity() Severity {
	switch k {
	case KindSuspended, KindSuspendedAgain:
		return SeverityCritical
	case KindWarningRaised, KindSenderBlocked, KindReputationLow:
		return SeverityWarning
	}
	return 0
}

// NotificationState is where a notification's delivery stands.
type NotificationState uint8

// The states; the numbers match the wire enum.
const (
	NotificationPending   NotificationState = 1
	NotificationDelivered NotificationState = 2
	NotificationFailed    NotificationState = 3 // given up: too old, or refused for good
)

func (s NotificationState) String() string {
	switch s {
	case NotificationPending:
		return "pending"
	case NotificationDelivered:
		return "delivered"
	case NotificationFailed:
		return "failed"
	}
	return "unspecified"
}

// RetryPolicy says how a failed delivery is retried: after First, then
// twice as long each time up to Max, with jitter, until GiveUpAfter has
// passed since the notification was made (or last retried by hand).
type RetryPolicy struct {
	First       time.Duration
	Max         time.Duration
	GiveUpAfter time.Duration
}

// DefaultRetryPolicy returns the policy used when the configuration names
// none.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{First: 10 * time.Second, Max: time.Hour, GiveUpAfter: 72 * time.Hour}
}

// Backoff is the wait after the n-th failed attempt (n >= 1) before
// jitter: First, doubling, capped at Max.
func (p RetryPolicy) Backoff(n int) time.Duration {
	d := p.First
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// Notification is one message to one receiver about one change. Its ID is
// the idempotency key receivers deduplicate on: it stays the same across
// every attempt.
type Notification struct {
	ID        string
	Receiver  string
	Kind      NotificationKind
	AccountID string
	// Transition is the change; for a ticket opened it holds only the
	// account, the time and a reason.
	Transition Transition
	TicketID   string
	// Recipients are the addresses of an email to the account's admins.
	Recipients []string
	CreatedAt  time.Time
	State      NotificationState
	Attempts   int
	// NextAttempt is when a pending notification is due; Deadline is when
	// retrying it stops.
	NextAttempt time.Time
	Deadline    time.Time
	LastError   string
	DeliveredAt time.Time
}

// Attempted records a delivery attempt at now: err is nil on success;
// retry says whether the failure may pass (a timeout, a 5xx) or not (a
// 4xx). jitter in [0, 1) spreads retries so that receivers coming back
// are not hit by every sender at once. The error is kept with its URLs
// redacted: viewers read it and it is stored, and a receiver's URL may be
// its secret.
func (n *Notification) Attempted(now time.Time, err error, retry bool, p RetryPolicy, jitter float64) {
	n.Attempts++
	if err == nil {
		n.State, n.DeliveredAt, n.LastError = NotificationDelivered, now, ""
		return
	}
	n.LastError = RedactURLs(err.Error())
	wait := p.Backoff(n.Attempts)
	wait = wait/2 + time.Duration(jitter*float64(wait/2))
	if !retry || !now.Add(wait).Before(n.Deadline) {
		n.State = NotificationFailed
		return
	}
	n.NextAttempt = now.Add(wait)
}

// Retry makes a failed or pending notification due at now, with a new
// deadline: an operator's "try again".
func (n *Notification) Retry(now time.Time, p RetryPolicy) {
	if n.State == NotificationDelivered {
		return
	}
	n.State, n.NextAttempt, n.Deadline = NotificationPending, now, now.Add(p.GiveUpAfter)
}
