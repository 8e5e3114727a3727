package monitor

import "errors"

// The closed set of error kinds that callers tell apart. Functions wrap them
// with context via %w; adapters map them onto transport codes with errors.Is.
var (
	// ErrInvalid is returned when an argument breaks a rule of the domain.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound is returned when the named account or record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a change collides with the current state.
	ErrConflict = errors.New("conflict")
	// ErrFailedPrecondition is returned when the state does not allow the
	// change, e.g. reinstating an account that is not suspended.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrPermission is returned when the caller may not do what it asked.
	ErrPermission = errors.New("permission denied")
)

// FieldError names one invalid field and why, in words a client developer
// understands. Field uses the wire names, e.g. "bounce.smtp_code".
type FieldError struct {
	Field  string
	Reason string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e FieldError) Unwrap() error { return ErrInvalid }

// FieldErrors collects the violations of one request; it wraps ErrInvalid.
type FieldErrors []FieldError

func (fe FieldErrors) Error() string {
	if len(fe) == 0 {
		return ErrInvalid.Error()
	}
	msg := "invalid " + fe[0].Error()
	if len(fe) > 1 {
		msg += " (and more)"
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (fe FieldErrors) Unwrap() error { return ErrInvalid }
