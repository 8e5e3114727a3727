package monitor

import (
	"fmt"
	"strings"
	"time"
)

// Phase is where an account stands.
type Phase uint8

// The phases; the numbers match the wire enum.
const (
	PhaseHealthy   Phase = 1
	PhaseWarning   Phase = 2
	PhaseSuspended Phase = 3
	PhaseProbation Phase = 4
)

// Valid reports whether p is a known phase.
func (p Phase) Valid() bool { return p >= PhaseHealthy && p <= PhaseProbation }

func (p Phase) String() string {
	switch p {
	case PhaseHealthy:
		return "healthy"
	case PhaseWarning:
		return "warning"
	case PhaseSuspended:
		return "suspended"
	case PhaseProbation:
		return "probation"
	}
	return "unspecified"
}

// PhaseState is the part of an account that Step decides.
type PhaseState struct {
	Phase Phase
	Since time.Time
	// Reason says why the account is in its phase.
	Reason string
	// ClearSince is when every rate was first seen below its warn threshold
	// during a warning; zero while a rate still breaches.
	ClearSince time.Time
	// Findings are the breaches that moved the account into its phase; they
	// stay when the windows drain, so a suspension keeps saying why.
	Findings []Finding
}

// Equal reports whether two states are the same. Findings are not compared:
// they change only together with the phase.
func (s PhaseState) Equal(o PhaseState) bool {
	return s.Phase == o.Phase && s.Since.Equal(o.Since) && s.Reason == o.Reason && s.ClearSince.Equal(o.ClearSince)
}

// Transition is one phase change, recorded with why it happened.
type Transition struct {
	AccountID string
	At        time.Time
	From      Phase
	To        Phase
	Reason    string
	Findings  []Finding
}

// step moves state according to the findings measured at now under p. It is
// the only place where a phase changes on measurements: observing events
// only adds counts. Entering a warning takes one breach; leaving it takes a
// whole cool-down without one, so an account near a threshold does not flap.
// A suspension is never lifted here: only a reinstatement does that.
func step(s *PhaseState, now time.Time, p Policy, findings []Finding) (Transition, bool) {
	severity := worst(findings)
	switch s.Phase {
	case PhaseHealthy:
		switch severity {
		case SeverityCritical:
			return s.move(now, PhaseSuspended, breachReason(findings, SeverityCritical), findings), true
		case SeverityWarning:
			return s.move(now, PhaseWarning, breachReason(findings, SeverityWarning), findings), true
		}
	case PhaseWarning:
		switch {
		case severity == SeverityCritical:
			return s.move(now, PhaseSuspended, breachReason(findings, SeverityCritical), findings), true
		case severity == SeverityWarning:
			s.ClearSince = time.Time{}
		case s.ClearSince.IsZero():
			s.ClearSince = now
		case now.Sub(s.ClearSince) >= p.CoolDown:
			reason := fmt.Sprintf("Every rate has stayed below its warn threshold for %s; the warning is cleared.", p.CoolDown)
			return s.move(now, PhaseHealthy, reason, nil), true
		}
	case PhaseProbation:
		strict := probationBreaches(findings, p)
		switch {
		case len(strict) > 0:
			reason := "Sending is suspended again: during probation every warn threshold is a suspend threshold. " +
				findingMessages(strict, SeverityWarning) + " Fix the causes, then ask for reinstatement."
			return s.move(now, PhaseSuspended, reason, strict), true
		case now.Sub(s.Since) >= p.ProbationPeriod:
			reason := fmt.Sprintf("Probation of %s passed without a breach; the account is healthy again.", p.ProbationPeriod)
			return s.move(now, PhaseHealthy, reason, nil), true
		}
	}
	return Transition{}, false
}

// probationBreaches are the findings that suspend a probation account: any
// breach of a rate that can suspend at all. A rate without a suspend
// threshold (the block rate by default) only warns, in probation too.
func probationBreaches(findings []Finding, p Policy) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.Severity == SeverityCritical || p.thresholds(f.Metric).Suspend > 0 {
			out = append(out, f)
		}
	}
	return out
}

func (s *PhaseState) move(now time.Time, to Phase, reason string, findings []Finding) Transition {
	explain(findings)
	t := Transition{At: now, From: s.Phase, To: to, Reason: reason, Findings: findings}
	*s = PhaseState{Phase: to, Since: now, Reason: reason, Findings: findings}
	return t
}

// breachReason explains a phase change caused by the findings of severity.
func breachReason(findings []Finding, severity Severity) string {
	msgs := findingMessages(findings, severity)
	if severity == SeverityCritical {
		return "Sending is suspended. " + msgs + " Fix the causes, then ask for reinstatement."
	}
	return "Warning: " + msgs + " Act now to avoid a suspension."
}

// findingMessages joins the messages of the findings of at least severity.
func findingMessages(findings []Finding, severity Severity) string {
	var parts []string
	for _, f := range findings {
		if f.Severity >= severity {
			parts = append(parts, findingMessage(f))
		}
	}
	return strings.Join(parts, " ")
}
