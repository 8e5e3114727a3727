package monitor

import (
	"fmt"
	"slices"
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
	// Category is set when an admin suspended the account by hand.
	Category SuspensionCategory
	Since    time.Time
	// Reason says why the account is in its phase.
	Reason string
	// ClearSince is when every rate was first seen below its warn threshold
	// during a warning; zero while a rate still breaches.
	ClearSince time.Time
	// Findings are the breaches that moved the account into its phase; they
	// stay when the windows drain, so a suspension keeps saying why.
	Findings []Finding
	// Recommendations say what the account should do about its phase.
	Recommendations []string
	// AckedAt and AckNote are the account's answer to its warning.
	AckedAt time.Time
	AckNote string
	// Warnings are when the account entered a warning, within the policy's
	// repeated-warnings window; they outlive the phase.
	Warnings []time.Time
}

// Equal reports whether two states are the same. Findings, recommendations
// and warnings are not compared: they change only together with the phase.
func (s PhaseState) Equal(o PhaseState) bool {
	return s.Phase == o.Phase && s.Since.Equal(o.Since) && s.Reason == o.Reason && s.ClearSince.Equal(o.ClearSince) &&
		s.AckedAt.Equal(o.AckedAt) && s.AckNote == o.AckNote && s.Category == o.Category
}

// AckDue returns when an unanswered warning suspends the account, or zero
// when no deadline runs.
func (s PhaseState) AckDue(p Policy) time.Time {
	if s.Phase != PhaseWarning || !s.AckedAt.IsZero() || p.AckDeadline <= 0 {
		return time.Time{}
	}
	return s.Since.Add(p.AckDeadline)
}

// Transition is one phase change, recorded with why it happened.
type Transition struct {
	AccountID       string
	At              time.Time
	From            Phase
	To              Phase
	Reason          string
	Findings        []Finding
	Recommendations []string
	// Actor is the person who made the change; empty for dpmon's own.
	Actor string
	// Sender is set when the change is a sender address's, not the
	// account's: a bulk-policy block (to suspended) or its lifting.
	Sender string
	Code   ReasonCode
}

// step moves state according to the findings measured at now under p. It is
// the only place where a phase changes on measurements: observing events
// only adds counts. Entering a warning takes one breach; leaving it takes a
// whole cool-down without one, so an account near a threshold does not flap.
// A suspension is never lifted here: only a reinstatement does that.
func step(s *PhaseState, now time.Time, p *Policy, findings []Finding) (Transition, bool) {
	severity := worst(findings)
	switch s.Phase {
	case PhaseHealthy:
		switch severity {
		case SeverityCritical:
			return s.move(now, PhaseSuspended, breachReason(findings, SeverityCritical), findings), true
		case SeverityWarning:
			return s.warn(now, p, findings), true
		}
	case PhaseWarning:
		switch {
		case severity == SeverityCritical:
			return s.move(now, PhaseSuspended, breachReason(findings, SeverityCritical), findings), true
		case !s.AckDue(*p).IsZero() && !now.Before(s.AckDue(*p)):
			reason := fmt.Sprintf("Sending is suspended: the warning of %s was not acknowledged within %s. %s Fix the causes, then ask for reinstatement.",
				s.Since.UTC().Format(time.RFC3339), DurationLabel(p.AckDeadline), findingMessages(s.Findings, SeverityWarning))
			return s.move(now, PhaseSuspended, reason, s.Findings), true
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
func probationBreaches(findings []Finding, p *Policy) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.Severity == SeverityCritical || p.thresholds(f.Metric).Suspend > 0 {
			out = append(out, f)
		}
	}
	return out
}

// warn moves a healthy account into a warning, or straight to a
// suspension when it is one warning too many within the window.
func (s *PhaseState) warn(now time.Time, p *Policy, findings []Finding) Transition {
	if p.RepeatedWarnings > 0 {
		s.Warnings = slices.DeleteFunc(s.Warnings, func(t time.Time) bool { return !t.After(now.Add(-p.RepeatedWarningsWindow)) })
		s.Warnings = append(s.Warnings, now)
		if len(s.Warnings) >= p.RepeatedWarnings {
			reason := fmt.Sprintf("Sending is suspended: this is warning %d within %s. %s Fix the causes, then ask for reinstatement.",
				len(s.Warnings), DurationLabel(p.RepeatedWarningsWindow), findingMessages(findings, SeverityWarning))
			return s.move(now, PhaseSuspended, reason, findings)
		}
	}
	reason := breachReason(findings, SeverityWarning)
	if p.AckDeadline > 0 {
		reason += fmt.Sprintf(" Acknowledge this warning within %s, saying what you are changing; an unanswered warning suspends sending.",
			DurationLabel(p.AckDeadline))
	}
	return s.move(now, PhaseWarning, reason, findings)
}

// move changes the phase; what the account should do next follows from
// the findings and the phase it enters.
func (s *PhaseState) move(now time.Time, to Phase, reason string, findings []Finding) Transition {
	explain(findings)
	recs := recommend(to, findings)
	t := Transition{At: now, From: s.Phase, To: to, Reason: reason, Findings: findings, Recommendations: recs}
	*s = PhaseState{Phase: to, Since: now, Reason: reason, Findings: findings, Recommendations: recs, Warnings: s.Warnings}
	return t
}

// recommend gathers the advice of the findings, once each, and adds what
// the phase asks of the account.
func recommend(to Phase, findings []Finding) []string {
	var recs []string
	for _, f := range findings {
		for _, r := range f.Recommendations {
			if !slices.Contains(recs, r) {
				recs = append(recs, r)
			}
		}
	}
	switch to {
	case PhaseWarning:
		recs = append(recs, "Acknowledge the warning with what you are changing (AcknowledgeWarning).")
	case PhaseSuspended:
		recs = append(recs, "Open a reinstatement ticket that says what you changed: bounced addresses removed, where the list comes from and how recipients opted in, how complaints are handled, how your mail is authenticated.")
	case PhaseProbation:
		recs = append(recs, "Mail only recipients who asked for it and engage with it: during probation every warn threshold suspends at once.")
	}
	return recs
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
