package monitor

import (
	"fmt"
	"slices"
	"time"
)

// SuspensionCategory says why an admin suspended an account by hand.
type SuspensionCategory uint8

// The categories; the numbers match the wire enum.
const (
	CategoryPolicyViolation  SuspensionCategory = 1
	CategoryTermsViolation   SuspensionCategory = 2
	CategoryAbusiveContent   SuspensionCategory = 3
	CategoryFraud            SuspensionCategory = 4
	CategoryDirectComplaints SuspensionCategory = 5
)

// Valid reports whether c is a known category.
func (c SuspensionCategory) Valid() bool {
	return c >= CategoryPolicyViolation && c <= CategoryDirectComplaints
}

func (c SuspensionCategory) String() string {
	switch c {
	case CategoryPolicyViolation:
		return "a violation of the sending policy"
	case CategoryTermsViolation:
		return "a violation of the terms of service"
	case CategoryAbusiveContent:
		return "abusive or harmful content"
	case CategoryFraud:
		return "fraudulent activity"
	case CategoryDirectComplaints:
		return "complaints sent to us directly"
	}
	return "an unspecified cause"
}

// categoryAdvice is what an account suspended for a category should do.
var categoryAdvice = map[SuspensionCategory][]string{
	CategoryPolicyViolation:  {"Read the sending policy and change what you send, and to whom, to follow it."},
	CategoryTermsViolation:   {"Read the terms of service and stop the use they forbid."},
	CategoryAbusiveContent:   {"Remove the abusive or harmful content and review every template and campaign before sending."},
	CategoryFraud:            {"Contact us: fraudulent activity is reviewed by a person before any reinstatement."},
	CategoryDirectComplaints: {"Find out why recipients complain to us directly, stop mailing them, and send only to recipients who asked for your mail."},
}

// ValidateAcknowledgement checks the answer to a warning on its own, so
// that a malformed answer is refused alike whether the account exists or
// not: the note must say what the account is changing.
func ValidateAcknowledgement(note string) FieldErrors { return noteErrors("note", note) }

// ValidateSuspension checks a manual suspension on its own: a known
// category and a note, which the account's banner shows.
func ValidateSuspension(category SuspensionCategory, note string) FieldErrors {
	var errs FieldErrors
	if !category.Valid() {
		errs = append(errs, FieldError{"category", "must be one of the SUSPENSION_CATEGORY_ values other than UNSPECIFIED"})
	}
	return append(errs, noteErrors("note", note)...)
}

// Acknowledge records the account's answer to its warning, which stops the
// deadline from suspending it. An answer after the deadline is too late:
// the warning suspends the account at its next judgement.
func (a *Account) Acknowledge(now time.Time, note string, p Policy) error {
	if errs := ValidateAcknowledgement(note); errs != nil {
		return errs
	}
	if a.State.Phase != PhaseWarning {
		return fmt.Errorf("%w: account %s is %s; only a warning is acknowledged", ErrFailedPrecondition, a.ID, a.State.Phase)
	}
	if due := a.State.AckDue(p.With(a.Overrides)); !due.IsZero() && !now.Before(due) {
		return fmt.Errorf("%w: the warning had to be acknowledged by %s", ErrFailedPrecondition, due.UTC().Format(time.RFC3339))
	}
	if !a.State.AckedAt.IsZero() {
		return fmt.Errorf("%w: the warning was acknowledged at %s", ErrConflict, a.State.AckedAt.UTC().Format(time.RFC3339))
	}
	a.State.AckedAt, a.State.AckNote = now, note
	return nil
}

// Suspend suspends the account by an admin's hand. Like every suspension,
// only a reinstatement lifts it.
func (a *Account) Suspend(now time.Time, category SuspensionCategory, note, actor string) (Transition, error) {
	if errs := ValidateSuspension(category, note); errs != nil {
		return Transition{}, errs
	}
	if a.State.Phase == PhaseSuspended {
		return Transition{}, fmt.Errorf("%w: account %s is already suspended", ErrFailedPrecondition, a.ID)
	}
	reason := "Sending is suspended by an administrator for " + category.String() + ". " + note
	t := a.State.move(now, PhaseSuspended, reason, nil)
	a.State.Category = category
	a.State.Recommendations = slices.Concat(categoryAdvice[category], a.State.Recommendations)
	t.Recommendations = a.State.Recommendations
	t.AccountID, t.Actor = a.ID, actor
	return t, nil
}
